"""The evals results turn themselves into report claims (``RescoreReport.to_claims``, ``LogRescore.to_claim``,
``RerunResult.to_claims``) on the one verdict scale, and fail closed: no log, nothing recomputed, nothing compared or
failed requests are never a pass.

The logs are the real lm-eval and Inspect fixtures (tests/fixtures/evals/, see the READMEs there); the hand-made
results below are edge cases only (a result built with a pass verdict but no evidence).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from assay.evals.claims import rescore_manifest
from assay.evals.rerun import BenchmarkRerun, RerunResult
from assay.evals.rescore import rescore_log
from assay.evals.results import CLAIM_VERDICT, ClaimCheck, Finding, LogRescore, RescoreRow
from assay.evals.samples import Message, Sample
from assay.evals.stats import compare
from assay.manifests.findings import VERDICTS

from conftest import ROOT

FIX = ROOT / "tests" / "fixtures" / "evals"


def _release(tmp_path: Path, evals: list[dict]) -> Path:
    rel = tmp_path / "release"
    shutil.copytree(FIX / "lm-eval" / "full", rel / "evals" / "full")
    doc = {
        "apiVersion": "assay/v1",
        "kind": "Release",
        "release": {"name": "tiny", "version": "1.0"},
        "sources": [{"name": "default", "uri": "dir://release"}],
        "evals": evals,
    }
    m = tmp_path / "assay.yaml"
    m.write_text(yaml.safe_dump(doc, sort_keys=False))
    return m


def _full_log() -> str:
    [p] = (FIX / "lm-eval" / "full").rglob("results_*.json")
    return "evals/full/" + p.relative_to(FIX / "lm-eval" / "full").as_posix()


def test_rescore_report_claims_speak_the_one_scale(tmp_path):
    log = {"path": _full_log(), "format": "lm-eval"}
    m = _release(
        tmp_path,
        [
            {
                "name": "tiny_qa",
                "metric": "exact_match",
                "filter": "strict",
                "published": [{"value": 25.0}],
                "logs": [log],
            },
            {"name": "tiny_mc", "metric": "bleu", "published": [{"value": 41.0}], "logs": [log]},  # never logged
            {"name": "MMMU", "metric": "acc", "published": [{"value": 54.3}]},  # no log
            {"name": "Held", "metric": "acc", "attested_only": True, "published": [{"value": 12.0}]},
        ],
    )
    report = rescore_manifest(m)
    claims = report.to_claims(lambda path: "rel/" + Path(path).name)
    by_id = {c.id: c for c in claims}
    assert by_id["eval:tiny_qa"].verdict == "pass" and by_id["eval:tiny_qa"].measured["recomputed"] == 25.0
    assert by_id["eval:tiny_mc"].verdict == "not-checked" and by_id["eval:tiny_mc"].message.startswith("not-recomputed")
    assert by_id["eval:MMMU"].verdict == "not-checked" and "no per-sample log" in by_id["eval:MMMU"].message
    assert by_id["eval:Held"].verdict == "attested"
    # each log is one row, named by the function given (never this machine's path)
    logs = [c for c in claims if c.kind == "eval-log"]
    assert logs and all(c.id.startswith("eval-log:rel/results_") for c in logs)
    assert all(e.ref.startswith("rel/") for c in claims for e in c.evidence)
    assert {c.verdict for c in claims} <= set(VERDICTS)
    # the report's own verdicts agree with the rows
    statuses = {e.name: e.claims[0] for e in report.evals}
    assert {n: (c.status, c.verdict) for n, c in statuses.items()} == {
        "tiny_qa": ("matches", "pass"),
        "tiny_mc": ("not-recomputed", "not-checked"),
        "MMMU": ("no-log", "not-checked"),
        "Held": ("attested", "attested"),
    }
    assert not report.ok
    # the JSON carries the verdict beside the status, and findings name their task as `where`
    doc = report.model_dump(mode="json")
    assert doc["evals"][1]["claims"][0]["verdict"] == "not-checked"
    assert all("where" in f and "task" not in f for e in doc["evals"] for f in e["findings"])


def test_only_matching_or_derived_claims_pass():
    assert set(CLAIM_VERDICT) == {"matches", "derived", "mismatch", "no-log", "attested", "not-recomputed"}
    passing = {s for s, v in CLAIM_VERDICT.items() if v == "pass"}
    assert passing == {"matches", "derived"}
    for status in CLAIM_VERDICT:
        chk = ClaimCheck(value=1.0, metric="acc", tolerance=0.05, status=status)  # type: ignore[arg-type]
        assert chk.verdict == CLAIM_VERDICT[status] and chk.message()


def test_a_log_with_no_recomputed_row_is_never_a_pass():
    """A result built with verdict pass but no evidence, or with an error finding, does not become a pass row."""
    empty = LogRescore(path="/tmp/x.json", format="lm-eval", ok=True)
    row = empty.to_claim("x.json")
    assert row.verdict == "not-checked" and row.message and row.id == "eval-log:x.json"
    unrecomputed = LogRescore(
        path="x",
        format="lm-eval",
        ok=True,
        rows=[RescoreRow(task="t", metric="acc", filter="none", reported=0.5, recomputed=None, n=0)],
    )
    assert unrecomputed.to_claim("x").verdict == "not-checked"
    with_error = LogRescore(
        path="x",
        format="lm-eval",
        ok=True,
        rows=[RescoreRow(task="t", metric="acc", filter="none", reported=0.5, recomputed=0.5, n=4)],
        findings=[Finding.make("error", "sample-score-mismatch", "acc differs", "t", ["3"])],
    )
    row = with_error.to_claim("x")
    assert row.verdict == "fail" and "sample-score-mismatch" in (row.message or "") and "samples 3" in row.message


@pytest.mark.parametrize("name", ["empty", "unscored", "errored_only"])
def test_real_empty_or_unscored_logs_are_not_checked_rows(name):
    [res] = rescore_log(FIX / "inspect-real" / "0.3.285" / f"{name}.json")
    assert res.verdict == "not-checked" and res.code == "unscored" and not res.ok
    row = res.to_claim(name)
    assert row.verdict == "not-checked" and "unscored" in (row.message or "")


def _samples(scores: list[float]) -> list[Sample]:
    return [
        Sample(
            id=str(i),
            task="t",
            input=[Message(role="user", content=f"q{i}")],
            target="x",
            output="o",
            scores={"acc": v},
        )
        for i, v in enumerate(scores)
    ]


def test_rerun_claims_pass_only_on_a_reproduced_comparison():
    same = compare(_samples([1.0, 0.0] * 20), _samples([1.0, 0.0] * 20), margin=1.0)
    assert same.verdict == "pass"
    good = BenchmarkRerun(
        name="b",
        task="t",
        metric="acc",
        reference_items=40,
        selected_items=40,
        verdict=same,
        reference_log="/machine/release/evals/b.jsonl",
        ok=True,
    )
    row = good.to_claim(lambda p: Path(p).name)
    assert row.verdict == "pass" and row.id == "rerun:b" and row.measured["rerun"] == same.rerun_score
    assert "paired-bootstrap" in (row.level or "") and row.evidence[1].ref == "b.jsonl"
    assert good.model_copy(update={"n_failed": 2}).to_claim().verdict == "error"  # failed requests: never a pass
    nothing = BenchmarkRerun(name="c", task="t", metric="acc")  # nothing was compared: no evidence
    row = nothing.to_claim()
    assert row.verdict == "not-checked" and "nothing was compared" in (row.message or "")
    worse = compare(_samples([1.0] * 40), _samples([0.0] * 40), margin=1.0)
    assert BenchmarkRerun(name="d", task="t", metric="acc", verdict=worse).to_claim().verdict == "fail"


def test_rerun_result_folds_repeated_findings_into_one_row():
    fails = [Finding.make("error", "request-failed", f"b: b/{i}#0: timeout", "t", [str(i)]) for i in range(3)]
    result = RerunResult(
        manifest="m",
        release="r",
        benchmarks=[BenchmarkRerun(name="b", task="t", metric="acc")],
        findings=[*fails, Finding.make("warning", "default-margin", "b: no margin", "t")],
    )
    rows = result.to_claims()
    assert [r.id for r in rows] == ["rerun:b", "rerun:t:request-failed"]
    assert rows[1].verdict == "fail" and "(and 2 more like it)" in (rows[1].message or "")
    assert RerunResult(manifest="m", release="r").to_claims() == []
