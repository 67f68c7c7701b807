"""Render an :class:`AuditReport` as ``report.json``, ``report.md`` and a self-contained ``report.html``.

``report.md`` and ``report.html`` share one order (:mod:`assay.audit.report_view`): the verdict and why, the
findings (every claim that is not a plain pass, with what was claimed beside what was measured, its evidence and
what it needs), the steps, the claims, then the files (collapsed).  The HTML is in :mod:`assay.audit.render_html`.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..manifests.fsio import write_atomic
from .model import AuditReport, ClaimResult
from .render_html import to_html as to_html
from .report_view import (
    ICON,
    SHOWN_FINDINGS,
    compare,
    findings,
    fmt,
    needs_text,
    section_of,
    tally,
    verdict_sentence,
    warnings,
)


# --------------------------------------------------------------------------------------------------------- markdown
def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _md_finding(c: ClaimResult) -> list[str]:
    lines = [f"- **{ICON[c.verdict]} {c.verdict}** `{c.id}`" + (f": {_md(c.message)}" if c.message else "")]
    rows = compare(c)
    if len(rows) == 1 and not rows[0].key:
        lines.append(f"  - claimed {rows[0].claimed}; measured {rows[0].measured}")
    for x in rows if len(rows) > 1 or (rows and rows[0].key) else []:
        mark = " **(differs)**" if x.differs else ""
        lines.append(f"  - {x.key}: claimed {x.claimed}; measured {x.measured}{mark}")
    for ev in c.evidence:
        note = f": {ev.note}" if ev.note else ""
        lines.append(f"  - evidence: {ev.kind} `{ev.ref}`" + (f" (sha256 `{ev.sha256}`)" if ev.sha256 else "") + note)
    if c.needs:
        lines.append(f"  - to be checked it needs: {needs_text(c)}")
    section = section_of(c)
    lines.append(
        f"  - step {c.step}" + (f", level {c.level}" if c.level else "") + f"; its row: [{section}](#{section})"
    )
    return lines


def _md_findings(claims: list[ClaimResult], what: str) -> list[str]:
    """The first SHOWN_FINDINGS findings, the rest collapsed where markdown renders HTML (as in report.html)."""
    lines = [line for c in claims[:SHOWN_FINDINGS] for line in _md_finding(c)]
    rest = claims[SHOWN_FINDINGS:]
    if rest:
        lines += ["", f"<details><summary>{len(rest)} more {what} findings ({tally(rest)})</summary>", ""]
        lines += [line for c in rest for line in _md_finding(c)]
        lines += ["", "</details>"]
    return lines


def to_markdown(r: AuditReport) -> str:
    c = r.counts
    lines = [
        f"# Audit of {r.release.name} {r.release.version}",
        "",
        (
            f"**Verdict: {r.verdict.upper()}** — {c.passed} passed, {c.failed} failed, {c.inconclusive} inconclusive, "
            f"{c.attested} attested only, {c.not_checked} not checked, {c.errors} errors ({c.total} claims)."
        ),
        "",
        verdict_sentence(r),
        "",
        "## Findings",
        "",
    ]
    found = findings(r)
    failing = [x for x in found if x.verdict != "attested"]
    attested = [x for x in found if x.verdict == "attested"]
    if failing:
        lines += [f"### Fail the audit ({len(failing)})", "", *_md_findings(failing, "failing")]
    else:
        lines.append("No failing findings: every claim that was checked holds.")
    if attested:
        lines += [
            "",
            f"### Attested only ({len(attested)}): reported, never counted as verified, not failing the audit",
            "",
        ]
        lines += _md_findings(attested, "attested")
    warned = warnings(r)
    if warned:
        lines += ["", f"### Warnings ({len(warned)}): they do not fail the audit", ""]
        lines += [f"- {step}: {_md(w)}" for step, w in warned]
    lines += ["", "## Steps", "", "| step | status | seconds | claims | verdicts |", "|---|---|---:|---:|---|"]
    for s in r.steps:
        lines.append(
            f"| {s.name} | {s.status}{' (reused)' if s.summary.reused else ''} | {s.seconds:.2f} | {len(s.claims)} "
            f"| {tally(s.claims)} |"
        )
    others = [x for x in r.claims if x.kind != "file"]
    files = [x for x in r.claims if x.kind == "file"]
    lines += ["", "## Claims", "", *_md_claims(others)]
    if files:
        # Collapsed where markdown renders HTML (GitHub, GitLab); a plain table elsewhere.
        lines += [
            "",
            "## Files",
            "",
            f"<details><summary>{len(files)} files ({tally(files)})</summary>",
            "",
            *_md_claims(files),
            "",
            "</details>",
        ]
    lines += [
        "",
        "## About this audit",
        "",
        f"- Publisher: {r.release.publisher or '–'}; licence: {r.release.license or '–'}",
        f"- Manifest: `{r.release.manifest}` (sha256 `{r.release.manifest_sha256}`)",
        f"- Release digest: `{r.release.release_digest or 'not established (files did not all verify)'}`",
        f"- Source: {r.source or 'local files'}",
        (
            f"- Generated by {r.generated_by} on Python {r.environment.python}, {r.environment.platform}, "
            f"{r.environment.cpu_count} CPUs, torch {r.environment.torch or '–'}; {r.seconds:.2f} s"
        ),
        *[f"- {n}" for n in r.notes],
    ]
    return "\n".join(lines) + "\n"


def _md_claims(claims: list[ClaimResult]) -> list[str]:
    return ["| | claim | declared | measured | verdict |", "|---|---|---|---|---|"] + [
        f"| {ICON[cl.verdict]} | `{cl.id}` | {_md(fmt(cl.declared))} | {_md(fmt(cl.measured))} | {cl.verdict} |"
        for cl in claims
    ]


def write_reports(report: AuditReport, out: Path) -> dict[str, Path]:
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    write_atomic(paths["json"], json.dumps(report.model_dump(mode="json", by_alias=True), indent=2) + "\n")
    write_atomic(paths["md"], to_markdown(report))
    write_atomic(paths["html"], to_html(report))
    return paths
