"""Stratified, seeded subsets of eval items for cheap audits (``assay rerun --limit N``).

The choice depends only on the seed and the item ids (a hash rank within each stratum), never on the order of a log,
the Python version or the hash seed; a larger ``n`` keeps every item a smaller one chose in that stratum.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..manifests.errors import InputError

T = TypeVar("T")
AUTO_STRATA = ("subtask", "subject", "category", "subcategory", "split", "source", "type", "level", "difficulty")


def _rank(seed: int, stratum: str, item_id: str) -> bytes:
    return hashlib.sha256(f"assay-subset-v1\n{seed}\n{stratum}\n{item_id}".encode()).digest()


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Proportional allocation of ``n`` draws over strata (largest remainder; ties by stratum name).

    When ``n`` is at least the number of strata, every stratum gets at least one item (taken from the largest
    allocations), so no stratum disappears from a cheap audit.
    """
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    quotas = {k: n * v / total for k, v in sizes.items()}
    alloc = {k: min(sizes[k], math.floor(q)) for k, q in quotas.items()}
    left = n - sum(alloc.values())
    for k in sorted(sizes, key=lambda k: (-(quotas[k] - math.floor(quotas[k])), k)):
        if left <= 0:
            break
        if alloc[k] < sizes[k]:
            alloc[k] += 1
            left -= 1
    if n >= len(sizes):
        for k in sorted(k for k in sizes if alloc[k] == 0 and sizes[k] > 0):
            donor = max((d for d in alloc if alloc[d] > 1), key=lambda d: (alloc[d], d), default=None)
            if donor is None:
                break
            alloc[donor] -= 1
            alloc[k] += 1
    return alloc


def stratified_subset(
    items: Sequence[T], n: int, *, stratum: Callable[[T], str], item_id: Callable[[T], str], seed: int = 0
) -> list[T]:
    """A seeded, stratified sample of ``n`` items, in their original order.

    Strata get proportional shares (:func:`allocate`); within a stratum the items with the smallest
    ``sha256(seed, stratum, id)`` are kept, so the choice depends only on the seed and the ids (not on the order of the
    log, the Python version or the hash seed), and a larger ``n`` keeps every item a smaller one chose in that stratum.
    """
    if n < 0:
        raise InputError("--limit must be ≥ 0")
    if n >= len(items):
        return list(items)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[stratum(it)].append(i)
    alloc = allocate({k: len(v) for k, v in groups.items()}, n)
    keep: set[int] = set()
    for k, idx in groups.items():
        ranked = sorted(idx, key=lambda i: _rank(seed, k, item_id(items[i])))
        keep.update(ranked[: alloc[k]])
    return [it for i, it in enumerate(items) if i in keep]


def field_value(sample, path: str) -> Any:
    """A dotted field of a sample: ``task``, ``target``, ``meta.subject``, ``meta.doc.category``…"""
    cur: Any = sample
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        else:
            cur = getattr(cur, part, None)
        if cur is None:
            return None
    return cur


def pick_stratum_field(samples: Sequence[Any], requested: str | None) -> str | None:
    """``auto``: the first of :data:`AUTO_STRATA` present in every sample's ``meta`` (with ≥ 2 values); else None."""
    if requested and requested not in ("auto", "none"):
        return requested
    if requested == "none" or not samples:
        return None
    for key in AUTO_STRATA:
        values = [field_value(s, f"meta.{key}") for s in samples]
        if all(v is not None and not isinstance(v, (dict, list)) for v in values) and len(set(map(str, values))) > 1:
            return f"meta.{key}"
    return None
