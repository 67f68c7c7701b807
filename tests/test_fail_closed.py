"""Fail closed: no evidence, no pass.

Each verdict-producing path gets an input that offers nothing to check (an empty release, a claim nothing can
measure, a score with no log, a step that did not run, an attestation whose subjects were not looked at, a predicate
assay cannot read) and must come out as a named non-pass verdict, never ``ok``.  The manifest's explicit
``attested_only`` declarations are the one way such a claim is reported without failing, and then as ``attested``,
never as ``pass``.  (Edge-case inputs made here; the real-world corpora are in the per-format test files.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from assay.manifests.yamlio import dump_yaml, read_yaml_file

from conftest import ROOT, model_only, run_assay

LMEVAL = ROOT / "tests" / "fixtures" / "evals" / "lm-eval"


def _edit(manifest: Path, fn) -> None:
    data, _ = read_yaml_file(manifest)
    fn(data)
    manifest.write_text(dump_yaml(data))


def _json(proc) -> dict:
    return json.loads(proc.stdout)


# ----------------------------------------------------------------------------------------------------------- verify
def test_a_release_with_no_artifacts_does_not_verify(tmp_path):
    (tmp_path / "release").mkdir()
    m = tmp_path / "assay.yaml"
    m.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "assay/v1",
                "kind": "Release",
                "release": {"name": "empty", "version": "1"},
                "sources": [{"name": "default", "uri": "dir://release"}],
            }
        )
    )
    proc = run_assay("verify", str(m), "--strict", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    findings = _json(proc)["findings"]
    assert any(f["code"] == "release" and "nothing was verified" in f["message"] for f in findings)


def test_unmeasurable_claim_fails_unless_declared_attested_only(demo):
    """The demo's config.json gone from the claims' view: 'architecture' cannot be measured."""
    model_only(demo)

    def no_config(d):
        d["artifacts"] = [a for a in d["artifacts"] if a["path"] != "config.json"]
        d["claims"]["architecture"] = "LlavaForConditionalGeneration"
        d["claims"].pop("remote_code", None)

    _edit(demo, no_config)
    assert run_assay("lock", str(demo)).returncode == 0
    proc = run_assay("verify", str(demo), "--json")
    assert proc.returncode == 1
    [arch] = [c for c in _json(proc)["claims"] if c["claim"] == "architecture"]
    assert arch["verdict"] == "not-checked" and "config.json" in arch["message"]

    _edit(demo, lambda d: d["claims"].__setitem__("attested_only", ["architecture"]))
    assert run_assay("lock", str(demo)).returncode == 0
    proc = run_assay("verify", str(demo), "--json")
    assert proc.returncode == 0, proc.stdout
    [arch] = [c for c in _json(proc)["claims"] if c["claim"] == "architecture"]
    assert arch["verdict"] == "attested" and arch["measured"] is None


def test_attested_only_never_hides_a_measurable_claim(demo):
    """attested_only is for what cannot be measured: a claim the weights contradict still fails."""
    model_only(demo)

    def overclaim(d):
        d["claims"]["parameters"]["total"] = d["claims"]["parameters"]["total"] * 2
        d["claims"]["attested_only"] = ["parameters.total"]

    _edit(demo, overclaim)
    assert run_assay("lock", str(demo)).returncode == 0
    proc = run_assay("verify", str(demo), "--json")
    assert proc.returncode == 1
    [p] = [c for c in _json(proc)["claims"] if c["claim"] == "parameters.total"]
    assert p["verdict"] == "fail"


def test_attested_only_names_are_validated(demo):
    _edit(demo, lambda d: d["claims"].__setitem__("attested_only", ["paramters.total"]))
    proc = run_assay("verify", str(demo))
    assert proc.returncode == 2 and "attested_only" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------------------- rescore
def _eval_release(tmp_path: Path, evals: list[dict]) -> Path:
    rel = tmp_path / "release"
    shutil.copytree(LMEVAL / "full", rel / "evals" / "full")
    m = tmp_path / "assay.yaml"
    m.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "assay/v1",
                "kind": "Release",
                "release": {"name": "tiny", "version": "1.0"},
                "sources": [{"name": "default", "uri": "dir://release"}],
                "evals": evals,
            },
            sort_keys=False,
        )
    )
    return m


def test_a_score_with_no_log_is_not_checked_unless_attested_only(tmp_path):
    m = _eval_release(tmp_path, [{"name": "MMMU", "metric": "acc", "published": [{"value": 54.3, "source": "card"}]}])
    proc = run_assay("rescore", str(m), "--json")
    assert proc.returncode == 1
    [claim] = _json(proc)["evals"][0]["claims"]
    assert claim["status"] == "no-log" and claim["verdict"] == "not-checked"

    m2 = _eval_release(
        tmp_path / "b",
        [{"name": "MMMU", "metric": "acc", "attested_only": True, "published": [{"value": 54.3, "source": "card"}]}],
    )
    proc = run_assay("rescore", str(m2), "--json")
    assert proc.returncode == 0, proc.stdout
    [claim] = _json(proc)["evals"][0]["claims"]
    assert claim["status"] == "attested" and claim["verdict"] == "attested" and claim["recomputed"] is None


def test_a_log_that_gives_no_recomputed_metric_does_not_pass(tmp_path):
    """The claim names a metric the logged samples never carry: not-checked, exit 1 — never 'matches'."""
    [results] = (LMEVAL / "full").rglob("results_*.json")
    log = "evals/" + results.relative_to(LMEVAL).as_posix()
    m = _eval_release(
        tmp_path,
        [
            {
                "name": "tiny_mc",
                "metric": "bleu",
                "published": [{"value": 41.0}],
                "logs": [{"path": log, "format": "lm-eval"}],
            }
        ],
    )
    proc = run_assay("rescore", str(m), "--json")
    assert proc.returncode == 1
    claims = [c for e in _json(proc)["evals"] for c in e["claims"]]
    assert claims and {c["status"] for c in claims} <= {"not-recomputed", "no-log"}
    assert {c["verdict"] for c in claims} == {"not-checked"}


# ------------------------------------------------------------------------------------------------------------ audit
def test_audit_of_unlogged_scores_fails_and_attested_only_reports_them_as_attested(demo, tmp_path):
    model_only(demo)
    _edit(
        demo,
        lambda d: d.__setitem__(
            "evals", [{"name": "MMMU", "metric": "acc", "published": [{"value": 54.3, "source": "card"}]}]
        ),
    )
    assert run_assay("lock", str(demo)).returncode == 0
    proc = run_assay("audit", str(demo), "--out", str(tmp_path / "o1"), "--json")
    assert proc.returncode == 1
    report = _json(proc)
    [claim] = [c for c in report["claims"] if c["id"] == "eval:MMMU"]
    assert claim["verdict"] == "not-checked" and "attested_only" in claim["message"]
    assert report["verdict"] == "fail" and report["counts"]["not_checked"] == 1
    assert {s["name"]: s["status"] for s in report["steps"]}["rerun"] == "not-applicable"

    _edit(demo, lambda d: d["evals"][0].__setitem__("attested_only", True))
    assert run_assay("lock", str(demo)).returncode == 0
    proc = run_assay("audit", str(demo), "--out", str(tmp_path / "o2"), "--json")
    assert proc.returncode == 0, proc.stdout
    report = _json(proc)
    [claim] = [c for c in report["claims"] if c["id"] == "eval:MMMU"]
    assert claim["verdict"] == "attested" and report["counts"]["attested"] == 1 and report["verdict"] == "pass"
    md = (tmp_path / "o2" / "report.md").read_text()
    assert "attested" in md and "eval:MMMU" in md


def test_skipping_every_check_cannot_pass(demo, tmp_path):
    proc = run_assay(
        "audit",
        str(demo),
        "--out",
        str(tmp_path / "o"),
        "--json",
        *[a for s in ("verify", "load", "data", "rebuild", "rescore", "rerun") for a in ("--skip", s)],
    )
    assert proc.returncode == 1
    report = _json(proc)
    assert report["verdict"] == "fail" and report["counts"]["passed"] == 0
    assert {c["verdict"] for c in report["claims"]} == {"not-checked"}
    assert {s["status"] for s in report["steps"]} == {"not-checked"}
    text = run_assay("audit", str(demo), "--out", str(tmp_path / "o"), "--skip", "verify")
    assert text.returncode == 1 and "NOT CHECKED" in text.stdout and "step:verify" in text.stdout


# ------------------------------------------------------------------------------------------------------ attestations
def test_attestation_subjects_not_checked_fail_unless_signature_only(demo, tmp_path):
    import os

    out = tmp_path / "out"
    assert run_assay("audit", str(demo), "--out", str(out), "--skip", "rerun").returncode == 1
    pub = Path(os.environ["ASSAY_KEY_DIR"]) / "assay.pub"
    att = str(out / "attestation.dsse.json")
    proc = run_assay("attest", "verify", att, "--key", str(pub), "--json")
    assert proc.returncode == 1 and "subjects-not-checked" in proc.stdout
    proc = run_assay("attest", "verify", att, "--key", str(pub), "--signature-only", "--json")
    # authentic, but it records a failed audit (the skipped re-run): still not a pass
    assert proc.returncode == 1 and [p["code"] for p in _json(proc)["problems"]] == ["audit-failed"]


def test_unknown_predicate_type_fails_unless_required_by_name(tmp_path):
    from assay.attest.attestation import write_attestation
    from assay.attest.keys import generate_keypair
    from assay.attest.verify import verify_attestation

    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / "a.bin").write_bytes(b"abc")
    import hashlib

    kp = generate_keypair(tmp_path / "k", "ecdsa-p256")
    ptype = "https://slsa.dev/provenance/v1"
    att = write_attestation(
        [("a.bin", hashlib.sha256(b"abc").hexdigest())],
        {"buildDefinition": {}},
        kp.private_key,
        tmp_path / "a.json",
        predicate_type=ptype,
    )
    r = verify_attestation(att, rel, kp.public_key)
    assert not r.ok and r.reasons == ["unsupported-predicate"] and r.signature_ok
    r = verify_attestation(att, rel, kp.public_key, expected_predicate_type=ptype)
    assert r.ok and r.subjects_checked and any("not checked" in w for w in r.warnings)


# ------------------------------------------------------------------------------------------------------------- data
def test_a_data_section_with_no_components_checks_nothing_and_fails(demo, tmp_path):
    model_only(demo)
    _edit(demo, lambda d: d.__setitem__("data", {"components": []}))
    assert run_assay("lock", str(demo)).returncode == 0
    proc = run_assay("data", "check", str(demo), "--json")
    assert proc.returncode == 1
    assert any("no components" in f["message"] for f in _json(proc)["findings"])
    proc = run_assay("audit", str(demo), "--out", str(tmp_path / "o"), "--json")
    assert proc.returncode == 1
    report = _json(proc)
    failing = [c for c in report["claims"] if c["verdict"] != "pass"]
    assert [(c["step"], c["verdict"]) for c in failing] == [("data", "fail")]
    assert "nothing was checked" in failing[0]["message"]


# ---------------------------------------------------------------------------------------------------------- inspect
def test_inspect_recognises_pickles_by_content_not_name(tmp_path):
    import torch

    corpus = ROOT / "tests" / "fixtures" / "pickles" / "picklescan" / "data"
    bad = tmp_path / "weights.data"  # a malicious torch zip under a name no pickle rule would match
    bad.write_bytes((corpus / "malicious1_wrong_ext.zip").read_bytes())
    proc = run_assay("inspect", str(bad), "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert any("not in the allowlist" in e for e in _json(proc)["errors"])

    good = tmp_path / "model.ckpt.zip"
    torch.save({"w": torch.zeros(2, 3)}, good)
    proc = run_assay("inspect", str(good), "--json")
    assert proc.returncode == 0, proc.stdout
    assert _json(proc)["format"].startswith("torch-zip")

    text = tmp_path / "notes.bin"
    text.write_text("just words\n")
    proc = run_assay("inspect", str(text))
    assert proc.returncode == 2 and "content is text" in proc.stderr


# ------------------------------------------------------------------------------------------------------------ rerun
def test_rerun_of_a_published_log_with_no_samples_is_not_a_pass(demo):
    """The published log keeps its header and aggregates but no samples: nothing to re-run, nothing to compare."""
    log = demo.parent / "evals" / "textqa-mini.assay.jsonl"
    log.write_text(log.read_text().splitlines()[0] + "\n")

    def only_textqa(d):
        d["evals"] = [e for e in d["evals"] if e["name"] == "textqa-mini"]
        for e in d["evals"]:
            for entry in e["logs"]:
                entry.pop("sha256", None)
        for a in d["artifacts"]:
            if a["path"] == "textqa-mini.assay.jsonl":
                a.pop("sha256", None)
                a.pop("size", None)

    _edit(demo, only_textqa)
    assert run_assay("lock", str(demo)).returncode == 0
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = run_assay("rerun", str(demo), "--json", env=env)
    assert proc.returncode == 1, proc.stderr
    result = _json(proc)
    assert not result["ok"] and [f["code"] for f in result["findings"]] == ["no-samples"]
    text = run_assay("rerun", str(demo), env={**env, "COLUMNS": "200"})
    assert text.returncode == 1 and "Traceback" not in text.stderr and "not-checked" in text.stdout
