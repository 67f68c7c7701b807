"""Harness-neutral aggregation.  Each harness's own arithmetic (lm-eval's ``mean_stderr`` and group aggregation,
Inspect's ``accuracy`` / ``stderr`` and epoch reducers, Eureka's rounded aggregators) is in its module under
:mod:`assay.evals.harnesses`, so that recomputed aggregates equal the logged ones bit for bit; the reproduction
statistics of ``assay rerun`` are in :mod:`assay.evals.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def plain_mean(values: Sequence[float]) -> float | None:
    """The mean with a correctly rounded sum (``math.fsum``); None for no values."""
    return math.fsum(values) / len(values) if values else None
