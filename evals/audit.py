"""Scorer audit: beside the harness's own scorer, a strict scorer where one is well defined.

For every sample whose target admits a strict scorer (:func:`assay.evals.scorers.strict_scorer_for`: numeric
equality of the final number, exact choice letter / index, normalised exact match of the whole output), the audit
records whether the harness accepted it and whether the strict scorer does, and lists the samples on which they
disagree, with both aggregates.  Example: Inspect's ``match()`` (location="end") accepts "The answer is 11" for
target "1" because it only compares the end of the string; strict numeric equality rejects it.  Inspect's
``choice()`` is audited with ``choice-format``: the completion's last line must be exactly ``ANSWER: <letters>``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from .results import AuditRow
from .samples import Sample
from .scorers import strict_scorer_for


class AuditAccumulator:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], dict] = {}

    def add(
        self,
        sample: Sample,
        metric: str,
        harness_value: float | None,
        strict: tuple[str, Callable[[Sample], float]] | None = None,
        label: str | None = None,
    ) -> None:
        """Record one sample; ``strict`` overrides the strict scorer chosen from the target's shape (e.g. the
        strict answer format of a multiple-choice scorer); ``label`` names the sample in the lists (default: its
        id; with epochs, the (id, epoch) pair)."""
        if harness_value is None:
            return
        picked = strict or strict_scorer_for(sample)
        if picked is None:
            return
        name, fn = picked
        key = (sample.task, metric, sample.filter)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = {"names": defaultdict(int), "h": [], "s": [], "only_h": [], "only_s": []}
        strict_value = fn(sample)
        row["names"][name] += 1
        row["h"].append(harness_value)
        row["s"].append(strict_value)
        h_ok, s_ok = harness_value >= 1.0, strict_value >= 1.0
        if h_ok and not s_ok:
            row["only_h"].append(label or sample.id)
        elif s_ok and not h_ok:
            row["only_s"].append(label or sample.id)

    def rows(self) -> list[AuditRow]:
        out = []
        for (task, metric, filt), r in self._rows.items():
            n = len(r["h"])
            names = "+".join(sorted(r["names"]))
            out.append(
                AuditRow(
                    task=task,
                    metric=metric,
                    filter=filt,
                    strict_scorer=names,
                    harness=sum(r["h"]) / n if n else None,
                    strict=sum(r["s"]) / n if n else None,
                    n=n,
                    accepted_only_by_harness=r["only_h"][:200],
                    accepted_only_by_strict=r["only_s"][:200],
                )
            )
        return out
