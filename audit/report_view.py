"""What a rendered audit report shows first, and how it words values: shared by ``report.md`` and ``report.html``.

Both open with the verdict and the findings, in one order: the claims that fail the audit (fail, error,
inconclusive, not-checked), then those only attested (reported, never verified, not failing the audit), then the
steps' warnings.  Each finding carries what was claimed beside what was measured, its evidence, what it would need
to be checked, and the anchor of its detail row further down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .model import AuditReport, ClaimResult

ICON = {"pass": "✔", "fail": "✘", "attested": "◌", "inconclusive": "?", "not-checked": "–", "error": "!"}
# Findings order: what fails the audit, worst first, then what is only attested.
FINDING_ORDER = ("fail", "error", "inconclusive", "not-checked", "attested")
# Findings shown in full per group (failing, attested); the rest are collapsed under a count.
SHOWN_FINDINGS = 25
NEEDS = {
    "network": "network access (to lock or pull the release)",
    "gpu": "a GPU (to load or re-run the model)",
    "samples": "per-sample logs",
    "lock": "a lock (assay lock)",
    "extra": "an optional dependency (an assay extra)",
    "data": "the training data",
    "weights": "the weights",
}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def fmt(v: Any, *, full: bool = False) -> str:
    """A claimed or measured value in words; a sha256 is shortened unless ``full``."""
    if v is None:
        return "–"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {fmt(x, full=full)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(fmt(x, full=full) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    s = str(v)
    return s[:16] + "…" if not full and _HEX64.fullmatch(s) else s


@dataclass(frozen=True)
class Compared:
    """One row of a finding's claimed-vs-measured table (``key`` is empty when the values are not keyed)."""

    key: str
    claimed: str
    measured: str
    differs: bool


def compare(c: ClaimResult) -> list[Compared]:
    """Claimed beside measured: key by key where both are records sharing keys, else the two values side by side."""
    d, m = c.declared, c.measured
    if d is None and m is None:
        return []
    if isinstance(d, dict) and isinstance(m, dict) and set(d) & set(m):
        keys = list(d) + [k for k in m if k not in d]
        return [
            Compared(
                str(k),
                fmt(d.get(k), full=True),
                fmt(m.get(k), full=True),
                d.get(k) is not None and m.get(k) is not None and d[k] != m[k],
            )
            for k in keys
        ]
    return [Compared("", fmt(d, full=True), fmt(m, full=True), False)]


def findings(r: AuditReport) -> list[ClaimResult]:
    """Every claim that is not a plain pass, in :data:`FINDING_ORDER` (the report's own order within a verdict)."""
    rank = {v: i for i, v in enumerate(FINDING_ORDER)}
    return sorted((c for c in r.claims if c.verdict != "pass"), key=lambda c: rank[c.verdict])


def warnings(r: AuditReport) -> list[tuple[str, str]]:
    """(step, warning) for every warning a step reported: shown with the findings, they do not fail the audit."""
    return [(s.name, w) for s in r.steps for w in s.summary.warnings]


def needs_text(c: ClaimResult) -> str:
    return "; ".join(NEEDS.get(n, n) for n in c.needs)


def section_of(c: ClaimResult) -> str:
    """The detail section a claim's row is in: ``files`` (verified artifacts) or ``claims`` (everything else)."""
    return "files" if c.kind == "file" else "claims"


def anchors(claims: list[ClaimResult]) -> dict[str, str]:
    """A unique HTML id (``claim-…``) for each claim id: its detail row's anchor, which the findings link to.

    Characters outside ``[A-Za-z0-9_.:-]`` become ``-`` (fragments then need no escaping); a clash gets a suffix.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for c in claims:
        if c.id in out:
            continue
        base = "claim-" + re.sub(r"[^A-Za-z0-9_.:-]", "-", c.id)
        slug, n = base, 1
        while slug in used:
            n += 1
            slug = f"{base}-{n}"
        used.add(slug)
        out[c.id] = slug
    return out


def tally(claims: list[ClaimResult]) -> str:
    """``53 pass, 1 fail``: the verdicts of some rows, most frequent first."""
    counts: dict[str, int] = {}
    for c in claims:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def verdict_sentence(r: AuditReport) -> str:
    """Why the audit passed or failed, in one sentence."""
    c = r.counts
    if r.verdict == "pass":
        extra = f"; {c.attested} attested only (reported, not verified)" if c.attested else ""
        return f"The audit passes: every claim that was checked holds at its declared level{extra}."
    parts = [
        f"{n} {what}"
        for n, what in (
            (c.failed, "failed"),
            (c.errors, "could not be checked (error)"),
            (c.inconclusive, "inconclusive"),
            (c.not_checked, "not checked"),
        )
        if n
    ]
    failed_steps = [s.name for s in r.steps if s.status == "error"]
    if failed_steps and not parts:
        parts.append(f"step(s) {', '.join(failed_steps)} crashed")
    return f"The audit fails: {', '.join(parts) or 'see the steps'} (of {c.total} claims)."
