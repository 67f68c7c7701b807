"""``assay export --log LOG``: an assay eval log (e.g. a re-run's) as Every Eval Ever or HF ``.eval_results`` files.

Checks the input (format, file, samples), hands the log to :func:`assay.evals.log_export.export_tasks` and returns
a typed :class:`LogExportResult`.  A log with no samples is bad input (exit 2), never an empty "ok" export.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field

from ...manifests.errors import InputError


class LogExportResult(BaseModel):
    ok: bool
    format: str
    files: list[str] = Field(default_factory=list, description="Files written: EEE aggregates or .eval_results YAML.")
    warnings: list[str] = Field(default_factory=list, description="Tasks not exported, and why.")


def export_log(
    log: str | Path, format: str, out: str | Path | None = None, datasets: Mapping[str, str] | None = None
) -> LogExportResult:
    """Export every task of the assay log ``log`` with samples in ``format`` (``eee`` or ``eval-results``)."""
    from ...evals.log_export import LOG_FORMATS, export_tasks
    from ...evals.samples import read_log

    if format not in LOG_FORMATS:
        raise InputError(f"--log exports as {' or '.join(LOG_FORMATS)}, not {format!r}")
    log = Path(log)
    if not log.is_file():
        raise InputError(f"{log}: no such log")
    normalised = read_log(log)
    if not normalised.samples:
        raise InputError(f"{log}: the log has no samples; nothing to export")
    written, warnings = export_tasks(normalised, format, Path(out) if out is not None else None, datasets or {})
    if not written:
        raise InputError(f"{log}: no task the log names has samples ({'; '.join(warnings)}); nothing exported")
    return LogExportResult(ok=True, format=format, files=[str(p) for p in written], warnings=warnings)
