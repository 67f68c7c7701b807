"""VLMEvalKit, Eureka ML Insights and Every Eval Ever logs, and HF model-index / .eval_results claims.

These harnesses cannot run here (they need benchmark downloads, served models or converters of other harnesses),
so their fixtures are small files built to the documented formats by tests/fixtures/evals/make_documented.py
(file layouts, column names and aggregation arithmetic taken from the harnesses' source; see that script).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from assay.evals.harnesses import detect_format
from assay.evals.harnesses.vlmevalkit import can_infer
from assay.evals.published import parse_value, read_eval_results, read_model_index
from assay.evals.rescore import rescore_log

from conftest import ROOT, run_assay

FIX = ROOT / "tests" / "fixtures" / "evals"


def _copy(tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(FIX / name, dst)
    return dst


def _by_task(results):
    return {r.rows[0].task: r for r in results if r.rows}


def _errors(res, code):
    return [f for f in res.findings if f.severity == "error" and f.code == code]


# ---------------------------------------------------------------------------------------------------- VLMEvalKit
def test_vlmevalkit_can_infer_port():
    ch = {"A": "July", "B": "June", "C": "May"}
    assert can_infer("The answer is B.", dict(ch)) == "B"
    assert can_infer("(C) May", dict(ch)) == "C"
    assert can_infer("june", dict(ch)) == "B"  # option text in a short answer
    assert can_infer("A or B", dict(ch)) is False  # two letters: ambiguous
    assert can_infer("Cannot determine the answer", dict(ch)) == "Z"
    long = "A " + "word " * 10  # the letter is not among the last five tokens
    assert can_infer(long, dict(ch)) is False


def test_vlmevalkit_rescores_report_acc_exactly():
    assert detect_format(FIX / "vlmevalkit") == "vlmevalkit"
    res = _by_task(rescore_log(FIX / "vlmevalkit", "vlmevalkit"))
    assert set(res) == {"AI2D_TEST", "MMStar", "ScreenSpot_v2_Mobile"}
    for r in res.values():
        assert r.ok, r.findings
        assert all(row.reported == row.recomputed for row in r.rows)
    ai2d = {row.metric: (row.reported, row.n) for row in res["AI2D_TEST"].rows}
    assert ai2d == {
        "Overall": (0.625, 8),
        "chart": (pytest.approx(2 / 3), 3),
        "compare": (0.5, 2),
        "count": (pytest.approx(2 / 3), 3),
    }
    [judged] = [f for f in res["MMStar"].findings if f.code == "judge-scored"]
    assert judged.samples == ["0", "2"] and judged.severity == "warning"
    assert {row.metric: row.recomputed for row in res["ScreenSpot_v2_Mobile"].rows}["Overall"] == 0.5
    [audit] = res["AI2D_TEST"].audit  # "The answer is B." is not a bare letter
    assert audit.strict_scorer == "choice" and audit.accepted_only_by_harness == ["1", "3", "5", "7"]


def test_vlmevalkit_tampering(tmp_path):
    import openpyxl

    root = _copy(tmp_path, "vlmevalkit")
    [res_file] = root.rglob("TinyVLM_AI2D_TEST_exact_matching_result.xlsx")
    wb = openpyxl.load_workbook(res_file)
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    hit_col = header.index("hit") + 1
    ws.cell(row=2 + 4, column=hit_col, value=1)  # index 4: "I cannot tell" marked correct
    wb.save(res_file)
    [acc] = root.rglob("TinyVLM_MMStar_acc.csv")
    rows = list(csv.reader(acc.open()))
    rows[1][1] = "0.8"
    with acc.open("w", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL).writerows(rows)
    res = _by_task(rescore_log(root, "vlmevalkit"))
    [f] = _errors(res["AI2D_TEST"], "sample-score-mismatch")
    assert f.samples == ["4"]
    overall = [row for row in res["AI2D_TEST"].rows if row.metric == "Overall"][0]
    assert overall.recomputed == 0.625  # from the prediction, not the edited hit
    [g] = _errors(res["MMStar"], "aggregate-mismatch")
    assert "Overall,none: reported 0.8" in g.message


# -------------------------------------------------------------------------------------------------------- Eureka
def test_eureka_rescores_aggregators_exactly():
    root = FIX / "eureka"
    assert detect_format(root) == "eureka"
    [res] = rescore_log(root)
    assert res.ok, res.findings
    got = {(r.metric, r.filter): (r.reported, r.recomputed) for r in res.rows}
    assert got[("ExactMatch_result/correct", "none")] == (0.5, 0.5)
    assert got[("ExactMatch_result/incorrect", "none")] == (0.333, 0.333)
    assert got[("ExactMatch_result/none", "mul")] == (0.5, 0.5)
    assert res.rows[0].task == "TinyArith_PIPELINE"
    [a] = res.audit  # "16 " for 16: ExactMatch says no
    assert a.accepted_only_by_strict == ["5"]


def test_eureka_tampering(tmp_path):
    root = _copy(tmp_path, "eureka")
    [mr] = root.rglob("metric_results.jsonl")
    rows = [json.loads(x) for x in mr.read_text().splitlines()]
    rows[2]["ExactMatch_result"] = "correct"  # "11" for "1"
    rows[3]["prompt"] = "What is 6 * 8?"
    mr.write_text("".join(json.dumps(r) + "\n" for r in rows))
    [rep] = root.rglob("countaggregator_000000000000_*_report.json")
    rep.write_text(json.dumps({"ExactMatch_result": {"correct": 0.667, "incorrect": 0.167, "none": 0.167}}))
    [res] = rescore_log(root)
    assert [f.samples for f in _errors(res, "sample-score-mismatch")] == [["2"]]
    assert [f.samples for f in _errors(res, "hash-mismatch")] == [["3"]]
    assert any(
        "ExactMatch_result/correct,none: reported 0.667, recomputed 0.5" in f.message
        for f in _errors(res, "aggregate-mismatch")
    )


# ------------------------------------------------------------------------------------------------ Every Eval Ever
def test_eee_rescores_and_checks_checksum(tmp_path):
    assert detect_format(FIX / "eee") == "eee"
    [res] = rescore_log(FIX / "eee")
    assert res.ok, res.findings
    assert [(r.task, r.metric, r.reported, r.recomputed, r.n) for r in res.rows] == [
        ("tiny_mix", "accuracy", 0.6, 0.6, 5)
    ]
    root = _copy(tmp_path, "eee")
    [inst] = root.rglob("*.jsonl")
    rows = [json.loads(x) for x in inst.read_text().splitlines()]
    rows[4]["evaluation"]["score"] = 1.0  # "11" for "1" scored correct
    rows[1]["input"]["reference"] = ["red"]  # reference edited: sample_hash breaks
    inst.write_text("".join(json.dumps(r) + "\n" for r in rows[:-1] + [rows[-1]]))
    [res] = rescore_log(root)
    codes = {f.code: f for f in res.findings if f.severity == "error"}
    assert codes["sample-score-mismatch"].samples == ["s1", "s4"]  # s1: its edited reference now matches
    assert any(f.samples == ["s1"] for f in _errors(res, "hash-mismatch"))
    assert any("checksum" in f.message for f in _errors(res, "hash-mismatch"))
    cp = run_assay("rescore", "--log", str(root), "--format", "eee", "--json")
    assert cp.returncode == 1 and json.loads(cp.stdout)[0]["recomputed"] == pytest.approx(0.8)


# --------------------------------------------------------------------------------------------- published claims
def test_model_index_and_eval_results(tmp_path):
    assert parse_value("84.8 ± 0.3") == (84.8, 0.3, 1)
    assert parse_value("88.17%") == (88.17, None, 2)
    assert parse_value(54) == (54.0, None, 0) and parse_value("n/a") is None
    card = tmp_path / "README.md"
    card.write_text(
        "---\nmodel-index:\n- name: m\n  results:\n  - task: {type: image-text-to-text}\n"
        "    dataset: {name: MMMU, type: MMMU/MMMU, split: validation}\n"
        "    metrics:\n    - {type: accuracy, value: '54.3 ± 0.9'}\n"
        "    source: {url: 'https://example.org/paper'}\n---\n# m\n"
    )
    [c] = read_model_index(card)
    assert (c.benchmark, c.value, c.stderr, c.decimals, c.split) == ("MMMU", 54.3, 0.9, 1, "validation")
    assert "example.org" in c.source
    er = tmp_path / ".eval_results"
    er.mkdir()
    (er / "mmmu.yaml").write_text(
        "- dataset: {id: MMMU/MMMU, task_id: mmmu_val}\n  value: 54.3\n"
        "  source: {url: 'https://example.org', name: paper}\n"
    )
    [e] = read_eval_results(er)
    assert (e.benchmark, e.value, e.dataset, e.decimals) == ("mmmu_val", 54.3, "MMMU/MMMU", 1)
