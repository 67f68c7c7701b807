"""Re-score logs without the model: recompute every per-sample score from the logged responses and targets with
the harness's own semantics, re-aggregate, and compare with what the harness reported.

``rescore_log(path, format="auto")`` → one :class:`LogRescore` per run found; ``rescore_path`` also lists the files
of a (mixed) folder that were skipped; ``rescore_imported(log)`` for an already-imported log.  Each row is (task,
metric, filter, reported, recomputed, n); findings name the samples whose logged score, answer or hash differs from
the recomputation (with the epoch, when there are several).  Any ``error`` finding makes ``ok`` false.

The recomputation is the log's harness's engine (:meth:`assay.evals.registry.Harness.rescore`, one per module in
:mod:`assay.evals.harnesses`).  The rules here are generic and fail closed, for every format: a reported metric not
recomputed from at least one logged sample is a ``not-recomputed`` error, a log with nothing reported and nothing
recomputed is ``unscored``; the verdict is ``pass`` only without errors, ``not-checked`` when nothing differs but
something could not be recomputed, else ``fail`` (the deciding finding's code and message are kept beside it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from ..manifests.errors import InputError
from .engine import rescore_generic
from .harnesses import load_logs, scan_logs
from .registry import HARNESSES, ImportedLog
from .results import Finding, FolderRescore, LogRescore, RescoreRow, Verdict


def rescore_log(path: str | Path, format: str = "auto", *, audit: bool = True) -> list[LogRescore]:
    return [rescore_imported(log, audit=audit) for log in load_logs(path, format)]


def rescore_path(path: str | Path, format: str = "auto", *, audit: bool = True) -> FolderRescore:
    """Every log at ``path``; with ``format="auto"`` on a folder, every format found there (a mixed folder), and
    the files that were not re-scored, each with its reason.  A file that looked like a log but could not be read
    is a non-pass (``ok`` false): a log that was not re-scored never counts as re-scoring."""
    logs, skipped = scan_logs(path, format)
    if not logs:
        bad = [s for s in skipped if s.format]
        raise InputError(bad[0].reason if bad else f"{path}: no evaluation log of a known format here")
    results = [rescore_imported(log, audit=audit) for log in logs]
    ok = bool(results) and all(r.ok for r in results) and not any(s.format for s in skipped)
    return FolderRescore(path=str(path), ok=ok, logs=results, skipped=skipped)


def rescore_imported(log: ImportedLog, *, audit: bool = True) -> LogRescore:
    """One imported log re-scored by its harness's engine (the generic engine for a format no harness claims),
    then the generic fail-closed rules and the verdict."""
    harness = HARNESSES.get(log.format)
    res = harness.rescore(log, audit) if harness is not None else rescore_generic(log, audit)
    rows = res.rows
    findings = list(log.findings) + res.findings
    findings += _fail_closed(log, rows, findings)
    d = decide(findings)
    return LogRescore(
        path=str(log.path),
        format=log.format,
        ok=d.ok,
        verdict=d.verdict,
        code=d.code,
        reason=d.reason,
        rows=rows,
        findings=findings,
        audit=res.audit,
    )


# ------------------------------------------------------------------------------------------------- fail closed
# error codes that say "could not be checked" rather than "differs": with only these, the verdict is not-checked
NOT_CHECKED_CODES = frozenset({"not-recomputed", "unscored", "unverifiable", "no-samples"})


class Decision(NamedTuple):
    ok: bool
    verdict: Verdict
    reason: str | None
    code: str | None  # the deciding finding's code


def decide(findings: list[Finding]) -> Decision:
    """(ok, verdict, reason, code): pass only without error findings; fail when an error says something differs or
    the run failed; not-checked when every error says something could not be recomputed."""
    errors = [f for f in findings if f.severity == "error"]
    if not errors:
        return Decision(True, "pass", None, None)
    hard = [f for f in errors if f.code not in NOT_CHECKED_CODES]
    first = (hard or errors)[0]
    reason = f"[{first.code}] " + (f"{first.where}: " if first.where else "") + first.message
    return Decision(False, "fail" if hard else "not-checked", reason, first.code)


def _base_names(metric: str) -> set[str]:
    """The per-sample score names a reported metric can rest on: ``acc`` / ``acc_stderr`` -> acc, ``match/accuracy``
    / ``match[mode]/accuracy`` -> match."""
    head = metric.split("/")[0]
    out = {metric, head, head.split("[")[0]}
    out |= {n[: -len("_stderr")] for n in list(out) if n.endswith("_stderr")}
    return out


class _TaskEvidence:
    """What the logged samples of one task hold: how many, how many errored, which scores they carry."""

    def __init__(self, log: ImportedLog, task: str) -> None:
        self.n = 0
        self.errored = 0
        self.scored: set[str] = set()
        for s in log.iter_samples(task):
            self.n += 1
            if (s.meta or {}).get("error"):
                self.errored += 1
            self.scored |= {k for k, v in s.scores.items() if v is not None}
            labels: Any = (s.meta or {}).get("labels") or {}  # Eureka: {<Metric>_result: label}
            self.scored |= set(labels)

    def why(self, metric: str, task: str, findings: list[Finding]) -> str:
        if self.n == 0:
            return "no samples are logged"
        if self.errored == self.n:
            return f"all {self.n} logged sample(s) errored"
        if not self.scored:
            return f"none of the {self.n} logged sample(s) carries a score"
        if not (_base_names(metric) & self.scored):
            return "the metric is not produced by any logged sample"
        scorer = next(
            (
                f.message
                for f in findings
                if f.code == "unverifiable"
                and f.where in (task, None)
                and any(b and f.message.startswith(b) for b in _base_names(metric))
            ),
            None,
        )
        scorer = scorer or next(
            (f.message for f in findings if f.code == "unverifiable" and f.where in (task, None)), None
        )
        return f"the scorer is not recomputable: {scorer}" if scorer else "the scorer is not recomputable"


def _fail_closed(log: ImportedLog, rows: list[RescoreRow], findings: list[Finding]) -> list[Finding]:
    """Every format: a reported metric that was not recomputed from at least one logged sample is a named
    non-pass (``not-recomputed``, with the reason); a log that reports nothing and whose samples carry no score is
    ``unscored``."""
    out: list[Finding] = []
    evidence: dict[str, _TaskEvidence] = {}

    def ev(task: str) -> _TaskEvidence:
        if task not in evidence:
            evidence[task] = _TaskEvidence(log, task)
        return evidence[task]

    for r in rows:
        if r.reported is None or (r.recomputed is not None and r.n > 0):
            continue
        out.append(
            Finding.make(
                "error",
                "not-recomputed",
                f"{r.metric},{r.filter}: reported {r.reported!r} but not "
                f"recomputed from any logged sample ({ev(r.task).why(r.metric, r.task, findings)})",
                r.task,
            )
        )
    reported_any = any(a.value is not None for a in log.header.aggregates)
    recomputed_any = any(r.recomputed is not None and r.n > 0 for r in rows)
    if not reported_any and not recomputed_any:
        tasks: list[str | None] = [*log.tasks()] or [None]
        parts = []
        for t in tasks:
            e = ev(t) if t is not None else None
            if e is None or e.n == 0:
                parts.append(f"{t}: no samples" if t else "no tasks or samples")
            elif e.errored == e.n:
                parts.append(f"{t}: all {e.n} sample(s) errored")
            elif not e.scored:
                parts.append(f"{t}: {e.n} sample(s), none scored")
            else:
                parts.append(f"{t}: {e.n} sample(s) with scores that could not be recomputed")
        out.append(
            Finding.make(
                "error",
                "unscored",
                f"the log reports no metric and nothing was recomputed from its samples ({'; '.join(parts)})",
            )
        )
    return out


def rows_json(results: Iterable[LogRescore]) -> list[dict[str, Any]]:
    """The ``assay rescore --log --json`` document: a list of {task, metric, filter, reported, recomputed, n}
    (non-finite numbers become null, so the document is strict JSON)."""
    import math

    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return [{k: clean(v) for k, v in row.model_dump().items()} for res in results for row in res.rows]
