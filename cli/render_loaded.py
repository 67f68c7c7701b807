"""Table for ``assay verify --load``: the model as loaded (rich, imported on first use through cli.render)."""

from __future__ import annotations

from typing import Any

from .render import Table, fmt_size, out

_STYLE = {"pass": "green", "fail": "bold red", "not-checked": "bold red", "error": "bold red"}
_SEVERITY = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _esc(text: object) -> str:
    from rich.markup import escape

    return escape(str(text))


def loaded_table(r: Any) -> None:
    """What transformers loaded, the tensors that are not the checkpoint's, the files and network it reached for."""
    from .render import verdict_line

    word = {"pass": "pass", "fail": "fail", "not-checked": "not-checked"}.get(r.verdict, "fail")
    headline = {"pass": "loaded as released", "fail": "not as released", "not-checked": "load not checked"}
    verdict_line(word, f"{r.release}: {headline.get(r.verdict, 'load error')}")
    title = f"assay verify --load — {r.release} ({r.model_dir})"
    bad = [t for t in r.tensors if t.status not in ("same", "converted", "upcast", "tied")]
    if bad:
        t = Table(title=title + ": tensors that are not the checkpoint's", title_justify="left")
        for col in ("checkpoint key", "loaded as", "status", "checkpoint sha256", "loaded sha256"):
            t.add_column(col, overflow="fold")
        for row in bad[:50]:
            t.add_row(
                _esc(row.name),
                _esc(row.loaded_as or "-"),
                _esc(row.status),
                (row.sha256 or "-")[:16],
                (row.loaded_sha256 or "-")[:16],
            )
        out.print(t)
        if len(bad) > 50:
            out.print(f"… and {len(bad) - 50} more")
    outside = [f for f in r.files if f.where == "elsewhere"]
    if outside or r.network:
        t = Table(title="reached outside the release", title_justify="left")
        for col in ("what", "target", "from"):
            t.add_column(col, overflow="fold")
        for f in outside:
            t.add_row(f"file ({f.mode}, {f.holds})", _esc(f.path), _esc(f.origin or "-"))
        for n in r.network:
            t.add_row(_esc(f"{n.kind} {n.detail or ''}".strip()), _esc(n.target), _esc(n.origin or "-"))
        out.print(t)
    for f in r.findings:
        if f.severity == "info" and f.code in ("tied-tensor", "upcast-tensor"):
            continue  # counted in the summary line
        where = f"{f.where}: " if f.where else ""
        out.print(
            f"[{_SEVERITY[f.severity]}]{f.severity:>7}[/] {_esc(f'[{f.code}] {where}{f.message}')}", highlight=False
        )
    verdict = r.verdict
    style = _STYLE.get(verdict, "bold red")
    if r.status == "loaded":
        detail = (
            f"{r.matched}/{r.checkpoint_tensors} checkpoint tensors loaded unchanged, {r.loaded_tensors} "
            f"tensors in {r.model_class or 'the model'} ({fmt_size(r.weights_bytes)}), "
            f"{sum(f.where == 'release' for f in r.files)} release files read, {len(r.network)} network "
            f"attempt(s); {r.seconds:.1f} s"
        )
    else:
        detail = f"{r.status}: {r.reason or 'no reason recorded'}"
        if r.needs:
            detail += f" (needs: {', '.join(r.needs)})"
    label = {
        "pass": "LOADED AS RELEASED",
        "fail": "NOT AS RELEASED",
        "not-checked": "NOT CHECKED",
        "error": "LOAD ERROR",
    }.get(verdict, verdict.upper())
    out.print(f"[{style}]{label}[/] {_esc(r.release)}: {_esc(detail)}", highlight=False)
