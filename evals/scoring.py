"""Scoring of re-run outputs with the scorer the published log was scored with (the hook ``assay rerun`` calls).

``score_rerun_sample(sample, claim, header=None) -> list[Sample]`` takes a reference sample whose ``output`` was
replaced by a re-run's output and returns it scored, once per filter:

1. ``claim.scorer`` set → that named scorer (:data:`assay.evals.registry.SCORERS`), score key ``claim.metric``;
2. else the reference log's harness (``header.source_format``, :data:`assay.evals.registry.HARNESSES`) scores it
   with its own semantics (:meth:`assay.evals.registry.Harness.score_rerun`: lm-eval re-applies every filter and
   metric of the task config, Inspect every scorer of the log, assay every score key that names a scorer);
   with no header, every score key that names a scorer;
3. else ``claim.metric`` if it names a scorer in ``SCORERS``; otherwise :class:`InputError` (declare ``scorer:``).

``rerun_scorer(header)`` binds the header: the ``(sample, claim) -> list[Sample]`` callable ``assay rerun`` expects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..manifests.errors import InputError
from .registry import HARNESSES, SCORERS
from .samples import LogHeader, Sample


def score_rerun_sample(sample: Sample, claim: Any = None, header: LogHeader | None = None) -> list[Sample]:
    scorer = getattr(claim, "scorer", None) if claim is not None else None
    metric = getattr(claim, "metric", None) if claim is not None else None
    if scorer:
        fn = SCORERS.get(scorer)
        if fn is None:
            raise InputError(f"unknown scorer {scorer!r} (one of: {', '.join(sorted(SCORERS))})")
        filt = getattr(claim, "filter", None) or sample.filter
        s = sample.model_copy(update={"filter": filt})
        return [s.model_copy(update={"scores": {metric or scorer: fn(s)}})]
    harness = HARNESSES.get(header.source_format) if header is not None and header.source_format else None
    if harness is not None:
        out = harness.score_rerun(sample, header)  # type: ignore[arg-type]
    else:
        out = score_by_keys(sample) if header is None or header.source_format is None else None
    if out is not None:
        return out
    if metric is not None and metric in SCORERS:
        return [sample.model_copy(update={"scores": {metric: SCORERS[metric](sample)}})]
    raise InputError(
        f"no scorer for {getattr(claim, 'name', sample.task)}: declare `scorer:` in the manifest's eval "
        f"(one of: {', '.join(sorted(SCORERS))})"
    )


def score_by_keys(sample: Sample) -> list[Sample] | None:
    """The sample scored by every one of its score keys that names a scorer in SCORERS; None when none does."""
    names = [k for k in (sample.scores or {}) if k in SCORERS]
    if not names:
        return None
    return [sample.model_copy(update={"scores": {k: SCORERS[k](sample) for k in names}})]


def rerun_scorer(header: LogHeader | None) -> Callable[[Sample, Any], list[Sample]]:
    return lambda sample, claim: score_rerun_sample(sample, claim, header)
