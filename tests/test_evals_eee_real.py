"""Every Eval Ever files written by every_eval_ever 0.3.0's own converters (tests/fixtures/evals/eee-real, rebuilt
by its generate.sh from real lm-eval 0.4.13 and Inspect AI 0.3.285 runs): each imports, re-scores to exactly the
aggregate EEE wrote, reports the sample_hash recipe that matched, and a tampered copy fails."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from assay.evals.harnesses import load_logs
from assay.evals.harnesses.eee import HASH_RECIPES, matching_recipes, sample_hash
from assay.evals.rescore import rescore_log
from conftest import run_assay

FIX = Path(__file__).parent / "fixtures" / "evals" / "eee-real" / "converted"


def _aggregate(kind: str, task: str) -> Path:
    [agg] = [p for p in (FIX / kind / "data" / task).rglob("*.json")]
    return agg


def _instances(agg: Path) -> Path:
    return agg.with_name(agg.stem + "_samples.jsonl")


def _copy(tmp_path: Path, kind: str, task: str) -> tuple[Path, Path]:
    agg = _aggregate(kind, task)
    dst = tmp_path / task
    dst.mkdir()
    shutil.copy(agg, dst / agg.name)
    shutil.copy(_instances(agg), dst / _instances(agg).name)
    return dst / agg.name, dst / _instances(agg).name


def _rows(inst: Path) -> list[dict]:
    return [json.loads(x) for x in inst.read_text(encoding="utf-8").splitlines() if x.strip()]


def _write_rows(agg: Path, inst: Path, rows: list[dict]) -> None:
    """Rewrite the instance file and keep the aggregate's checksum and row count true, so that only the edited
    content can make the check fail."""
    inst.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    data = json.loads(agg.read_text())
    data["detailed_evaluation_results"]["checksum"] = hashlib.sha256(inst.read_bytes()).hexdigest()
    data["detailed_evaluation_results"]["total_rows"] = len(rows)
    agg.write_text(json.dumps(data), encoding="utf-8")


def _codes(res, severity: str = "error") -> dict[str, list]:
    out: dict[str, list] = {}
    for f in res.findings:
        if f.severity == severity:
            out.setdefault(f.code, []).append(f)
    return out


REAL = [  # converter, task, the sample_hash recipe its rows must match, rows per sample
    ("lm-eval", "eee_mc", "eee-lm-eval", 2),  # acc and acc_norm rows of each document
    ("lm-eval", "eee_gen", "eee-lm-eval", 1),
    ("inspect", "eee_mc", "eee-inspect", 1),
    ("inspect", "eee_match", "eee-inspect", 2),  # two epochs
]


@pytest.mark.parametrize("kind,task,recipe,per_sample", REAL, ids=[f"{k}-{t}" for k, t, _r, _n in REAL])
def test_real_conversion_rescores_to_the_aggregate(kind, task, recipe, per_sample):
    agg = _aggregate(kind, task)
    data = json.loads(agg.read_text())
    [log] = load_logs(agg, "eee")
    assert log.instances_path == _instances(agg)
    assert recipe in " = ".join(log.hash_recipes).split(" = ")
    assert log.header.config["sample_hash_recipes"] == log.hash_recipes
    ids = [r["sample_id"] for r in _rows(_instances(agg))]
    assert {ids.count(i) for i in ids} == {per_sample}  # legitimately multi-row samples
    [res] = rescore_log(agg, "eee")
    assert res.ok, res.findings
    assert "duplicate-samples" not in _codes(res)
    assert any(f.code == "sample-hash-recipe" and recipe in f.message for f in res.findings if f.severity == "info")
    claimed = {r["evaluation_result_id"]: r["score_details"] for r in data["evaluation_results"]}
    rows = {r.metric: r for r in res.rows}
    assert set(rows) == set(claimed) | {f"{k}_stderr" for k in claimed}
    for rid, sd in claimed.items():
        assert rows[rid].reported == sd["score"]
        assert rows[rid].recomputed == sd["score"]  # exactly, not approximately
        assert rows[rid].n == sd["uncertainty"]["num_samples"] == len(set(ids))
        se = sd["uncertainty"]["standard_error"]["value"]
        assert rows[f"{rid}_stderr"].reported == se and rows[f"{rid}_stderr"].recomputed == se
    cp = run_assay("rescore", "--log", str(agg), "--format", "eee", "--json")
    assert cp.returncode == 0, cp.stderr
    assert [(r["metric"], r["recomputed"]) for r in json.loads(cp.stdout) if not r["metric"].endswith("_stderr")] == [
        (k, v["score"]) for k, v in claimed.items()
    ]


@pytest.mark.parametrize("kind,task", [(k, t) for k, t, _r, _n in REAL], ids=[f"{k}-{t}" for k, t, _r, _n in REAL])
def test_tampered_aggregate_fails(tmp_path, kind, task):
    agg, _inst = _copy(tmp_path, kind, task)
    data = json.loads(agg.read_text())
    data["evaluation_results"][0]["score_details"]["score"] += 0.125
    agg.write_text(json.dumps(data))
    [res] = rescore_log(agg, "eee")
    assert not res.ok and "aggregate-mismatch" in _codes(res)
    cp = run_assay("rescore", "--log", str(agg), "--format", "eee", "--json")
    assert cp.returncode == 1


def test_tampered_lm_eval_row_fails(tmp_path):
    """A wrong answer turned into the gold choice (checksum kept true): the row, the sample and the aggregate
    disagree with the logged score."""
    agg, inst = _copy(tmp_path, "lm-eval", "eee_mc")
    rows = _rows(inst)
    r = next(r for r in rows if r["evaluation_result_id"] == "acc" and r["evaluation"]["score"] == 0.0)
    gold = r["input"]["choices"][int(r["input"]["reference"][0])]
    r["answer_attribution"][0]["extracted_value"] = gold
    _write_rows(agg, inst, rows)
    [res] = rescore_log(agg, "eee")
    codes = _codes(res)
    assert codes["sample-score-mismatch"][0].samples == [r["sample_id"]]
    assert "aggregate-mismatch" in codes
    assert run_assay("rescore", "--log", str(agg), "--format", "eee").returncode == 1


def test_tampered_inspect_rows_fail(tmp_path):
    agg, inst = _copy(tmp_path, "inspect", "eee_mc")
    rows = _rows(inst)
    wrong = next(r for r in rows if r["evaluation"]["score"] == 0.0 and r["output"]["raw"][0] != "")
    wrong["output"]["raw"] = [wrong["input"]["reference"][0]]  # the selected letter is now the target
    edited = next(r for r in rows if r is not wrong)
    edited["input"]["reference"] = ["Z"]  # reference edited: sample_hash breaks
    _write_rows(agg, inst, rows)
    [res] = rescore_log(agg, "eee")
    codes = _codes(res)
    assert wrong["sample_id"] in codes["sample-score-mismatch"][0].samples
    assert codes["hash-mismatch"][0].samples == [edited["sample_id"]]
    assert run_assay("rescore", "--log", str(agg), "--format", "eee").returncode == 1


def test_dropped_samples_fail_even_when_the_mean_still_matches(tmp_path):
    """Two samples (one right, one wrong) removed and the checksum and row count rewritten to match: the mean is
    unchanged, the sample count and the standard error are not."""
    agg, inst = _copy(tmp_path, "inspect", "eee_mc")
    rows = _rows(inst)
    right = next(r for r in rows if r["evaluation"]["score"] == 1.0)
    wrong = next(r for r in rows if r["evaluation"]["score"] == 0.0)
    _write_rows(agg, inst, [r for r in rows if r is not right and r is not wrong])
    [res] = rescore_log(agg, "eee")
    codes = _codes(res)
    assert res.rows[0].recomputed == res.rows[0].reported
    assert "sample-count-mismatch" in codes and "stderr-mismatch" in codes and not res.ok


def test_tampered_instance_bytes_fail_the_checksum(tmp_path):
    agg, inst = _copy(tmp_path, "inspect", "eee_match")
    inst.write_bytes(inst.read_bytes().replace(b'"score": 0.0', b'"score": 1.0', 1))
    [res] = rescore_log(agg, "eee")
    assert any("checksum" in f.message for f in _codes(res)["hash-mismatch"])


# ------------------------------------------------------------------------------------ multi-row samples, duplicates
def test_lm_eval_multiple_choice_rows_group_per_sample_and_real_duplicates_fire(tmp_path):
    """lm-eval writes one row per (document, metric): acc and acc_norm rows share a sample_id.  Grouped per sample,
    acc is the per-document mean; a second acc row for a document is a real duplicate."""
    agg, inst = _copy(tmp_path, "lm-eval", "eee_mc")
    rows = _rows(inst)
    acc = [r for r in rows if r["evaluation_result_id"] == "acc"]
    claimed = json.loads(agg.read_text())["evaluation_results"][0]["score_details"]["score"]
    assert sum(r["evaluation"]["score"] for r in acc) / len(acc) == claimed  # per sample, not per row (0.125 here)
    [res] = rescore_log(agg, "eee")
    assert (res.rows[0].metric, res.rows[0].recomputed, res.rows[0].n) == ("acc", claimed, len(acc))
    assert any(f.code == "unreported-results" and "acc_norm" in f.message for f in res.findings)
    _write_rows(agg, inst, rows + [dict(acc[3])])
    [res] = rescore_log(agg, "eee")
    assert _codes(res)["duplicate-samples"][0].samples == [acc[3]["sample_id"]]


def test_inspect_epoch_rows_are_one_sample_and_a_repeated_epoch_is_a_duplicate(tmp_path):
    agg, inst = _copy(tmp_path, "inspect", "eee_match")
    rows = _rows(inst)
    [log] = load_logs(agg, "eee")
    samples = log.samples("eee_match")
    assert len(samples) == 4 and {s.meta["rows"] for s in samples} == {2}
    assert {s.id: s.scores["match:accuracy"] for s in samples}["m2"] == 0.5  # epochs "9" then "8": mean 0.5
    _write_rows(agg, inst, rows + [dict(rows[0])])
    [res] = rescore_log(agg, "eee")
    assert _codes(res)["duplicate-samples"][0].samples == [rows[0]["sample_id"]]


# ----------------------------------------------------------------------------------------------- sample_hash
def test_each_eee_recipe_is_recognised_and_named():
    """Rows hashed by EEE's own functions: the HELM converter's sha256_string(prompt + first reference) and the
    canonical adapters/openeval sample_hash (two references each, so the HELM and Inspect recipes differ)."""
    for name, expected in (("helm", "eee-helm"), ("canonical", "eee-canonical")):
        path = FIX / "hash-recipes" / f"{name}_recipe.jsonl"
        rows = _rows(path)
        for r in rows:
            assert matching_recipes(r["sample_hash"], r["input"]["raw"], r["input"]["reference"]) == [expected]
        [log] = load_logs(path, "eee")
        assert log.hash_recipes == {expected: len(rows)}
        [res] = rescore_log(path, "eee")
        assert res.ok, res.findings
        assert res.rows[0].recomputed == pytest.approx(2 / 3)


def test_unknown_recipe_is_a_mismatch_and_assay_exports_the_canonical_one(tmp_path):
    raw, ref = "Question: 2 + 2?\nAnswer:", ["4", "four"]
    digests = {name: fn(raw, ref) for name, (fn, _where) in HASH_RECIPES.items()}
    assert len(set(digests.values())) == 4  # the four recipes all differ here
    for name, digest in digests.items():
        assert matching_recipes(digest, raw, ref) == [name]
    assert sample_hash(raw, ref) == digests["eee-canonical"]
    unknown = hashlib.sha256(json.dumps({"raw": raw, "reference": ref}, sort_keys=True).encode()).hexdigest()
    assert matching_recipes(unknown, raw, ref) == []
    path = tmp_path / "rows.jsonl"
    rows = _rows(FIX / "hash-recipes" / "canonical_recipe.jsonl")
    rows[1]["sample_hash"] = hashlib.sha256(
        json.dumps(
            {"raw": rows[1]["input"]["raw"], "reference": rows[1]["input"]["reference"]}, sort_keys=True
        ).encode()
    ).hexdigest()
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    [res] = rescore_log(path, "eee")
    assert _codes(res)["hash-mismatch"][0].samples == [rows[1]["sample_id"]]


# ------------------------------------------------------------------------------------------------ fail closed
def test_aggregate_without_its_instance_file_is_not_recomputed(tmp_path):
    agg, inst = _copy(tmp_path, "lm-eval", "eee_gen")
    inst.unlink()
    [res] = rescore_log(agg, "eee")
    assert not res.ok
    assert [r.recomputed for r in res.rows] == [None]
    assert "not-recomputed" in _codes(res)
    assert run_assay("rescore", "--log", str(agg), "--format", "eee").returncode == 1
    data = json.loads(agg.read_text())
    del data["detailed_evaluation_results"]
    agg.write_text(json.dumps(data))
    [res] = rescore_log(agg, "eee")
    assert not res.ok and [r.recomputed for r in res.rows] == [None] and "not-recomputed" in _codes(res)


def test_rows_with_nothing_to_recompute_from_are_not_a_pass(tmp_path):
    """acc_norm needs per-choice log-likelihoods that EEE rows do not keep; a model-graded Inspect scorer cannot be
    re-run: both leave the result unrecomputed, never passed on the logged scores."""
    agg = _aggregate("lm-eval", "eee_mc_norm")
    [res] = rescore_log(agg, "eee")
    rows = {r.metric: r for r in res.rows}
    assert rows["acc"].recomputed == rows["acc"].reported  # what can be recomputed still is
    assert rows["acc_norm"].reported is not None and rows["acc_norm"].recomputed is None
    assert not res.ok and {"unverifiable", "not-recomputed"} & set(_codes(res))
    assert run_assay("rescore", "--log", str(agg), "--format", "eee").returncode == 1

    agg, inst = _copy(tmp_path, "inspect", "eee_mc")
    rows = _rows(inst)
    for r in rows:
        r["evaluation_result_id"] = "model_graded_qa:accuracy"
    data = json.loads(agg.read_text())
    data["evaluation_results"][0]["evaluation_result_id"] = "model_graded_qa:accuracy"
    agg.write_text(json.dumps(data))
    _write_rows(agg, inst, rows)
    [res] = rescore_log(agg, "eee")
    assert not res.ok and [r.recomputed for r in res.rows] == [None]
    assert "sample-score-mismatch" not in _codes(res)


def test_empty_instance_file_is_not_a_pass(tmp_path):
    agg, inst = _copy(tmp_path, "inspect", "eee_mc")
    _write_rows(agg, inst, [])
    [res] = rescore_log(agg, "eee")
    assert not res.ok and all(r.recomputed is None for r in res.rows)


def test_aggregate_with_no_results_and_no_rows_is_not_a_pass(tmp_path):
    agg, _inst = _copy(tmp_path, "inspect", "eee_mc")
    data = json.loads(agg.read_text())
    data["evaluation_results"] = []
    del data["detailed_evaluation_results"]
    agg.write_text(json.dumps(data))
    [res] = rescore_log(agg, "eee")
    assert not res.ok and res.rows == [] and "not-recomputed" in _codes(res)
    assert run_assay("rescore", "--log", str(agg), "--format", "eee").returncode == 1


def test_instance_file_is_looked_for_only_beside_the_aggregate(tmp_path):
    agg, inst = _copy(tmp_path, "inspect", "eee_mc")
    outside = tmp_path / inst.name
    inst.rename(outside)  # one folder up from the aggregate
    data = json.loads(agg.read_text())
    data["detailed_evaluation_results"]["file_path"] = f"../{inst.name}"
    agg.write_text(json.dumps(data))
    [log] = load_logs(agg, "eee")
    assert log.instances_path is None
    [res] = rescore_log(agg, "eee")
    assert not res.ok and [r.recomputed for r in res.rows] == [None]


def test_lm_eval_instance_file_alone_re_scores_what_its_rows_allow():
    """Without the aggregate every per-sample metric is a claim: acc is recomputed, acc_norm is not (never passed)."""
    inst = _instances(_aggregate("lm-eval", "eee_mc"))
    [res] = rescore_log(inst, "eee")
    rows = {r.metric: r for r in res.rows}
    acc = [r["evaluation"]["score"] for r in _rows(inst) if r["evaluation_result_id"] == "acc"]
    assert rows["acc"].recomputed == sum(acc) / len(acc) and rows["acc_norm"].recomputed is None
    assert not res.ok and "duplicate-samples" not in _codes(res)


def test_broken_instance_file_is_bad_input(tmp_path):
    agg, inst = _copy(tmp_path, "lm-eval", "eee_gen")
    inst.write_text('{"sample_id": "0"\n')
    cp = run_assay("rescore", "--log", str(agg), "--format", "eee")
    assert cp.returncode == 2 and "not valid JSON" in cp.stderr and "Traceback" not in cp.stderr


def test_several_unreported_metrics_of_one_sample_are_not_duplicates(tmp_path):
    agg, inst = _copy(tmp_path, "lm-eval", "eee_mc")
    rows = _rows(inst)
    extra = [dict(r, evaluation_result_id="acc_mutual_info") for r in rows if r["evaluation_result_id"] == "acc_norm"]
    _write_rows(agg, inst, rows + extra)
    [res] = rescore_log(agg, "eee")
    assert res.ok, res.findings
    assert any(f.code == "unreported-results" and "acc_mutual_info" in f.message for f in res.findings)
