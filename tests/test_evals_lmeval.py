"""lm-evaluation-harness logs: re-scoring, hash recomputation, sample accounting and tampering.

The fixtures in tests/fixtures/evals/lm-eval/ are real lm-eval 0.4.13 outputs (hf backend, a tiny local
LlamaForCausalLM, local JSONL tasks), made by tests/fixtures/evals/make_logs.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assay.evals.harnesses import detect_format, load_logs
from assay.evals.rescore import rescore_log

from conftest import ROOT, run_assay

FIX = ROOT / "tests" / "fixtures" / "evals" / "lm-eval"


def _results(folder: Path) -> Path:
    [p] = sorted(folder.rglob("results_*.json"))
    return p


def _samples(folder: Path, task: str) -> Path:
    [p] = sorted(folder.rglob(f"samples_{task}_*.jsonl"))
    return p


@pytest.fixture
def full(tmp_path) -> Path:
    dst = tmp_path / "full"
    shutil.copytree(FIX / "full", dst)
    return dst


def _rewrite(path: Path, edit) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = edit(rows)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _errors(res, code=None):
    return [f for f in res.findings if f.severity == "error" and (code is None or f.code == code)]


def test_rescore_equals_the_harness_aggregates_exactly():
    [res] = rescore_log(FIX / "full")
    assert res.ok, res.findings
    assert res.format == "lm-eval"
    reported = json.loads(_results(FIX / "full").read_text())["results"]
    seen = set()
    for row in res.rows:
        key = f"{row.metric},{row.filter}"
        assert row.reported == reported[row.task][key], row  # the row carries lm-eval's own number
        assert row.recomputed == row.reported, row  # bit-identical, stderrs and groups included
        seen.add((row.task, key))
    expected = {(t, k) for t, v in reported.items() for k in v if "," in k}
    assert seen == expected
    by = {(r.task, r.metric, r.filter): r for r in res.rows}
    assert by[("tiny_qa", "exact_match", "strict")].n == 12
    assert by[("tiny_split", "acc", "none")].n == 27  # the group: size-weighted over 5 + 8 + 14


def test_hashes_recomputed_and_checked(full):
    [run] = load_logs(full)
    samples = run.samples("tiny_mc")
    assert len(samples) == 10 and all(s.meta["doc_hash"] for s in samples)
    assert not _errors(rescore_log(full)[0])
    # a document edited after the run: its doc_hash no longer matches, nor does the task hash
    _rewrite(
        _samples(full, "tiny_mc"),
        lambda rows: [dict(r, doc=dict(r["doc"], question="edited")) if r["doc_id"] == 3 else r for r in rows],
    )
    [res] = rescore_log(full)
    [f] = _errors(res)
    assert (f.code, f.where, f.samples) == ("hash-mismatch", "tiny_mc", ["3"]) and "doc_hash" in f.message
    # ... and a forger who also rewrites doc_hash is caught by the results file's task_hashes
    import hashlib

    def forge(rows):
        for r in rows:
            r["doc_hash"] = hashlib.sha256(json.dumps(r["doc"], indent=2, ensure_ascii=False).encode()).hexdigest()
        return rows

    _rewrite(_samples(full, "tiny_mc"), forge)
    [res] = rescore_log(full)
    assert [(f.code, f.where) for f in _errors(res)] == [("task-hash-mismatch", "tiny_mc")]


def test_tampered_answer_is_caught_and_named(full):
    path = _samples(full, "tiny_qa")

    def tamper(rows):  # doc 1 under the strict filter: make the raw response the target (logged score stays 0)
        for r in rows:
            if r["doc_id"] == 1 and r["filter"] == "strict":
                r["resps"] = [[r["target"]]]
        return rows

    _rewrite(path, tamper)
    [res] = rescore_log(full)
    assert not res.ok
    [f] = _errors(res, "sample-score-mismatch")
    assert f.where == "tiny_qa" and f.samples == ["1"] and "exact_match,strict" in f.message
    [agg] = [f for f in _errors(res, "aggregate-mismatch") if "strict" in f.message]
    assert "0.25" in agg.message
    [ans] = _errors(res, "answer-mismatch")  # the logged filtered response is stale too
    assert ans.samples == ["1"]
    # the CLI: exit 1, the JSON rows on stdout, the sample named on stderr
    cp = run_assay("rescore", "--log", str(full), "--json")
    assert cp.returncode == 1, cp.stderr
    rows = json.loads(cp.stdout)
    assert all(set(r) == {"task", "metric", "filter", "reported", "recomputed", "n"} for r in rows)
    strict = [r for r in rows if (r["task"], r["metric"], r["filter"]) == ("tiny_qa", "exact_match", "strict")][0]
    assert strict["reported"] == 0.25 and strict["recomputed"] == pytest.approx(4 / 12) and strict["n"] == 12
    assert "samples: 1" in cp.stderr


def test_tampered_logged_score_and_aggregate(full):
    _rewrite(
        _samples(full, "tiny_mc"), lambda rows: [dict(r, acc=1.0 - r["acc"]) if r["doc_id"] == 7 else r for r in rows]
    )
    res_path = _results(full)
    data = json.loads(res_path.read_text())
    data["results"]["tiny_split_b"]["acc_norm,none"] = 0.75
    data["results"]["tiny_split"]["acc,none"] = 0.5
    res_path.write_text(json.dumps(data, indent=2))
    [res] = rescore_log(full)
    [f] = _errors(res, "sample-score-mismatch")
    assert f.where == "tiny_mc" and f.samples == ["7"]
    aggs = {(f.where, f.message.split(":")[0]) for f in _errors(res, "aggregate-mismatch")}
    assert ("tiny_split_b", "acc_norm,none") in aggs
    assert ("tiny_split", "acc,none") in aggs  # the group recomputed from its subtasks


def test_missing_duplicated_and_extra_samples(full):
    def edit(rows):
        rows = [r for r in rows if not (r["doc_id"] == 4 and r["filter"] == "first-word")]  # missing
        rows.append(next(r for r in rows if r["doc_id"] == 0 and r["filter"] == "strict"))  # duplicated
        extra = dict(next(r for r in rows if r["doc_id"] == 11), doc_id=12)  # extra
        return rows + [extra]

    _rewrite(_samples(full, "tiny_qa"), edit)
    [res] = rescore_log(full)
    codes = {f.code: f for f in _errors(res)}
    assert codes["missing-samples"].samples == ["4"] and "first-word" in codes["missing-samples"].message
    assert codes["duplicate-samples"].samples == ["0"]
    assert codes["extra-samples"].samples == ["12"]
    assert "task-hash-mismatch" in codes


def test_subset_run_detected():
    [res] = rescore_log(FIX / "limit")
    [f] = [f for f in res.findings if f.code == "subset-run"]
    assert f.severity == "warning" and "4 of 12" in f.message and "--limit 4" in f.message
    assert res.ok  # consistent in itself: --log does not fail it
    assert {r.n for r in res.rows} == {4}


def test_scorer_audit_lists_lenient_extraction():
    [res] = rescore_log(FIX / "full")
    audit = {(a.task, a.filter): a for a in res.audit}
    fw = audit[("tiny_qa", "first-word")]
    # the regex filter keeps the first word: the harness accepts outputs whose whole text is not the target
    assert fw.accepted_only_by_harness == ["2", "6", "10"] and fw.accepted_only_by_strict == ["0", "4", "8"]
    strict = audit[("tiny_qa", "strict")]
    assert strict.accepted_only_by_harness == [] and strict.harness == strict.strict == 0.25
    assert not any(a.task == "tiny_mc" for a in res.audit)  # log-likelihood scoring has no text to audit


def test_formats_detected_and_single_files():
    assert detect_format(FIX / "full") == "lm-eval"
    assert detect_format(_results(FIX / "full")) == "lm-eval"
    assert detect_format(_samples(FIX / "full", "tiny_qa")) == "lm-eval"
    [run] = load_logs(_samples(FIX / "full", "tiny_qa"))  # a samples file finds its results file
    assert run.results_path is not None and run.tasks()[0] == "tiny_qa"
    s = run.samples("tiny_qa")[0]
    assert s.prompt == "Question: What is the value of the blue bar?\nAnswer:" and s.gen_kwargs["max_gen_toks"] == 4
    assert s.input[0].content == s.prompt and len(s.input_sha256) == 64
    mc = load_logs(FIX / "full")[0].samples("tiny_mc")[0]
    assert mc.choices and mc.continuations == [" " + c for c in mc.choices] and isinstance(mc.target, int)
    assert len(mc.choice_logprobs) == len(mc.choices)
