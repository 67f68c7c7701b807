"""Building blocks of re-scoring shared by every harness engine, and the generic engine itself.

* :class:`MetricValues` — per (metric, filter) of one task: the recomputed values in log order, the logged ones, the
  samples whose logged score differs, and why the metric could not be recomputed (if so);
* :func:`compare_rows` — one task's rows (reported vs recomputed aggregate and stderr) and the findings they raise
  (``no-samples``, ``unverifiable``, ``sample-score-mismatch``, ``aggregate-mismatch``, ``stderr-mismatch``);
* :func:`rescore_generic` — the engine of logs whose per-sample scores a harness hook recomputes
  (``log.recompute``) and whose aggregates are ``log.aggregate`` of them (assay's own logs, Every Eval Ever rows).

The fail-closed rules that run after every engine are in :mod:`assay.evals.rescore`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .audit import AuditAccumulator
from .registry import EngineResult, ImportedLog, Unsupported
from .results import Finding, RescoreRow, sample_ref

#: (reported value, reported stderr, reported n) per (metric, filter)
Reported = dict[tuple[str, str], tuple[float | None, float | None, int | None]]


def same_number(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return True
    return a == b or (a != a and b != b)  # NaN == NaN for this purpose


class MetricValues:
    """Per (metric, filter) of one task: recomputed values in log order, logged values, mismatching ids."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.logged: list[float] = []
        self.mismatch: list[tuple[str, Any, Any]] = []
        self.unsupported: str | None = None
        self.missing_logged = 0


def compare_rows(
    task: str,
    reported: Reported,
    accs: dict[tuple[str, str], MetricValues],
    aggregate: Callable[[str, str, list[float]], float | None],
    stderr: Callable[[str, str, list[float]], float | None] | None,
    findings: list[Finding],
) -> tuple[list[RescoreRow], dict[tuple[str, str], tuple]]:
    """Rows for one task, and {(metric, filter): (recomputed, n, recomputed stderr)}."""
    rows: list[RescoreRow] = []
    values: dict[tuple[str, str], tuple] = {}
    keys = list(reported) + [k for k in accs if k not in reported]
    for metric, filt in keys:
        acc = accs.get((metric, filt))
        rep_value, rep_se, _rep_n = reported.get((metric, filt), (None, None, None))
        if acc is None:
            if (metric, filt) in reported:
                findings.append(
                    Finding.make(
                        "error",
                        "no-samples",
                        f"{metric},{filt}: reported but no logged sample carries this metric",
                        task,
                    )
                )
            rows.append(RescoreRow(task=task, metric=metric, filter=filt, reported=rep_value, recomputed=None, n=0))
            continue
        n = len(acc.values)
        if acc.unsupported:
            findings.append(
                Finding.make(
                    "error", "unverifiable", f"{metric},{filt}: cannot be recomputed ({acc.unsupported})", task
                )
            )
            rec = None
            if acc.logged and len(acc.logged) == n + acc.missing_logged and rep_value is not None:
                logged_agg = aggregate(metric, filt, acc.logged)
                if logged_agg is not None and not same_number(rep_value, logged_agg):
                    findings.append(
                        Finding.make(
                            "error",
                            "aggregate-mismatch",
                            f"{metric},{filt}: reported "
                            f"{rep_value!r} but the logged per-sample scores aggregate to "
                            f"{logged_agg!r}",
                            task,
                        )
                    )
        else:
            rec = aggregate(metric, filt, acc.values) if acc.values else None
        se = stderr(metric, filt, acc.values) if stderr is not None and not acc.unsupported and acc.values else None
        values[(metric, filt)] = (rec, n, se)
        if acc.mismatch:
            ids = [m[0] for m in acc.mismatch]
            ex = acc.mismatch[0]
            findings.append(
                Finding.make(
                    "error",
                    "sample-score-mismatch",
                    f"{metric},{filt}: {len(ids)} sample(s) logged a score the responses do not "
                    f"give (e.g. sample {ex[0]}: logged {ex[1]!r}, recomputed {ex[2]!r})",
                    task,
                    ids,
                )
            )
        if rep_value is not None and rec is not None and not same_number(rep_value, rec):
            findings.append(
                Finding.make(
                    "error",
                    "aggregate-mismatch",
                    f"{metric},{filt}: reported {rep_value!r}, recomputed {rec!r} from {n} samples",
                    task,
                )
            )
        rows.append(RescoreRow(task=task, metric=metric, filter=filt, reported=rep_value, recomputed=rec, n=n))
        if stderr is not None and not acc.unsupported and (rep_se is not None or se is not None):
            if rep_se is not None and se is not None and not same_number(rep_se, se):
                findings.append(
                    Finding.make(
                        "error",
                        "stderr-mismatch",
                        f"{metric}_stderr,{filt}: reported {rep_se!r}, recomputed {se!r}",
                        task,
                    )
                )
            rows.append(
                RescoreRow(task=task, metric=f"{metric}_stderr", filter=filt, reported=rep_se, recomputed=se, n=n)
            )
    return rows, values


def reported_of(log: ImportedLog, task: str) -> Reported:
    """The reported aggregates of one task, by (metric, filter)."""
    return {(a.metric, a.filter): (a.value, a.stderr, a.n) for a in log.header.aggregates if a.task == task}


# --------------------------------------------------------------------------------------- generic (per-sample scores)
def rescore_generic(log: ImportedLog, audit: bool) -> EngineResult:
    """Each logged per-sample score recomputed by the log's hook (``log.recompute``: a harness's semantics, or by
    default the named scorer in ``SCORERS`` the metric names), aggregated by ``log.aggregate`` (by default a plain
    mean) and compared with the reported aggregates."""
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    for task in log.tasks():
        accs: dict[tuple[str, str], MetricValues] = defaultdict(MetricValues)
        repeats = any(s.repeat for s in log.iter_samples(task))  # then findings name (id, epoch)
        for s in log.iter_samples(task):
            for metric, logged in s.scores.items():
                a = accs[(metric, s.filter)]
                if logged is None:  # not scored under this metric (not applicable): nothing to recompute
                    continue
                try:
                    v = log.recompute(s, metric)
                except Unsupported as exc:
                    a.unsupported = str(exc)
                    a.logged.append(logged)
                    continue
                if v is None:
                    continue
                a.values.append(v)
                a.logged.append(logged)
                if logged != v:
                    a.mismatch.append((sample_ref(s.id, s.repeat, repeats), logged, v))
                if aud is not None:
                    aud.add(s, metric, v)

        def aggregate(metric: str, filt: str, values: list[float], _task: str = task) -> float | None:
            return log.aggregate(_task, metric, filt, values)

        r, _vals = compare_rows(task, reported_of(log, task), accs, aggregate, None, findings)
        rows += r
    return EngineResult(rows, findings, aud.rows() if aud else [])
