"""`assay audit`: verdicts per claim, report files and their schema, resume, skips, tampering, HTML in Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema

from assay.audit.model import report_json_schema
from assay.hubs.push import push

from conftest import run_assay


def audit(manifest, out, *extra):
    return run_assay("audit", str(manifest), "--out", str(out), *extra)


def test_demo_audit_passes_and_writes_reports(demo, tmp_path):
    out = tmp_path / "out"
    proc = audit(demo, out, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert json.loads(proc.stdout)["verdict"] == report["verdict"] == "pass"
    jsonschema.validate(report, report_json_schema())
    ids = {c["id"] for c in report["claims"]}
    assert "file:model-00001-of-00002.safetensors" in ids and "claim:parameters.total" in ids
    assert all({"kind", "declared", "measured", "evidence", "verdict"} <= set(c) for c in report["claims"])
    assert report["release"]["release_digest"].startswith("sha256:")
    md = (out / "report.md").read_text()
    assert "**Verdict: PASS**" in md and "file:config.json" in md
    html = (out / "report.html").read_text()
    import re

    assert "<script src" not in html and not re.search(
        r"""(src|href)\s*=\s*["']?(https?:)?//""", html
    )  # nothing loaded
    assert 'id="verdict"' in html and ">PASS<" in html


def test_report_schema_is_published():
    proc = run_assay("schema", "--report")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert {"release", "claims", "steps", "verdict"} <= set(schema["properties"])


def test_tampered_file_fails_the_audit_with_the_file_named(demo, tmp_path):
    target = demo.parent / "release" / "tokenizer.json"
    target.write_bytes(target.read_bytes().replace(b"chart", b"CHART", 1))
    out = tmp_path / "out"
    proc = audit(demo, out)
    assert proc.returncode == 1
    assert "file:tokenizer.json" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    bad = [c for c in report["claims"] if c["verdict"] == "fail"]
    # the data step will not count tokens with the tampered tokenizer: its own finding, not a silent pass
    assert [c["id"] for c in bad] == ["file:tokenizer.json", "data:tokenizer:tokenizer.json"]
    assert report["verdict"] == "fail" and report["release"]["release_digest"] is None


def test_resume_reuses_finished_steps_and_notices_changes(demo, tmp_path):
    out = tmp_path / "out"
    assert audit(demo, out).returncode == 0
    again = json.loads(audit(demo, out, "--json").stdout)
    verify = next(s for s in again["steps"] if s["name"] == "verify")
    assert verify["summary"].get("reused") is True
    target = demo.parent / "release" / "README.md"
    target.write_text(target.read_text() + "\nedited\n")
    third = audit(demo, out, "--json")
    assert third.returncode == 1
    verify = next(s for s in json.loads(third.stdout)["steps"] if s["name"] == "verify")
    assert not verify["summary"].get("reused")


def test_skip_and_bad_input(demo, tmp_path):
    """Fail closed: a skipped check is a named not-checked verdict that fails the audit, never a silent pass."""
    proc = audit(demo, tmp_path / "o1", "--skip", "verify", "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    steps = {s["name"]: s["status"] for s in report["steps"]}
    assert steps["verify"] == "not-checked" and report["verdict"] == "fail"
    not_checked = [c for c in report["claims"] if c["verdict"] == "not-checked"]
    # the re-run of a release that was not verified never happens either: each re-run is not-checked too
    assert [c["id"] for c in not_checked] == ["step:verify", "rerun:chartqa-mini", "rerun:textqa-mini"]
    assert "--skip" in not_checked[0]["message"] and "did not verify" in not_checked[1]["message"]
    assert report["counts"]["not_checked"] == 3
    assert all(c["verdict"] in ("pass", "attested") for c in report["claims"] if c["verdict"] != "not-checked")
    proc = audit(demo, tmp_path / "o2", "--skip", "bogus")
    assert proc.returncode == 2 and "unknown step" in proc.stderr
    no_lock = tmp_path / "nolock.yaml"
    no_lock.write_text(demo.read_text())
    proc = audit(no_lock, tmp_path / "o3")
    assert proc.returncode == 2 and "no lock" in proc.stderr


def test_audit_from_a_hub(demo, tmp_path):
    uri = f"dir://{tmp_path / 'hub'}#tiny-vlm:0.1.0"
    assert push(demo, uri, create=True).ok
    out = tmp_path / "out"
    proc = audit(demo, out, "--from", uri, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["source"] == uri and [s["name"] for s in report["steps"]][:2] == ["pull", "verify"]
    assert (out / "release" / "model-00001-of-00002.safetensors").is_file()


def test_html_report_renders_in_headless_chromium(demo, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed for this test (tests/run.sh installs it)"
    target = demo.parent / "release" / "config.json"
    target.write_bytes(target.read_bytes() + b" ")
    out = tmp_path / "out"
    assert audit(demo, out).returncode == 1
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            (out / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'id="verdict"' in dom and ">FAIL<" in dom
    assert "file:config.json" in dom or "config.json" in dom
    assert dom.count("✘") >= 1


def test_failing_demo_fails_with_exactly_its_two_findings(demo, tmp_path):
    """assay.failing.yaml: an overclaimed chartqa-mini score and a swapped generation_config.json, nothing else."""
    out = tmp_path / "out"
    proc = audit(demo.with_name("assay.failing.yaml"), out, "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    failing = sorted(c["id"] for c in report["claims"] if c["verdict"] in ("fail", "inconclusive", "error"))
    assert failing == ["eval:chartqa-mini", "file:generation_config.json"]
    steps = {s["name"]: s["status"] for s in report["steps"]}
    assert steps["rerun"] == "not-checked"  # an unverified release is never loaded: its re-runs did not happen
    # the load step refuses to load a release whose generation_config.json (read on load) does not verify
    assert sorted(c["id"] for c in report["claims"] if c["verdict"] == "not-checked") == [
        "loaded:model",
        "rerun:chartqa-mini",
        "rerun:textqa-mini",
    ]
    assert (out / "attestation.dsse.json").is_file()


def test_demo_audit_runs_every_step(demo, tmp_path):
    report = json.loads(audit(demo, tmp_path / "out", "--json").stdout)
    assert [s["name"] for s in report["steps"]] == ["verify", "load", "data", "rebuild", "rescore", "rerun"]
    assert all(s["status"] == "ok" for s in report["steps"])
    kinds = {c["kind"] for c in report["claims"]}
    assert {"file", "claim", "loaded", "data", "recipe", "rescore", "rerun"} <= kinds
    assert any(c["verdict"] == "attested" and c["id"] == "data:component:licensed-charts" for c in report["claims"])
    data = next(s for s in report["steps"] if s["name"] == "data")
    assert {row["name"]: row["declared"] for row in data["summary"]["mixture"]} == {"cot": 0.2, "direct": 0.8}
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Data mixture: declared vs measured share" in html and "Scores: published vs reproduced" in html
    import os

    pub = Path(os.environ["ASSAY_KEY_DIR"]) / "assay.pub"  # made by the audit on first use
    proc = run_assay(
        "attest",
        "verify",
        str(tmp_path / "out" / "attestation.dsse.json"),
        "--key",
        str(pub),
        "--manifest",
        str(demo),
        "--json",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checked = json.loads(proc.stdout)["subjects"]
    import yaml

    locked = yaml.safe_load(demo.with_name("assay.lock.yaml").read_text())["files"]
    assert len(checked) == len(locked) and {s["status"] for s in checked} == {"ok"}  # release/ and evals/ alike
    log = demo.parent / "evals" / "textqa-mini.assay.jsonl"
    log.write_bytes(log.read_bytes().replace(b"textqa", b"TEXTQA", 1))
    tampered = run_assay(
        "attest", "verify", str(tmp_path / "out" / "attestation.dsse.json"), "--key", str(pub), "--manifest", str(demo)
    )
    assert tampered.returncode == 1 and "textqa-mini.assay.jsonl" in tampered.stdout
    other = run_assay("keygen", "--out", str(tmp_path / "k2"))
    assert other.returncode == 0
    wrong = run_assay(
        "attest", "verify", str(tmp_path / "out" / "attestation.dsse.json"), "--key", str(tmp_path / "k2" / "assay.pub")
    )
    assert wrong.returncode == 1


def test_rerun_logs_export_as_eee_and_eval_results(demo, tmp_path):
    out = tmp_path / "out"
    proc = audit(demo, out, "--skip", "rebuild", "--json")
    assert proc.returncode == 1  # a skipped rebuild is not-checked, which fails the audit (fail closed)
    report = json.loads(proc.stdout)
    assert {c["verdict"] for c in report["claims"] if c["step"] == "rebuild"} == {"not-checked"}
    assert all(c["verdict"] in ("pass", "attested") for c in report["claims"] if c["step"] != "rebuild")
    log = out / "rerun" / "textqa-mini.assay.jsonl"
    assert log.is_file()
    proc = run_assay("export", "--log", str(log), "--format", "eee", "--out", str(tmp_path / "eee"), "--json")
    assert proc.returncode == 0, proc.stderr
    aggregate = json.loads(Path(json.loads(proc.stdout)["files"][0]).read_text())
    assert aggregate["schema_version"] == "0.3.0"
    assert aggregate["evaluation_results"][0]["score_details"]["uncertainty"]["num_samples"] == 40
    rows = (tmp_path / "eee" / "instance_level_data" / "textqa-mini.jsonl").read_text().splitlines()
    assert len(rows) == 40
    proc = run_assay("export", "--log", str(log), "--format", "eval-results", "--out", str(tmp_path / "card"))
    assert proc.returncode == 0 and (tmp_path / "card" / ".eval_results" / "textqa-mini.yaml").is_file()
    assert run_assay("export", "--log", str(log), "--format", "cyclonedx").returncode == 2


def test_audit_passes_rerun_options_to_the_rerun_step(demo, tmp_path):
    """--backend/--base-url/--model/--concurrency/--timeout/--retries reach the re-run; a server that is not there
    fails the re-run (never a pass), one claim per benchmark and finding, not one per failed request."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    proc = audit(
        demo,
        tmp_path / "out",
        "--backend",
        "openai",
        "--base-url",
        url,
        "--model",
        "tiny",
        "--concurrency",
        "2",
        "--timeout",
        "5",
        "--retries",
        "0",
        "--json",
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    rerun = next(s for s in report["steps"] if s["name"] == "rerun")
    backend = rerun["summary"]["backend"]
    assert (backend["backend"], backend["base_url"], backend["model"], backend["concurrency"], backend["retries"]) == (
        "openai",
        url,
        "tiny",
        2,
        0,
    )
    ids = [c["id"] for c in rerun["claims"]]
    assert len(ids) == len(set(ids)) and "rerun:textqa-mini:request-failed" in ids
    assert all(c["verdict"] != "pass" for c in rerun["claims"])
    bad = audit(demo, tmp_path / "o2", "--backend", "openai")
    assert bad.returncode == 2 and "--base-url" in bad.stderr and "Traceback" not in bad.stderr
