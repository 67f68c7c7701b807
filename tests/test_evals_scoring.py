"""The re-run scoring hook (assay.evals.scoring) and compare() on real harness samples.

A re-run that produced exactly the published outputs must score exactly as the harness did and be reproduced (verdict pass);
a re-run whose outputs differ must be scored from its own outputs.
"""

from __future__ import annotations

import pytest

from assay.evals.harnesses import load_logs
from assay.evals.scoring import rerun_scorer, score_rerun_sample
from assay.evals.stats import compare
from assay.manifests.errors import InputError
from assay.manifests.schema_evals import EvalClaim

from conftest import ROOT

FIX = ROOT / "tests" / "fixtures" / "evals"


def _fresh(s, output):
    return s.model_copy(update={"output": output, "outputs": None, "answer": None, "scores": {}})


def test_lm_eval_outputs_rescored_per_filter():
    [run] = load_logs(FIX / "lm-eval" / "full")
    ref = run.samples("tiny_qa")
    claim = EvalClaim(name="tiny_qa", metric="exact_match")
    score = rerun_scorer(run.header)
    items = {s.id: s for s in ref if s.filter == "strict"}
    rerun = [x for s in items.values() for x in score(_fresh(s, s.output), claim)]
    assert sorted({x.filter for x in rerun}) == ["first-word", "strict"] and len(rerun) == len(ref)
    logged = {(s.filter, s.id): s.scores for s in ref}
    assert all(x.scores == logged[(x.filter, x.id)] for x in rerun)
    for flt in ("strict", "first-word"):
        v = compare(ref, rerun, margin=1.0, metric="exact_match", filter=flt)
        assert v.verdict == "pass" and v.diff == 0.0 and v.output_agreement == 1.0 and v.n == 12
    # a re-run that answers item 1 with its target: scored from its own output
    changed = score(_fresh(items["1"], "12"), claim)
    assert {x.filter: x.scores["exact_match"] for x in changed} == {"strict": 1.0, "first-word": 1.0}


def test_inspect_outputs_rescored_and_named_scorer():
    [log] = load_logs(FIX / "inspect" / "tiny_arith.eval")
    ref = log.samples()
    out = [x for s in ref for x in score_rerun_sample(_fresh(s, s.output), None, log.header)]
    assert [x.scores for x in out] == [s.scores for s in ref]
    wrong = score_rerun_sample(_fresh(ref[2], "The answer is 1"), None, log.header)[0]
    assert wrong.scores == {"match": 1.0, "match1": 1.0}
    strict = EvalClaim(name="tiny_arith", metric="numeric", scorer="numeric")
    assert score_rerun_sample(_fresh(ref[2], "The answer is 11"), strict)[0].scores == {"numeric": 0.0}
    with pytest.raises(InputError):
        score_rerun_sample(_fresh(ref[2], "x"), EvalClaim(name="t", metric="acc", scorer="nope"))
    with pytest.raises(InputError):
        score_rerun_sample(_fresh(ref[2], "x"), EvalClaim(name="t", metric="acc"))


def test_assay_rerun_log_rescored_with_the_reference_semantics(tmp_path):
    from assay.evals.rescore import rescore_log
    from assay.evals.samples import Aggregate, LogHeader, write_log

    [run] = load_logs(FIX / "lm-eval" / "full")
    ref = [s for s in run.samples("tiny_qa")]
    score = rerun_scorer(run.header)
    claim = EvalClaim(name="tiny_qa", metric="exact_match")
    rerun = [x for s in ref if s.filter == "strict" for x in score(_fresh(s, s.output), claim)]
    rerun[0] = rerun[0].model_copy(update={"scores": {"exact_match": 1.0 - rerun[0].scores["exact_match"]}})
    header = LogHeader(
        harness="assay rerun",
        tasks=["tiny_qa"],
        aggregates=[Aggregate(task="tiny_qa", metric="exact_match", filter="strict", value=0.25)],
        config={"metric": "exact_match", "scoring_header": run.header.model_dump(mode="json")},
    )
    p = tmp_path / "tiny_qa.assay.jsonl"
    write_log(p, header, rerun)
    [res] = rescore_log(p)
    [f] = [f for f in res.findings if f.code == "sample-score-mismatch"]
    assert f.samples == [rerun[0].id] and "exact_match,strict" in f.message
    rows = {(r.metric, r.filter): (r.reported, r.recomputed) for r in res.rows}
    assert rows[("exact_match", "strict")] == (0.25, 0.25)
