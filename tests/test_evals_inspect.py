"""Inspect AI logs: .eval (zstd ZIP, read with inspect_ai.read_eval_log) and .json, re-scored with ported scorers.

tests/fixtures/evals/inspect/tiny_arith.{eval,json} are real Inspect 0.3.285 logs of mockllm/model with fixed
custom_outputs, scored by match() and match(numeric=True); made by tests/fixtures/evals/make_logs.py.
"""

from __future__ import annotations

import json
import zipfile

from assay.evals.harnesses import detect_format, load_logs
from assay.evals.rescore import rescore_log

from conftest import ROOT, run_assay

FIX = ROOT / "tests" / "fixtures" / "evals" / "inspect"


def test_eval_is_a_zstd_zip_and_both_formats_agree():
    with zipfile.ZipFile(FIX / "tiny_arith.eval") as z:
        assert {i.compress_type for i in z.infolist()} == {93}  # zstd
    assert detect_format(FIX / "tiny_arith.eval") == "inspect" == detect_format(FIX / "tiny_arith.json")
    [a] = load_logs(FIX / "tiny_arith.eval")
    [b] = load_logs(FIX / "tiny_arith.json")
    sa, sb = a.samples(), b.samples()
    assert [s.model_dump() for s in sa] == [s.model_dump() for s in sb]
    assert [s.id for s in sa] == [f"q{i}" for i in range(8)]
    q2 = sa[2]
    assert q2.input[0].content == "What is 10 - 9?" and q2.target == "1" and q2.output == "The answer is 11"
    assert q2.scores == {"match": 1.0, "match1": 0.0}


def test_rescore_equals_inspect_exactly():
    for name in ("tiny_arith.eval", "tiny_arith.json"):
        [res] = rescore_log(FIX / name)
        assert res.ok, res.findings
        got = {r.metric: (r.reported, r.recomputed, r.n) for r in res.rows}
        assert got == {
            "match/accuracy": (0.75, 0.75, 8),
            "match/stderr": (got["match/stderr"][0],) * 2 + (8,),
            "match1/accuracy": (0.5, 0.5, 8),
            "match1/stderr": (got["match1/stderr"][0],) * 2 + (8,),
        }
        assert got["match/stderr"][0] == 0.16366341767699427


def test_scorer_audit_flags_match_accepting_11_for_1():
    [res] = rescore_log(FIX / "tiny_arith.eval")
    audit = {a.metric: a for a in res.audit}
    lenient = audit["match"]
    assert lenient.strict_scorer == "numeric"
    assert lenient.accepted_only_by_harness == ["q2", "q5"]  # "11" for "1", "15" for "5"
    assert (lenient.harness, lenient.strict) == (0.75, 0.5)
    assert audit["match1"].accepted_only_by_harness == []  # match(numeric=True) is strict here
    cp = run_assay("rescore", "--log", str(FIX / "tiny_arith.eval"), "--json")
    assert cp.returncode == 0, cp.stderr
    assert "accepted only by the harness: q2, q5" in cp.stderr


def test_tampered_score_and_output_caught(tmp_path):
    data = json.loads((FIX / "tiny_arith.json").read_text())
    data["samples"][4]["scores"]["match"]["value"] = "C"  # q4 "I think it is 8" for 9: logged correct
    data["samples"][6]["output"]["completion"] = "16"  # q6: output edited, its scores kept
    data["samples"][6]["output"]["choices"][0]["message"]["content"] = "16"
    p = tmp_path / "tampered.json"
    p.write_text(json.dumps(data))
    [res] = rescore_log(p)
    assert not res.ok
    mism = {f.message.split(":")[0]: f.samples for f in res.findings if f.code == "sample-score-mismatch"}
    assert mism == {"match": ["q4", "q6"], "match1": ["q6"]}
    cp = run_assay("rescore", "--log", str(p), "--format", "inspect")
    assert cp.returncode == 1 and "q4" in cp.stdout


def test_missing_sample_and_failed_run(tmp_path):
    data = json.loads((FIX / "tiny_arith.json").read_text())
    del data["samples"][3]
    data["status"] = "error"
    p = tmp_path / "cut.json"
    p.write_text(json.dumps(data))
    [res] = rescore_log(p)
    codes = {f.code: f for f in res.findings if f.severity == "error"}
    assert codes["missing-samples"].samples == ["q3"]
    assert "incomplete-run" in codes
