"""Tables for ``assay data check`` and ``assay rebuild`` (rich, imported on first use through cli.render)."""

from __future__ import annotations

from typing import Any

from .render import Table, claims_line, fmt_size, fmt_value, out

_VERDICT_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "not-checked": "bold red",
    "attested": "yellow",
    "inconclusive": "bold red",
    "error": "bold red",
    "measured": "cyan",
    "bit-exact": "green",
    "tolerance": "green",
    "needs-evaluation": "yellow",
    "differs": "bold red",
    "missing": "bold red",
    "unpinned": "bold red",
    "rebuilt": "green",
    "refused": "bold red",
    "failed": "bold red",
    "not-run": "yellow",
}


def _esc(text: object) -> str:
    from rich.markup import escape

    return escape(str(text))


def _style(word: str | None) -> str:
    if word is None:
        return "-"
    style = _VERDICT_STYLE.get(word)
    return f"[{style}]{_esc(word)}[/]" if style else _esc(word)


def _count_cell(comp: Any, field: str) -> str:
    c = next((x for x in comp.counts if x.field == field), None)
    measured = (comp.measured or {}).get(field)
    if c is None:
        return "-" if measured is None else f"{measured:,}"
    if c.verdict == "attested":
        return f"{c.declared:,} (attested)"
    if c.verdict is None:  # informational: nothing declared
        return f"{c.measured:,}"
    shown = "?" if c.measured is None else f"{c.measured:,}"
    mark = "" if c.verdict == "pass" else f" ≠ {c.declared:,}" if c.verdict == "fail" else f" (declared {c.declared:,})"
    return f"[{_VERDICT_STYLE[c.verdict]}]{shown}{mark}[/]"


def data_check_table(r: Any, files: bool = False) -> None:
    """The verdict line, the components and mixture claims, what does not hold; each file's DVC digests with
    ``files``; then the counts."""
    claims_line(r.release, r.ok, r.to_claims())
    t = Table(title=f"assay data check — {r.release}", title_justify="left")
    for col in ("component", "status", "weight", "tags", "files", "documents", "tokens", "bytes", "epochs"):
        t.add_column(
            col, overflow="fold", justify="right" if col in ("documents", "tokens", "bytes", "epochs") else "left"
        )
    for c in r.components:
        ok_files = sum(f.status == "ok" for f in c.files)
        file_count = f"{ok_files}/{len(c.files)} ok" if c.files else "-"
        t.add_row(
            c.name,
            _style(c.status),
            c.weight or "-",
            ", ".join(c.tags) or "-",
            file_count,
            _count_cell(c, "documents"),
            _count_cell(c, "tokens"),
            _count_cell(c, "bytes"),
            "-" if c.epochs is None else f"{c.epochs:.3g}",
        )
    out.print(t)
    if r.mixture:
        m = Table(title="mixture claims", title_justify="left")
        for col in ("claim", "declared", "from declaration", "from data", "verdict"):
            m.add_column(col, overflow="fold")
        for x in r.mixture:
            m.add_row(
                x.check,
                fmt_value(x.declared),
                fmt_value(x.from_declaration),
                fmt_value(x.from_data),
                _style(x.verdict or "measured"),
            )
        out.print(m)
    for c in r.components:
        if c.reason:
            out.print(f"{_style(c.status):>10} {c.name}: {_esc(c.reason)}")
        for f in c.files if files else ():
            if f.dvc_md5:
                out.print(
                    f"      dvc {c.name}/{f.path}: {f.dvc_hash or 'md5'} {f.dvc_md5} -> sha256 "
                    f"{f.sha256 or '?'} ({f.how})"
                )
    for x in r.mixture:
        if x.verdict not in ("pass", None) and x.message:
            out.print(f"{_style(x.verdict):>10} {x.check}: {_esc(x.message)}")
    for f in r.findings:
        style = {"error": "bold red", "warning": "yellow", "info": "cyan"}[f.severity]
        out.print(
            f"[{style}]{f.severity:>7}[/] [{_esc(f.code)}] {_esc(f.where) + ': ' if f.where else ''}{_esc(f.message)}"
        )
    s = r.summary
    tokens = "-" if s.tokens_counted is None else f"{s.tokens_counted:,}"
    line = (
        f"{s.verified} verified, {s.attested} attested only, {s.failed} failed, {s.unverifiable} unverifiable; "
        f"{s.files_hashed} files hashed ({fmt_size(s.bytes_hashed)}); {s.documents_counted:,} documents and "
        f"{tokens} "
        f"tokens recounted ({r.executor}); {s.mixture_checks_failed} mixture claim(s) not holding; "
        f"{s.seconds:.2f} s"
    )
    out.print(("[green]data ok[/]: " if r.ok else "[bold red]data failed[/]: ") + line)


def rebuild_table(r: Any) -> None:
    """The verdict line, one row per recipe output, what went wrong, each recipe's environment, the summary."""
    claims_line(r.release, r.ok, r.to_claims(), noun="output")
    t = Table(title=f"assay rebuild — {r.release}", title_justify="left")
    for col in ("recipe", "step", "status", "output", "declared tier", "reached", "verdict", "sha256"):
        t.add_column(col, overflow="fold")
    for rec in r.recipes:
        if not rec.outputs:
            t.add_row(rec.name, rec.step, _style(rec.status), "-", "-", "-", "-", "")
        for o in rec.outputs:
            t.add_row(
                rec.name,
                rec.step,
                _style(rec.status),
                o.path,
                o.declared_tier,
                _style(o.reached),
                _style(o.verdict),
                (o.sha256 or "")[:16] + ("…" if o.sha256 else ""),
            )
    out.print(t)
    for rec in r.recipes:
        if rec.message:
            out.print(f"{_style(rec.status):>10} {rec.name}: {_esc(rec.message)}")
        for o in rec.outputs:
            if o.message:
                out.print(f"{_style(o.verdict):>10} {rec.name} {o.path}: {_esc(o.message)}")
        if rec.environment:
            e = rec.environment
            out.print(
                f"      env {rec.name}: python {e.get('python')}, torch {e.get('torch')}, "
                f"threads {e.get('threads')}, "
                f"cpu {e.get('cpu_capability')}, seed {e.get('seed')}"
            )
    verdict = "[green]rebuilt[/]" if r.ok else "[bold red]rebuild failed[/]"
    out.print(f"{verdict}: {_esc(r.summary)}; work dir {_esc(r.workdir)}; {r.seconds:.2f} s")
