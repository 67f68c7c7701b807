"""The remote-code listing for people: each file ``auto_map`` names (and the release modules it imports), its
imports, and every call that reaches outside the release, with the line and the call as written.

Used by ``assay verify`` (a section after the claims) and ``assay inspect`` on a model folder or a ``.py`` file; rich
is imported on first use, as in cli.render.
``--json`` prints the :class:`~assay.verify.remote_code.RemoteCodeAudit` model itself, complete.
"""

from __future__ import annotations

from typing import Any

# The console is passed in (cli.render's ``out``): importing cli.render here would make a cycle with its verify table.
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _esc(text: object) -> str:
    from rich.markup import escape

    return escape(str(text))


def _one_line(source: str, width: int = 110) -> str:
    flat = " ".join(source.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _imports(rf: Any) -> str:
    parts = []
    for i in rf.imports:
        mark = {"release": f" → {i.resolved}", "missing": f" → {i.resolved} MISSING"}.get(i.status, "")
        parts.append(f"{i.module}{' (dynamic)' if i.dynamic else ''}{mark}")
    return ", ".join(dict.fromkeys(parts)) or "-"


def _detail(c: Any) -> str:
    if c.kind == "hub":
        bits = [f"{c.target} ({c.target_kind}), revision {c.revision or 'none'} ({c.pin})"]
        if c.candidates:
            bits.append("may be " + ", ".join(c.candidates[:2]))
        return "; ".join(bits)
    return f"{c.what}; target {c.target}" if c.kind == "write" and c.target else c.what


def remote_code_section(audit: Any, out: Any) -> None:
    """Print the listing on the console ``out`` (nothing when the release has no remote code)."""
    if audit is None or not audit.files:
        return
    from rich.table import Table

    t = Table(title="remote code (static: parsed, never executed)", title_justify="left")
    for col in ("where", "kind", "call as written", "finding"):
        t.add_column(col, overflow="fold")
    for rf in audit.files:
        named = f" — named by {', '.join(rf.named_by)}" if rf.named_by else ""
        if rf.status != "analyzed":
            t.add_row(_esc(rf.path), rf.role, f"[bold red]{rf.status}[/]", f"[bold red]{_esc(rf.reason)}[/]")
            continue
        sha = f"sha256 {rf.sha256[:16]}…" if rf.sha256 else ""
        t.add_row(f"[bold]{_esc(rf.path)}[/]", rf.role, _esc(f"{sha}{named}"), _esc(f"imports: {_imports(rf)}"))
        for c in rf.calls:
            style = _SEVERITY_STYLE[c.severity]
            t.add_row(
                _esc(f"  {c.file}:{c.line}"),
                c.kind,
                _esc(_one_line(c.source)),
                f"[{style}]{_esc(c.code)}[/] {_esc(_detail(c))}",
            )
        for f in rf.findings:
            if f.code == "not-analyzed":  # an import of a release module the release lacks
                t.add_row(_esc(f"  {f.where}"), "import", "", f"[bold red]not-analyzed[/] {_esc(f.message)}")
    out.print(t)
    if audit.config_repos:
        out.print(
            "  configs name other repositories: " + _esc(", ".join(f"{k} = {v}" for k, v in audit.config_repos.items()))
        )
