"""`assay data check`: a real mixture (JSONL + Parquet, text and image-text) in a temp dir, recounted and hashed.

The mixture built by :func:`build_mixture` has known figures: every record's counted text is exactly WORDS
lowercase words, and the demo tokenizer (WordLevel, whitespace-split) makes one token of each word.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from assay.manifests.errors import InputError
from assay.manifests.yamlio import dump_yaml, read_yaml_file
from assay.mixtures.check import check_data
from assay.mixtures.records import extract
from conftest import model_only, run_assay

WORDS = 5  # tokens per record
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def text(i: int, n: int = WORDS) -> str:
    return " ".join(["word"] * n)


def write_cot(path: Path, docs: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for i in range(docs):  # 2 words of question + 3 of reasoning, as chat turns with typed parts
            fh.write(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": "why so"},
                            {"role": "assistant", "content": [{"type": "text", "text": "because it is"}]},
                        ]
                    }
                )
                + "\n"
            )


def write_direct(path: Path, docs: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"prompt": ["what is"] * docs, "response": ["it is this"] * docs, "id": list(range(docs))})
    pq.write_table(table, path)


def write_captions(path: Path, docs: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [{"bytes": PNG, "path": f"img{i}.png"} for i in range(docs)]
    pq.write_table(pa.table({"image": images, "caption": [text(i) for i in range(docs)]}), path)


def files_entry(root: Path, rel: str) -> dict:
    p = root / rel
    return {"path": rel, "sha256": sha(p), "size": p.stat().st_size}


def build_mixture(manifest: Path, *, cot_docs: int = 10, direct_docs: int = 40, caption_docs: int = 20) -> dict:
    """Write the data files beside ``manifest`` and return a realistic ``data:`` section for them.

    Trained tokens (multipliers): cot 2 x 50, direct 1 x 200, captions 1 x 100, private (attested) 1 x 100 = 500,
    so cot and image-text are 20% each and direct 40%.
    """
    base = manifest.parent / "data"
    write_cot(base / "cot" / "part-0.jsonl", cot_docs)
    write_direct(base / "direct" / "train.parquet", direct_docs)
    write_captions(base / "captions" / "captions.parquet", caption_docs)

    def comp(name, rel, docs, mult, tags, **extra):
        root = base / name
        return {
            "name": name,
            "source": f"dir://data/{name}",
            "files": [files_entry(root, rel)],
            "tokens": docs * WORDS,
            "documents": docs,
            "bytes": (root / rel).stat().st_size,
            "weight": {"value": mult, "unit": "multiplier"},
            "tags": tags,
            "license": "CC-BY-4.0",
            **extra,
        }

    return {
        "tokenizer": "tokenizer.json",
        "totals": {"tokens": 500, "documents": 100, "tolerance": 0.0},
        "shares": {
            "cot": {"value": 0.2, "tolerance": 0.02},
            "direct": {"value": 0.4, "tolerance": 0.02},
            "image-text": {"value": 0.2, "tolerance": 0.02, "unit": "tokens"},
        },
        "components": [
            comp("cot", "part-0.jsonl", cot_docs, 2, ["cot", "reasoning"], max_epochs=2),
            comp("direct", "train.parquet", direct_docs, 1, ["direct"]),
            comp("captions", "captions.parquet", caption_docs, 1, ["image-text"]),
            {
                "name": "private-web",
                "source": "unavailable",
                "reason": "licensed crawl, not redistributable",
                "tokens": 100,
                "documents": 20,
                "weight": {"value": 1, "unit": "multiplier"},
                "tags": ["web"],
                "license": "LicenseRef-proprietary",
            },
        ],
    }


def set_data(manifest: Path, data: dict) -> None:
    doc, _ = read_yaml_file(manifest)
    doc["data"] = data
    manifest.write_text(dump_yaml(doc))
    lock = manifest.with_name("assay.lock.yaml")
    if lock.exists():  # data changes the manifest; the lock would only warn, but keep tests about data alone
        lock.unlink()


@pytest.fixture
def mixture(demo) -> Path:
    """The demo release with a four-component mixture (manifest beside release/, data/ beside it)."""
    set_data(demo, build_mixture(demo))
    return demo


def by_name(result) -> dict:
    return {c.name: c for c in result.components}


def mix(result) -> dict:
    return {m.check: m for m in result.mixture}


# ------------------------------------------------------------------------------------------------ the happy path
def test_realistic_mixture_verifies_and_recounts(mixture):
    r = check_data(mixture, strict=True)
    comps = by_name(r)
    assert r.ok, r.model_dump_json(indent=1)
    assert {n: c.status for n, c in comps.items()} == {
        "cot": "pass",
        "direct": "pass",
        "captions": "pass",
        "private-web": "attested",
    }
    assert comps["cot"].measured["documents"] == 10 and comps["cot"].measured["tokens"] == 50
    assert comps["direct"].measured["tokens"] == 200 and comps["direct"].measured["documents"] == 40
    assert comps["captions"].measured["images"] == 20 and comps["captions"].measured["tokens"] == 100
    assert comps["private-web"].measured is None and comps["private-web"].files == []
    assert all(f.status == "ok" and f.how == "hashed" for c in r.components for f in c.files)
    m = mix(r)
    # The shares rest partly on the attested component's declared figures: as good as the declaration (attested),
    # never a pass, and labelled where they enter the arithmetic.
    assert m["share:cot"].from_data == pytest.approx(0.2) and m["share:cot"].verdict == "attested"
    assert m["share:image-text"].from_data == pytest.approx(0.2)
    assert "private-web" in m["share:cot"].message
    assert m["totals.tokens"].from_data == 500 and m["totals.documents"].from_data == 100
    assert m["epochs:cot"].from_data == 2 and m["epochs:cot"].verdict == "attested"
    assert r.tokenizer_sha256 == sha(mixture.parent / "release" / "tokenizer.json")
    assert r.summary.tokens_counted == 350 and r.summary.attested == 1


def test_cli_table_and_json(mixture):
    proc = run_assay("data", "check", str(mixture), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is True and out["summary"]["verified"] == 3
    proc = run_assay("data", "check", str(mixture))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("PASS ") and "attested" in proc.stdout and "licensed crawl" in proc.stdout


def test_tampered_component_fails_naming_it(mixture):
    f = mixture.parent / "data" / "cot" / "part-0.jsonl"
    f.write_bytes(f.read_bytes().replace(b"because", b"becausE", 1))  # same size, different bytes
    proc = run_assay("data", "check", str(mixture), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    comps = {c["name"]: c for c in out["components"]}
    assert comps["cot"]["status"] == "fail" and comps["cot"]["files"][0]["status"] == "mismatch"
    assert "part-0.jsonl" in comps["cot"]["reason"]
    assert comps["direct"]["status"] == "pass" and comps["captions"]["status"] == "pass"
    table = run_assay("data", "check", str(mixture))
    assert table.returncode == 1 and "cot" in table.stdout and table.stdout.startswith("FAIL ")


def test_truncated_parquet_is_a_size_mismatch(mixture):
    f = mixture.parent / "data" / "direct" / "train.parquet"
    f.write_bytes(f.read_bytes()[:-10])
    r = check_data(mixture)
    c = by_name(r)["direct"]
    assert not r.ok and c.status == "fail" and c.files[0].status == "size-mismatch"


# ---------------------------------------------------------------------------------------- the 20/80 claim vs data
def two_way(manifest: Path, cot_docs: int, direct_docs: int, declare_tokens: dict | None) -> None:
    base = manifest.parent / "data"
    write_cot(base / "cot" / "part-0.jsonl", cot_docs)
    write_direct(base / "direct" / "train.parquet", direct_docs)
    comps = []
    for name, rel in (("cot", "part-0.jsonl"), ("direct", "train.parquet")):
        c = {
            "name": name,
            "source": f"dir://data/{name}",
            "files": [files_entry(base / name, rel)],
            "weight": {"value": 1, "unit": "multiplier"},
            "tags": [name],
        }
        if declare_tokens:
            c["tokens"] = declare_tokens[name]
        comps.append(c)
    set_data(
        manifest,
        {
            "tokenizer": "tokenizer.json",
            "components": comps,
            "shares": {"cot": {"value": 0.2, "tolerance": 0.02}, "direct": {"value": 0.8, "tolerance": 0.02}},
        },
    )


def test_declared_20_80_split_the_data_contradicts_is_caught(demo):
    two_way(demo, cot_docs=25, direct_docs=25, declare_tokens=None)  # the data is 50/50
    r = check_data(demo)
    m = mix(r)
    assert not r.ok
    assert m["share:cot"].verdict == "fail" and m["share:cot"].from_data == pytest.approx(0.5)
    assert m["share:direct"].verdict == "fail" and m["share:direct"].from_data == pytest.approx(0.5)
    assert all(c.status == "pass" for c in r.components)  # the files are the published ones: the claim is false
    proc = run_assay("data", "check", str(demo))
    assert proc.returncode == 1 and "share:cot" in proc.stdout


def test_consistent_declaration_but_contradicting_data(demo):
    """Declared token counts agree with 20/80; the (correctly pinned) data does not: both the counts and the share fail."""
    two_way(demo, cot_docs=25, direct_docs=25, declare_tokens={"cot": 50, "direct": 200})
    r = check_data(demo)
    m, comps = mix(r), by_name(r)
    assert m["share:cot"].from_declaration == pytest.approx(0.2) and m["share:cot"].from_data == pytest.approx(0.5)
    assert m["share:cot"].verdict == "fail"
    tokens = next(c for c in comps["cot"].counts if c.field == "tokens")
    assert (tokens.declared, tokens.measured, tokens.verdict) == (50, 125, "fail")
    assert comps["cot"].status == "fail"


def test_matching_20_80_split_holds(demo):
    two_way(demo, cot_docs=10, direct_docs=40, declare_tokens={"cot": 50, "direct": 200})
    r = check_data(demo)
    assert r.ok, r.model_dump_json(indent=1)
    assert mix(r)["share:cot"].verdict == "pass"


# -------------------------------------------------------------------------------------------- mixture arithmetic
def edit_data(manifest: Path, fn) -> None:
    doc, _ = read_yaml_file(manifest)
    fn(doc["data"])
    manifest.write_text(dump_yaml(doc))


def test_share_weights_must_normalise(mixture):
    def fn(d):
        for c, w in zip(d["components"], (0.2, 0.5, 0.2, 0.2)):
            c["weight"] = {"value": w, "unit": "tokens"}
        d["totals"] = {"tokens": 1000}
        d["shares"] = {}

    edit_data(mixture, fn)
    r = check_data(mixture)
    assert mix(r)["weights"].verdict == "fail" and "1.1" in mix(r)["weights"].message and not r.ok


def test_mixed_units_fail(mixture):
    edit_data(mixture, lambda d: d["components"][0].update(weight={"value": 0.5, "unit": "samples"}))
    r = check_data(mixture)
    assert mix(r)["units"].verdict == "fail" and not r.ok


def test_epochs_beyond_max_epochs_fail(mixture):
    edit_data(mixture, lambda d: d["components"][0].update(max_epochs=1.5))
    r = check_data(mixture)
    assert mix(r)["epochs:cot"].verdict == "fail" and not r.ok


def test_token_share_weights_imply_epochs_and_documents(mixture):
    """Unit tokens (OLMo-style): 1000 trained tokens, cot 20% = 200 tokens from 50 held = 4 epochs > max 3."""

    def fn(d):
        for c, w in zip(d["components"], (0.2, 0.4, 0.2, 0.2)):
            c["weight"] = {"value": w, "unit": "tokens"}
        d["components"][0]["max_epochs"] = 3
        d["totals"] = {"tokens": 1000, "documents": 200}

    edit_data(mixture, fn)
    r = check_data(mixture)
    m = mix(r)
    # the attested component's declared figures enter the arithmetic: attested at best, never a pass
    assert m["share:cot"].from_data == pytest.approx(0.2) and m["share:cot"].verdict == "attested"
    assert m["epochs:cot"].from_data == pytest.approx(4.0) and m["epochs:cot"].verdict == "fail"
    assert m["totals.documents"].from_data == 200  # every component has 1 document per 5 tokens
    assert by_name(r)["direct"].epochs == pytest.approx(2.0)


def test_sample_share_weights_derive_token_totals(mixture):
    """Unit samples (Megatron-style): 100 trained documents, tokens follow from each component's tokens/document."""

    def fn(d):
        for c, w in zip(d["components"], (0.5, 0.25, 0.25, 0.0)):
            c["weight"] = {"value": w, "unit": "samples"}
        d["totals"] = {"documents": 100, "tokens": 999}
        d["shares"] = {"cot": {"value": 0.5, "tolerance": 0.0, "unit": "documents"}}
        d["components"][0].pop("max_epochs")

    edit_data(mixture, fn)
    r = check_data(mixture)
    m = mix(r)
    assert m["totals.tokens"].from_data == 500 and m["totals.tokens"].verdict == "fail"
    assert m["share:cot"].verdict == "attested"  # rests partly on the attested component's declared figures
    assert by_name(r)["cot"].epochs == pytest.approx(5.0)


def test_share_of_a_tag_no_component_has_fails(mixture):
    edit_data(mixture, lambda d: d["shares"].update(math={"value": 0.1, "tolerance": 0.1}))
    r = check_data(mixture)
    assert mix(r)["share:math"].verdict == "fail" and "no component" in mix(r)["share:math"].message


def test_totals_bytes_are_the_stored_bytes(mixture):
    doc, _ = read_yaml_file(mixture)
    total = sum(c.get("bytes", 0) for c in doc["data"]["components"])
    edit_data(mixture, lambda d: d["totals"].update(bytes=total + 1))
    r = check_data(mixture)
    assert mix(r)["totals.bytes"].verdict == "not-checked"  # the attested component declares no bytes
    edit_data(mixture, lambda d: d["components"][3].update(bytes=0))
    r = check_data(mixture)
    assert mix(r)["totals.bytes"].verdict == "fail" and mix(r)["totals.bytes"].from_data == total


# ------------------------------------------------------------------------------------------------ records, tokens
def test_invalid_record_fails_with_its_line(mixture):
    f = mixture.parent / "data" / "cot" / "part-0.jsonl"
    f.write_text(f.read_text() + '{"meta": 1}\nnot json\n')
    edit_data(mixture, lambda d: d["components"][0]["files"][0].update(sha256=sha(f), size=f.stat().st_size))
    r = check_data(mixture)
    c = by_name(r)["cot"]
    assert c.status == "fail" and c.measured["invalid_records"] == 2
    assert "line 11" in c.reason and "line 12" in c.reason


def test_tampered_tokenizer_is_not_used(mixture):
    tok = mixture.parent / "release" / "tokenizer.json"
    tok.write_text(tok.read_text().replace('"▁about"', '"▁abuot"'))
    r = check_data(mixture)
    assert not r.ok and any("tokenizer" in (f.where or "") and f.severity == "error" for f in r.findings)
    tokens = next(c for c in by_name(r)["cot"].counts if c.field == "tokens")
    assert tokens.verdict == "not-checked" and by_name(r)["cot"].status == "not-checked"


def test_remote_component_is_attested_unless_a_local_copy_is_given(mixture, tmp_path):
    copy = tmp_path / "copies" / "direct"
    shutil.copytree(mixture.parent / "data" / "direct", copy)
    edit_data(mixture, lambda d: d["components"][1].update(source="hf://datasets/example/direct@0123abc"))
    r = check_data(mixture)
    assert by_name(r)["direct"].status == "attested" and "--data-dir" in by_name(r)["direct"].reason
    r = check_data(mixture, data_dir=tmp_path / "copies")
    assert by_name(r)["direct"].status == "pass" and r.ok


def test_record_field_rules():
    assert extract({"text": "a b"}) == ("a b", 0)
    assert extract(
        {
            "messages": [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "yo"},
            ]
        }
    ) == ("hi\nyo", 1)
    assert extract({"conversations": [{"from": "human", "value": "<image> q"}], "image": "x.png"}) == ("<image> q", 1)
    assert extract({"prompt": "p", "completion": "c"}) == ("p\nc", 0)
    assert extract({"caption": "c", "images": ["a", None, "b"]}) == ("c", 2)
    assert extract({"body": "x"}, text_field="body") == ("x", 0)
    assert extract({"body": "x"}) == (None, 0)


# ------------------------------------------------------------------------------------------------------ bad input
def test_manifest_without_data_is_bad_input(demo):
    model_only(demo)
    with pytest.raises(InputError):
        check_data(demo)
    proc = run_assay("data", "check", str(demo))
    assert proc.returncode == 2 and "no 'data:' section" in proc.stderr


def test_schema_rejects_bad_components(mixture):
    edit_data(mixture, lambda d: d["components"][3].pop("reason"))
    proc = run_assay("data", "check", str(mixture))
    assert proc.returncode == 2 and "reason" in proc.stderr
    edit_data(mixture, lambda d: d["components"][3].update(reason="x", source="hf://org/model"))
    proc = run_assay("data", "check", str(mixture))
    assert proc.returncode == 2 and "hf://datasets" in proc.stderr


def test_data_check_of_a_dir_mixture_imports_neither_torch_nor_dvc(mixture):
    import subprocess
    import sys

    code = (
        "import sys; from assay.mixtures.check import check_data; r = check_data(sys.argv[1]); "
        "print(r.ok, sorted(m for m in ('torch', 'dvc', 'transformers') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(mixture)], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "True []", proc.stdout + proc.stderr
