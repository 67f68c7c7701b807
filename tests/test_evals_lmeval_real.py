"""lm-eval importer and re-scorer on logs that real lm-evaluation-harness runs wrote, at three 0.4.x releases.

The fixtures in tests/fixtures/evals/lm-eval-real/<version>/<run>/ are byte-exact lm-eval outputs (hf backend, a
tiny local Llama, custom local tasks: multiple_choice, generate_until with three filter pipelines, loglikelihood
with a bootstrapped perplexity stderr, and a size-weighted group), rebuilt offline by generate.sh there (README).
Every test below is parametrised over the committed runs, so a version added there is tested without edits here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assay.evals.harnesses import load_logs
from assay.evals.rescore import rescore_log

from conftest import ROOT, run_assay

FIX = ROOT / "tests" / "fixtures" / "evals" / "lm-eval-real"
RUNS = sorted(p for p in FIX.glob("*/*") if p.is_dir() and p.parent.name[:1].isdigit())
FULL = [r for r in RUNS if r.name == "full"]
LEAVES = {"rt_mc": 12, "rt_gsm": 10, "rt_ll": 8, "rt_grp_a": 5, "rt_grp_b": 9}


def _id(run: Path) -> str:
    return f"{run.parent.name}-{run.name}"


def _results_path(run: Path) -> Path:
    [p] = [p for p in run.rglob("*.json") if "results" in p.name]
    return p


def _results(run: Path) -> dict:
    return json.loads(_results_path(run).read_text(encoding="utf-8"))


def _samples_path(run: Path, task: str) -> Path:
    [p] = [p for p in run.rglob("*.jsonl") if p.name.endswith(f"_{task}.jsonl") or f"_{task}_20" in p.name]
    return p


def _read_rows(path: Path) -> tuple[list[dict], bool]:
    """Rows of a samples file and whether it is one JSON array (lm-eval 0.4.0) rather than JSON lines."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text), True
    return [json.loads(line) for line in text.splitlines() if line.strip()], False


def _edit_rows(path: Path, edit) -> None:
    rows, array = _read_rows(path)
    rows = edit(rows)
    if array:
        path.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _edit_results(run: Path, edit) -> None:
    path = _results_path(run)
    data = edit(json.loads(path.read_text(encoding="utf-8")))
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def _reported(run: Path) -> dict[tuple[str, str, str], float]:
    out = {}
    for task, vals in _results(run)["results"].items():
        for key, v in vals.items():
            if "," in key and isinstance(v, (int, float)) and not isinstance(v, bool):
                metric, _, filt = key.partition(",")
                out[(task, metric, filt)] = v
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / _id(run)
    shutil.copytree(run, dst)
    return dst


def _errors(res, code: str | None = None) -> list:
    return [f for f in res.findings if f.severity == "error" and (code is None or f.code == code)]


def _by(res) -> dict[tuple[str, str, str], object]:
    return {(r.task, r.metric, r.filter): r for r in res.rows}


# ------------------------------------------------------------------------------------------------ the fixtures
def test_three_releases_spanning_0_4_are_committed():
    versions = {r.parent.name for r in FULL}
    assert {"0.4.0", "0.4.9.1", "0.4.13"} <= versions
    for run in FULL:
        logged = _results(run).get("lm_eval_version")
        assert logged in (None, run.parent.name), run  # 0.4.0 does not record its version
    assert any(r.name == "limit" for r in RUNS)
    # what the user reported: lm-eval <= 0.4.9 lists every plain task in group_subtasks as {task: []}
    old = _results(FIX / "0.4.9.1" / "full")["group_subtasks"]
    assert old["rt_mc"] == [] and old["rt_group"] == ["rt_grp_a", "rt_grp_b"]


# ----------------------------------------------------------------------------------------- honest runs: exact
@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_every_reported_metric_recomputed_exactly(run):
    [res] = rescore_log(run)
    assert res.ok, [f"{f.code}: {f.where}: {f.message}" for f in _errors(res)]
    reported = _reported(run)
    by = _by(res)
    assert set(reported) <= set(by)  # nothing reported is left out
    for key, value in reported.items():
        row = by[key]
        assert row.recomputed is not None and row.n > 0, row  # recomputed from logged samples ...
        assert row.recomputed == value, (key, row)  # ... bit for bit, stderrs and the group included
        assert row.reported == value
    for key, row in by.items():
        if key[0] in LEAVES and row.n:
            expected = LEAVES[key[0]] if run.name == "full" else min(4, LEAVES[key[0]])
            assert row.n == expected, row


@pytest.mark.parametrize("run", FULL, ids=_id)
def test_plain_tasks_are_not_groups_and_the_group_is_size_weighted(run):
    [log] = load_logs(run)
    assert log.group_members() == {"rt_group": ["rt_grp_a", "rt_grp_b"]}
    assert set(log.tasks()) == set(LEAVES)
    [res] = rescore_log(run)
    by = _by(res)
    for metric in ("acc", "acc_norm"):
        a, b, g = (by[(t, metric, "none")] for t in ("rt_grp_a", "rt_grp_b", "rt_group"))
        assert g.n == 14
        assert g.recomputed == (a.recomputed * 5 + b.recomputed * 9) / 14
    # the bootstrapped perplexity stderr (100000 draws, chunks seeded by index) is recomputed too
    se = by[("rt_ll", "perplexity_stderr", "none")]
    assert se.recomputed == se.reported and se.recomputed > 0


@pytest.mark.parametrize("run", FULL, ids=_id)
def test_cli_exit_0_on_an_honest_complete_run(run):
    cp = run_assay("rescore", "--log", str(run))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "re-scores exactly" in cp.stdout


@pytest.mark.parametrize("run", FULL, ids=_id)
def test_a_results_file_alone_finds_its_samples(run):
    """--log on the results file (0.4.0: results.json; later: results_<ts>.json) re-scores the whole run."""
    [res] = rescore_log(_results_path(run))
    [folder] = rescore_log(run)
    assert res.ok and [r.model_dump() for r in res.rows] == [r.model_dump() for r in folder.rows]


def test_limit_run_is_flagged_as_a_subset():
    [run] = [r for r in RUNS if r.name == "limit"]
    [res] = rescore_log(run)
    subset = {f.where: f for f in res.findings if f.code == "subset-run"}
    assert set(subset) == set(LEAVES)  # every task has more than 4 documents
    assert all(f.severity == "warning" and "--limit 4" in f.message for f in subset.values())
    assert "4 of 12" in subset["rt_mc"].message
    assert res.ok  # consistent in itself; the subset is named


# ------------------------------------------------------------------------------------------------- fail closed
def _assert_not_pass(run: Path, res, code: str) -> None:
    assert not res.ok
    assert _errors(res, code), [f.code for f in res.findings]
    cp = run_assay("rescore", "--log", str(run))
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "re-scores exactly" not in cp.stdout


@pytest.mark.parametrize("run", FULL, ids=_id)
def test_results_without_samples_fail_closed(run, tmp_path):
    dst = tmp_path / "only-results"
    dst.mkdir()
    shutil.copy2(_results_path(run), dst / _results_path(run).name)
    [res] = rescore_log(dst)
    assert {f.where for f in _errors(res, "no-samples")} >= set(LEAVES)
    assert all(r.recomputed is None for r in res.rows)
    _assert_not_pass(dst, res, "not-recomputed")


def test_samples_without_results_fail_closed(tmp_path):
    run = FIX / "0.4.13" / "full"
    dst = tmp_path / "only-samples"
    dst.mkdir()
    for task in LEAVES:
        shutil.copy2(_samples_path(run, task), dst)
    [res] = rescore_log(dst)
    _assert_not_pass(dst, res, "no-results")


@pytest.mark.parametrize(
    "metric,value", [("bleu", ["The chart shows it.\n#### then", "then"]), ("my_metric", 0.5)], ids=["bleu", "custom"]
)
@pytest.mark.parametrize("run", FULL, ids=_id)
def test_metric_without_a_recomputable_per_sample_value_fails_closed(run, tmp_path, metric, value):
    """A corpus metric (bleu: per-sample (reference, prediction) pairs) or a custom metric cannot be recomputed:
    the row is not-recomputed and the log does not pass; the other metrics of the task are still recomputed."""
    dst = _copy(run, tmp_path)

    def add_metric(data):
        data["results"]["rt_gsm"][f"{metric},flexible-extract"] = 0.25
        data["configs"]["rt_gsm"]["metric_list"].append(
            {"metric": metric, "aggregation": "mean", "higher_is_better": True}
        )
        return data

    def add_values(rows):
        for r in rows:
            r[metric] = value
            if "metrics" in r:
                r["metrics"] = r["metrics"] + [metric]
        return rows

    _edit_results(dst, add_metric)
    _edit_rows(_samples_path(dst, "rt_gsm"), add_values)
    [res] = rescore_log(dst)
    row = _by(res)[("rt_gsm", metric, "flexible-extract")]
    assert row.reported == 0.25 and row.recomputed is None
    assert any(metric in f.message for f in _errors(res, "not-recomputed"))
    em = _by(res)[("rt_gsm", "exact_match", "flexible-extract")]
    assert em.recomputed == em.reported
    _assert_not_pass(dst, res, "not-recomputed")


@pytest.mark.parametrize("how", ["subtasks-absent", "members-unnamed"])
@pytest.mark.parametrize("run", FULL, ids=_id)
def test_group_that_cannot_be_recomputed_fails_closed(run, tmp_path, how):
    dst = _copy(run, tmp_path)
    if how == "subtasks-absent":  # the group's subtasks are neither reported nor logged
        for task in ("rt_grp_a", "rt_grp_b"):
            _samples_path(dst, task).unlink()

        def drop(data):
            for key in ("results", "configs", "versions", "n-shot", "n-samples", "higher_is_better", "task_hashes"):
                for task in ("rt_grp_a", "rt_grp_b"):
                    (data.get(key) or {}).pop(task, None)
            return data
    else:  # the group is reported, but which tasks it aggregates is not recorded

        def drop(data):
            data["groups"] = data.get("groups") or {"rt_group": data["results"]["rt_group"]}
            data.pop("group_subtasks", None)
            for task, vals in data["results"].items():  # 0.4.0 records the tree in the aliases' indentation
                vals["alias"] = task
            return data

    _edit_results(dst, drop)
    [res] = rescore_log(dst)
    group_rows = [r for r in res.rows if r.task == "rt_group"]
    assert group_rows and all(r.recomputed is None for r in group_rows)
    assert {(r.metric, r.filter) for r in group_rows if r.reported is not None} >= {
        ("acc", "none"),
        ("acc_norm", "none"),
    }
    _assert_not_pass(dst, res, "not-recomputed")


# ---------------------------------------------------------------------------------------------------- tampering
@pytest.mark.parametrize("run", FULL, ids=_id)
def test_tampered_generation_is_caught(run, tmp_path):
    """Doc 1's raw response is rewritten so that flexible-extract now extracts the target: its logged score (0),
    its logged filtered response and the reported aggregate no longer follow from the log."""
    dst = _copy(run, tmp_path)
    gsm = _samples_path(dst, "rt_gsm")
    target = "then"
    assert json.loads(json.dumps(_read_rows(gsm)[0][1]))["doc"]["answer"].endswith(f"#### {target}")

    def tamper(rows):
        for r in rows:
            if r["doc_id"] == 1:
                r["resps"] = [[f"the answer is {target}"] + r["resps"][0][1:]]
        return rows

    _edit_rows(gsm, tamper)
    [res] = rescore_log(dst)
    mism = [f for f in _errors(res, "sample-score-mismatch") if "flexible-extract" in f.message]
    assert mism and mism[0].where == "rt_gsm" and mism[0].samples == ["1"]
    assert any("flexible-extract" in f.message for f in _errors(res, "aggregate-mismatch"))
    assert any(f.samples == ["1"] for f in _errors(res, "answer-mismatch"))
    row = _by(res)[("rt_gsm", "exact_match", "flexible-extract")]
    assert row.recomputed == row.reported + 0.1
    cp = run_assay("rescore", "--log", str(dst))
    assert cp.returncode == 1 and "re-scores exactly" not in cp.stdout


@pytest.mark.parametrize("run", FULL, ids=_id)
def test_tampered_filtered_response_is_caught(run, tmp_path):
    dst = _copy(run, tmp_path)

    def tamper(rows):
        for r in rows:
            if r["doc_id"] == 3:
                r["filtered_resps"] = ["edited"] if isinstance(r["filtered_resps"], list) else "edited"
        return rows

    _edit_rows(_samples_path(dst, "rt_gsm"), tamper)
    [res] = rescore_log(dst)
    assert any("3" in f.samples for f in _errors(res, "answer-mismatch"))
    assert not res.ok


@pytest.mark.parametrize("run", FULL, ids=_id)
def test_tampered_loglikelihoods_are_caught(run, tmp_path):
    """Doc 0 of rt_mc: the log-likelihoods are reversed, so the argmax moves; acc logged for that doc is stale."""
    dst = _copy(run, tmp_path)

    def tamper(rows):
        for r in rows:
            if r["doc_id"] == 0:
                r["resps"] = list(reversed(r["resps"]))
        return rows

    _edit_rows(_samples_path(dst, "rt_mc"), tamper)
    [res] = rescore_log(dst)
    assert any(f.where == "rt_mc" and f.samples == ["0"] for f in _errors(res, "sample-score-mismatch"))
    assert any(f.where == "rt_mc" for f in _errors(res, "aggregate-mismatch"))
    assert not res.ok
