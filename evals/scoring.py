"""Scoring of re-run outputs with the scorer the published log was scored with (the hook ``assay rerun`` calls).

``score_rerun_sample(sample, claim, header=None) -> list[Sample]`` takes a reference sample whose ``output`` was
replaced by a re-run's output and returns it scored, once per filter:

1. ``claim.scorer`` set → that named scorer (:data:`assay.evals.scorers.SCORERS`), score key ``claim.metric``;
2. else by the reference log's harness (``header.source_format``):
   * ``lm-eval`` — every filter pipeline of the task config re-applied to the new output and every metric of the
     task recomputed (one sample per filter), exactly as :mod:`assay.evals.rescore` does;
   * ``inspect`` — every scorer of the log recomputed (match, includes, pattern, exact);
   * ``assay`` — every score key of the reference that names a scorer in ``SCORERS``;
3. else ``claim.metric`` if it names a scorer in ``SCORERS``; otherwise :class:`InputError` (declare ``scorer:``).

``rerun_scorer(header)`` binds the header: the ``(sample, claim) -> list[Sample]`` callable ``assay rerun`` expects.
"""

from __future__ import annotations

from typing import Any, Callable

from ..manifests.errors import InputError
from .samples import LogHeader, Sample
from .scorers import (SCORERS, Unsupported, inspect_score, inspect_value_to_float, lm_eval_filter_steps,
                      lm_eval_metric_list, lm_eval_score)


def _copy(sample: Sample, **update: Any) -> Sample:
    return sample.model_copy(update=update)


def score_rerun_sample(sample: Sample, claim: Any = None, header: LogHeader | None = None) -> list[Sample]:
    scorer = getattr(claim, "scorer", None) if claim is not None else None
    metric = getattr(claim, "metric", None) if claim is not None else None
    if scorer:
        fn = SCORERS.get(scorer)
        if fn is None:
            raise InputError(f"unknown scorer {scorer!r} (one of: {', '.join(sorted(SCORERS))})")
        filt = getattr(claim, "filter", None) or sample.filter
        s = _copy(sample, filter=filt)
        return [_copy(s, scores={metric or scorer: fn(s)})]
    fmt = header.source_format if header is not None else None
    if fmt == "lm-eval":
        return _lm_eval(sample, header)  # type: ignore[arg-type]
    if fmt == "inspect":
        return [_inspect(sample, header)]  # type: ignore[arg-type]
    names = [k for k in (sample.scores or {}) if k in SCORERS]
    if fmt in ("assay", None) and names:
        return [_copy(sample, scores={k: SCORERS[k](sample) for k in names})]
    if metric in SCORERS:
        return [_copy(sample, scores={metric: SCORERS[metric](sample)})]
    raise InputError(f"no scorer for {getattr(claim, 'name', sample.task)}: declare `scorer:` in the manifest's eval "
                     f"(one of: {', '.join(sorted(SCORERS))})")


def rerun_scorer(header: LogHeader | None) -> Callable[[Sample, Any], list[Sample]]:
    return lambda sample, claim: score_rerun_sample(sample, claim, header)


def _lm_eval(sample: Sample, header: LogHeader) -> list[Sample]:
    cfg = ((header.config or {}).get("configs") or {}).get(sample.task) or {}
    if not cfg:
        raise InputError(f"{sample.task}: the lm-eval log has no task config; declare `scorer:` in the manifest")
    names = [name for name, _kw, _agg in lm_eval_metric_list(cfg)]
    flist = cfg.get("filter_list") or [{"name": "none"}]
    out = []
    for entry in flist:
        filt = entry.get("name", "none")
        s = _copy(sample, filter=filt)
        try:
            lm_eval_filter_steps(cfg, filt)
            scores, answer = lm_eval_score(s, cfg, names)
        except Unsupported as exc:
            raise InputError(f"{sample.task}: the harness scorer cannot be applied by assay ({exc}); declare "
                             "`scorer:` in the manifest") from None
        out.append(_copy(s, scores=scores, answer=answer))
    return out


def _inspect(sample: Sample, header: LogHeader) -> Sample:
    defs = (header.config or {}).get("score_defs") or {}
    names = list(sample.scores) or list(defs)
    scores: dict[str, float | None] = {}
    answers: dict[str, Any] = {}
    for name in names:
        fn, options = defs.get(name, [name, {}])
        try:
            value, ans = inspect_score(str(fn).split("/")[-1], options or {}, sample.output or "", sample.target)
        except Unsupported as exc:
            raise InputError(f"{sample.task}: {exc}; declare `scorer:` in the manifest") from None
        scores[name] = inspect_value_to_float(value)
        answers[name] = ans
    meta = dict(sample.meta or {})
    meta["answers"] = answers
    return _copy(sample, scores=scores, answer=next(iter(answers.values()), None), meta=meta)
