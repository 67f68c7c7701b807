"""``report.html``: a self-contained page that opens with the verdict and the findings.

Order: the verdict and why; the findings (each failing, inconclusive, not-checked, error and attested claim with what
was claimed beside what was measured, its evidence, what it needs, and a link to its detail row); the steps; the
claims; the charts; then the long tables (files, scorer-audit samples), collapsed in ``<details>`` with their counts
in the summary; then where and how the audit ran.

The page needs no network: CSS and a small script are inline, the charts are inline SVG drawn here (a mixture chart
of declared vs measured shares, and a published-vs-reproduced score chart with confidence intervals), so the file can
be archived and opened anywhere.  Without JavaScript every row is in the page (expand a table to see it); with it,
each table gets a text filter and a verdict filter, which ``?q=<text>&verdict=<verdict>`` in the address also sets,
and following a finding's link opens the collapsed table its row is in.  Everything from the release is
HTML-escaped; the report's JSON is embedded as ``<script type="application/json" id="assay-report">``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .model import AuditReport, ClaimResult
from .report_view import (
    ICON,
    SHOWN_FINDINGS,
    anchors,
    compare,
    findings,
    fmt,
    needs_text,
    section_of,
    tally,
    verdict_sentence,
    warnings,
)

# Tables with more rows than this start collapsed (the files and samples tables always do).
OPEN_ROWS = 50

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px}
body{color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}
h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
.verdict{display:inline-block;padding:.15rem .8rem;border-radius:1rem;font-weight:700;color:#fff;vertical-align:middle}
.v-pass{background:#1a7f37}.v-fail{background:#cf222e}.why{font-size:1.05rem;margin:.3rem 0}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #eaeef2;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
td code{overflow-wrap:anywhere}td.id{min-width:16rem}td.hash code{word-break:break-all}td.v{white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:12px}.pass{color:#1a7f37}
.fail,.error{color:#cf222e;font-weight:600}.inconclusive{color:#9a6700;font-weight:600}.attested{color:#57606a}
.not-checked{color:#9a6700}.counts span{margin-right:1rem}.meta{color:#57606a}
.finding{border:1px solid #d0d7de;border-left:4px solid #cf222e;border-radius:6px;padding:.5rem .8rem;margin:.6rem 0}
.finding.f-attested{border-left-color:#8c959f}
.finding.f-inconclusive,.finding.f-not-checked{border-left-color:#bf8700}
.finding h4{margin:0 0 .3rem;font-size:.95rem}.finding p{margin:.25rem 0}.finding table{width:auto;min-width:50%}
.finding td{overflow-wrap:anywhere}.finding th{white-space:nowrap}tr.differs td{background:#ffebe9}
.ok{color:#1a7f37;font-weight:600}tr:target,article:target{outline:2px solid #0969da}
details.long>summary,details.table>summary,details.more>summary{cursor:pointer;font-weight:600;margin:.4rem 0}
.filter{margin:.3rem 0}.filter input{width:18rem}.filter output{margin-left:.6rem;color:#57606a}
svg text{font:12px system-ui,sans-serif}
"""

# The filters and the link-following.  Hand-written (a few lines): the page must work offline and from a file:// URL,
# so it cannot load a library; without JavaScript the filter bars stay hidden and every row stays in the page.
_JS = """
(function(){
  var params = new URLSearchParams(location.search);
  var q0 = params.get('q') || '', v0 = params.get('verdict') || '';
  var boxes = document.querySelectorAll('[data-filterable]');
  Array.prototype.forEach.call(boxes, function(box){
    var bar = box.querySelector('.filter'), text = bar.querySelector('input'), sel = bar.querySelector('select');
    var shown = bar.querySelector('output');
    var rows = Array.prototype.slice.call(box.querySelectorAll('tbody tr'));
    var keys = rows.map(function(r){ return r.textContent.toLowerCase(); });
    function apply(){
      var q = text.value.trim().toLowerCase(), v = sel.value, n = 0;
      rows.forEach(function(r, i){
        var ok = (!v || r.getAttribute('data-verdict') === v) && (!q || keys[i].indexOf(q) >= 0);
        r.hidden = !ok; if (ok) { n++; }
      });
      shown.textContent = n + ' of ' + rows.length + ' shown';
    }
    box.assayReset = function(){ text.value = ''; sel.value = ''; apply(); };
    text.addEventListener('input', apply); sel.addEventListener('change', apply);
    bar.hidden = false;
    if (q0 || v0) {
      text.value = q0; sel.value = v0; if (sel.value !== v0) { sel.value = ''; }
      if (box.tagName === 'DETAILS') { box.open = true; }
    }
    apply();
  });
  function reveal(){
    var id = location.hash ? decodeURIComponent(location.hash.slice(1)) : '';
    var el = id && document.getElementById(id);
    if (!el) { return; }
    for (var p = el.parentElement; p; p = p.parentElement) {
      if (p.tagName === 'DETAILS') { p.open = true; }
      if (el.hidden && p.assayReset) { p.assayReset(); }
    }
    el.scrollIntoView();
  }
  window.addEventListener('hashchange', reveal);
  reveal();
})();
"""


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


# ---------------------------------------------------------------------------------------------------------- findings
def _finding(c: ClaimResult, anchor: str) -> str:
    rows = compare(c)
    table = ""
    if rows:
        keyed = any(x.key for x in rows)
        body = "".join(
            f"<tr{' class=differs' if x.differs else ''}>"
            + (f"<th>{_e(x.key)}</th>" if keyed else "")
            + f"<td>{_e(x.claimed)}</td><td>{_e(x.measured)}</td></tr>"
            for x in rows
        )
        head = ("<th></th>" if keyed else "") + "<th>claimed</th><th>measured</th>"
        table = f'<table class="cmp"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    evidence = "; ".join(
        f"{_e(ev.kind)} <code>{_e(ev.ref)}</code>"
        + (f" (sha256 <code>{_e(ev.sha256)}</code>)" if ev.sha256 else "")
        + (f": {_e(ev.note)}" if ev.note else "")
        for ev in c.evidence
    )
    where = f"step {_e(c.step)}" + (f" · level {_e(c.level)}" if c.level else "")
    section = section_of(c)
    return (
        f'<article class="finding f-{c.verdict}" id="finding-{_e(anchor)}" data-verdict="{c.verdict}" '
        f'data-claim="{_e(c.id)}"><h4><span class="{c.verdict}">{ICON[c.verdict]} {c.verdict}</span> '
        f"<code>{_e(c.id)}</code></h4>"
        + (f'<p class="msg">{_e(c.message)}</p>' if c.message else "")
        + table
        + (f"<p>Evidence: {evidence}</p>" if evidence else "")
        + (f'<p class="needs">To be checked it needs: {_e(needs_text(c))}</p>' if c.needs else "")
        + f'<p class="meta">{where} · <a href="#{_e(anchor)}">its row in {section.capitalize()} ↓</a></p></article>'
    )


def _cards(claims: list[ClaimResult], ids: dict[str, str], what: str) -> str:
    """The first SHOWN_FINDINGS findings, the rest collapsed (a release that was not pulled has one per file)."""
    cards = [_finding(c, ids[c.id]) for c in claims]
    if len(cards) <= SHOWN_FINDINGS:
        return "".join(cards)
    rest = cards[SHOWN_FINDINGS:]
    return (
        "".join(cards[:SHOWN_FINDINGS])
        + f'<details class="more"><summary>{len(rest)} more {what} findings ({_e(tally(claims[SHOWN_FINDINGS:]))})'
        + f"</summary>{''.join(rest)}</details>"
    )


def _findings_section(r: AuditReport, ids: dict[str, str]) -> str:
    found = findings(r)
    failing = [c for c in found if c.verdict != "attested"]
    attested = [c for c in found if c.verdict == "attested"]
    warned = warnings(r)
    parts = [f'<section id="findings"><h2>Findings ({len(failing)} failing, {len(attested)} attested only)</h2>']
    if failing:
        parts.append(f"<h3>Fail the audit ({len(failing)})</h3>")
        parts.append(_cards(failing, ids, "failing"))
    else:
        parts.append('<p class="ok" id="no-findings">No failing findings: every claim that was checked holds.</p>')
    if attested:
        parts.append(
            f"<h3>Attested only ({len(attested)}): declared so in the manifest; reported, never counted as "
            "verified, and they do not fail the audit</h3>"
        )
        parts.append(_cards(attested, ids, "attested"))
    if warned:
        parts.append(f"<h3>Warnings ({len(warned)}): they do not fail the audit</h3><ul>")
        parts += [f"<li>{_e(step)}: {_e(w)}</li>" for step, w in warned]
        parts.append("</ul>")
    parts.append("</section>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------------------------ tables
def _filterable(
    key: str,
    title: str,
    noun: str,
    head: list[str],
    rows: Sequence[tuple[str, str, str | None]],
    *,
    collapsed: bool | None = None,
) -> str:
    """A table in a ``<details>`` whose summary gives its counts, with a (script-shown) text and verdict filter.

    ``rows``: (verdict or other category the select filters on, cells html, anchor id or None).  ``collapsed``
    None: collapsed when longer than OPEN_ROWS.
    """
    counts: dict[str, int] = {}
    for v, _, _ in rows:
        counts[v] = counts.get(v, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    summary = f"{len(rows)} {noun}" + (": " + ", ".join(f"{n} {v}" for v, n in ranked) if rows else "")
    options = f'<option value="">all ({len(rows)})</option>' + "".join(
        f'<option value="{_e(v)}">{_e(v)} ({n})</option>' for v, n in ranked
    )
    bar = (
        f'<div class="filter" hidden><input type="search" aria-label="filter {_e(title)}" placeholder="filter rows…">'
        f' <select aria-label="show only">{options}</select><output></output></div>'
    )
    seen: set[str] = set()  # a claim id twice in a report: its anchor goes on the first row only
    trs = []
    for v, cells, anchor in rows:
        own = anchor if anchor and anchor not in seen else None
        seen.update([own] if own else [])
        trs.append(f'<tr data-verdict="{_e(v)}"' + (f' id="{_e(own)}"' if own else "") + f">{cells}</tr>")
    body = "".join(trs)
    thead = "".join(f"<th>{_e(h)}</th>" for h in head)
    shut = len(rows) > OPEN_ROWS if collapsed is None else collapsed
    return (
        f'<h2>{_e(title)}</h2><details class="{"long" if shut else "table"}" id="{key}" data-filterable'
        f"{'' if shut else ' open'}><summary>{_e(summary)}</summary>{bar}"
        f"<table><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table></details>"
    )


def _verdict_cell(v: str) -> str:
    return f'<td class="v {v}">{ICON[v]} {v}</td>'


def _claims_table(claims: list[ClaimResult], ids: dict[str, str]) -> str:
    rows = [
        (
            c.verdict,
            (
                f"{_verdict_cell(c.verdict)}<td class=id><code>{_e(c.id)}</code></td><td>{_e(fmt(c.declared))}</td>"
                f"<td>{_e(fmt(c.measured))}</td><td>{_e(c.message or '')}</td>"
            ),
            ids.get(c.id),
        )
        for c in claims
    ]
    return _filterable(
        "claims", "Claims", "claims", ["verdict", "claim", "declared", "measured", "evidence / note"], rows
    )


def _files_table(files: list[ClaimResult], ids: dict[str, str]) -> str:
    rows = [
        (
            x.verdict,
            (
                f"{_verdict_cell(x.verdict)}<td class=id><code>{_e(x.subject)}</code></td>"
                f'<td class="num">{_e(fmt((x.measured or {}).get("size")))}</td>'
                f"<td class=hash><code>{_e((x.measured or {}).get('sha256') or '–')}</code></td>"
                f"<td>{_e(x.message or '')}</td>"
            ),
            ids.get(x.id),
        )
        for x in files
    ]
    return _filterable("files", "Files", "files", ["verdict", "file", "bytes", "sha256", "note"], rows, collapsed=True)


def _samples_table(r: AuditReport) -> str:
    """The scorer audit, one row per sample that the harness's scorer and a strict one score differently."""
    rows: list[tuple[str, str, str | None]] = []
    for s in r.steps:
        for a in s.summary.scorer_audit:
            for only, ids in (("harness only", a.accepted_only_by_harness), ("strict only", a.accepted_only_by_strict)):
                for sid in ids:
                    # the filter's category is who accepted the sample (these rows are samples, not claims)
                    rows.append(
                        (
                            only,
                            (
                                f"<td>{_e(only)}</td><td>{_e(a.task)}</td><td>{_e(a.metric)}</td><td>{_e(a.filter)}</td>"
                                f"<td><code>{_e(sid)}</code></td><td>{_e(a.strict_scorer)}</td>"
                                f'<td class="num">{_e(fmt(a.harness))} / {_e(fmt(a.strict))}</td>'
                            ),
                            None,
                        )
                    )
    if not rows:
        return ""
    return _filterable(
        "samples",
        "Scorer audit: samples the harness's scorer and a strict one score differently",
        "samples",
        ["accepted by", "task", "metric", "filter", "sample", "strict scorer", "aggregate harness / strict"],
        rows,
        collapsed=True,
    )


def _steps_table(r: AuditReport) -> str:
    def cls(status: str) -> str:
        if status in ("ok", "not-applicable"):
            return "pass"
        return "fail" if status in ("failed", "error") else "not-checked"

    rows = "".join(
        f'<tr><td>{_e(s.name)}</td><td class="{cls(s.status)}">{_e(s.status)}'
        f'{" (reused)" if s.summary.reused else ""}</td><td class="num">{s.seconds:.2f}</td>'
        f'<td class="num">{len(s.claims)}</td><td>{_e(tally(s.claims))}</td><td>{_e(s.error or "")}'
        + (f" ({len(s.summary.warnings)} warning(s))" if s.summary.warnings else "")
        + "</td></tr>"
        for s in r.steps
    )
    return (
        '<h2 id="steps">Steps</h2><table><thead><tr><th>step</th><th>status</th><th>seconds</th><th>claims</th>'
        f"<th>verdicts</th><th>error</th></tr></thead><tbody>{rows}</tbody></table>"
    )


# ------------------------------------------------------------------------------------------------------------ charts
def _bar_chart(
    title: str,
    rows: list[dict[str, Any]],
    *,
    label: str,
    a: str,
    b: str,
    a_name: str,
    b_name: str,
    lo: str | None = None,
    hi: str | None = None,
    scale: float | None = None,
) -> str:
    """Grouped horizontal bars (a vs b per row) with optional error bars on b; inline SVG."""
    if not rows:
        return ""
    vmax = scale or max([abs(float(r.get(k) or 0)) for r in rows for k in (a, b, hi or b)] + [1e-9])
    width, left, bar, gap = 760, 200, 12, 14
    height = len(rows) * (2 * bar + gap) + 40
    parts = [
        (
            f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        )
    ]
    span = width - left - 80
    y = 10
    for r in rows:
        parts.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{_e(r.get(label))}</text>')
        for i, (key, color) in enumerate(((a, "#8c959f"), (b, "#0969da"))):
            v = r.get(key)
            if v is None:
                continue
            w = max(1.0, span * abs(float(v)) / vmax)
            yy = y + i * bar
            parts.append(
                f'<rect x="{left}" y="{yy}" width="{w:.1f}" height="{bar - 2}" fill="{color}">'
                f"<title>{_e(a_name if i == 0 else b_name)}: {float(v):.4g}</title></rect>"
            )
            parts.append(f'<text x="{left + w + 4:.1f}" y="{yy + bar - 3}">{float(v):.4g}</text>')
        if lo and hi and r.get(lo) is not None and r.get(hi) is not None:
            x1 = left + span * float(r[lo]) / vmax
            x2 = left + span * float(r[hi]) / vmax
            ym = y + bar + bar / 2 - 1
            parts.append(f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{ym}" y2="{ym}" stroke="#1b1f24" stroke-width="1.5"/>')
            for x in (x1, x2):
                parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{ym - 4}" y2="{ym + 4}" stroke="#1b1f24"/>')
        y += 2 * bar + gap
    parts.append(
        f'<rect x="{left}" y="{height - 22}" width="10" height="10" fill="#8c959f"/>'
        f'<text x="{left + 14}" y="{height - 13}">{_e(a_name)}</text>'
        f'<rect x="{left + 160}" y="{height - 22}" width="10" height="10" fill="#0969da"/>'
        f'<text x="{left + 174}" y="{height - 13}">{_e(b_name)}</text></svg>'
    )
    return f"<h2>{_e(title)}</h2>" + "".join(parts)


def _charts(r: AuditReport) -> str:
    mixture = [bar.model_dump() for s in r.steps if s.name == "data" for bar in s.summary.mixture]
    scores = [p.model_dump() for s in r.steps if s.name in ("rescore", "rerun") for p in s.summary.scores]
    return _bar_chart(
        "Data mixture: declared vs measured share",
        mixture,
        label="name",
        a="declared",
        b="measured",
        a_name="declared",
        b_name="measured",
        scale=1.0,
    ) + _bar_chart(
        "Scores: published vs reproduced (error bars: confidence interval of the reproduction)",
        scores,
        label="name",
        a="published",
        b="reproduced",
        a_name="published",
        b_name="reproduced",
        lo="ci_low",
        hi="ci_high",
    )


# -------------------------------------------------------------------------------------------------------------- page
def _header(r: AuditReport) -> str:
    c = r.counts
    counts = (
        f'<span class="pass">{c.passed} passed</span>'
        f'<span class="{"fail" if c.failed else "meta"}">{c.failed} failed</span>'
        f'<span class="{"inconclusive" if c.inconclusive else "meta"}">{c.inconclusive} inconclusive</span>'
        f'<span class="attested">{c.attested} attested only</span>'
        f'<span class="{"error" if c.errors else "meta"}">{c.errors} errors</span>'
        f'<span class="{"not-checked" if c.not_checked else "meta"}">{c.not_checked} not checked</span>'
        f" of {c.total} claims"
    )
    return (
        f'<h1><span class="verdict v-{r.verdict}" id="verdict">{r.verdict.upper()}</span> '
        f"Audit of {_e(r.release.name)} {_e(r.release.version)}</h1>"
        f'<p class="why">{_e(verdict_sentence(r))}</p><p class="counts">{counts}</p>'
    )


def _about(r: AuditReport) -> str:
    notes = "".join(f"<li>{_e(n)}</li>" for n in r.notes)
    return (
        f'<h2 id="about">About this audit</h2><p class="meta">Publisher {_e(r.release.publisher or "–")} · '
        f"licence {_e(r.release.license or '–')} · release digest "
        f"<code>{_e(r.release.release_digest or 'not established (files did not all verify)')}</code><br>"
        f"manifest <code>{_e(r.release.manifest)}</code> (sha256 <code>{_e(r.release.manifest_sha256)}</code>) · "
        f"source {_e(r.source or 'local files')}<br>{_e(r.generated_by)} · Python {_e(r.environment.python)} · "
        f"{_e(r.environment.platform)} · {r.environment.cpu_count} CPUs · torch {_e(r.environment.torch or '–')} · "
        f"{r.seconds:.2f} s</p>" + (f"<ul>{notes}</ul>" if notes else "")
    )


def _embedded_json(r: AuditReport) -> str:
    """The report's JSON, safe inside ``<script>``: ``<``, ``>`` and ``&`` as JSON escapes, so the element's text
    is the JSON itself (``JSON.parse(el.textContent)``), and no ``</script>`` in the release's strings can end it."""
    text = r.model_dump_json(by_alias=True)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def to_html(r: AuditReport) -> str:
    ids = anchors(r.claims)
    files = [x for x in r.claims if x.kind == "file"]
    others = [x for x in r.claims if x.kind != "file"]
    body = (
        _header(r)
        + _findings_section(r, ids)
        + _steps_table(r)
        + _claims_table(others, ids)
        + _charts(r)
        + _files_table(files, ids)
        + _samples_table(r)
        + _about(r)
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>assay audit: {_e(r.release.name)} {_e(r.release.version)} — {r.verdict.upper()}</title>"
        f"<style>{_CSS}</style></head><body>{body}"
        f'<script type="application/json" id="assay-report">{_embedded_json(r)}</script>'
        f"<script>{_JS}</script></body></html>\n"
    )
