"""Exports of assay logs to Every Eval Ever and HF .eval_results, read back by assay's own importers."""

from __future__ import annotations

import json

from assay.evals.exports import eval_results_entries, write_eee, write_eval_results
from assay.evals.harnesses import load_logs
from assay.evals.published import read_eval_results
from assay.evals.rescore import rescore_log

from conftest import ROOT

FIX = ROOT / "tests" / "fixtures" / "evals"


def test_inspect_log_to_eee_round_trip(tmp_path):
    log = load_logs(FIX / "inspect" / "tiny_arith.json")[0].to_normalised()
    agg_path = write_eee(log, tmp_path / "eee", task="tiny_arith", metric="match1")
    agg = json.loads(agg_path.read_text())
    assert agg["schema_version"] == "0.3.0"
    res = agg["evaluation_results"][0]
    assert res["score_details"]["score"] == 0.5 and res["score_details"]["uncertainty"]["num_samples"] == 8
    assert agg["detailed_evaluation_results"]["total_rows"] == 8
    [back] = rescore_log(tmp_path / "eee", "eee")
    assert back.ok, back.findings
    assert [(r.task, r.metric, r.reported, r.recomputed, r.n) for r in back.rows] == [
        ("tiny_arith", "match1", 0.5, 0.5, 8)
    ]
    # the instance rows keep assay's content hashes of each sample
    rows = [
        json.loads(x) for x in (tmp_path / "eee" / "instance_level_data" / "tiny_arith.jsonl").read_text().splitlines()
    ]
    assert rows[2]["metadata"]["assay_input_sha256"] == log.samples[2].input_sha256


def test_lm_eval_log_to_eval_results(tmp_path):
    log = load_logs(FIX / "lm-eval" / "full")[0].to_normalised()
    [entry] = eval_results_entries(
        log,
        task="tiny_qa",
        metric="exact_match",
        filter="strict",
        dataset_id="assay-demo/tiny_qa",
        source_url="https://example.org/run",
    )
    assert entry["value"] == 25.0 and entry["dataset"] == {"id": "assay-demo/tiny_qa", "task_id": "tiny_qa"}
    assert "12 samples" in entry["notes"]
    path = write_eval_results([entry], tmp_path / ".eval_results", "tiny_qa")
    [claim] = read_eval_results(tmp_path / ".eval_results")
    assert (claim.benchmark, claim.value, claim.dataset) == ("tiny_qa", 25.0, "assay-demo/tiny_qa")
    assert path.name == "tiny_qa.yaml"
    assert eval_results_entries(log, task="nope", metric="acc", dataset_id="x") == []
