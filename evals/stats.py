"""Reproduction statistics: does a re-run reproduce a published score, within a declared margin?

The entry point is :func:`compare`::

    compare(reference, rerun, *, margin, metric=None, filter=None, task=None,
            published=None, published_stderr=None, published_n=None,
            scale=100.0, alpha=0.05, power=0.8, n_boot=10_000, seed=0) -> Comparison

``reference`` are the published (or any reference) per-sample records, ``rerun`` the re-run's, both
:class:`assay.evals.samples.Sample`.  Items are paired by ``(task, id)`` (and must have equal ``input_sha256``);
repeats of an item are averaged into one item score, and the spread of the per-repeat aggregates is reported.

Decision (two one-sided tests, TOST, at level ``alpha``; Miller 2024, arXiv 2411.00640): with the
``1 − 2·alpha`` (default 90 %) seeded paired-bootstrap CI of mean(rerun − reference), in points, on the one verdict
scale (:data:`assay.manifests.findings.Verdict`):

* **pass** (reproduced) — the CI lies within ``[−margin, +margin]``;
* **fail** (not reproduced) — the CI lies entirely outside it (below ``−margin`` or above ``+margin``);
* **inconclusive** — otherwise; ``n_needed`` is the number of paired items that would decide it
  (``((z₁₋α + z₁₋β/₂)·sd(d) / (margin − |d̄|))²`` towards equivalence, ``((z₁₋α + z₁₋β)·sd(d) / (|d̄| − margin))²``
  towards a difference).

Non-significance is never read as reproduction.  For binary scores the exact McNemar test (two-sided binomial
test of n10 among n01 + n10 at p = ½, as statsmodels' ``mcnemar(exact=True)``) is reported beside it.  Without
reference samples (only a published aggregate), the CI is ``diff ± z₁₋α·√(SE_pub² + SE_rerun²)``, with
``SE_pub`` = ``published_stderr`` or, for a proportion, ``√(p(1−p)/published_n)``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .samples import Sample

# The verdicts a comparison can reach, on the one verdict scale (a subset of assay.manifests.findings.Verdict).
ComparisonVerdict = Literal["pass", "fail", "inconclusive"]
_MULTINOMIAL_MAX_VALUES = 512


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class McNemar(_Model):
    n01: int = Field(description="Items the reference failed and the re-run passed.")
    n10: int = Field(description="Items the reference passed and the re-run failed.")
    p_value: float


class Spread(_Model):
    repeats: int
    scores: list[float] = Field(description="Aggregate score of each repeat, in points.")
    min: float
    max: float
    sd: float | None = Field(description="Sample standard deviation across repeats (None for one repeat).")


class Comparison(_Model):
    """A re-run compared with its reference: the verdict (pass: reproduced within the margin, fail: not reproduced,
    inconclusive: the CI straddles the margin) and the statistics it rests on."""

    verdict: ComparisonVerdict
    reason: str
    task: str | None = None
    metric: str
    filter: str | None = None
    margin: float = Field(description="Equivalence margin, in points.")
    n: int = Field(description="Paired items (or re-run items when only an aggregate is compared).")
    reference_score: float | None = Field(None, description="Mean of the reference item scores, points.")
    rerun_score: float | None = Field(None, description="Mean of the re-run item scores, points.")
    published: float | None = Field(None, description="The published aggregate, points.")
    diff: float | None = Field(None, description="mean(rerun − reference) (or rerun − published), points.")
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float
    score_ci_low: float | None = Field(
        None,
        description="Lower bound of the re-run score's own CI at ci_level, points: Wilson for 0/1 item scores, else "
        "a bootstrap of the mean (the uncertainty of the score over its items, which a chart shows).",
    )
    score_ci_high: float | None = Field(None, description="Upper bound of the re-run score's own CI, points.")
    se: float | None = Field(None, description="Standard error of diff, points.")
    method: Literal["paired-bootstrap", "aggregate-normal", "unpaired-wilson", "unpaired-bootstrap", "none"]
    mcnemar: McNemar | None = None
    output_agreement: float | None = Field(None, description="Share of paired items whose raw output is identical.")
    answer_agreement: float | None = Field(
        None, description="Share of paired items whose extracted answer is identical."
    )
    n_needed: int | None = Field(None, description="Paired items needed to decide an inconclusive comparison.")
    spread: Spread | None = None
    reference_only: list[str] = Field(default_factory=list, description="Item ids only in the reference.")
    rerun_only: list[str] = Field(default_factory=list, description="Item ids only in the re-run.")
    input_mismatches: list[str] = Field(default_factory=list, description="Paired ids whose inputs differ (excluded).")
    seed: int
    n_boot: int


# ------------------------------------------------------------------------------------------------- exact tests
def binom_two_sided_half(k: int, n: int) -> float:
    """Exact two-sided binomial test p-value of k successes in n trials at p = ½ (symmetric: 2·P(X ≤ min))."""
    if n == 0:
        return 1.0
    m = min(k, n - k)
    tail = 0
    c = 1
    for i in range(m + 1):  # C(n, i) computed incrementally, exact integers
        tail += c
        c = c * (n - i) // (i + 1)
    return min(1.0, (2 * tail) / (1 << n))  # int / int: correctly rounded, whatever the size


def mcnemar_exact(n01: int, n10: int) -> McNemar:
    return McNemar(n01=n01, n10=n10, p_value=binom_two_sided_half(n10, n01 + n10))


# ------------------------------------------------------------------------------------------------------ helpers
def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def _sd(xs: Sequence[float]) -> float | None:
    if len(xs) < 2:
        return None
    m = _mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def bootstrap_mean_ci(values: Sequence[float], *, level: float, n_boot: int, seed: int) -> tuple[float, float]:
    """Seeded percentile bootstrap CI of the mean.

    Resampling n values with replacement is the same as drawing counts of each distinct value from a multinomial,
    which is what this does when the values take few distinct levels (binary scores: 3 levels of d), so a
    100 000-item benchmark costs O(n_boot) rather than O(n_boot × n).  Deterministic for a given seed.
    """
    import numpy as np

    d = np.asarray(values, dtype=np.float64)
    n = d.size
    rng = np.random.Generator(np.random.PCG64(seed))
    levels, counts = np.unique(d, return_counts=True)
    if levels.size == 1:
        v = float(levels[0])
        return v, v
    if levels.size <= _MULTINOMIAL_MAX_VALUES:
        draws = rng.multinomial(n, counts / n, size=n_boot)
        means = (draws @ levels) / n
    else:
        means = np.empty(n_boot)
        chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
        for start in range(0, n_boot, chunk):
            stop = min(n_boot, start + chunk)
            idx = rng.integers(0, n, size=(stop - start, n))
            means[start:stop] = d[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _n_needed(mean_d: float, sd_d: float | None, margin: float, alpha: float, power: float) -> int | None:
    if sd_d is None or sd_d == 0.0:
        return None
    z = NormalDist().inv_cdf
    gap = margin - abs(mean_d)
    if gap > 0:  # towards equivalence
        n = ((z(1 - alpha) + z(1 - (1 - power) / 2)) * sd_d / gap) ** 2
    elif gap < 0:  # towards a difference
        n = ((z(1 - alpha) + z(power)) * sd_d / -gap) ** 2
    else:
        return None
    return math.ceil(n)


def _decide(lo: float, hi: float, margin: float) -> tuple[ComparisonVerdict, str]:
    if -margin <= lo and hi <= margin:
        return "pass", f"reproduced: the CI [{lo:.3g}, {hi:.3g}] lies within ±{margin:g}"
    if lo > margin or hi < -margin:
        return "fail", f"not reproduced: the CI [{lo:.3g}, {hi:.3g}] lies outside ±{margin:g}"
    return "inconclusive", f"the CI [{lo:.3g}, {hi:.3g}] straddles ±{margin:g}"


def _pick(
    samples: list[Sample], task: str | None, filter: str | None, metric: str | None, side: str
) -> tuple[list[Sample], str | None, str]:
    from ..manifests.errors import InputError

    if task is not None:
        samples = [s for s in samples if s.task == task]
    filters = sorted({s.filter for s in samples})
    if filter is None and len(filters) > 1:
        raise InputError(f"{side} samples have several filters ({', '.join(filters)}); name one")
    if filter is not None:
        samples = [s for s in samples if s.filter == filter]
    elif filters:
        filter = filters[0]
    if metric is None:
        names = sorted({k for s in samples for k in s.scores})
        if len(names) != 1:
            raise InputError(f"{side} samples carry {len(names)} metrics ({', '.join(names) or 'none'}); name one")
        metric = names[0]
    return samples, filter, metric


def _items(samples: list[Sample], metric: str, scale: float) -> dict[tuple[str, str], dict[int, Sample]]:
    out: dict[tuple[str, str], dict[int, Sample]] = defaultdict(dict)
    for s in samples:
        if s.scores.get(metric) is None:
            continue
        out[(s.task, s.id)][s.repeat] = s
    return out


def _item_score(reps: dict[int, Sample], metric: str, scale: float) -> float:
    return _mean([reps[r].scores[metric] * scale for r in sorted(reps)])  # type: ignore[operator]


def repeat_spread(samples: Iterable[Sample], metric: str, *, scale: float = 100.0) -> Spread:
    """Aggregate score of each repeat (over the items that repeat covers) and their spread."""
    by_rep: dict[int, list[float]] = defaultdict(list)
    for s in samples:
        v = s.scores.get(metric)
        if v is not None:
            by_rep[s.repeat].append(v * scale)
    scores = [_mean(by_rep[r]) for r in sorted(by_rep)]
    return Spread(
        repeats=len(scores), scores=scores, min=min(scores, default=0.0), max=max(scores, default=0.0), sd=_sd(scores)
    )


# ------------------------------------------------------------------------------------------------------ compare
def score_ci(scores: Sequence[float], *, scale: float, level: float, n_boot: int, seed: int) -> tuple[float, float]:
    """The CI of a mean score over items, in points: Wilson when every item scores 0 or ``scale`` (a proportion),
    else the seeded bootstrap of the mean."""
    if all(x in (0.0, scale) for x in scores):
        lo, hi = wilson_ci(sum(1 for x in scores if x == scale), len(scores), level)
        return lo * scale, hi * scale
    return bootstrap_mean_ci(scores, level=level, n_boot=n_boot, seed=seed)


def compare(
    reference: Iterable[Sample] | None,
    rerun: Iterable[Sample],
    *,
    margin: float,
    metric: str | None = None,
    filter: str | None = None,
    task: str | None = None,
    published: float | None = None,
    published_stderr: float | None = None,
    published_n: int | None = None,
    scale: float = 100.0,
    alpha: float = 0.05,
    power: float = 0.8,
    n_boot: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Decide whether ``rerun`` reproduces ``reference`` (per-sample) or ``published`` (aggregate) within ``margin``.

    ``margin``, ``published`` and ``published_stderr`` are in points, i.e. on the per-sample score × ``scale``
    (scores in [0, 1] with ``scale=100`` → percentage points).  ``alpha`` is the TOST level (CI level
    1 − 2·alpha), ``power`` the power used for ``n_needed``.  The bootstrap is seeded (``seed``) and deterministic.
    """
    from ..manifests.errors import InputError

    if margin < 0:
        raise InputError("margin must be ≥ 0")
    level = 1.0 - 2.0 * alpha
    ref_list = list(reference) if reference is not None else []
    re_list, filter, metric = _pick(list(rerun), task, filter, metric, "re-run")
    if ref_list:
        ref_list, _, _ = _pick(ref_list, task, filter, metric, "reference")
    re_items = _items(re_list, metric, scale)
    spread = (
        repeat_spread([s for reps in re_items.values() for s in reps.values()], metric, scale=scale)
        if re_items
        else None
    )
    common: dict = {
        "task": task,
        "metric": metric,
        "filter": filter,
        "margin": margin,
        "ci_level": level,
        "seed": seed,
        "n_boot": n_boot,
        "published": published,
        "spread": spread,
    }

    if not ref_list:  # ---------------------------------------------------------- aggregate-only comparison
        if published is None:
            raise InputError("compare needs reference samples or a published score")
        b = [_item_score(reps, metric, scale) for reps in re_items.values()]
        if len(b) < 2:
            return Comparison(
                verdict="inconclusive",
                reason=f"too few re-run items ({len(b)})",
                n=len(b),
                rerun_score=_mean(b) if b else None,
                method="none",
                **common,
            )
        mean_b, sd_b = _mean(b), _sd(b) or 0.0
        common["score_ci_low"], common["score_ci_high"] = score_ci(
            b, scale=scale, level=level, n_boot=n_boot, seed=seed
        )
        se_re = sd_b / math.sqrt(len(b))
        if published_stderr is not None:
            se_pub, sd_pub = published_stderr, published_stderr * math.sqrt(published_n or len(b))
        elif published_n:
            p = min(max(published / scale, 0.0), 1.0)
            sd_pub = math.sqrt(p * (1 - p)) * scale
            se_pub = sd_pub / math.sqrt(published_n)
        else:
            raise InputError("an aggregate-only comparison needs published_stderr or published_n")
        diff = mean_b - published
        se = math.sqrt(se_pub**2 + se_re**2)
        zq = NormalDist().inv_cdf(1 - alpha)
        lo, hi = diff - zq * se, diff + zq * se
        verdict, reason = _decide(lo, hi, margin)
        n_needed = None
        if verdict == "inconclusive":
            n_needed = _n_needed(diff, math.sqrt(sd_pub**2 + sd_b**2), margin, alpha, power)
        return Comparison(
            verdict=verdict,
            reason=reason + " (aggregate only: unpaired, far less power)",
            n=len(b),
            rerun_score=mean_b,
            diff=diff,
            ci_low=lo,
            ci_high=hi,
            se=se,
            method="aggregate-normal",
            n_needed=n_needed,
            **common,
        )

    # ------------------------------------------------------------------------------------ paired comparison
    ref_items = _items(ref_list, metric, scale)
    ref_only = sorted(k[1] for k in ref_items.keys() - re_items.keys())
    re_only = sorted(k[1] for k in re_items.keys() - ref_items.keys())
    a: list[float] = []
    b = []
    mismatched: list[str] = []
    same_out = same_ans = 0
    binary = True
    paired: list[tuple[str, str]] = []
    for key in sorted(ref_items.keys() & re_items.keys()):
        ra, rb = ref_items[key], re_items[key]
        first_a, first_b = ra[min(ra)], rb[min(rb)]
        if first_a.input_sha256 != first_b.input_sha256:
            mismatched.append(key[1])
            continue
        paired.append(key)
        sa, sb = _item_score(ra, metric, scale), _item_score(rb, metric, scale)
        a.append(sa)
        b.append(sb)
        if len(ra) > 1 or len(rb) > 1 or sa not in (0.0, scale) or sb not in (0.0, scale):
            binary = False
        same_out += first_a.output == first_b.output
        same_ans += first_a.answer == first_b.answer
    n = len(a)
    common.update(
        reference_only=ref_only,
        rerun_only=re_only,
        input_mismatches=mismatched,
        spread=repeat_spread([s for k in paired for s in re_items[k].values()], metric, scale=scale)
        if paired
        else None,
    )
    if n < 2:
        return Comparison(
            verdict="inconclusive",
            reason=f"too few paired items ({n})",
            n=n,
            reference_score=_mean(a) if a else None,
            rerun_score=_mean(b) if b else None,
            method="none",
            n_needed=None,
            **common,
        )
    d = [y - x for x, y in zip(a, b, strict=False)]
    mean_d, sd_d = _mean(d), _sd(d)
    common["score_ci_low"], common["score_ci_high"] = score_ci(b, scale=scale, level=level, n_boot=n_boot, seed=seed)
    lo, hi = bootstrap_mean_ci(d, level=level, n_boot=n_boot, seed=seed)
    verdict, reason = _decide(lo, hi, margin)
    mc = None
    if binary:
        n01 = sum(1 for x, y in zip(a, b, strict=False) if x == 0.0 and y == scale)
        n10 = sum(1 for x, y in zip(a, b, strict=False) if x == scale and y == 0.0)
        mc = mcnemar_exact(n01, n10)
    return Comparison(
        verdict=verdict,
        reason=reason,
        n=n,
        reference_score=_mean(a),
        rerun_score=_mean(b),
        diff=mean_d,
        ci_low=lo,
        ci_high=hi,
        se=(sd_d or 0.0) / math.sqrt(n),
        method="paired-bootstrap",
        mcnemar=mc,
        output_agreement=same_out / n,
        answer_agreement=same_ans / n,
        n_needed=_n_needed(mean_d, sd_d, margin, alpha, power) if verdict == "inconclusive" else None,
        **common,
    )


# ------------------------------------------------------------------------------------------- unpaired comparison
def wilson_ci(successes: int, n: int, level: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (0–1).  Hand-written (a few lines) rather than statsmodels'
    ``proportion_confint(method="wilson")``, which assay does not depend on; the two agree."""
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def compare_unpaired(
    values: Sequence[float],
    *,
    published: float,
    margin: float,
    metric: str,
    filter: str | None = None,
    task: str | None = None,
    scale: float = 100.0,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """A re-run with no published samples to pair with: the re-run's mean and its ``level`` CI (Wilson for 0/1
    scores, else a seeded percentile bootstrap) against the published point ± ``margin`` (points).

    * **pass** (reproduced) — the CI lies inside ``[published − margin, published + margin]``;
    * **fail** (not reproduced) — the CI lies entirely outside it;
    * **inconclusive** — otherwise, with ``n_needed``: the items for the CI's half-width to fall under the distance
      between the observed mean and the band's edge (``(z·sd / gap)²``, sd the observed per-item sd; for 0/1 scores
      at least that of p(1−p) at the observed mean).

    Never pass with fewer than two items: no spread can be measured from one (``n_needed`` from the worst case,
    sd = ½ scale, when nothing is known)."""
    from ..manifests.errors import InputError

    if margin < 0:
        raise InputError("margin must be ≥ 0")
    pts = [float(v) * scale for v in values]
    n = len(pts)
    common: dict = {
        "task": task,
        "metric": metric,
        "filter": filter,
        "margin": margin,
        "ci_level": level,
        "seed": seed,
        "n_boot": n_boot,
        "published": published,
    }
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)

    def needed(mean: float, sd: float) -> int | None:
        gap = abs(abs(mean - published) - margin)
        if gap == 0 or sd == 0:
            return None
        return max(n + 1, math.ceil((z * sd / gap) ** 2))

    if n < 2:
        mean = pts[0] if pts else None
        worst = scale / 2  # the largest sd a score in [0, scale] can have
        return Comparison(
            verdict="inconclusive",
            reason=f"too few re-run items ({n}) for a confidence interval",
            n=n,
            rerun_score=mean,
            diff=mean - published if mean is not None else None,
            method="none",
            n_needed=needed(mean if mean is not None else published + 2 * margin, worst) if margin > 0 else None,
            **common,
        )
    mean, sd = _mean(pts), _sd(pts) or 0.0
    binary = all(v in (0.0, 1.0) for v in values)
    lo, hi = score_ci(pts, scale=scale, level=level, n_boot=n_boot, seed=seed)  # Wilson when binary, else bootstrap
    method: Literal["unpaired-wilson", "unpaired-bootstrap"] = "unpaired-wilson" if binary else "unpaired-bootstrap"
    if binary:
        p = sum(1 for v in values if v == 1.0) / n
        sd = max(sd, math.sqrt(p * (1 - p)) * scale)
    band_lo, band_hi = published - margin, published + margin
    if band_lo <= lo and hi <= band_hi:
        verdict: ComparisonVerdict = "pass"
        reason = (
            f"reproduced: the re-run's {level:.0%} CI [{lo:.3g}, {hi:.3g}] lies within the published "
            f"{published:g} ± {margin:g}"
        )
    elif hi < band_lo or lo > band_hi:
        verdict, reason = (
            "fail",
            (
                f"not reproduced: the re-run's {level:.0%} CI [{lo:.3g}, {hi:.3g}] lies outside "
                f"the published {published:g} ± {margin:g}"
            ),
        )
    else:
        verdict, reason = (
            "inconclusive",
            (f"the re-run's {level:.0%} CI [{lo:.3g}, {hi:.3g}] straddles the published {published:g} ± {margin:g}"),
        )
    n_needed = needed(mean, sd) if verdict == "inconclusive" else None
    if n_needed is not None:
        reason += f"; about {n_needed} items would decide it"
    return Comparison(
        verdict=verdict,
        reason=reason + " (unpaired: no published samples)",
        n=n,
        rerun_score=mean,
        diff=mean - published,
        ci_low=lo,
        ci_high=hi,
        se=sd / math.sqrt(n),
        method=method,
        n_needed=n_needed,
        **common,
    )
