"""Aggregations with each harness's own arithmetic, so that recomputed aggregates equal the logged ones bit for bit.

lm-evaluation-harness 0.4.13 (lm_eval/api/metrics.py): ``mean`` = sum(arr) / len(arr); ``mean_stderr`` =
sample_stddev / √n with Bessel's correction; groups: ``aggregate_subtask_metrics`` (size-weighted or plain mean),
``pooled_sample_stderr`` / ``unweighted_mean_stderr``; perplexities.  Inspect AI: ``accuracy`` (sequential sum of
value_to_float / n), ``mean``, ``stderr`` (numpy std with ddof=1 / √n), epochs reduced by Inspect's reducers
(``inspect_reduce``: mean, median, mode, max, at_least_k, pass_at_k).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from typing import Callable, Sequence


# ------------------------------------------------------------------------------------------------------ lm-eval
def lm_mean(arr: Sequence[float]) -> float:
    return sum(arr) / len(arr)


def lm_sample_stddev(arr: Sequence[float]) -> float:
    mu = lm_mean(arr)
    return math.sqrt(sum([(x - mu) ** 2 for x in arr]) / (len(arr) - 1))


def lm_mean_stderr(arr: Sequence[float]) -> float | None:
    if len(arr) < 2:
        return None
    return lm_sample_stddev(arr) / math.sqrt(len(arr))


def lm_aggregate_subtasks(values: Sequence[float], sizes: Sequence[int], weight_by_size: bool = True) -> float:
    if not weight_by_size:
        sizes = [1] * len(sizes)
    return sum([v * s for v, s in zip(values, sizes)]) / sum(sizes)


def lm_pooled_stderr(stderrs: Sequence[float], sizes: Sequence[int]) -> float:
    var = sum([(n - 1) * se ** 2 * n for n, se in zip(sizes, stderrs)]) / (sum(sizes) - len(sizes))
    return math.sqrt(var / sum(sizes))


def lm_unweighted_mean_stderr(stderrs: Sequence[float]) -> float:
    return math.sqrt(sum([se ** 2 for se in stderrs])) / len(stderrs)


def lm_group_v040(parts: Sequence[tuple[float, int, float | None]]) -> tuple[float, float | None]:
    """lm-eval 0.4.0's group aggregation (``evaluator.evaluate``) over (value, size, stderr) of the subtasks in order:
    a running size-weighted mean, and a running combination of the squared stderrs whose correction term uses the
    already-updated mean; the group stderr is its square root."""
    mean, total, se0 = parts[0]
    var = se0 ** 2 if se0 is not None else None
    for value, size, se in parts[1:]:
        mean = (mean * total + value * size) / (total + size)
        if var is not None and se is not None:
            var = ((total - 1) * var + (size - 1) * se ** 2) / (total + size - 1) + total * size / (
                (total + size) * (total + size - 1)) * (mean - value) ** 2
        else:
            var = None
        total += size
    return mean, (math.sqrt(var) if var is not None else None)


def lm_perplexity(lls: Sequence[float]) -> float:
    return math.exp(-lm_mean(lls))


def lm_bootstrap_stderr(name: str, values: Sequence[float], iters: int) -> float | None:
    """lm-eval's ``bootstrap_stderr`` (0.4.0–0.4.13) for the aggregations ported here (``median``, ``perplexity``):
    ``iters // min(1000, iters)`` chunks, chunk ``i`` drawn with ``random.Random(i).choices(values, k=n)``, the
    stderr being the Bessel sample stddev of all replicates.  Ported (not imported) so re-scoring needs no lm-eval;
    its chunks are seeded by index, so the result does not depend on its worker pool.  None where not ported."""
    import random

    if name not in ("median", "perplexity") or iters <= 0 or len(values) < 2:
        return None
    chunk = min(1000, iters)
    xs = list(values)
    reps: list[float] = []
    for i in range(iters // chunk):
        rnd = random.Random(i)
        for _ in range(chunk):
            reps.append(lm_aggregate(name, rnd.choices(xs, k=len(xs))))  # type: ignore[arg-type]
    return lm_sample_stddev(reps)


def lm_aggregate(name: str, values: Sequence[float]) -> float | None:
    """An lm-eval aggregation over per-sample values; None where it is not implemented."""
    if not values:
        return None
    if name == "mean":
        return lm_mean(values)
    if name == "median":
        return float(sorted(values)[len(values) // 2])
    if name == "perplexity":
        return lm_perplexity(values)
    return None


# ------------------------------------------------------------------------------------------------------ Inspect
def inspect_accuracy(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    total = 0.0
    for v in values:
        total += v
    return total / float(len(values))


def inspect_stderr(values: Sequence[float]) -> float:
    import numpy as np

    n = len(values)
    if n - 1 < 1:
        return 0.0
    return float(np.std(values, ddof=1) / np.sqrt(n))


def inspect_std(values: Sequence[float]) -> float:
    import numpy as np

    if len(values) - 1 < 1:
        return 0.0
    return float(np.std(values, ddof=1))


def inspect_reduce_mean(values: Sequence[float]) -> float:
    return float(statistics.mean(values))


def inspect_reduce(reducer: str, raw: Sequence[object], to_float: Callable[[object], float]) -> object:
    """One sample's epochs reduced by an Inspect score reducer, for scalar values (``scorer/_reducer/reducer.py``):
    ``mean``, ``median``, ``mode``, ``max``, ``at_least_<k>``, ``pass_at_<k>``.  Unscored (NaN) epochs are left
    out, as Inspect does.  Returns the reduced value (raw for mode / max, as Inspect logs it); KeyError for a
    reducer not ported here."""
    import numpy as np

    vals = [v for v in raw if not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return float("nan")
    floats = [to_float(v) for v in vals]
    if reducer == "mean":
        return float(statistics.mean(floats))
    if reducer == "median":
        return float(statistics.median(floats))
    if reducer == "mode":
        return Counter(vals).most_common(1)[0][0]  # type: ignore[arg-type]
    if reducer == "max":
        return max(vals, key=to_float)
    m = re.fullmatch(r"(at_least|pass_at)_(\d+)", reducer)
    if m and m.group(1) == "at_least":
        return 1 if sum(1 for v in floats if v >= 1.0) >= int(m.group(2)) else 0
    if m:
        k, total = int(m.group(2)), len(floats)
        correct = sum(1 for v in floats if v >= 1.0)
        if total < k:
            return float("nan")
        if total - correct < k:
            return 1.0
        return 1.0 - float(np.prod(1.0 - k / np.arange(total - correct + 1, total + 1)).item())
    raise KeyError(reducer)


INSPECT_METRICS = {"accuracy": inspect_accuracy, "mean": inspect_accuracy, "stderr": inspect_stderr,
                   "std": inspect_std}


# ------------------------------------------------------------------------------------------------------ generic
def plain_mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None
