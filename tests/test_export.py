"""`assay export`: CycloneDX 1.6 ML-BOM, HF model-index and .eval_results, Every Eval Ever, Kitfile, ModelPack config.

Each format is produced from a copy of the demo release with an `evals:` and a `data:` section added (and re-locked),
once with an audit report whose rescore step reproduced one of the two scores.  Every output is read back by the
consumer's own code where one exists (cyclonedx-python-lib's strict validator, huggingface_hub's parsers).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from assay.audit.exports import FORMATS, export
from assay.audit.model import (
    AuditReport,
    ClaimResult,
    Counts,
    Environment,
    ReleaseRef,
    ScorePoint,
    StepResult,
    StepSummary,
)
from assay.manifests.errors import InputError
from assay.audit.locking import lock_release

EXTRA = """
data:
  totals: {tokens: 1000}
  shares: {cot: {value: 0.2, tolerance: 0.05}}
  components:
  - name: text-mix
    source: dir://data/text
    files: [{path: a.jsonl, size: 3, sha256: "%s"}]
    tokens: 800
    weight: {value: 0.8, unit: tokens}
    tags: [direct]
    license: cc-by-4.0
  - name: hub-charts
    source: hf://datasets/example-org/charts@main
    license: MIT
    weight: {value: 0.2, unit: tokens}
    tags: [cot]
  - name: secret-mix
    source: unavailable
    reason: proprietary licence
evals:
- name: chartqa
  metric: relaxed_accuracy
  task: chartqa_mini
  published: [{value: 84.8, source: "https://example.org/tiny-vlm#scores", stderr: 1.1}]
  decoding: {temperature: 0.0, max_new_tokens: 32, seed: 1234}
- name: textqa
  metric: acc
  published: [{value: 55.0, source: model card}]
""" % hashlib.sha256(b"{}\n").hexdigest()

WRAPPER = """
import sys
from assay.cli import export_verbs
from assay.cli.main import app, main
if not any((c.name or getattr(c.callback, "__name__", "")) == "export" for c in app.registered_commands):
    export_verbs.register(app)
main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """The demo release with evals and data, re-locked (shared by the module: nothing here writes into it)."""
    import shutil

    from conftest import DEMO, model_only

    dst = tmp_path_factory.mktemp("export") / "tiny-vlm"
    shutil.copytree(DEMO, dst, ignore=shutil.ignore_patterns("__pycache__", "assay.failing*"))
    (dst / "data" / "text").mkdir(parents=True)
    (dst / "data" / "text" / "a.jsonl").write_bytes(b"{}\n")
    manifest = model_only(dst / "assay.yaml")
    manifest.write_text(manifest.read_text() + EXTRA)
    with pytest.MonkeyPatch.context() as mp:  # module scope: conftest's per-test state folder is not set up yet
        mp.setenv("ASSAY_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        assert lock_release(manifest).ok
    return manifest


@pytest.fixture(scope="module")
def report(release) -> Path:
    """An audit report whose rescore step reproduced chartqa (with a CI) and that failed one data claim."""
    lock = yaml.safe_load(release.with_name("assay.lock.yaml").read_text())
    claims = [
        ClaimResult(
            id="eval:chartqa",
            step="rescore",
            kind="rescore",
            subject="chartqa",
            declared=84.8,
            measured=83.9,
            verdict="pass",
            level="L1 re-score",
        ),
        ClaimResult(
            id="data:shares.cot",
            step="data",
            kind="data",
            subject="cot",
            declared=0.2,
            measured=0.31,
            verdict="fail",
            message="cot share 0.31 outside 0.2 ± 0.05",
        ),
    ]
    row = {"name": "chartqa", "published": 84.8, "reproduced": 83.9, "ci_low": 81.2, "ci_high": 86.4, "n": 500}
    steps = [
        StepResult(name="rescore", status="ok", claims=claims[:1], summary=StepSummary(scores=[ScorePoint(**row)])),
        StepResult(name="data", status="failed", claims=claims[1:]),
    ]
    r = AuditReport(
        release=ReleaseRef(
            name="tiny-vlm",
            version="0.1.0",
            manifest=str(release),
            manifest_sha256=hashlib.sha256(release.read_bytes()).hexdigest(),
            release_digest=lock["release_digest"],
        ),
        generated_by="assay 0.1.0",
        environment=Environment(assay="0.1.0", python="3", platform="x", cpu_count=2),
        steps=steps,
        claims=claims,
        verdict="fail",
        seconds=1.0,
        counts=Counts(total=2, passed=1, failed=1, attested=0, inconclusive=0, not_checked=0, errors=0),
    )
    path = release.parent.parent / "report.json"
    path.write_text(r.model_dump_json(by_alias=True, indent=2))
    return path


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, SOURCE_DATE_EPOCH="1767225600")
    return subprocess.run(
        [sys.executable, "-c", WRAPPER, "export", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


# ------------------------------------------------------------------------------------------------------ CycloneDX
def _strict_errors(bom: dict) -> list:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    return list(JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom), all_errors=True) or [])


def test_cyclonedx_ml_bom_is_valid_and_carries_the_model_card(release, report, tmp_path):
    r = export("cyclonedx", release, report, tmp_path / "bom.json")
    assert r.ok and not r.errors, r.errors
    bom = json.loads((tmp_path / "bom.json").read_text())
    assert _strict_errors(bom) == []
    assert bom["specVersion"] == "1.6" and bom["bomFormat"] == "CycloneDX"
    model = bom["metadata"]["component"]
    lock = yaml.safe_load(release.with_name("assay.lock.yaml").read_text())
    assert model["type"] == "machine-learning-model" and model["name"] == "tiny-vlm"
    assert model["hashes"] == [{"alg": "SHA-256", "content": lock["release_digest"].split(":")[1]}]
    assert {"name": "assay:release_digest", "value": lock["release_digest"]} in model["properties"]
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    files = {c["name"]: c for c in bom["components"] if c["type"] == "file"}
    assert {f["path"]: f["sha256"] for f in lock["files"]} == {n: c["hashes"][0]["content"] for n, c in files.items()}
    assert all(c["hashes"][0]["alg"] == "SHA-256" for c in files.values())

    card = model["modelCard"]
    assert card["modelParameters"]["modelArchitecture"] == "LlavaForConditionalGeneration"
    assert card["modelParameters"]["architectureFamily"] == "Llava"
    data = {c["bom-ref"]: c for c in bom["components"] if c["type"] == "data"}
    refs = [d["ref"] for d in card["modelParameters"]["datasets"]]
    assert refs == ["data:text-mix", "data:hub-charts", "data:secret-mix"] and set(refs) <= set(data)
    assert data["data:text-mix"]["licenses"] == [{"license": {"id": "CC-BY-4.0"}}]
    assert data["data:hub-charts"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert data["data:text-mix"]["components"][0]["hashes"][0]["content"] == hashlib.sha256(b"{}\n").hexdigest()
    metrics = {m["slice"]: m for m in card["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics["chartqa_mini"] == {
        "type": "relaxed_accuracy",
        "value": "83.9",
        "slice": "chartqa_mini",
        "confidenceInterval": {"lowerBound": "81.2", "upperBound": "86.4"},
    }
    assert metrics["textqa"] == {"type": "acc", "value": "55", "slice": "textqa"}  # published only: no CI
    props = {p["name"]: p["value"] for p in card["properties"]}
    assert props["assay:eval:chartqa:verified"] == "true" and props["assay:eval:textqa:verified"] == "false"
    assert props["assay:eval:chartqa:published"] == "84.8"
    limits = "\n".join(card["considerations"]["technicalLimitations"])
    assert "textqa" in limits and "not verified" in limits and "chartqa" not in limits
    assert "data:shares.cot: fail" in limits and "secret-mix is attested only" in limits
    dep = bom["dependencies"][0]
    assert dep["ref"] == model["bom-ref"] and set(dep["dependsOn"]) == set(
        files_ref := [c["bom-ref"] for c in bom["components"]]
    )
    assert len(files_ref) == len(set(files_ref))


def test_cyclonedx_strict_validator_rejects_a_broken_bom(release, tmp_path, monkeypatch):
    r = export("cyclonedx", release, None, tmp_path / "bom.json")
    bom = json.loads((tmp_path / "bom.json").read_text())
    assert _strict_errors(bom) == []
    numeric = json.loads(json.dumps(bom))
    numeric["metadata"]["component"]["modelCard"]["quantitativeAnalysis"]["performanceMetrics"][0]["value"] = 84.8
    assert _strict_errors(numeric)  # CycloneDX metric values are strings
    unknown = json.loads(json.dumps(bom))
    unknown["metadata"]["component"]["modelCard"]["modelParameters"]["verified"] = True
    assert _strict_errors(unknown)  # strict: no unknown keys
    bad_hash = json.loads(json.dumps(bom))
    bad_hash["components"][0]["hashes"][0]["alg"] = "SHA256"
    assert _strict_errors(bad_hash)

    # The exporter runs the same validator and writes nothing when it fails.
    from assay.audit.exports import cyclonedx

    real = cyclonedx.build
    monkeypatch.setattr(cyclonedx, "build", lambda ctx: {**real(ctx), "bogus": 1})
    target = tmp_path / "broken.json"
    r = export("cyclonedx", release, None, target)
    assert not r.ok and r.errors and not target.exists()
    assert any("bogus" in e for e in r.errors)


def test_cyclonedx_reproducible_with_source_date_epoch(release, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    a = export("cyclonedx", release).content
    b = export("cyclonedx", release).content
    assert a == b and '"timestamp": "2026-01-01T00:00:00Z"' in a


# --------------------------------------------------------------------------------------------- Hugging Face formats
def test_model_index_parses_back_with_huggingface_hub(release, report, tmp_path):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    r = export("model-index", release, report, tmp_path / "mi.yaml", datasets={"chartqa": "example-org/chartqa"})
    assert r.ok
    text = (tmp_path / "mi.yaml").read_text()
    block = yaml.safe_load(text)
    assert list(block) == ["model-index"]
    name, results = model_index_to_eval_results(block["model-index"])
    assert name == "tiny-vlm"
    by = {e.dataset_name: e for e in results}
    assert by["chartqa"].metric_value == 83.9 and by["chartqa"].dataset_type == "example-org/chartqa"
    assert "reproduced by assay audit" in by["chartqa"].metric_name and "81.2" in by["chartqa"].metric_name
    assert by["textqa"].metric_value == 55.0 and "not reproduced" in by["textqa"].metric_name
    assert all(e.verified is False and e.task_type == "image-text-to-text" for e in results)
    assert by["textqa"].metric_type == "acc"
    # Pasted into a model card's front matter, the Hub's card parser reads the same results.
    card = ModelCard("---\nlicense: apache-2.0\n" + text + "---\n\n# tiny-vlm\n")
    assert card.data.model_name == "tiny-vlm"
    assert [(e.dataset_name, e.metric_value) for e in card.data.eval_results] == [("chartqa", 83.9), ("textqa", 55.0)]
    assert any("textqa" in w and "--dataset" in w for w in r.warnings)  # no Hub id given for textqa


def test_model_index_keeps_benchmarks_that_share_a_dataset_apart(release):
    from huggingface_hub.repocard_data import model_index_to_eval_results

    same = {"chartqa": "example-org/mixed", "textqa": "example-org/mixed"}
    doc = yaml.safe_load(export("model-index", release, datasets=same).content)
    _, results = model_index_to_eval_results(doc["model-index"])
    assert [(e.dataset_name, e.dataset_config, e.metric_value) for e in results] == [
        ("chartqa", "chartqa_mini", 84.8),
        ("textqa", "textqa", 55.0),
    ]


def test_eval_results_files_load_with_huggingface_hub(release, report, tmp_path):
    from huggingface_hub import parse_eval_result_entries

    r = export("eval-results", release, report, tmp_path / "repo", datasets={"chartqa": "example-org/chartqa"})
    assert r.ok
    folder = tmp_path / "repo" / ".eval_results"
    assert sorted(p.name for p in folder.iterdir()) == ["chartqa.yaml", "textqa.yaml"]
    chart = parse_eval_result_entries(yaml.safe_load((folder / "chartqa.yaml").read_text()))
    assert len(chart) == 1
    e = chart[0]
    assert (e.dataset_id, e.task_id, e.value, e.verify_token) == ("example-org/chartqa", "chartqa_mini", 83.9, None)
    assert "reproduced by assay audit" in e.notes and "published 84.8" in e.notes
    text = parse_eval_result_entries(yaml.safe_load((folder / "textqa.yaml").read_text()))[0]
    assert text.value == 55.0 and "not reproduced" in text.notes
    # Published-only score with a URL source: the source is linked.
    r2 = export("eval-results", release, None, tmp_path / ".eval_results")
    assert [Path(f.path).parent.name for f in r2.files] == [".eval_results"] * 2
    plain = parse_eval_result_entries(yaml.safe_load((tmp_path / ".eval_results" / "chartqa.yaml").read_text()))[0]
    assert plain.value == 84.8 and plain.source_url == "https://example.org/tiny-vlm#scores"


# -------------------------------------------------------------------------------------------- Every Eval Ever 0.3.0
# The constraints of every_eval_ever/schemas/eval.schema.json (0.3.0) that these logs exercise, written out here:
# the package itself needs Python >= 3.12 and huggingface-hub < 1.0, which this project cannot install beside hub 2.x.
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_EEE = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version",
        "evaluation_id",
        "retrieved_timestamp",
        "source_metadata",
        "model_info",
        "eval_library",
        "evaluation_results",
    ],
    "properties": {
        "schema_version": {"const": "0.3.0"},
        "evaluation_id": {"type": "string"},
        "evaluation_timestamp": {"type": "string"},
        "retrieved_timestamp": {"type": "string", "pattern": r"^\d+$"},
        "source_metadata": {
            "type": "object",
            "required": ["source_type", "source_organization_name", "evaluator_relationship"],
            "properties": {
                "source_type": {"enum": ["documentation", "evaluation_run"]},
                "evaluator_relationship": {"enum": ["first_party", "third_party", "collaborative", "other"]},
                "additional_details": _STR_MAP,
            },
        },
        "eval_library": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {"additional_details": _STR_MAP},
        },
        "model_info": {
            "type": "object",
            "required": ["name", "id", "additional_details"],
            "properties": {
                "additional_details": {
                    "type": "object",
                    "required": ["deployment_type", "model_availability"],
                    "properties": {
                        "deployment_type": {"enum": ["self_deployed", "externally_managed", "unknown"]},
                        "model_availability": {"enum": ["open_weights", "closed_weights", "unknown"]},
                    },
                    "additionalProperties": {"type": "string"},
                }
            },
        },
        "evaluation_results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["evaluation_name", "source_data", "metric_config", "score_details"],
                "properties": {
                    "source_data": {
                        "oneOf": [
                            {
                                "required": ["dataset_name", "source_type", "url"],
                                "properties": {"source_type": {"const": "url"}},
                            },
                            {
                                "required": ["dataset_name", "source_type"],
                                "properties": {"source_type": {"const": "hf_dataset"}},
                            },
                            {
                                "required": ["dataset_name", "source_type"],
                                "properties": {"source_type": {"const": "other"}, "additional_details": _STR_MAP},
                            },
                        ]
                    },
                    "metric_config": {
                        "type": "object",
                        "required": ["lower_is_better"],
                        "properties": {"lower_is_better": {"type": "boolean"}},
                    },
                    "score_details": {
                        "type": "object",
                        "required": ["score"],
                        "properties": {
                            "score": {"type": "number"},
                            "details": _STR_MAP,
                            "uncertainty": {
                                "type": "object",
                                "properties": {
                                    "standard_error": {"type": "object", "required": ["value"]},
                                    "confidence_interval": {
                                        "type": "object",
                                        "required": ["lower", "upper"],
                                        "properties": {
                                            "confidence_level": {"type": "number", "minimum": 0, "maximum": 1}
                                        },
                                    },
                                    "num_samples": {"type": "integer"},
                                },
                            },
                        },
                    },
                    "generation_config": {
                        "type": "object",
                        "properties": {
                            "generation_args": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "temperature": {"type": ["null", "number"]},
                                    "top_p": {"type": ["null", "number"]},
                                    "top_k": {"type": ["null", "number"]},
                                    "max_tokens": {"type": "integer", "minimum": 1},
                                },
                            },
                            "additional_details": _STR_MAP,
                        },
                    },
                },
            },
        },
    },
}


def test_eee_aggregates_follow_the_0_3_0_schema(release, report, tmp_path):
    r = export("eee", release, report, tmp_path / "eee", datasets={"chartqa": "example-org/chartqa"})
    assert r.ok and sorted(Path(f.path).name for f in r.files) == ["published.json", "reproduced.json"]
    pub = json.loads((tmp_path / "eee" / "published.json").read_text())
    rep = json.loads((tmp_path / "eee" / "reproduced.json").read_text())
    for log in (pub, rep):
        jsonschema.validate(log, _EEE)
    assert pub["source_metadata"]["source_type"] == "documentation"
    assert pub["source_metadata"]["evaluator_relationship"] == "first_party"
    assert {e["evaluation_name"]: e["score_details"]["score"] for e in pub["evaluation_results"]} == {
        "chartqa": 84.8,
        "textqa": 55.0,
    }
    chart = pub["evaluation_results"][0]
    assert chart["score_details"]["uncertainty"]["standard_error"]["value"] == 1.1
    assert chart["source_data"] == {
        "dataset_name": "chartqa_mini",
        "source_type": "hf_dataset",
        "hf_repo": "example-org/chartqa",
    }
    assert chart["generation_config"]["generation_args"] == {"temperature": 0.0, "max_tokens": 32}
    assert rep["source_metadata"]["source_type"] == "evaluation_run" and rep["eval_library"]["name"] == "assay"
    [res] = rep["evaluation_results"]
    assert res["score_details"]["score"] == 83.9
    assert res["score_details"]["uncertainty"]["confidence_interval"] == {
        "lower": 81.2,
        "upper": 86.4,
        "confidence_level": 0.95,
    }
    assert res["score_details"]["uncertainty"]["num_samples"] == 500
    # A broken log is caught by the same check (so the test can fail).
    broken = json.loads(json.dumps(pub))
    broken["source_metadata"]["evaluator_relationship"] = "self"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, _EEE)


# ----------------------------------------------------------------------------------------- Kitfile and ModelPack
# kitops-ml/kitops pkg/artifact/kitfile.go: the YAML keys of KitFile and its element structs (KnownFields(true)).
_KIT_KEYS = {
    "": {"manifestVersion", "package", "model", "code", "datasets", "docs", "prompts"},
    "package": {"name", "version", "description", "license", "authors"},
    "model": {"name", "path", "license", "framework", "format", "version", "description", "parts", "parameters"},
    "part": {"name", "path", "license", "type"},
    "code": {"path", "description", "license"},
    "datasets": {"name", "path", "remotePath", "remoteHash", "description", "license", "parameters"},
    "docs": {"path", "description"},
}


def _kit_unknown(kit: dict) -> list[str]:
    bad = [k for k in kit if k not in _KIT_KEYS[""]]
    for sec in ("package", "model"):
        bad += [f"{sec}.{k}" for k in kit.get(sec, {}) if k not in _KIT_KEYS[sec]]
    bad += [f"part.{k}" for p in kit.get("model", {}).get("parts", []) for k in p if k not in _KIT_KEYS["part"]]
    bad += [
        f"{s}.{k}" for s in ("code", "datasets", "docs") for e in kit.get(s, []) for k in e if k not in _KIT_KEYS[s]
    ]
    return bad


def test_kitfile_has_only_documented_keys_and_real_paths(release, tmp_path):
    r = export("kitfile", release, None, tmp_path)
    assert r.ok and Path(r.files[0].path).name == "Kitfile"
    kit = yaml.safe_load(Path(r.files[0].path).read_text())
    assert _kit_unknown(kit) == []
    assert _kit_unknown({**kit, "evals": []}) == ["evals"]  # the check can fail
    assert kit["manifestVersion"] == "1.0.0"
    assert kit["package"] == {
        "name": "tiny-vlm",
        "version": "0.1.0",
        "license": "apache-2.0",
        "authors": ["assay demo lab"],
        "description": kit["package"]["description"],
    }
    model = kit["model"]
    assert model["path"] == "release/model.safetensors.index.json" and model["format"] == "safetensors"
    assert model["parameters"]["parameters"] == 119520
    paths = [model["path"]] + [p["path"] for p in model["parts"]]
    paths += [e["path"] for s in ("code", "datasets", "docs") for e in kit.get(s, [])]
    assert len(paths) == len(set(paths))  # KitOps refuses two entries with one path
    for p in paths:  # relative to the build context (the manifest's folder), and present there
        assert not p.startswith("/") and (release.parent / p).exists(), p
    assert {p["type"] for p in model["parts"]} == {"weights", "config", "tokenizer", "processor"}
    assert [d["name"] for d in kit["datasets"]] == ["text-mix"]
    assert kit["datasets"][0]["license"] == "cc-by-4.0"
    assert {"assay.yaml", "assay.lock.yaml", "release/README.md"} <= {d["path"] for d in kit["docs"]}
    assert any("hub-charts" in w for w in r.warnings) and any("secret-mix" in w for w in r.warnings)


def test_modelpack_config_is_what_push_sends(release, report, tmp_path):
    from assay.hubs.oci import canonical_json

    r = export("modelpack", release, None, tmp_path / "config.json")
    raw = (tmp_path / "config.json").read_bytes()
    cfg = json.loads(raw)
    assert raw == canonical_json(cfg)  # canonical bytes: the file's sha256 is the registry's config digest
    assert r.files[0].sha256 == hashlib.sha256(raw).hexdigest()
    assert set(cfg) == {"descriptor", "config", "modelfs"}
    assert set(cfg["descriptor"]) <= {
        "createdAt",
        "authors",
        "vendor",
        "family",
        "name",
        "version",
        "title",
        "description",
        "docURL",
        "sourceURL",
        "datasetsURL",
        "revision",
        "licenses",
    }
    assert set(cfg["config"]) <= {"architecture", "format", "paramSize", "precision", "quantization", "capabilities"}
    lock = yaml.safe_load(release.with_name("assay.lock.yaml").read_text())
    assert cfg["descriptor"]["revision"] == lock["release_digest"]
    assert (cfg["descriptor"]["name"], cfg["descriptor"]["version"]) == ("tiny-vlm", "0.1.0")
    assert cfg["config"] == {"format": "safetensors", "paramSize": "119.5K"}
    package = {f["path"]: f["sha256"] for f in lock["files"]}
    package["assay.yaml"] = hashlib.sha256(release.read_bytes()).hexdigest()
    package["assay.lock.yaml"] = hashlib.sha256(release.with_name("assay.lock.yaml").read_bytes()).hexdigest()
    assert cfg["modelfs"] == {
        "type": "layers",
        "diffIds": [f"sha256:{package[p]}" for p in sorted(package, key=str.encode)],
    }
    with_report = json.loads(export("modelpack", release, report).content)
    assert len(with_report["modelfs"]["diffIds"]) == len(package) + 1  # report.json travels as a doc layer


# ------------------------------------------------------------------------------------------------ inputs and CLI
def test_bad_inputs_are_input_errors(release, report, tmp_path, demo):
    from conftest import model_only

    with pytest.raises(InputError, match="no 'evals:' section"):
        export("model-index", model_only(demo))  # the model release alone declares no scores
    with pytest.raises(InputError, match="unknown export format"):
        export("spdx", release)
    with pytest.raises(InputError, match="no eval named 'mmmu'"):
        export("eee", release, datasets={"mmmu": "org/mmmu"})
    demo.with_name("assay.lock.yaml").unlink()
    with pytest.raises(InputError, match="no lock beside it"):
        export("cyclonedx", demo)
    other = json.loads(report.read_text())
    other["release"]["release_digest"] = "sha256:" + "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(InputError, match="audited release digest"):
        export("cyclonedx", release, tmp_path / "other.json")
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(InputError, match="not an assay audit report"):
        export("cyclonedx", release, tmp_path / "junk.json")


def test_cli_export_exit_codes_and_outputs(release, report, tmp_path):
    proc = _cli(str(release), "--format", "cyclonedx", "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    bom = json.loads(proc.stdout)  # no --out: the document itself on stdout
    assert _strict_errors(bom) == [] and bom["metadata"]["timestamp"] == "2026-01-01T00:00:00Z"
    proc = _cli(
        str(release),
        "--format",
        "eval-results",
        "--out",
        str(tmp_path / "hf"),
        "--json",
        "--dataset",
        "chartqa=example-org/chartqa",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and len(result["files"]) == 2 and "content" not in result
    assert (tmp_path / "hf" / ".eval_results" / "chartqa.yaml").is_file()
    for args, msg in (
        (["--format", "nope"], "--format must be one of"),
        (["--format", "kitfile", "--json"], "--json needs --out"),
        (["--format", "eee", "--dataset", "chartqa"], "expected NAME=ORG/DATASET"),
    ):
        proc = _cli(str(release), *args)
        assert proc.returncode == 2 and msg in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = _cli(str(tmp_path / "missing.yaml"), "--format", "kitfile")
    assert proc.returncode == 2 and proc.stderr.startswith("assay: error:")
    assert set(FORMATS) == {"cyclonedx", "model-index", "eval-results", "eee", "kitfile", "modelpack"}


def test_cli_exits_1_when_the_document_fails_its_schema_check(release, tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from assay.audit.exports import cyclonedx
    from assay.cli import export_verbs

    real = cyclonedx.build
    monkeypatch.setattr(cyclonedx, "build", lambda ctx: {**real(ctx), "bogus": 1})
    app = typer.Typer()
    export_verbs.register(app)
    app.command("noop")(lambda: None)  # two commands, so typer keeps 'export' as a sub-command
    res = CliRunner().invoke(
        app, ["export", str(release), "--format", "cyclonedx", "--out", str(tmp_path / "b.json"), "--json"]
    )
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    assert out["ok"] is False and out["errors"] and out["files"] == []
    assert not (tmp_path / "b.json").exists()
