"""``assay export --log``: an assay eval log as Every Eval Ever / HF ``.eval_results`` (assay.audit.exports.log_export
over assay.evals.log_export).  The log is the demo's published textqa-mini log (40 samples, written by the demo's
build script in assay's own log format); edge cases are cut from it.  A log without samples never exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from assay.audit.exports.log_export import export_log
from assay.manifests.errors import InputError
from conftest import DEMO, run_assay

LOG = DEMO / "evals" / "textqa-mini.assay.jsonl"


@pytest.fixture
def log(tmp_path) -> Path:
    dst = tmp_path / "textqa-mini.assay.jsonl"
    dst.write_bytes(LOG.read_bytes())
    return dst


def _header_only(log: Path, tasks: list[str] | None = None) -> Path:
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    if tasks is not None:
        header["tasks"] = tasks
    log.write_text(json.dumps(header) + "\n", encoding="utf-8")
    return log


def test_eee_from_the_cli(log, tmp_path):
    proc = run_assay("export", "--log", str(log), "--format", "eee", "--out", str(tmp_path / "eee"), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["format"] == "eee" and len(result["files"]) == 1
    aggregate = json.loads(Path(result["files"][0]).read_text())
    assert aggregate["evaluation_results"][0]["evaluation_name"] == "textqa-mini"
    assert aggregate["evaluation_results"][0]["metric_config"]["evaluation_description"] == "accuracy"
    assert aggregate["evaluation_results"][0]["score_details"]["uncertainty"]["num_samples"] == 40
    assert len((tmp_path / "eee" / "instance_level_data" / "textqa-mini.jsonl").read_text().splitlines()) == 40


def test_eval_results_take_the_dataset_and_print_what_they_wrote(log, tmp_path):
    proc = run_assay(
        "export",
        "--log",
        str(log),
        "--format",
        "eval-results",
        "--out",
        str(tmp_path / "card"),
        "--dataset",
        "textqa-mini=org/textqa",
    )
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / "card" / ".eval_results" / "textqa-mini.yaml"
    assert proc.stdout == f"wrote {written}\n"
    entries = yaml.safe_load(written.read_text())
    assert entries and entries[0]["dataset"]["id"] == "org/textqa"


def test_a_log_without_samples_is_bad_input_and_writes_nothing(log, tmp_path):
    _header_only(log)
    proc = run_assay("export", "--log", str(log), "--format", "eee", "--out", str(tmp_path / "eee"), "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("assay: error: ") and "no samples" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "eee").exists()
    with pytest.raises(InputError, match="no samples"):
        export_log(log, "eval-results", tmp_path / "card")
    assert not (tmp_path / "card").exists()


def test_a_named_task_without_samples_is_not_exported(log, tmp_path):
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    header["tasks"] = ["textqa-mini", "ghost-task"]
    log.write_text(json.dumps(header) + "\n" + "".join(lines[1:]), encoding="utf-8")
    result = export_log(log, "eee", tmp_path / "eee")
    assert result.ok and len(result.files) == 1
    assert result.warnings == ["task ghost-task: no samples in the log; not exported"]
    assert not (tmp_path / "eee" / "instance_level_data" / "ghost-task.jsonl").exists()
    _header_only(log, ["ghost-task"])
    with pytest.raises(InputError):
        export_log(log, "eee", tmp_path / "eee2")


def test_the_samples_must_belong_to_a_named_task(log, tmp_path):
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    header["tasks"] = ["ghost-task"]
    log.write_text(json.dumps(header) + "\n" + "".join(lines[1:]), encoding="utf-8")
    with pytest.raises(InputError, match="no task the log names has samples"):
        export_log(log, "eee", tmp_path / "eee")
    assert not (tmp_path / "eee").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "cyclonedx"], "--log exports as eee or eval-results"),
        (["--format", "eee", "--dataset", "textqa-mini"], "expected NAME=ORG/DATASET"),
        (["--format", "eee", str(DEMO / "assay.yaml")], "either a manifest or --log"),
    ],
)
def test_bad_input_exits_2_with_one_line(log, tmp_path, args, message):
    proc = run_assay("export", "--log", str(log), "--out", str(tmp_path / "x"), *args)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_missing_log_is_bad_input(tmp_path):
    proc = run_assay("export", "--log", str(tmp_path / "nope.assay.jsonl"), "--format", "eee")
    assert proc.returncode == 2 and "no such log" in proc.stderr
