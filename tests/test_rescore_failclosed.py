"""Fail closed, for every format the importers know: an empty or unscored input can never re-score "exactly".

The inputs are **edge-case fixtures** built here, in tmp_path, from the committed real fixtures
(tests/fixtures/evals/{lm-eval,inspect,vlmevalkit,eureka,eee}) by emptying or removing their per-sample records,
plus assay logs written with assay's own writer.  Each must give a named non-pass: ``not-recomputed`` (a reported
metric no logged sample gave) or ``unscored`` (nothing reported, nothing recomputed), verdict ``not-checked`` or
``fail``, ``ok`` false, and exit 1 from ``assay rescore --log`` without "re-scores exactly".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from assay.evals.rescore import decide, rescore_log
from assay.evals.results import Finding, LogRescore
from assay.evals.samples import LogHeader, Sample, write_log
from conftest import ROOT, run_assay

FX = ROOT / "tests" / "fixtures" / "evals"


def _lm_eval_empty_samples(tmp: Path) -> tuple[Path, str]:
    d = tmp / "lm"
    shutil.copytree(FX / "lm-eval" / "full", d)
    [f] = d.rglob("samples_tiny_qa_*.jsonl")
    f.write_text("")
    return d, "lm-eval"


def _lm_eval_no_samples(tmp: Path) -> tuple[Path, str]:
    d = tmp / "lm"
    shutil.copytree(FX / "lm-eval" / "full", d)
    for f in d.rglob("samples_*.jsonl"):
        f.unlink()
    return d, "lm-eval"


def _inspect_no_samples(tmp: Path) -> tuple[Path, str]:
    data = json.loads((FX / "inspect" / "tiny_arith.json").read_text())
    data["samples"] = []
    data["eval"]["dataset"]["sample_ids"] = []
    p = tmp / "no_samples.json"
    p.write_text(json.dumps(data))
    return p, "inspect"


def _inspect_unscored(tmp: Path) -> tuple[Path, str]:
    data = json.loads((FX / "inspect" / "tiny_arith.json").read_text())
    data["results"] = None
    for s in data["samples"]:
        s["scores"] = {}
    p = tmp / "unscored.json"
    p.write_text(json.dumps(data))
    return p, "inspect"


def _vlmevalkit_header_only(tmp: Path) -> tuple[Path, str]:
    src = FX / "vlmevalkit" / "TinyVLM" / "T20260101_G0000000"
    d = tmp / "vl"
    d.mkdir()
    (d / "TinyVLM_MMStar.tsv").write_text((src / "TinyVLM_MMStar.tsv").read_text().splitlines()[0] + "\n")
    shutil.copy(src / "TinyVLM_MMStar_acc.csv", d)
    return d / "TinyVLM_MMStar.tsv", "vlmevalkit"


def _eureka_empty(tmp: Path) -> tuple[Path, str]:
    d = tmp / "eu"
    shutil.copytree(FX / "eureka", d)
    for name in ("inference_result.jsonl", "metric_results.jsonl"):
        [f] = d.rglob(name)
        f.write_text("")
    return d, "eureka"


def _eee_empty_instances(tmp: Path) -> tuple[Path, str]:
    d = tmp / "eee"
    shutil.copytree(FX / "eee", d)
    [f] = d.rglob("*.jsonl")
    f.write_text("")
    return d, "eee"


def _assay_empty(tmp: Path) -> tuple[Path, str]:
    p = tmp / "empty.assay.jsonl"
    write_log(p, LogHeader(source_format="assay", harness="assay", tasks=["t"]), [])
    return p, "assay"


def _assay_unscored(tmp: Path) -> tuple[Path, str]:
    p = tmp / "unscored.assay.jsonl"
    samples = [Sample(id=str(i), task="t", target="4", output="4") for i in range(3)]
    write_log(p, LogHeader(source_format="assay", harness="assay", tasks=["t"]), samples)
    return p, "assay"


CASES = {
    "lm-eval: empty samples file": _lm_eval_empty_samples,
    "lm-eval: no samples files": _lm_eval_no_samples,
    "inspect: no samples": _inspect_no_samples,
    "inspect: unscored": _inspect_unscored,
    "vlmevalkit: no prediction rows": _vlmevalkit_header_only,
    "eureka: empty inference and metric results": _eureka_empty,
    "eee: empty instance file": _eee_empty_instances,
    "assay: no samples": _assay_empty,
    "assay: samples without scores": _assay_unscored,
}


@pytest.mark.parametrize("case", list(CASES))
def test_empty_or_unscored_input_never_passes(tmp_path, case):
    path, fmt = CASES[case](tmp_path)
    results = rescore_log(path, fmt)
    assert results
    for res in results:
        codes = {f.code for f in res.findings if f.severity == "error"}
        assert not res.ok and res.verdict in ("not-checked", "fail") and res.reason and res.code, (case, res)
        assert codes & {"not-recomputed", "unscored"}, (case, codes)
        assert all(r.recomputed is None or r.n > 0 for r in res.rows)
    cp = run_assay("rescore", "--log", str(path), "--format", fmt)
    assert cp.returncode == 1, (case, cp.stdout, cp.stderr)
    assert "re-scores exactly" not in cp.stdout


def test_not_recomputed_names_each_reported_metric_and_reason(tmp_path):
    path, _ = _lm_eval_no_samples(tmp_path)
    [res] = rescore_log(path)
    nr = [f for f in res.findings if f.code == "not-recomputed" and f.where == "tiny_mc"]
    assert {f.message.split(",")[0] for f in nr} >= {"acc", "acc_norm"}
    assert all("no samples are logged" in f.message for f in nr)
    assert res.verdict == "not-checked" and res.code in ("no-samples", "not-recomputed")


def test_verdict_rules():
    def f(code: str, severity: str = "error") -> Finding:
        return Finding.make(severity, code, f"{code} message", "t")  # type: ignore[arg-type]

    assert decide([]) == (True, "pass", None, None)
    assert decide([f("subset-run", "warning")]) == (True, "pass", None, None)
    assert decide([f("not-recomputed"), f("unscored")])[:2] == (False, "not-checked")
    ok, verdict, reason, code = decide([f("not-recomputed"), f("aggregate-mismatch")])
    assert (ok, verdict, code) == (False, "fail", "aggregate-mismatch")
    assert reason == "[aggregate-mismatch] t: aggregate-mismatch message"


def test_a_result_built_without_a_verdict_is_no_pass():
    assert LogRescore(path="x", format="inspect", ok=False).verdict == "fail"


def test_honest_logs_still_pass():
    """The same fixtures, untouched, re-score exactly: the fail-closed rules do not fail honest logs."""
    for path in (FX / "lm-eval" / "full", FX / "inspect" / "tiny_arith.json", FX / "eureka"):
        for res in rescore_log(path):
            assert res.ok and res.verdict == "pass", (path, res.findings)
