"""Re-scoring real Inspect AI logs written by two releases (0.3.58 and 0.3.285) on ``mockllm/model``.

The logs are tests/fixtures/evals/inspect-real/<version>/<task>.{eval,json}, written by Inspect itself
(generate.sh / generate.py there; README.md lists what each covers).  Honest runs must re-score exactly (exit 0);
empty, errored-only, unscored, cancelled and error runs must not pass (exit 1, with the reason named); tampered copies
(made here, in tmp_path) must fail.  A mixed folder (lm-eval + Inspect + EEE) is re-scored format by format.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from types import SimpleNamespace

import pytest
from assay.evals.harnesses import load_logs
from assay.evals.harnesses.inspect_ai import (
    inspect_choice,
    selected_positions,
    strict_choice_answer,
)
from assay.evals.rescore import rescore_log, rescore_path
from conftest import ROOT, run_assay

REAL = ROOT / "tests" / "fixtures" / "evals" / "inspect-real"
VERSIONS = ("0.3.58", "0.3.285")
HONEST = ("mc_single", "mc_multi", "match_includes", "epochs", "errored_some")
NOT_PASS = {  # task -> (verdict, finding code, words of the reason)
    "empty": ("not-checked", "unscored", "no samples"),
    "errored_only": ("not-checked", "unscored", "all 1 sample(s) errored"),
    "unscored": ("not-checked", "unscored", "3 sample(s), none scored"),
    "cancelled": ("fail", "incomplete-run", "status is 'cancelled'"),
    "error_run": ("fail", "incomplete-run", "status is 'error'"),
}


def _one(path):
    [res] = rescore_log(path)
    return res


@pytest.mark.parametrize("ext", ["eval", "json"])
@pytest.mark.parametrize("task", HONEST)
@pytest.mark.parametrize("version", VERSIONS)
def test_honest_logs_rescore_exactly(version, task, ext):
    res = _one(REAL / version / f"{task}.{ext}")
    assert res.ok and res.verdict == "pass" and res.reason is None, res.findings
    if task == "errored_some":  # fail_on_error=False: the errored sample is named, as a warning
        assert [(f.severity, f.samples) for f in res.findings if f.code == "errored-samples"] == [("warning", ["q1"])]
    assert res.rows and all(r.recomputed == r.reported and r.n > 0 for r in res.rows), res.rows
    assert not [f for f in res.findings if f.severity == "error"]


@pytest.mark.parametrize("task", HONEST)
@pytest.mark.parametrize("version", VERSIONS)
def test_cli_honest_exit_0(version, task):
    cp = run_assay("rescore", "--log", str(REAL / version / f"{task}.eval"), "--no-audit")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "re-scores exactly" in cp.stdout


@pytest.mark.parametrize("ext", ["eval", "json"])
@pytest.mark.parametrize("task", sorted(NOT_PASS))
@pytest.mark.parametrize("version", VERSIONS)
def test_empty_errored_unscored_cancelled_never_pass(version, task, ext):
    verdict, code, words = NOT_PASS[task]
    res = _one(REAL / version / f"{task}.{ext}")
    assert not res.ok and res.verdict == verdict, (res.verdict, res.findings)
    found = [f for f in res.findings if f.code == code and f.severity == "error"]
    assert found and words in found[0].message, res.findings
    assert res.reason and words in res.reason


@pytest.mark.parametrize("task", sorted(NOT_PASS))
@pytest.mark.parametrize("version", VERSIONS)
def test_cli_not_pass_exit_1_with_reason(version, task):
    verdict, _code, words = NOT_PASS[task]
    cp = run_assay("rescore", "--log", str(REAL / version / f"{task}.json"))
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "re-scores exactly" not in cp.stdout
    assert words in " ".join(cp.stdout.split())
    cp = run_assay("rescore", "--log", str(REAL / version / f"{task}.eval"), "--json")
    assert cp.returncode == 1
    rows = json.loads(cp.stdout)
    assert isinstance(rows, list) and all(
        set(r) == {"task", "metric", "filter", "reported", "recomputed", "n"} for r in rows
    )
    assert f"assay: {verdict}: " in cp.stderr and words in cp.stderr


def test_eval_members_deflate_then_zstd_and_both_formats_agree():
    with zipfile.ZipFile(REAL / "0.3.58" / "mc_single.eval") as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
    with zipfile.ZipFile(REAL / "0.3.285" / "mc_single.eval") as z:
        assert {i.compress_type for i in z.infolist()} == {93}
    for version in VERSIONS:
        for task in (*HONEST, *NOT_PASS):
            [a] = load_logs(REAL / version / f"{task}.eval")
            [b] = load_logs(REAL / version / f"{task}.json")
            assert [s.model_dump() for s in a.samples()] == [s.model_dump() for s in b.samples()], (version, task)
            assert a.header.aggregates == b.header.aggregates


def test_deflate_eval_needs_no_inspect_ai_and_zstd_names_the_extra():
    """The 0.3.58 .eval (deflate) is read by the standard library alone; a zstd .eval without inspect_ai's codec
    is a MissingExtra (exit 2 with the pip line), not a traceback."""
    code = (
        "import sys; sys.modules['zipfile_zstd'] = None; sys.modules['inspect_ai'] = None\n"
        "from assay.evals.rescore import rescore_log\n"
        f"[r] = rescore_log({str(REAL / '0.3.58' / 'mc_single.eval')!r}); assert r.verdict == 'pass', r\n"
        "from assay.cli.main import main\n"
        f"sys.argv = ['assay', 'rescore', '--log', {str(REAL / '0.3.285' / 'mc_single.eval')!r}]\n"
        "main()\n"
    )
    if sys.version_info >= (3, 14):
        pytest.skip("Python 3.14 reads zstd members itself")
    cp = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert cp.returncode == 2, cp.stderr
    assert "Traceback" not in cp.stderr and "evals" in cp.stderr


def test_choice_recomputed_per_release():
    """choice() is recomputed, not called custom: ANSWER: A,B on a single-answer question selects A and B in
    0.3.58 (logged answer 'A, B') and nothing in 0.3.285 (logged answer ''); both score it incorrect."""
    for version, m4_answer in (("0.3.58", "A, B"), ("0.3.285", "")):
        [log] = load_logs(REAL / version / "mc_single.eval")
        m4 = next(s for s in log.samples() if s.id == "m4")
        assert m4.meta["answers"]["choice"] == m4_answer
        assert inspect_choice(m4.output, m4.target, m4.choices, False, version) == ("I", m4_answer)
        res = _one(REAL / version / "mc_single.eval")
        assert {r.metric: r.recomputed for r in res.rows} == {
            "choice/accuracy": 0.5,
            "choice/stderr": res.rows[1].reported,
        }
        assert not [f for f in res.findings if f.code == "unverifiable"]
    res = _one(REAL / "0.3.285" / "mc_multi.json")
    assert {r.metric: (r.reported, r.recomputed) for r in res.rows}["choice/accuracy"] == (0.6, 0.6)


def test_choice_parser_agrees_with_installed_inspect():
    """Differential check of the 0.3.285 port against the installed inspect_ai's own parse_answers."""
    inspect_ai = pytest.importorskip("inspect_ai")
    from inspect_ai.solver._multiple_choice import parse_answers

    version = inspect_ai.__version__
    if tuple(int(x) for x in version.split(".")[:3]) < (0, 3, 261):
        pytest.skip(f"installed inspect_ai {version} predates the ported parser")
    cases = [
        "ANSWER: A",
        "ANSWER: b",
        "answer: C.",
        "ANSWER: A,B",
        "ANSWER: A, B",
        "ANSWER: A and C",
        "ANSWER: AC",
        "ANSWER: A,",
        "ANSWER: $B$",
        "ANSWER: **C**",
        "ANSWER: (A)",
        "The answer is B",
        "ANSWER: E",
        "Thinking…\nANSWER: A\nANSWER: B",
        "ANSWER:D",
        "ANSWER: A, C, D",
        "",
        "answer: a, d.",
    ]
    for n in (3, 4):
        for multiple in (False, True):
            for c in cases:
                state = SimpleNamespace(output=SimpleNamespace(completion=c), choices=[None] * n)
                want = sorted(ord(x) - ord("A") for x in parse_answers(state, multiple) if ord(x) - ord("A") < n)
                assert selected_positions(c, n, multiple, version) == want, (c, n, multiple)


def test_choice_format_audit():
    res = _one(REAL / "0.3.285" / "mc_single.eval")
    [row] = res.audit
    assert row.strict_scorer == "choice-format"
    assert row.accepted_only_by_harness == ["m2"]  # "answer: c": not the ANSWER: C the prompt asked for
    assert strict_choice_answer("Reasoning.\nANSWER: A, C", ["A", "C"], 4) == 1.0
    assert strict_choice_answer("ANSWER: A,B", "A", 3) == 0.0


def test_epoch_reducers_and_epoch_named_in_findings(tmp_path):
    res = _one(REAL / "0.3.285" / "epochs.json")
    got = {r.metric: r.recomputed for r in res.rows if r.metric.endswith("/accuracy")}
    assert got == {
        "match[mean]/accuracy": 0.41666666666666663,
        "match[at_least_2]/accuracy": 0.25,
        "match[pass_at_2]/accuracy": 0.5833333333333333,
        "match[mode]/accuracy": 0.25,
    }
    data = json.loads((REAL / "0.3.285" / "epochs.json").read_text())
    hit = next(s for s in data["samples"] if s["id"] == "c1" and s["epoch"] == 2)
    hit["scores"]["match"]["value"] = "C"  # "Lisbon" for Madrid, logged correct
    p = tmp_path / "epochs.json"
    p.write_text(json.dumps(data))
    res = _one(p)
    [mm] = [f for f in res.findings if f.code == "sample-score-mismatch"]
    assert mm.samples == ["c1 (epoch 2)"] and "sample c1 (epoch 2)" in mm.message
    assert res.verdict == "fail"
    data = json.loads((REAL / "0.3.285" / "epochs.json").read_text())
    [mode] = [r for r in data["reductions"] if r["reducer"] == "mode"]
    next(x for x in mode["samples"] if x["sample_id"] == "c2")["value"] = "C"  # Milan, Milan, Rome: mode is I
    p.write_text(json.dumps(data))
    [red] = [f for f in _one(p).findings if f.code == "reduction-mismatch"]
    assert red.samples == ["c2"] and red.message.startswith("match[mode]")
    del data["samples"][5]  # c1, epoch 2
    p.write_text(json.dumps(data))
    missing = [f for f in _one(p).findings if f.code == "missing-samples"]
    assert missing and missing[0].samples == ["c1 (epoch 2)"]


@pytest.mark.parametrize("version", VERSIONS)
def test_tampered_copies_fail(tmp_path, version):
    data = json.loads((REAL / version / "mc_single.json").read_text())
    data["samples"][1]["scores"]["choice"]["value"] = "C"  # m1 answered C for B: logged correct
    p = tmp_path / "score.json"
    p.write_text(json.dumps(data))
    res = _one(p)
    assert res.verdict == "fail" and [f.samples for f in res.findings if f.code == "sample-score-mismatch"] == [["m1"]]
    cp = run_assay("rescore", "--log", str(p))
    assert cp.returncode == 1 and "does not re-score" in cp.stdout and "m1" in cp.stdout

    data = json.loads((REAL / version / "mc_single.json").read_text())
    data["results"]["scores"][0]["metrics"]["accuracy"]["value"] = 0.75
    p = tmp_path / "aggregate.json"
    p.write_text(json.dumps(data))
    assert [f.code for f in _one(p).findings if f.severity == "error"] == ["aggregate-mismatch"]

    data = json.loads((REAL / version / "mc_multi.json").read_text())
    data["samples"][2]["scores"]["choice"]["answer"] = "A, B"  # m2 answered only A
    p = tmp_path / "answer.json"
    p.write_text(json.dumps(data))
    assert [f.samples for f in _one(p).findings if f.code == "answer-mismatch"] == [["m2"]]


def test_reported_metric_without_samples_is_not_recomputed(tmp_path):
    """Edge-case fixtures from a real log: every sample removed, or every sample errored, while the results still
    report match/accuracy."""
    data = json.loads((REAL / "0.3.285" / "errored_some.json").read_text())
    data["samples"] = []
    p = tmp_path / "none.json"
    p.write_text(json.dumps(data))
    res = _one(p)
    assert res.verdict == "fail" and "missing-samples" in {f.code for f in res.findings}  # the dataset names 4
    data["eval"]["dataset"]["sample_ids"] = []
    p.write_text(json.dumps(data))
    res = _one(p)
    nr = [f for f in res.findings if f.code == "not-recomputed"]
    assert res.verdict == "not-checked" and nr and "no samples are logged" in nr[0].message
    assert {f.message.split(",")[0] for f in nr} == {"match/accuracy", "match/stderr"}
    cp = run_assay("rescore", "--log", str(p))
    assert cp.returncode == 1 and "re-scores exactly" not in cp.stdout and "not-checked" in cp.stdout

    data = json.loads((REAL / "0.3.285" / "errored_some.json").read_text())
    error = data["samples"][1]["error"]
    for s in data["samples"]:
        s["error"], s["scores"] = error, {}
    p.write_text(json.dumps(data))
    nr = [f for f in _one(p).findings if f.code == "not-recomputed"]
    assert nr and "all 4 logged sample(s) errored" in nr[0].message


def test_mixed_folder_rescores_every_format_and_lists_skipped(tmp_path):
    fx = ROOT / "tests" / "fixtures" / "evals"
    mixed = tmp_path / "mixed"
    shutil.copytree(fx / "lm-eval" / "full", mixed / "lm-eval")
    shutil.copy(REAL / "0.3.285" / "mc_single.eval", mixed / "mc_single.eval")
    shutil.copytree(fx / "eee", mixed / "eee")
    (mixed / "NOTES.txt").write_text("not a log\n")
    out = rescore_path(mixed)
    assert {r.format for r in out.logs} == {"lm-eval", "inspect", "eee"}
    assert [(s.path, s.format) for s in out.skipped] == [(str(mixed / "NOTES.txt"), None)]
    by_format = {r.format: r for r in out.logs}
    assert by_format["lm-eval"].verdict == "pass" and by_format["inspect"].verdict == "pass"
    cp = run_assay("rescore", "--log", str(mixed), "--json", "--no-audit")
    rows = json.loads(cp.stdout)
    assert {"tiny_qa", "mc_single", "tiny_mix"} <= {r["task"] for r in rows}
    assert f"assay: skipped: {mixed / 'NOTES.txt'}: not an evaluation log" in cp.stderr
    cp = run_assay("rescore", "--log", str(mixed), "--no-audit")
    assert "skipped" in cp.stdout and "NOTES.txt" in cp.stdout

    [report] = (fx / "eureka").rglob("countaggregator_000000000000_*_report.json")
    shutil.copy(report, mixed / report.name)  # a Eureka report with no run beside it: not silently ignored
    out = rescore_path(mixed)
    assert [(s.path, s.format) for s in out.skipped if s.format] == [(str(mixed / report.name), "eureka")]
    assert not out.ok
    (mixed / report.name).unlink()

    (mixed / "broken.eval").write_bytes(b"PK\x03\x04 not really a zip")
    out = rescore_path(mixed)
    [bad] = [s for s in out.skipped if s.format]
    assert bad.format == "inspect" and bad.path.endswith("broken.eval") and not out.ok
    cp = run_assay("rescore", "--log", str(mixed), "--no-audit")
    assert cp.returncode == 1 and "broken.eval" in cp.stdout


def test_unrecomputable_scorer_or_solver_is_not_checked(tmp_path):
    """Edge-case copies of a real log: choice() over choices marked by a custom solver, and a model-graded
    scorer, cannot be recomputed: not-checked, with the reason, never a pass."""
    data = json.loads((REAL / "0.3.285" / "mc_single.json").read_text())
    data["plan"]["steps"][0]["solver"] = "my_solver"
    p = tmp_path / "solver.json"
    p.write_text(json.dumps(data))
    res = _one(p)
    assert res.verdict == "not-checked" and "multiple_choice()" in res.reason
    nr = [f for f in res.findings if f.code == "not-recomputed"]
    assert nr and "the scorer is not recomputable" in nr[0].message
    data = json.loads((REAL / "0.3.285" / "match_includes.json").read_text())
    data["eval"]["scorers"][2]["name"] = "model_graded_qa"
    p = tmp_path / "graded.json"
    p.write_text(json.dumps(data))
    res = _one(p)
    assert res.verdict == "not-checked" and not res.ok
    assert {f.message.split(",")[0] for f in res.findings if f.code == "not-recomputed"} == {
        "includes/accuracy",
        "includes/stderr",
    }
