"""Re-score logs without the model: recompute every per-sample score from the logged responses and targets with
the harness's own semantics, re-aggregate, and compare with what the harness reported.

``rescore_log(path, format="auto")`` → one :class:`LogRescore` per run found; ``rescore_path`` also lists the files
of a (mixed) folder that were skipped; ``rescore_imported(log)`` for an already-imported log.  Each row is (task,
metric, filter, reported, recomputed, n); findings name the samples whose logged score, answer or hash differs from
the recomputation (with the epoch, when there are several).  Any ``error`` finding makes ``ok`` false.  Fail
closed, for every format: a reported metric not recomputed from at least one logged sample is a ``not-recomputed``
error, a log with nothing reported and nothing recomputed is ``unscored``; the verdict is ``pass`` only without
errors, ``unverifiable`` when nothing differs but something could not be recomputed, else ``fail``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

from .audit import AuditAccumulator
from .importers import ImportedLog, load_logs
from .metrics import (INSPECT_METRICS, inspect_reduce, lm_aggregate, lm_aggregate_subtasks, lm_bootstrap_stderr,
                      lm_group_v040, lm_mean_stderr, lm_pooled_stderr, lm_unweighted_mean_stderr, plain_mean)
from .results import Finding, FolderRescore, LogRescore, RescoreRow, Verdict, sample_ref
from .scorers import SCORERS, Unsupported, inspect_score, inspect_value_to_float, lm_eval_metric_list, lm_eval_score


def rescore_log(path: str | Path, format: str = "auto", *, audit: bool = True) -> list[LogRescore]:
    return [rescore_imported(log, audit=audit) for log in load_logs(path, format)]


def rescore_path(path: str | Path, format: str = "auto", *, audit: bool = True) -> FolderRescore:
    """Every log at ``path``; with ``format="auto"`` on a folder, every format found there (a mixed folder), and
    the files that were not re-scored, each with its reason.  A file that looked like a log but could not be read
    is a non-pass (``ok`` false): a log that was not re-scored never counts as re-scoring."""
    from ..manifests.errors import InputError
    from .importers import scan_logs

    logs, skipped = scan_logs(path, format)
    if not logs:
        bad = [s for s in skipped if s.format]
        raise InputError(bad[0].reason if bad else f"{path}: no evaluation log of a known format here")
    results = [rescore_imported(log, audit=audit) for log in logs]
    ok = bool(results) and all(r.ok for r in results) and not any(s.format for s in skipped)
    return FolderRescore(path=str(path), ok=ok, logs=results, skipped=skipped)


def rescore_imported(log: ImportedLog, *, audit: bool = True) -> LogRescore:
    engine = _ENGINES.get(log.format, _generic)
    rows, findings, aud = engine(log, audit)
    findings = list(log.findings) + findings
    findings += _fail_closed(log, rows, findings)
    ok, verdict, reason = decide(findings)
    return LogRescore(path=str(log.path), format=log.format, ok=ok, verdict=verdict, reason=reason, rows=rows,
                      findings=findings, audit=aud.rows() if aud else [])


# ------------------------------------------------------------------------------------------------- fail closed
# error codes that say "could not be checked" rather than "differs": with only these, the verdict is unverifiable
UNVERIFIABLE_CODES = frozenset({"not-recomputed", "unscored", "unverifiable", "no-samples"})


def decide(findings: list[Finding]) -> tuple[bool, Verdict, str | None]:
    """(ok, verdict, reason): pass only without error findings; fail when an error says something differs or the
    run failed; unverifiable when every error says something could not be recomputed."""
    errors = [f for f in findings if f.severity == "error"]
    if not errors:
        return True, "pass", None
    hard = [f for f in errors if f.code not in UNVERIFIABLE_CODES]
    first = (hard or errors)[0]
    return False, ("fail" if hard else "unverifiable"), f"[{first.code}] " + (f"{first.task}: " if first.task else
                                                                              "") + first.message


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
            self.scored |= set((s.meta or {}).get("labels") or {})

    def why(self, metric: str, task: str, findings: list[Finding]) -> str:
        if self.n == 0:
            return "no samples are logged"
        if self.errored == self.n:
            return f"all {self.n} logged sample(s) errored"
        if not self.scored:
            return f"none of the {self.n} logged sample(s) carries a score"
        if not (_base_names(metric) & self.scored):
            return "the metric is not produced by any logged sample"
        scorer = next((f.message for f in findings if f.code == "unverifiable" and f.task in (task, None)
                       and any(b and f.message.startswith(b) for b in _base_names(metric))), None)
        scorer = scorer or next((f.message for f in findings if f.code == "unverifiable" and f.task in (task, None)),
                                None)
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
        out.append(Finding.make("error", "not-recomputed", f"{r.metric},{r.filter}: reported {r.reported!r} but not "
                                f"recomputed from any logged sample ({ev(r.task).why(r.metric, r.task, findings)})",
                                r.task))
    reported_any = any(a.value is not None for a in log.header.aggregates)
    recomputed_any = any(r.recomputed is not None and r.n > 0 for r in rows)
    if not reported_any and not recomputed_any:
        tasks = log.tasks() or [None]
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
        out.append(Finding.make("error", "unscored", "the log reports no metric and nothing was recomputed from its "
                                f"samples ({'; '.join(parts)})"))
    return out


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return True
    return a == b or (a != a and b != b)  # NaN == NaN for this purpose


class _Acc:
    """Per (metric, filter) of one task: recomputed values in log order, logged values, mismatching ids."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.logged: list[float] = []
        self.mismatch: list[tuple[str, Any, Any]] = []
        self.unsupported: str | None = None
        self.missing_logged = 0


def _compare_rows(task: str, reported: dict[tuple[str, str], tuple[float | None, float | None, int | None]],
                  accs: dict[tuple[str, str], _Acc], aggregate: Callable[[str, str, list[float]], float | None],
                  stderr: Callable[[str, str, list[float]], float | None] | None,
                  findings: list[Finding]) -> tuple[list[RescoreRow], dict[tuple[str, str], tuple]]:
    """Rows for one task, and {(metric, filter): (recomputed, n, recomputed stderr)}."""
    rows: list[RescoreRow] = []
    values: dict[tuple[str, str], tuple] = {}
    keys = list(reported) + [k for k in accs if k not in reported]
    for metric, filt in keys:
        acc = accs.get((metric, filt))
        rep_value, rep_se, _rep_n = reported.get((metric, filt), (None, None, None))
        if acc is None:
            if (metric, filt) in reported:
                findings.append(Finding.make("error", "no-samples", f"{metric},{filt}: reported but no logged "
                                             "sample carries this metric", task))
            rows.append(RescoreRow(task=task, metric=metric, filter=filt, reported=rep_value, recomputed=None, n=0))
            continue
        n = len(acc.values)
        if acc.unsupported:
            findings.append(Finding.make("error", "unverifiable", f"{metric},{filt}: cannot be recomputed "
                                         f"({acc.unsupported})", task))
            rec = None
            if acc.logged and len(acc.logged) == n + acc.missing_logged and rep_value is not None:
                logged_agg = aggregate(metric, filt, acc.logged)
                if logged_agg is not None and not _same(rep_value, logged_agg):
                    findings.append(Finding.make("error", "aggregate-mismatch", f"{metric},{filt}: reported "
                                                 f"{rep_value!r} but the logged per-sample scores aggregate to "
                                                 f"{logged_agg!r}", task))
        else:
            rec = aggregate(metric, filt, acc.values) if acc.values else None
        se = stderr(metric, filt, acc.values) if stderr is not None and not acc.unsupported and acc.values else None
        values[(metric, filt)] = (rec, n, se)
        if acc.mismatch:
            ids = [m[0] for m in acc.mismatch]
            ex = acc.mismatch[0]
            findings.append(Finding.make("error", "sample-score-mismatch",
                                         f"{metric},{filt}: {len(ids)} sample(s) logged a score the responses do not "
                                         f"give (e.g. sample {ex[0]}: logged {ex[1]!r}, recomputed {ex[2]!r})",
                                         task, ids))
        if rep_value is not None and rec is not None and not _same(rep_value, rec):
            findings.append(Finding.make("error", "aggregate-mismatch", f"{metric},{filt}: reported {rep_value!r}, "
                                         f"recomputed {rec!r} from {n} samples", task))
        rows.append(RescoreRow(task=task, metric=metric, filter=filt, reported=rep_value, recomputed=rec, n=n))
        if stderr is not None and not acc.unsupported:
            if rep_se is not None or se is not None:
                if rep_se is not None and se is not None and not _same(rep_se, se):
                    findings.append(Finding.make("error", "stderr-mismatch", f"{metric}_stderr,{filt}: reported "
                                                 f"{rep_se!r}, recomputed {se!r}", task))
                rows.append(RescoreRow(task=task, metric=f"{metric}_stderr", filter=filt, reported=rep_se,
                                       recomputed=se, n=n))
    return rows, values


def _reported(log: ImportedLog, task: str) -> dict[tuple[str, str], tuple[float | None, float | None, int | None]]:
    return {(a.metric, a.filter): (a.value, a.stderr, a.n) for a in log.header.aggregates if a.task == task}


# --------------------------------------------------------------------------------------------------------- lm-eval
def _lm_eval(log: Any, audit: bool) -> tuple[list[RescoreRow], list[Finding], AuditAccumulator | None]:
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    task_values: dict[str, dict[tuple[str, str], tuple]] = {}
    groups = set(log.group_members())  # ≤ 0.4.9 lists every plain task as {task: []}: not a group
    for task in log.tasks():
        if task in groups and task not in log.sample_files:
            continue
        cfg = log.task_config(task)
        try:
            aggs = {name: agg for name, _kw, agg in lm_eval_metric_list(cfg)}
        except Unsupported as exc:
            aggs = {}
            findings.append(Finding.make("error", "unverifiable", str(exc), task))
        accs: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
        answer_mismatch: dict[str, list[str]] = defaultdict(list)
        for s in log.iter_samples(task):
            names = list(s.scores) + list(((s.meta or {}).get("metric_values") or {}).keys())
            try:
                rec, answer = lm_eval_score(s, cfg, names)
            except Unsupported as exc:
                for m in names:
                    a = accs[(m, s.filter)]
                    a.unsupported = str(exc)
                    if s.scores.get(m) is not None:
                        a.logged.append(s.scores[m])  # type: ignore[arg-type]
                    else:
                        a.missing_logged += 1
                continue
            if (s.meta or {}).get("output_type") == "generate_until" and answer != s.answer:
                answer_mismatch[s.filter].append(s.id)
            for m in names:
                a = accs[(m, s.filter)]
                v = rec.get(m)
                logged = s.scores.get(m)
                if v is None:
                    a.unsupported = a.unsupported or f"metric {m}"
                    continue
                a.values.append(v)
                if logged is not None:
                    a.logged.append(logged)
                if logged != v:
                    a.mismatch.append((s.id, logged, v))
                if aud is not None and (s.meta or {}).get("output_type") == "generate_until":
                    aud.add(s, m, v)
        for filt, ids in answer_mismatch.items():
            findings.append(Finding.make("error", "answer-mismatch", f"filter {filt}: {len(ids)} logged filtered "
                                         "response(s) differ from re-applying the filter to the raw response",
                                         task, ids))

        def aggregate(metric: str, _f: str, values: list[float], _aggs: dict = aggs) -> float | None:
            return lm_aggregate(_aggs.get(metric, "mean"), values)

        def stderr(metric: str, _f: str, values: list[float], _aggs: dict = aggs) -> float | None:
            iters = (log.results.get("config") or {}).get("bootstrap_iters", 100000)
            if not isinstance(iters, int) or iters <= 0:
                return None
            if _aggs.get(metric, "mean") != "mean":  # lm-eval bootstraps these; None where not ported
                return lm_bootstrap_stderr(_aggs[metric], values, iters)
            return lm_mean_stderr(values)

        r, vals = _compare_rows(task, _reported(log, task), accs, aggregate, stderr, findings)
        rows += r
        task_values[task] = vals
    rows += _lm_eval_groups(log, task_values, findings)
    return rows, findings, aud


def _leaves(group: str, subtasks: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for t in subtasks.get(group, []):
        if t in subtasks:
            sub = _leaves(t, subtasks)
            if not sub:  # a subgroup whose subtasks are not named: the group cannot be recomputed
                return []
            out += sub
        else:
            out.append(t)
    return out


def _legacy_group(group: str, key: tuple[str, str], subtasks: dict[str, list[str]],
                  task_values: dict) -> tuple[float, int, float | None] | None:
    """(value, size, stderr) of a group as lm-eval 0.4.0 computed it; None when a member's value is missing."""
    parts = []
    for t in subtasks.get(group, []):
        p = _legacy_group(t, key, subtasks, task_values) if t in subtasks else task_values.get(t, {}).get(key)
        if p is None or p[0] is None:
            return None
        parts.append((p[0], p[1], p[2]))
    if not parts:
        return None
    value, se = lm_group_v040(parts)
    return value, sum(p[1] for p in parts), se


def _lm_eval_groups(log: Any, task_values: dict, findings: list[Finding]) -> list[RescoreRow]:
    rows = []
    subtasks = log.group_members()
    for group in subtasks:
        leaves = _leaves(group, subtasks)
        for agg in log.header.aggregates:
            if agg.task != group:
                continue
            key = (agg.metric, agg.filter)
            parts = [task_values.get(t, {}).get(key) for t in leaves]
            legacy = _legacy_group(group, key, subtasks, task_values) if getattr(log, "legacy_groups", False) \
                else None
            if not leaves or any(p is None or p[0] is None for p in parts) or (
                    getattr(log, "legacy_groups", False) and legacy is None):
                findings.append(Finding.make("error", "unverifiable", f"{agg.metric},{agg.filter}: a subtask "
                                             "value is missing, the group score cannot be recomputed", group))
                rows.append(RescoreRow(task=group, metric=agg.metric, filter=agg.filter, reported=agg.value,
                                       recomputed=None, n=0))
                if agg.stderr is not None:
                    rows.append(RescoreRow(task=group, metric=f"{agg.metric}_stderr", filter=agg.filter,
                                           reported=agg.stderr, recomputed=None, n=0))
                continue
            if legacy is not None:  # lm-eval 0.4.0: running mean over the direct subtasks in order
                rec, n, se = legacy
                if agg.value is not None and not _same(agg.value, rec):
                    findings.append(Finding.make("error", "aggregate-mismatch", f"{agg.metric},{agg.filter}: "
                                                 f"reported {agg.value!r}, recomputed {rec!r} (lm-eval 0.4.0 running "
                                                 f"mean of {', '.join(subtasks[group])})", group))
                rows.append(RescoreRow(task=group, metric=agg.metric, filter=agg.filter, reported=agg.value,
                                       recomputed=rec, n=n))
                if agg.stderr is not None:
                    if se is not None and not _same(agg.stderr, se):
                        findings.append(Finding.make("error", "stderr-mismatch", f"{agg.metric}_stderr,{agg.filter}: "
                                                     f"reported {agg.stderr!r}, recomputed {se!r}", group))
                    rows.append(RescoreRow(task=group, metric=f"{agg.metric}_stderr", filter=agg.filter,
                                           reported=agg.stderr, recomputed=se, n=n))
                continue
            vals = [p[0] for p in parts]
            sizes = [p[1] for p in parts]
            weighted = lm_aggregate_subtasks(vals, sizes, True)
            plain = lm_aggregate_subtasks(vals, sizes, False)
            unweighted = _same(agg.value, plain) and not _same(agg.value, weighted)
            rec, weight = (plain, False) if unweighted else (weighted, True)
            if agg.value is not None and not _same(agg.value, rec):
                findings.append(Finding.make("error", "aggregate-mismatch", f"{agg.metric},{agg.filter}: reported "
                                             f"{agg.value!r}, recomputed {rec!r} (size-weighted mean of "
                                             f"{', '.join(leaves)})", group))
            n = sum(sizes)
            rows.append(RescoreRow(task=group, metric=agg.metric, filter=agg.filter, reported=agg.value,
                                   recomputed=rec, n=n))
            ses = [p[2] for p in parts]
            if agg.stderr is not None:
                se = None
                if all(s is not None for s in ses):
                    se = lm_pooled_stderr(ses, sizes) if weight else lm_unweighted_mean_stderr(ses)
                if se is not None and not _same(agg.stderr, se):
                    findings.append(Finding.make("error", "stderr-mismatch", f"{agg.metric}_stderr,{agg.filter}: "
                                                 f"reported {agg.stderr!r}, recomputed {se!r}", group))
                rows.append(RescoreRow(task=group, metric=f"{agg.metric}_stderr", filter=agg.filter,
                                       reported=agg.stderr, recomputed=se, n=n))
    return rows


# --------------------------------------------------------------------------------------------------------- Inspect
def _same_value(a: Any, b: Any) -> bool:
    """Logged and recomputed Score values agree (1 and 1.0 are the same value; "N" and "I" are not)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def _strict_choice_format(s: Any) -> float:
    from .inspect_choice import strict_choice_answer

    return strict_choice_answer(s.output or "", s.target, len(s.choices or []))


_choice_format = ("choice-format", _strict_choice_format)


def _inspect_reductions(log: Any, task: str, name: str, reducer: str, reduced: dict[str, Any]) -> list[Finding]:
    """The log's own per-sample reductions (``reductions``: one value per sample and reducer) against the
    recomputed ones; a sample the log reduced differently is a ``reduction-mismatch``."""
    bad: list[tuple[str, Any, Any]] = []
    for entry in log.data.get("reductions") or []:
        if str(entry.get("scorer")) != name or (entry.get("reducer") or "mean") != reducer:
            continue
        for smp in entry.get("samples") or []:
            sid = str(smp.get("sample_id"))
            if sid not in reduced:
                continue
            mine, theirs = inspect_value_to_float(reduced[sid]), inspect_value_to_float(smp.get("value"))
            if not (mine == theirs or (math.isnan(mine) and math.isnan(theirs))):
                bad.append((sid, smp.get("value"), reduced[sid]))
    if not bad:
        return []
    ex = bad[0]
    return [Finding.make("error", "reduction-mismatch", f"{name}[{reducer}]: {len(bad)} sample(s) whose logged "
                         f"reduction over the epochs differs from the recomputed one (e.g. sample {ex[0]}: logged "
                         f"{ex[1]!r}, recomputed {ex[2]!r})", task, [b[0] for b in bad])]


def _inspect(log: Any, audit: bool) -> tuple[list[RescoreRow], list[Finding], AuditAccumulator | None]:
    """Per sample and epoch: the Score value recomputed from the output (choice() re-parses the answer as the
    log's Inspect release did); per sample: the epochs reduced by each reported reducer; per reported score:
    Inspect's metrics over the reduced values."""
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    score_defs: dict[str, tuple[str, dict]] = log.scorer_defs()  # score key -> (scorer function, options)
    score_keys: dict[str, tuple[str, str]] = dict(log.score_keys)  # score key -> (score name, reducer)
    by_name = {name: score_defs[key] for key, (name, _r) in score_keys.items()}
    default_reducer = ((log.data.get("eval") or {}).get("config") or {}).get("epochs_reducer") or ["mean"]
    for task in log.tasks():
        # score name -> sample id -> [(epoch, value)]: recomputed and logged Score values
        recomputed: dict[str, dict[str, list[tuple[int, Any]]]] = defaultdict(lambda: defaultdict(list))
        logged: dict[str, dict[str, list[tuple[int, Any]]]] = defaultdict(lambda: defaultdict(list))
        mismatch: dict[str, list[tuple[str, Any, Any]]] = defaultdict(list)
        answer_mismatch: dict[str, list[tuple[str, Any, Any]]] = defaultdict(list)
        unsupported: dict[str, str] = {}
        for s in log.iter_samples(task):
            label = log.label(s.id, s.repeat + 1)
            values = (s.meta or {}).get("score_values") or {}
            answers = (s.meta or {}).get("answers") or {}
            for name in s.scores:
                raw_logged = values.get(name)
                logged[name][s.id].append((s.repeat, raw_logged))
                if name in unsupported:
                    continue
                scorer, options = by_name.get(name, (name, {}))
                try:
                    value, answer = inspect_score(scorer, options, s.output or "", s.target, choices=s.choices,
                                                  context=log.choice_context)
                except Unsupported as exc:
                    unsupported[name] = str(exc)
                    continue
                recomputed[name][s.id].append((s.repeat, value))
                if not _same_value(raw_logged, value):
                    mismatch[name].append((label, raw_logged, value))
                elif scorer == "choice" and answers.get(name) != answer:
                    answer_mismatch[name].append((label, answers.get(name), answer))
                if aud is not None:
                    aud.add(s, name, inspect_value_to_float(value), _choice_format if scorer == "choice" else None,
                            label)
        for name, mm in mismatch.items():
            ex = mm[0]
            findings.append(Finding.make("error", "sample-score-mismatch", f"{name}: {len(mm)} sample(s) logged a "
                                         f"score the output does not give (e.g. sample {ex[0]}: logged {ex[1]!r}, "
                                         f"recomputed {ex[2]!r})", task, [m[0] for m in mm]))
        for name, mm in answer_mismatch.items():
            ex = mm[0]
            findings.append(Finding.make("error", "answer-mismatch", f"{name}: {len(mm)} sample(s) logged an answer "
                                         f"the output does not give (e.g. sample {ex[0]}: logged {ex[1]!r}, parsed "
                                         f"{ex[2]!r})", task, [m[0] for m in mm]))
        for name, why in unsupported.items():
            findings.append(Finding.make("error", "unverifiable", f"{name}: {why}", task))
        reported = _reported(log, task)
        rep_by_key: dict[str, dict[str, float | None]] = defaultdict(dict)
        for (m, _f), (val, _se, _n) in reported.items():
            key, _, metric = m.partition("/")
            rep_by_key[key][metric] = val
        keys = dict(score_keys)
        for name in list(recomputed) + list(unsupported):  # scored but not reported (e.g. a cancelled run)
            if not any(n == name for n, _r in keys.values()):
                keys[name] = (name, str(default_reducer[0]))
        for key, (name, reducer) in keys.items():
            metrics = rep_by_key.get(key) or {"accuracy": None, "stderr": None}
            reduced: list[float] | None = None
            why = unsupported.get(name)
            if why is None:
                try:
                    red = {sid: inspect_reduce(reducer, [v for _e, v in sorted(vals, key=lambda x: x[0])],
                                               inspect_value_to_float)
                           for sid, vals in recomputed.get(name, {}).items()}
                    reduced = [f for f in (inspect_value_to_float(r) for r in red.values())
                               if not math.isnan(f)]  # unscored samples are not in the metrics
                    findings += _inspect_reductions(log, task, name, reducer, red)
                except KeyError:
                    why = f"epoch reducer {reducer!r} is not ported"
                    findings.append(Finding.make("error", "unverifiable", f"{key}: {why}", task))
            for metric, rep in metrics.items():
                fn = INSPECT_METRICS.get(metric)
                rec = fn(reduced) if fn is not None and reduced else None
                if fn is None:
                    findings.append(Finding.make("error", "unverifiable", f"{key}/{metric}: metric not implemented",
                                                 task))
                if rep is not None and rec is not None and not _same(rep, rec):
                    findings.append(Finding.make("error", "aggregate-mismatch", f"{key}/{metric}: reported {rep!r}, "
                                                 f"recomputed {rec!r} from {len(reduced or [])} samples", task))
                if why is not None and rep is not None and metric in ("accuracy", "mean") and logged.get(name):
                    try:
                        lg = [inspect_value_to_float(inspect_reduce(reducer, [v for _e, v in
                                                                              sorted(vals, key=lambda x: x[0])],
                                                                    inspect_value_to_float))
                              for vals in logged[name].values()]
                    except (KeyError, TypeError):
                        lg = []
                    if lg and not _same(rep, INSPECT_METRICS[metric](lg)):
                        findings.append(Finding.make("error", "aggregate-mismatch", f"{key}/{metric}: reported "
                                                     f"{rep!r} but the logged per-sample scores give "
                                                     f"{INSPECT_METRICS[metric](lg)!r}", task))
                rows.append(RescoreRow(task=task, metric=f"{key}/{metric}", filter="none", reported=rep,
                                       recomputed=rec, n=len(reduced or [])))
    return rows, findings, aud


# --------------------------------------------------------------------------------------- generic (per-sample scores)
def _generic(log: ImportedLog, audit: bool) -> tuple[list[RescoreRow], list[Finding], AuditAccumulator | None]:
    """Logs whose per-sample scores name an assay scorer (``SCORERS``) or carry a harness-specific recompute hook
    (``log.recompute(sample, metric)``), aggregated by a plain mean (or ``log.aggregate``)."""
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    recompute = getattr(log, "recompute", None)
    aggregate_fn = getattr(log, "aggregate", None)
    for task in log.tasks():
        accs: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
        repeats = any(s.repeat for s in log.iter_samples(task))  # then findings name (id, epoch)
        for s in log.iter_samples(task):
            for metric, logged in s.scores.items():
                a = accs[(metric, s.filter)]
                if logged is None:  # not scored under this metric (not applicable): nothing to recompute
                    continue
                try:
                    if recompute is not None:
                        v = recompute(s, metric)
                    elif metric in SCORERS:
                        v = SCORERS[metric](s)
                    else:
                        raise Unsupported(f"no scorer named {metric!r}")
                except Unsupported as exc:
                    a.unsupported = str(exc)
                    if logged is not None:
                        a.logged.append(logged)
                    else:
                        a.missing_logged += 1
                    continue
                if v is None:
                    continue
                a.values.append(v)
                if logged is not None:
                    a.logged.append(logged)
                if logged is not None and logged != v:
                    a.mismatch.append((sample_ref(s.id, s.repeat, repeats), logged, v))
                if aud is not None:
                    aud.add(s, metric, v)

        def aggregate(metric: str, filt: str, values: list[float], _task: str = task) -> float | None:
            if aggregate_fn is not None:
                return aggregate_fn(_task, metric, filt, values)
            return plain_mean(values)

        r, _vals = _compare_rows(task, _reported(log, task), accs, aggregate, None, findings)
        rows += r
    return rows, findings, aud


# ------------------------------------------------------------------------------------------------------ VLMEvalKit
_MMB_ABBRS = {"coarse_perception": "CP", "finegrained_perception (instance-level)": "FP-S",
              "finegrained_perception (cross-instance)": "FP-C", "logic_reasoning": "LR",
              "relation_reasoning": "RR", "attribute_reasoning": "AR"}


def _vlmevalkit(log: Any, audit: bool) -> tuple[list[RescoreRow], list[Finding], AuditAccumulator | None]:
    """report_acc semantics: per split, Overall = mean(hit); per category / l2-category, mean(hit) of its rows."""
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    for task in log.tasks():
        groups: dict[tuple[str, str], list[float]] = defaultdict(list)
        mismatch: list[tuple[str, Any, Any]] = []
        unsupported = None
        n_rows = 0
        for s in log.iter_samples(task):
            n_rows += 1
            metric = next(iter(s.scores), "hit")
            logged = s.scores.get(metric)
            try:
                v = log.recompute(s, metric)
            except Unsupported as exc:
                unsupported = str(exc)
                v = logged
            if v is None:
                continue
            if unsupported is None and logged is not None and logged != v:
                mismatch.append((s.id, logged, v))
            groups[("Overall", s.filter)].append(v)
            for col in ("category", "l2-category"):
                cat = (s.meta or {}).get(col)
                if isinstance(cat, str) and cat:
                    groups[(_MMB_ABBRS.get(cat, cat), s.filter)].append(v)
            if aud is not None:
                aud.add(s, "hit", v)
        if unsupported:
            findings.append(Finding.make("error", "unverifiable", f"hit: {unsupported}; aggregates use the logged "
                                         "per-sample hits", task))
        if mismatch:
            ex = mismatch[0]
            findings.append(Finding.make("error", "sample-score-mismatch", f"hit: {len(mismatch)} row(s) logged a hit "
                                         f"the prediction does not give (e.g. index {ex[0]}: logged {ex[1]!r}, "
                                         f"recomputed {ex[2]!r})", task, [m[0] for m in mismatch]))
        judged = sorted(set(getattr(log, "_judged", [])))
        if judged:
            findings.append(Finding.make("warning", "judge-scored", f"{len(judged)} of {n_rows} row(s) were scored by "
                                         f"the judge {log.judge!r} (no rule-based option): their logged hit is kept",
                                         task, judged))
        reported = _reported(log, task)
        keys = list(reported) or [k for k in groups if k[0] == "Overall"]
        for metric, split in keys:
            vals = groups.get((metric, split)) or []
            if not vals and split == "none" and (metric, "none") not in groups:
                vals = [v for (m, _sp), vs in groups.items() if m == metric for v in vs]
            rec = sum(vals) / len(vals) if vals else None
            rep = reported.get((metric, split), (None, None, None))[0]
            if rep is not None and rec is not None and not _same(rep, rec):
                findings.append(Finding.make("error", "aggregate-mismatch", f"{metric},{split}: reported {rep!r}, "
                                             f"recomputed {rec!r} from {len(vals)} rows", task))
            if rep is not None and rec is None:
                findings.append(Finding.make("error", "no-samples", f"{metric},{split}: reported but no row belongs "
                                             "to it", task))
            rows.append(RescoreRow(task=task, metric=metric, filter=split, reported=rep, recomputed=rec, n=len(vals)))
    return rows, findings, aud


# ---------------------------------------------------------------------------------------------------------- Eureka
def _round3(x: float) -> float:
    import numpy as np

    return float(np.round(x, 3))


def _eureka(log: Any, audit: bool) -> tuple[list[RescoreRow], list[Finding], AuditAccumulator | None]:
    """Per-sample <Metric>_result labels recomputed; CountAggregator (normalised) and AverageAggregator re-run."""
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    label = {1.0: "correct", 0.0: "incorrect", None: "none"}
    for task in log.tasks():
        samples = list(log.iter_samples(task))
        recomputed: dict[str, list[Any]] = defaultdict(list)  # column -> label per row (recomputed)
        mismatch: dict[str, list[tuple[str, Any, Any]]] = defaultdict(list)
        unsupported: dict[str, str] = {}
        for s in samples:
            for col, logged in ((s.meta or {}).get("labels") or {}).items():
                try:
                    v = log.recompute(s, col)
                except Unsupported as exc:
                    unsupported[col] = str(exc)
                    recomputed[col].append(logged)
                    continue
                lab = label.get(v, v)
                recomputed[col].append(lab)
                if lab != logged:
                    mismatch[col].append((s.id, logged, lab))
                if aud is not None and v is not None:
                    aud.add(s, col, v)
        for col, mm in mismatch.items():
            ex = mm[0]
            findings.append(Finding.make("error", "sample-score-mismatch", f"{col}: {len(mm)} row(s) logged a result "
                                         f"the output does not give (e.g. uid {ex[0]}: logged {ex[1]!r}, recomputed "
                                         f"{ex[2]!r})", task, [m[0] for m in mm]))
        for col, why in unsupported.items():
            findings.append(Finding.make("error", "unverifiable", f"{col}: {why}", task))
        groups_of = {}
        for spec in (log.header.config or {}).get("reports", []):
            groups_of[spec["file"]] = spec
        for agg in log.header.aggregates:
            if agg.task != task:
                continue
            col, _, lab = agg.metric.partition("/")
            spec = next((sp for sp in groups_of.values() if (sp["group"] is None) == (agg.filter == "none")), None)
            values = recomputed.get(col)
            rec = None
            n = 0
            if values is None and samples and col in (samples[0].meta or {}):
                values = [(s.meta or {}).get(col) for s in samples]
            if values is not None:
                if agg.filter != "none" and spec and spec["group"]:
                    keys = [str((s.meta or {}).get(spec["group"])) for s in samples]
                    values = [v for v, k in zip(values, keys) if k == agg.filter]
                n = len(values)
                if lab:  # normalised count of one label
                    present = [v for v in values if v is not None]
                    rec = _round3(sum(1 for v in present if v == lab) / len(present)) if present else None
                else:
                    nums = [float(v) for v in values if isinstance(v, (int, float))]
                    rec = _round3(sum(nums) / len(nums)) if nums else None
            if col in unsupported:
                rec = None
            if agg.value is not None and rec is not None and not _same(agg.value, rec):
                findings.append(Finding.make("error", "aggregate-mismatch", f"{agg.metric},{agg.filter}: reported "
                                             f"{agg.value!r}, recomputed {rec!r} from {n} rows", task))
            rows.append(RescoreRow(task=task, metric=agg.metric, filter=agg.filter, reported=agg.value,
                                   recomputed=rec, n=n))
    return rows, findings, aud


# ------------------------------------------------------------------------------------------------- Every Eval Ever
def _eee(log: Any, audit: bool) -> tuple[list[RescoreRow], list[Finding], AuditAccumulator | None]:
    """The per-sample re-score of :func:`_generic` (rows re-scored by the importer's ``recompute``, grouped per
    sample), then the rest of each result's claim: ``uncertainty.num_samples`` against the samples recomputed and
    ``standard_error`` against the converted harness's formula (``log.stderr``)."""
    rows, findings, aud = _generic(log, audit)
    claims = {(a.task, a.metric): a for a in log.header.aggregates}
    extra: list[RescoreRow] = []
    for row in rows:
        agg = claims.get((row.task, row.metric))
        if agg is None or row.recomputed is None:
            continue
        if agg.n is not None and agg.n != row.n:
            findings.append(Finding.make("error", "sample-count-mismatch", f"{row.metric}: the aggregate says "
                                         f"{agg.n} samples, the instance rows hold {row.n}", row.task))
        se = log.stderr(row.task, row.metric, log.recomputed_values(row.task, row.metric))
        if se is None:
            if agg.stderr is not None:
                findings.append(Finding.make("info", "stderr-not-recomputed", f"{row.metric}: the reported standard "
                                             "error is not recomputed (no known formula for this converter)", row.task))
            continue
        if agg.stderr is not None and not _same(agg.stderr, se):
            findings.append(Finding.make("error", "stderr-mismatch", f"{row.metric}_stderr: reported "
                                         f"{agg.stderr!r}, recomputed {se!r}", row.task))
        extra.append(RescoreRow(task=row.task, metric=f"{row.metric}_stderr", filter=row.filter, reported=agg.stderr,
                                recomputed=se, n=row.n))
    return rows + extra, findings, aud


_ENGINES: dict[str, Callable[[Any, bool], tuple[list[RescoreRow], list[Finding], AuditAccumulator | None]]] = {
    "lm-eval": _lm_eval,
    "inspect": _inspect,
    "vlmevalkit": _vlmevalkit,
    "eureka": _eureka,
    "eee": _eee,
}


def rows_json(results: Iterable[LogRescore]) -> list[dict[str, Any]]:
    """The ``assay rescore --log --json`` document: a list of {task, metric, filter, reported, recomputed, n}
    (non-finite numbers become null, so the document is strict JSON)."""
    import math

    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return [{k: clean(v) for k, v in row.model_dump().items()} for res in results for row in res.rows]
