"""One assay log (``*.assay.jsonl``, e.g. a re-run's) exported task by task as Every Eval Ever or HF ``.eval_results``.

The eval-specific half of ``assay export --log`` (the audit layer's :mod:`assay.audit.exports.log_export` checks the
input and wraps the result): which tasks a log holds, which metric each export reports, and where each file goes.
The documents themselves are written by :mod:`assay.evals.exports`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .exports import eval_results_entries, write_eee, write_eval_results
from .samples import NormalisedLog

LOG_FORMATS = ("eee", "eval-results")


def log_metric(log: NormalisedLog) -> str:
    """The metric a log's exports report: the header's ``config.metric``, else the first sample's first score."""
    first = log.samples[0].scores if log.samples else {}
    return str(log.header.config.get("metric") or next(iter(first), "score"))


def export_tasks(
    log: NormalisedLog, format: str, out: Path | None, datasets: Mapping[str, str]
) -> tuple[list[Path], list[str]]:
    """Write one export per task of ``log`` that has samples; return (files written, warnings).

    ``eee``: ``<out>/`` (default ``./<task>-eee``) gets the aggregate JSON and ``instance_level_data/<task>.jsonl``.
    ``eval-results``: ``<out>/.eval_results/<task>.yaml`` (default ``out``: the working folder); the dataset id is
    ``datasets[task]``, else the task name.  A task the header names but no sample belongs to is not exported (an
    aggregate over nothing would be a score without evidence): it is named in the warnings.
    """
    metric = log_metric(log)
    with_samples = {s.task for s in log.samples}
    written: list[Path] = []
    warnings: list[str] = []
    for task in log.header.tasks or sorted(with_samples):
        if task not in with_samples:
            warnings.append(f"task {task}: no samples in the log; not exported")
            continue
        if format == "eee":
            written.append(write_eee(log, out or Path(f"{task}-eee"), task=task, metric=metric))
        else:
            entries = eval_results_entries(log, task=task, metric=metric, dataset_id=datasets.get(task, task))
            written.append(write_eval_results(entries, (out or Path(".")) / ".eval_results", task))
    return written, warnings
