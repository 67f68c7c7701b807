"""Release-metadata consistency (verify/metadata.py): each kind of disagreement is found and quoted from both sides,
agreeing metadata yields no finding, odd input is a finding (never a traceback), and nothing passes unchecked.

Fixtures are written here (small JSON / markdown in tmp_path), except the Phi-4-Reasoning-Vision-15B test, which
reads the release's real configs from tests/fixtures/phi-4-rv/ (see its README for provenance).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.manifests.findings import Finding
from assay.manifests.schema import Manifest
from assay.verify.metadata import MetadataResult, bench_key, check_metadata, parse_card, release_files

PHI = Path(__file__).resolve().parent / "fixtures" / "phi-4-rv"


def release(tmp_path: Path, files: dict[str, Any]) -> dict[str, Path]:
    """Write a release folder: dict/list values as JSON, str as text, bytes as is."""
    root = tmp_path / "release"
    if root.exists():  # a test may check several releases in turn: each starts from an empty folder
        shutil.rmtree(root)
    root.mkdir()
    for name, content in files.items():
        target = root / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        elif isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_text(json.dumps(content), encoding="utf-8")
    return release_files(root)


def manifest(**sections: Any) -> Manifest:
    data: dict[str, Any] = {
        "apiVersion": "assay/v1",
        "kind": "Release",
        "release": {"name": sections.pop("name", "demo"), "version": "1"},
    }
    data.update(sections)
    return Manifest.model_validate(data)


def check(tmp_path: Path, files: dict[str, Any], **kw: Any) -> MetadataResult:
    return check_metadata(release(tmp_path, files), **kw)


def found(result: MetadataResult, code: str, severity: str | None = None) -> list[Finding]:
    return [f for f in result.findings if f.code == code and (severity is None or f.severity == severity)]


def verdicts(result: MetadataResult) -> dict[str, str]:
    return {c.id: c.verdict for c in result.to_claims()}


def card(front: str = "", prose: str = "") -> str:
    return (f"---\n{front}\n---\n" if front else "") + prose


# ------------------------------------------------------------------------------------------------ context length
def test_context_length_disagreement_is_found_and_quoted(tmp_path):
    r = check(
        tmp_path,
        {
            "config.json": {"max_position_embeddings": 4096},
            "README.md": card("license: mit", "# m\n\n**Context length:** 8K tokens\n"),
        },
    )
    [f] = found(r, "context-length-mismatch", "error")
    assert f.message.startswith(
        'config.json:max_position_embeddings = 4096 vs README.md:"Context length: 8K tokens" = 8192'
    )
    assert f.where == 'README.md:"Context length: 8K tokens"'
    [row] = [c for c in r.to_claims() if c.kind == "metadata"]
    assert row.verdict == "fail" and row.step == "verify" and "4096" in (row.message or "")


def test_tokenizer_length_disagreement_is_found(tmp_path):
    r = check(
        tmp_path,
        {
            "config.json": {"text_config": {"max_position_embeddings": 4096}},
            "tokenizer_config.json": {"model_max_length": 2048},
        },
    )
    [f] = found(r, "context-length-mismatch", "error")
    assert "config.json:text_config.max_position_embeddings = 4096" in f.message
    assert "tokenizer_config.json:model_max_length = 2048" in f.message


def test_agreeing_context_lengths_give_no_finding_and_pass(tmp_path):
    r = check(
        tmp_path,
        {
            "config.json": {"max_position_embeddings": 16384, "max_sequence_length": 16384},
            "tokenizer_config.json": {"model_max_length": 1000000000000000019884624838656},  # the "unset" sentinel
            "README.md": card(
                "context_length: 16384",
                "It has a context window of 16K tokens.\n"
                "```python\nmodel.generate(max_length=4096)  # context length 4096\n```\n",
            ),
        },
    )
    assert r.findings == []
    assert verdicts(r) == {"metadata:context-length": "pass"}
    assert not any("model_max_length" in s for s in r.kinds["context-length"].statements)


def test_rope_scaled_and_decimal_k_lengths_agree(tmp_path):
    r = check(
        tmp_path,
        {
            "config.json": {"max_position_embeddings": 32768, "rope_scaling": {"type": "yarn", "factor": 4.0}},
            "README.md": "Supports a context length of up to 131,072 tokens.\n",
        },
    )
    assert r.findings == []
    r = check(tmp_path, {"config.json": {"max_position_embeddings": 16000}, "README.md": "16K context window\n"})
    assert r.findings == [] and r.kinds["context-length"].compared == 1


def test_a_shorter_prose_sequence_length_is_a_warning_a_longer_one_an_error(tmp_path):
    r = check(
        tmp_path,
        {
            "config.json": {"max_position_embeddings": 8192},
            "README.md": "Fine-tuned with a sequence length of 2,048 tokens.\n",
        },
    )
    [f] = found(r, "context-length-mismatch")
    assert f.severity == "warning" and 'README.md:"sequence length of 2,048 tokens" = 2048' in f.message
    r = check(
        tmp_path,
        {"config.json": {"max_position_embeddings": 8192}, "README.md": "Maximum sequence length: 32K tokens.\n"},
    )
    assert [f.severity for f in found(r, "context-length-mismatch")] == ["error"]


# ---------------------------------------------------------------------------------------------------------- dtype
def test_dtype_disagreeing_with_weights_is_found(tmp_path):
    r = check(tmp_path, {"config.json": {"torch_dtype": "float16"}}, dtypes={"BF16": 1000, "F32": 10})
    [f] = found(r, "dtype-mismatch", "error")
    assert f.message.startswith('config.json:torch_dtype = "float16" vs weights:dtypes = BF16: 1,000, F32: 10')
    assert f.where == "config.json:torch_dtype"


def test_agreeing_dtypes_new_key_and_nested_give_no_finding(tmp_path):
    r = check(
        tmp_path,
        {"config.json": {"dtype": "bfloat16", "vision_config": {"torch_dtype": "float32"}}},
        dtypes={"BF16": 1000, "F32": 100},
    )
    assert r.findings == [] and verdicts(r) == {"metadata:dtype": "pass"}


def test_nested_dtype_severities(tmp_path):
    # a sub-config wider than the weights is a lossless upcast: a warning; a narrower one loses precision: an error
    r = check(
        tmp_path, {"config.json": {"dtype": "bfloat16", "text_config": {"dtype": "float32"}}}, dtypes={"BF16": 1000}
    )
    assert [f.severity for f in found(r, "dtype-mismatch")] == ["warning"]
    r = check(
        tmp_path, {"config.json": {"dtype": "float32", "text_config": {"dtype": "float16"}}}, dtypes={"F32": 1000}
    )
    [f] = found(r, "dtype-mismatch", "error")
    assert 'config.json:text_config.dtype = "float16"' in f.message
    r = check(tmp_path, {"config.json": {"dtype": "bfloat16", "torch_dtype": "float16"}}, dtypes={"BF16": 1})
    assert any(
        'config.json:dtype = "bfloat16" vs config.json:torch_dtype = "float16"' in f.message
        for f in found(r, "dtype-mismatch", "error")
    )


def test_an_unknown_dtype_name_is_an_error_not_a_pass(tmp_path):
    r = check(tmp_path, {"config.json": {"torch_dtype": "bf16"}}, dtypes={"BF16": 10})
    [f] = found(r, "dtype-mismatch", "error")
    assert '"bf16" is not a dtype assay knows' in f.message
    assert verdicts(r) == {"metadata:dtype:config.json:torch_dtype": "fail"}


def test_dtype_without_measured_weights_is_not_checked(tmp_path):
    r = check(tmp_path, {"config.json": {"torch_dtype": "bfloat16"}})
    [row] = r.to_claims()
    assert row.verdict == "not-checked" and row.needs == ["weights"]


# ----------------------------------------------------------------------------------------------------- parameters
def test_parameter_statement_disagreeing_with_the_count_is_found(tmp_path):
    m = manifest(name="demo-7b", claims={"parameters": {"total": "7B", "tolerance": 0.05}})
    r = check(
        tmp_path,
        {"README.md": "# demo-7b\n\n- Parameters: 7B\n\nUnlike the 70B parameters of its teacher.\n"},
        manifest=m,
        parameters=8_500_000_000,
    )
    errors = found(r, "parameter-count-mismatch", "error")
    assert {f.where for f in errors} == {"manifest:claims.parameters.total", 'README.md:"Parameters: 7B"'}
    assert any(
        f.message.startswith('weights:parameters = 8,500,000,000 vs README.md:"Parameters: 7B" = 7,000,000,000')
        for f in errors
    )
    # names and free prose may be about another model or a family label: warnings, quoted all the same
    warnings = {f.where for f in found(r, "parameter-count-mismatch", "warning")}
    assert warnings == {"manifest:release.name", "README.md:title", 'README.md:"70B parameters"'}


def test_agreeing_parameter_statements_give_no_finding(tmp_path):
    m = manifest(name="vision-15b", claims={"parameters": {"total": "15B", "tolerance": 0.02}})
    r = check(
        tmp_path,
        {"README.md": card("license: mit", "# Vision-15B\n\n**Parameters:** 5B–15B\n\nA 15.1B-parameter model.\n")},
        manifest=m,
        parameters=15_119_518_144,
    )
    assert r.findings == [] and verdicts(r) == {"metadata:parameters": "pass"}
    assert r.kinds["parameters"].compared == 5


def test_parameter_statements_without_weights_are_not_checked(tmp_path):
    r = check(tmp_path, {"README.md": "Parameters: 15B\n"})
    assert verdicts(r) == {"metadata:parameters": "not-checked"}


# ------------------------------------------------------------------------------------------------ published scores
MODEL_INDEX = """model-index:
- name: m
  results:
  - task: {type: visual-question-answering}
    dataset: {name: AI2D, type: ai2d}
    metrics: [{type: accuracy, value: %s}]
  - task: {type: visual-question-answering}
    dataset: {name: ScreenSpot-V2, type: screenspot-v2}
    metrics: [{type: accuracy, value: %s}]
"""


def scores_manifest(ai2d: float = 84.8) -> Manifest:
    def ev(name: str, value: float, **kw: Any) -> dict[str, Any]:
        return {"name": name, "metric": "acc", "published": [{"value": value, "source": "GitHub README"}], **kw}

    return manifest(
        evals=[
            ev("AI2D_TEST", ai2d),
            ev("ScreenSpot_v2_Desktop", 87.1),
            ev("ScreenSpot_v2_Mobile", 88.6),
            ev("ScreenSpot_v2_Web", 88.8),
            {
                "name": "ScreenSpot_v2",
                "metric": "acc",
                "components": ["ScreenSpot_v2_Desktop", "ScreenSpot_v2_Mobile", "ScreenSpot_v2_Web"],
            },
        ]
    )


def test_model_index_score_disagreeing_with_another_table_is_found(tmp_path):
    r = check(tmp_path, {"README.md": card(MODEL_INDEX % (84.8, 89.0))}, manifest=scores_manifest(ai2d=85.1))
    errors = found(r, "published-score-mismatch", "error")
    assert {f.where for f in errors} == {
        'README.md:model-index["AI2D"].accuracy',
        'README.md:model-index["ScreenSpot-V2"].accuracy',
    }
    assert any(
        f.message.startswith(
            'README.md:model-index["AI2D"].accuracy = 84.8 vs '
            "manifest:evals[AI2D_TEST].published[0] (GitHub README) = 85.1"
        )
        for f in errors
    )
    assert any(
        "mean(evals[ScreenSpot_v2_Desktop, ScreenSpot_v2_Mobile, ScreenSpot_v2_Web].published[0]) = 88.1667"
        in f.message
        for f in errors
    )


def test_agreeing_model_index_matches_leniently_and_the_declared_mean(tmp_path):
    r = check(tmp_path, {"README.md": card(MODEL_INDEX % (84.8, 88.2))}, manifest=scores_manifest())
    assert r.findings == [] and verdicts(r) == {"metadata:published-scores": "pass"}
    assert r.kinds["published-scores"].compared == 2
    assert bench_key("MathVista (MINI)") == bench_key("MathVista_MINI") == ("mathvista", "mini")
    assert bench_key("ScreenSpot-V2")[0] == bench_key("ScreenSpot_v2")[0] == "screenspotv2"
    assert bench_key("AI2D")[0] == bench_key("AI2D_TEST")[0]


def test_a_model_index_with_nothing_to_compare_never_passes(tmp_path):
    r = check(tmp_path, {"README.md": card(MODEL_INDEX % (84.8, 88.2))})  # no manifest: no other table
    assert r.findings == [] and r.to_claims() == []
    r = check(tmp_path, {"README.md": card(MODEL_INDEX % (84.8, 88.2))}, manifest=manifest())  # no evals declared
    assert {f.code for f in r.findings} == {"published-score-undeclared"} and r.to_claims() == []


def test_undeclared_and_other_split_scores_are_warnings(tmp_path):
    front = MODEL_INDEX.replace("name: AI2D,", "name: AI2D (val),") % (80.0, 88.2)
    r = check(
        tmp_path,
        {
            "README.md": card(
                front + "  - task: {type: vqa}\n    dataset: {name: ChartQA}\n"
                "    metrics: [{type: accuracy, value: 83.3}]\n"
            )
        },
        manifest=scores_manifest(),
    )
    assert r.ok
    assert [f.where for f in found(r, "published-score-undeclared")] == ['README.md:model-index["ChartQA"].accuracy']
    [split] = found(r, "published-score-mismatch", "warning")
    assert "different split (val vs test)" in split.message


# ---------------------------------------------------------------------------------------------------- image tokens
def test_image_token_budget_disagreeing_with_max_num_patches_is_found(tmp_path):
    r = check(
        tmp_path,
        {
            "preprocessor_config.json": {"max_num_patches": 3600},
            "config.json": {"image_seq_length": 4000},
            "README.md": "It sees up to 4,096 visual tokens per image.\n",
        },
    )
    errors = found(r, "image-token-budget-mismatch", "error")
    assert any(
        f.message.startswith("preprocessor_config.json:max_num_patches = 3600 vs config.json:image_seq_length = 4000")
        for f in errors
    )
    assert any('README.md:"up to 4,096 visual tokens" = 4096' in f.message for f in errors)
    r = check(
        tmp_path, {"preprocessor_config.json": {"max_num_patches": 1024}, "config.json": {"max_num_patches": 729}}
    )
    assert len(found(r, "image-token-budget-mismatch", "error")) == 1


def test_agreeing_image_token_budgets_give_no_finding(tmp_path):
    r = check(
        tmp_path,
        {
            "processor_config.json": {"image_processor": {"max_num_patches": 1024, "min_num_patches": 256}},
            "config.json": {"vision_config": {"spatial_merge_size": 2}, "num_image_tokens": 256},
            "README.md": "Each image becomes at most 1,024 patches (up to 256 image tokens).\n",
        },
    )
    assert r.findings == [] and verdicts(r) == {"metadata:image-tokens": "pass"}


def test_unnamed_pooling_budget_is_a_warning(tmp_path):
    r = check(
        tmp_path, {"preprocessor_config.json": {"max_num_patches": 4096}, "config.json": {"mm_tokens_per_image": 256}}
    )
    [f] = found(r, "image-token-budget-mismatch")
    assert f.severity == "warning" and "4² times smaller" in f.message


# -------------------------------------------------------------------------------------------------- special tokens
TOKENIZER_CONFIG = {
    "bos_token": "<s>",
    "eos_token": {"content": "</s>"},
    "pad_token": "<pad>",
    "added_tokens_decoder": {
        "1": {"content": "<s>"},
        "2": {"content": "</s>"},
        "3": {"content": "<pad>"},
        "32007": {"content": "<|end|>"},
    },
}


def test_special_token_ids_disagreeing_between_configs_are_found(tmp_path):
    r = check(
        tmp_path,
        {
            "config.json": {"bos_token_id": 1, "eos_token_id": 32000, "pad_token_id": 0},
            "generation_config.json": {"eos_token_id": [2]},
            "tokenizer_config.json": TOKENIZER_CONFIG,
        },
    )
    errors = found(r, "special-token-mismatch", "error")
    assert any(
        f.message.startswith("config.json:eos_token_id = 32000 vs generation_config.json:eos_token_id = [2]")
        for f in errors
    )
    assert any(
        'config.json:eos_token_id = 32000 vs tokenizer_config.json:eos_token = "</s>" (id 2)' in f.message
        for f in errors
    )
    # pad ids only decide which positions are masked: a warning
    [pad] = found(r, "special-token-mismatch", "warning")
    assert 'config.json:pad_token_id = 0 vs tokenizer_config.json:pad_token = "<pad>" (id 3)' in pad.message


def test_agreeing_special_tokens_give_no_finding(tmp_path):
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3}
    r = check(
        tmp_path,
        {
            "config.json": {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3},
            "generation_config.json": {"bos_token_id": 1, "eos_token_id": [2, 32007]},
            "tokenizer_config.json": {"bos_token": "<s>", "eos_token": "</s>", "pad_token": None},
            "special_tokens_map.json": {"eos_token": {"content": "</s>"}, "pad_token": "<pad>"},
            "tokenizer.json": {"model": {"vocab": vocab}, "added_tokens": [{"id": 32007, "content": "<|end|>"}]},
        },
    )
    assert r.findings == [] and verdicts(r) == {"metadata:special-tokens": "pass"}


# ----------------------------------------------------------------------------------------------- fail closed / odd
def test_empty_or_single_statement_releases_never_pass(tmp_path):
    assert check_metadata({}).to_claims() == []
    r = check(
        tmp_path,
        {"config.json": {"max_position_embeddings": 4096, "eos_token_id": 2}, "README.md": "Nothing stated here.\n"},
    )
    assert r.findings == [] and r.to_claims() == []  # one statement each: nothing was cross-checked, nothing passes


@pytest.mark.parametrize("content", [[1, 2, 3], "null", b"\xff\xfe{", "{not json", "[" * 100_000])
def test_unreadable_metadata_is_a_finding_not_a_traceback(tmp_path, content):
    r = check(tmp_path, {"config.json": content, "generation_config.json": {"eos_token_id": 2}})
    [f] = found(r, "metadata-unreadable", "error")
    assert f.where == "config.json"
    assert [c.verdict for c in r.to_claims()] == ["fail"]


def test_odd_values_are_ignored_without_crashing(tmp_path):
    r = check(
        tmp_path,
        {
            "config.json": {
                "max_position_embeddings": "lots",
                "eos_token_id": [2, None, "x"],
                "bos_token_id": True,
                "dtype": ["bfloat16"],
                "text_config": [],
                "max_num_patches": -1,
                "rope_scaling": "yes",
            },
            "generation_config.json": {"eos_token_id": {"a": 1}},
            "tokenizer_config.json": {"eos_token": 7, "added_tokens_decoder": []},
            "tokenizer.json": {"model": {"vocab": [["<s>", 0.0], 5]}},
        },
        dtypes={"BF16": 10},
        parameters=10,
    )
    assert r.ok and r.to_claims() == []


@pytest.mark.parametrize(
    "text, why",
    [
        ("---\nlicense: [mit\n---\n", "not valid YAML"),
        ("---\n- a\n- b\n---\n", "not a mapping"),
        ("---\nlicense: mit\n", "never closed"),
        ("---\nmodel-index: {a: 1}\n---\n", "model-index is a dict"),
        (
            "---\nmodel-index:\n- results:\n  - dataset: {name: X}\n    metrics: [{type: acc}]\n---\n",
            "no numeric value",
        ),
    ],
)
def test_bad_card_front_matter_is_a_finding(tmp_path, text, why):
    r = check(tmp_path, {"README.md": text})
    [f] = found(r, "metadata-unreadable", "error")
    assert why in f.message and f.where.startswith("README.md")


def test_a_declared_card_that_is_missing_is_a_warning(tmp_path):
    # the file check fails the missing artifact itself; here it only says the card took no part
    m = Manifest.model_validate(
        {"apiVersion": "assay/v1", "kind": "Release", "release": {"name": "x", "version": "1", "model_card": "CARD.md"}}
    )
    r = check(
        tmp_path, {"config.json": {"max_position_embeddings": 4096}, "README.md": "Context length: 2K\n"}, manifest=m
    )
    [f] = found(r, "metadata-unreadable", "warning")
    assert f.where == "CARD.md" and "not present" in f.message
    assert r.card is None and r.to_claims() == []  # README.md is not the declared card: not read


_yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["16K tokens", "7B", "2024-01-01", "!!binary x", "*a", "&a [1]", "{", "'"]),
)
_keys = st.sampled_from(
    [
        "context_length",
        "parameters",
        "model-index",
        "license",
        "results",
        "dataset",
        "metrics",
        "value",
        "name",
        "type",
        "split",
    ]
)
_yamlish = st.recursive(
    _yaml_scalars, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(_keys, c, max_size=4)), max_leaves=12
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    front=st.one_of(st.text(max_size=200), _yamlish.map(lambda v: json.dumps(v, default=str))),
    prose=st.text(
        alphabet=st.sampled_from(list("0123456789,.Kk BMtokens contextlengthParameters:*-|\n–")), max_size=200
    ),
    structured=_yamlish,
)
def test_card_parser_never_crashes(tmp_path, front, prose, structured):
    indexed = f"---\nmodel-index: {json.dumps(structured, default=str)}\n---\n{prose}"
    for text in (f"---\n{front}\n---\n{prose}", indexed, prose):
        parsed = parse_card(text)
        assert isinstance(parsed.front_matter, dict)
        root = tmp_path / "fuzz"
        root.mkdir(exist_ok=True)
        (root / "README.md").write_text(text, encoding="utf-8")
        (root / "config.json").write_text(
            json.dumps(
                {"max_position_embeddings": 4096, "dtype": structured if isinstance(structured, str) else "bf16"}
            )
        )
        result = check_metadata(
            release_files(root), manifest=scores_manifest(), parameters=7_000_000_000, dtypes={"BF16": 1}
        )
        for f in result.findings:  # whatever is found names where, and an unreadable card is never a pass
            assert f.where
        if parsed.error:
            assert not result.ok


# ------------------------------------------------------------------------------------------ Phi-4-Reasoning-Vision
# The model card lines below are excerpts of the Hub card of microsoft/Phi-4-reasoning-vision-15B (MIT): its front
# matter's model-index (as shown in the Hub's discussion #5 diff) and the summary lines "Parameters: 5B–15B",
# "Context Length: 16,384 tokens" and "up to 3,600 visual tokens".  The Hub is not reachable here, so the card
# itself is not a committed fixture; the configs are the real files in tests/fixtures/phi-4-rv/.
PHI_CARD = """---
license: mit
base_model: microsoft/Phi-4-reasoning
pipeline_tag: image-text-to-text
model-index:
- name: Phi-4-Reasoning-Vision-15B
  results:
  - task: {type: visual-question-answering}
    dataset: {name: AI2D, type: ai2d}
    metrics: [{type: accuracy, value: 84.8}]
  - task: {type: visual-question-answering}
    dataset: {name: ChartQA, type: chartqa}
    metrics: [{type: accuracy, value: 83.3}]
  - task: {type: visual-question-answering}
    dataset: {name: MathVista (MINI), type: mathvista}
    metrics: [{type: accuracy, value: 75.2}]
  - task: {type: visual-question-answering}
    dataset: {name: MMMU, type: mmmu}
    metrics: [{type: accuracy, value: 54.3}]
  - task: {type: visual-question-answering}
    dataset: {name: OCRBench, type: ocrbench}
    metrics: [{type: accuracy, value: 76.0}]
  - task: {type: visual-question-answering}
    dataset: {name: ScreenSpot-V2, type: screenspot-v2}
    metrics: [{type: accuracy, value: 88.2}]
---

# Phi-4-Reasoning-Vision-15B

**Developer:** Microsoft Corporation<br>
**Parameters:** 5B–15B<br>
**Context Length:** 16,384 tokens<br>

The model employs a dynamic resolution vision encoder with up to 3,600 visual tokens, enabling high-resolution
image understanding.
"""


def github_table() -> list[dict[str, Any]]:
    """The score table of the release's real GitHub README, as manifest evals (source: GitHub README)."""
    text = (PHI / "github-README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*([A-Za-z0-9_]+)\s*\|\s*([0-9]+\.[0-9])\s*\|\s*$", text, flags=re.MULTILINE)
    assert len(rows) == 12
    return [
        {"name": n, "metric": "acc", "published": [{"value": float(v), "source": "GitHub README"}]} for n, v in rows
    ]


def test_phi_4_reasoning_vision_real_configs(tmp_path):
    root = tmp_path / "phi"
    root.mkdir()
    for name in ("config.json", "generation_config.json", "preprocessor_config.json"):
        shutil.copy(PHI / name, root / name)
    (root / "README.md").write_text(PHI_CARD, encoding="utf-8")
    splits = ["ScreenSpot_v2_Desktop", "ScreenSpot_v2_Mobile", "ScreenSpot_v2_Web"]
    m = manifest(
        name="phi-4-reasoning-vision-15b",
        claims={"parameters": {"total": "15B", "tolerance": 0.034}},
        evals=[*github_table(), {"name": "ScreenSpot-V2", "metric": "acc", "components": splits}],
    )
    # 15,119,518,144 bf16 parameters: derived from config.json's dimensions (tests/fixtures/phi-4-rv, shared notes)
    r = check_metadata(release_files(root), manifest=m, parameters=15_119_518_144, dtypes={"BF16": 15_119_518_144})

    # the three context lengths the release states
    ctx = found(r, "context-length-mismatch", "error")
    assert sorted(f.message.split(": the release")[0] for f in ctx) == [
        'config.json:max_position_embeddings = 32768 vs README.md:"Context Length: 16,384 tokens" = 16384',
        "config.json:max_position_embeddings = 32768 vs config.json:tokenizer_model_max_length = 8192",
    ]
    # ChartQA and OCRBench are published only in the model-index: nothing else states them
    assert sorted(f.where for f in found(r, "published-score-undeclared")) == [
        'README.md:model-index["ChartQA"].accuracy',
        'README.md:model-index["OCRBench"].accuracy',
    ]
    # everything else genuinely agrees: AI2D/AI2D_TEST, MathVista (MINI)/MathVista_MINI, MMMU/MMMU_VAL, the
    # ScreenSpot-V2 mean of its three splits, 3,600 patches = 3,600 visual tokens, bf16, bos/eos/pad ids, "5B–15B"
    assert [f for f in r.findings if f.code not in ("context-length-mismatch", "published-score-undeclared")] == []
    assert verdicts(r) == {
        'metadata:context-length:README.md:"Context Length: 16,384 tokens"': "fail",
        "metadata:context-length:config.json:tokenizer_model_max_length": "fail",
        "metadata:dtype": "pass",
        "metadata:parameters": "pass",
        "metadata:published-scores": "pass",
        "metadata:image-tokens": "pass",
        "metadata:special-tokens": "pass",
    }
    assert r.kinds["published-scores"].compared == 4  # AI2D, MathVista, MMMU and ScreenSpot-V2's declared mean


def test_phi_4_reasoning_vision_manifest_scores_agree_with_the_card(tmp_path):
    """The committed Phi-4-RV manifest's published scores (GitHub README table, the ScreenSpot-V2 mean) agree with
    the card's model-index, and each model-index row is declared there."""
    from assay.manifests.loader import load_manifest

    root = tmp_path / "phi"
    root.mkdir()
    (root / "README.md").write_text(PHI_CARD, encoding="utf-8")
    m = load_manifest(
        Path(__file__).resolve().parents[1] / "manifests" / "releases" / "phi-4-reasoning-vision-15b" / "assay.yaml"
    )
    r = check_metadata(release_files(root), manifest=m)
    assert found(r, "published-score-mismatch") == [] and found(r, "published-score-undeclared") == []
    assert verdicts(r)["metadata:published-scores"] == "pass"
    assert r.kinds["published-scores"].compared >= 7  # six model-index rows, each against at least one other entry


# --------------------------------------------------------------------------------------------------------- the CLI
def small_release(tmp_path: Path, card_text: str) -> Path:
    """A small release folder (config, card, one F32 safetensors file) and its hand-written manifest."""
    import hashlib
    import struct

    from assay.manifests.yamlio import dump_yaml

    root = tmp_path / "small"
    root.mkdir(parents=True)
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
    header += b" " * (-len(header) % 8)  # padded to 8 bytes, as the official writer does
    (root / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    (root / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "torch_dtype": "float32", "max_position_embeddings": 4096})
    )
    (root / "README.md").write_text(card_text)
    roles = {"model.safetensors": "weights", "config.json": "config", "README.md": "docs"}
    artifacts = [
        {
            "path": name,
            "role": role,
            "size": (root / name).stat().st_size,
            "sha256": hashlib.sha256((root / name).read_bytes()).hexdigest(),
        }
        for name, role in roles.items()
    ]
    path = root / "assay.yaml"
    path.write_text(
        dump_yaml(
            {
                "apiVersion": "assay/v1",
                "kind": "Release",
                "release": {"name": "small", "version": "1", "model_card": "README.md"},
                "sources": [{"name": "default", "uri": "dir://."}],
                "artifacts": artifacts,
            }
        )
    )
    return path


def test_assay_verify_reports_a_context_length_disagreement_and_exits_1(tmp_path):
    from conftest import run_assay

    manifest_path = small_release(tmp_path, "# small\n\n**Context length:** 8K tokens\n")
    proc = run_assay("verify", str(manifest_path), env={"COLUMNS": "400"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = " ".join(proc.stdout.split())
    assert "context-length-mismatch" in text
    assert 'config.json:max_position_embeddings = 4096 vs README.md:"Context length: 8K tokens" = 8192' in text
    proc = run_assay("verify", str(manifest_path), "--json")
    assert proc.returncode == 1
    [f] = [f for f in json.loads(proc.stdout)["findings"] if f["code"] == "context-length-mismatch"]
    assert f["severity"] == "error" and f["where"] == 'README.md:"Context length: 8K tokens"'


def test_assay_verify_passes_when_the_card_agrees(tmp_path):
    from conftest import run_assay

    proc = run_assay("verify", str(small_release(tmp_path, "# small\n\n**Context length:** 4K tokens\n")))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_audit_rows_of_verify_carry_the_metadata_check_as_kind_metadata(tmp_path):
    """What the audit's verify step reports (VerifyResult.to_claims): the metadata check's own rows, not a generic
    structure row per finding."""
    from assay.verify.release import verify_release

    result = verify_release(small_release(tmp_path, "# small\n\n**Context length:** 8K tokens\n"), strict=True)
    assert not result.ok and result.metadata is not None
    rows = result.to_claims()
    assert {(c.id, c.verdict) for c in rows if c.kind == "metadata"} == {
        ('metadata:context-length:README.md:"Context length: 8K tokens"', "fail"),
        ("metadata:dtype", "pass"),
    }
    assert not [c for c in rows if c.kind == "structure" and "context-length" in c.id]
    agreeing = verify_release(small_release(tmp_path / "ok", "# small\n\nContext length: 4,096 tokens\n"))
    assert agreeing.ok
    assert [(c.id, c.verdict) for c in agreeing.to_claims() if c.kind == "metadata"] == [
        ("metadata:context-length", "pass"),
        ("metadata:dtype", "pass"),
    ]
