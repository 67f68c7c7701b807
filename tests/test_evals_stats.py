"""Reproduction statistics: exact McNemar, seeded paired bootstrap, TOST verdicts, n needed, repeats, aggregates."""

from __future__ import annotations

import pytest

from assay.evals.samples import Message, Sample
from assay.evals.stats import binom_two_sided_half, bootstrap_mean_ci, compare, mcnemar_exact


def mk(scores, *, task="t", outputs=None, repeat=0, prefix="q", metric="acc"):
    return [
        Sample(
            id=str(i),
            task=task,
            repeat=repeat,
            input=[Message(role="user", content=f"{prefix}{i}")],
            target="x",
            output=(outputs[i] if outputs else "o"),
            scores={metric: v},
        )
        for i, v in enumerate(scores)
    ]


def test_exact_binomial_matches_scipy():
    from scipy.stats import binomtest

    for k, n in [(1, 5), (3, 10), (10, 10), (0, 7), (40, 100), (480, 1000), (2400, 5000), (7, 3000)]:
        assert binom_two_sided_half(k, n) == pytest.approx(binomtest(k, n, 0.5).pvalue, rel=1e-9), (k, n)
    assert binom_two_sided_half(0, 0) == 1.0
    m = mcnemar_exact(1, 7)
    assert (m.n01, m.n10) == (1, 7) and m.p_value == pytest.approx(0.0703125)


def test_identical_runs_reproduce_exactly():
    a = [float(i % 3 == 0) for i in range(60)]
    v = compare(mk(a), mk(a), margin=1.0)
    assert v.verdict == "pass" and v.diff == 0.0 and (v.ci_low, v.ci_high) == (0.0, 0.0)
    assert v.output_agreement == 1.0 and v.mcnemar.p_value == 1.0 and v.n == 60 and v.method == "paired-bootstrap"
    assert v.reference_score == v.rerun_score == pytest.approx(100 * 20 / 60)


def test_clear_difference_is_not_reproduced_a_fail():
    a = [float(i % 2 == 0) for i in range(200)]
    b = [1.0] * 200
    v = compare(mk(a), mk(b), margin=1.0)
    assert v.verdict == "fail" and v.diff == pytest.approx(50.0)
    assert v.ci_low > 1.0 and v.mcnemar.n01 == 100 and v.mcnemar.n10 == 0 and v.mcnemar.p_value < 1e-20


def test_inconclusive_names_the_n_that_decides():
    base_a = [float(i % 2 == 0) for i in range(50)]
    base_b = list(base_a)
    for i in (0, 2, 4):  # 3 items the re-run fails
        base_b[i] = 0.0
    for i in (1, 3, 5):  # 3 items it passes
        base_b[i] = 1.0
    v = compare(mk(base_a), mk(base_b), margin=2.0)
    assert v.verdict == "inconclusive" and v.diff == 0.0 and v.n_needed and v.n_needed > 50
    k = -(-v.n_needed // 50)  # the same pattern over n_needed items decides it
    big = compare(mk(base_a * k), mk(base_b * k), margin=2.0)
    assert big.verdict == "pass", big
    small_margin = compare(mk(base_a * k), mk(base_b * k), margin=0.5)
    assert small_margin.verdict == "inconclusive"


def test_bootstrap_is_seeded_and_deterministic():
    d = [float((i * 7919) % 13) - 6.0 for i in range(1000)]  # many distinct values: index resampling
    assert bootstrap_mean_ci(d, level=0.9, n_boot=2000, seed=3) == bootstrap_mean_ci(d, level=0.9, n_boot=2000, seed=3)
    assert bootstrap_mean_ci(d, level=0.9, n_boot=2000, seed=3) != bootstrap_mean_ci(d, level=0.9, n_boot=2000, seed=4)
    cont = [((i * 2654435761) % 1000) / 10.0 for i in range(700)]
    lo, hi = bootstrap_mean_ci(cont, level=0.9, n_boot=3000, seed=0)
    mean = sum(cont) / len(cont)
    assert lo < mean < hi


def test_repeats_spread_and_unpaired_ids():
    a = [1.0, 0.0, 1.0, 1.0]
    reps = mk([1.0, 0.0, 1.0, 1.0], repeat=0) + mk([1.0, 1.0, 0.0, 1.0], repeat=1) + mk([0.0, 0.0, 1.0, 1.0], repeat=2)
    v = compare(mk(a), reps + [Sample(id="9", task="t", target="x", scores={"acc": 1.0})], margin=5.0)
    assert v.spread.repeats == 3 and v.spread.scores == pytest.approx([75.0, 75.0, 50.0], abs=1e-9)
    assert v.spread.min == 50.0 and v.spread.max == 75.0 and v.mcnemar is None  # repeats: item scores are means
    assert v.rerun_only == ["9"] and v.n == 4


def test_input_mismatch_is_excluded():
    ref = mk([1.0, 1.0, 0.0])
    rer = mk([1.0, 1.0, 0.0], prefix="other question ")
    v = compare(ref, rer, margin=1.0)
    assert v.input_mismatches == ["0", "1", "2"] and v.n == 0 and v.verdict == "inconclusive"


def test_aggregate_only_comparison():
    b = [float(i % 5 != 0) for i in range(400)]  # 80 %
    v = compare(None, mk(b), margin=2.0, published=80.0, published_n=400)
    assert v.method == "aggregate-normal" and v.verdict == "inconclusive" and v.n_needed > 400
    far = compare(None, mk(b), margin=2.0, published=60.0, published_stderr=1.0)
    assert far.verdict == "fail"
