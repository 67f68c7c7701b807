"""Rendering of typed results: rich tables for people, JSON for machines, progress bars in bytes on stderr."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

# rich is imported on first use: `--json` runs and non-terminal runs never pay for it.
_consoles: dict[str, Any] = {}


def _console(kind: str) -> Any:
    if kind not in _consoles:
        from rich.console import Console

        _consoles[kind] = Console(stderr=(kind == "err"), highlight=False, soft_wrap=False)
    return _consoles[kind]


class _Lazy:
    def __init__(self, kind: str) -> None:
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        return getattr(_console(self._kind), name)


out = _Lazy("out")
err = _Lazy("err")


def Table(*args: Any, **kwargs: Any) -> Any:  # stands in for rich.table.Table (imported on first use)
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


_STATUS_STYLE = {
    "ok": "green",
    "mismatch": "bold red",
    "size-mismatch": "bold red",
    "missing": "bold red",
    "unpinned": "yellow",
    "unsafe-path": "bold red",
    "unreadable": "bold red",
}
_VERDICT_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "attested": "cyan",
    "inconclusive": "yellow",
    "not-checked": "yellow",
    "error": "bold red",
}
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


class _RichProgress:
    """Adapter from the library's Progress protocol to a rich progress bar in bytes (thread-safe advance)."""

    def __init__(self, label: str) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=_console("err"),
            transient=True,
        )
        self._label = label
        self._task: Any = None  # a rich TaskID once started

    def start(self, total_bytes: int, files: int) -> None:
        if files:
            self._progress.start()
            self._task = self._progress.add_task(f"{self._label} {files} file{'s' * (files != 1)}", total=total_bytes)

    def advance(self, n: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def finish(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._task = None


@contextlib.contextmanager
def progress(label: str, json_out: bool) -> Iterator[_RichProgress | None]:
    """A byte progress bar on stderr when stderr is a terminal; nothing otherwise (CI logs stay clean)."""
    if not sys.stderr.isatty():
        yield None
        return
    bar = _RichProgress(label)
    try:
        yield bar
    finally:
        bar.finish()


def emit(result: BaseModel, json_out: bool, table: Callable[[Any], None]) -> None:
    if json_out:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        table(result)


def fmt_size(n: int | None) -> str:
    if n is None:
        return "-"
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if x < 1024 or unit == "TiB":
            return f"{x:,.0f} {unit}" if unit == "B" else f"{x:,.1f} {unit}"
        x /= 1024
    return str(x)  # pragma: no cover


def _files_table(files: list[Any], title: str) -> Any:
    t = Table(title=title, title_justify="left", show_lines=False)
    t.add_column("file", overflow="fold")
    t.add_column("role")
    t.add_column("status")
    t.add_column("size", justify="right")
    t.add_column("how verified")
    t.add_column("sha256", overflow="fold")
    how_text = {"hashed": "hashed now", "state": "trusted from state", "not-read": "not read"}
    for f in files:
        t.add_row(
            _esc(f.path),
            f.role,
            f"[{_STATUS_STYLE.get(f.status, '')}]{f.status}[/]",
            fmt_size(f.size),
            how_text.get(f.how, f.how),
            (f.sha256 or "")[:16] + ("…" if f.sha256 else ""),
        )
    return t


def _esc(text: Any) -> str:
    """Text from files (tensor names, paths, messages quoting them) is never rich markup: '[/x]' must print, not
    crash."""
    from rich.markup import escape

    return escape(str(text))


def _findings(findings: list[Any]) -> None:
    for f in findings:
        style = _SEVERITY_STYLE[f.severity]
        where = f"{f.where}: " if f.where else ""
        out.print(f"[{style}]{f.severity:>7}[/] {_esc(f'[{f.code}] {where}{f.message}')}", markup=True, highlight=False)


def _failed_files(files: list[Any]) -> None:
    for f in files:
        if f.status not in ("ok",):
            out.print(
                f"[bold red]  FAILED[/] {_esc(f.path)}: {f.status}" + (f" — {_esc(f.message)}" if f.message else "")
            )


def verify_table(r: Any) -> None:
    out.print(_files_table(r.files, f"assay verify — {r.release} ({'strict' if r.strict else 'incremental'})"))
    if r.claims:
        t = Table(title="claims", title_justify="left")
        for col in ("claim", "declared", "measured", "verdict"):
            t.add_column(col, overflow="fold")
        for c in r.claims:
            t.add_row(
                c.claim,
                fmt_value(c.declared),
                fmt_value(c.measured),
                f"[{_VERDICT_STYLE[c.verdict]}]{c.verdict}[/]" + (f" ({c.message})" if c.message else ""),
            )
        out.print(t)
    if r.remote_code is not None:
        from .render_remote_code import remote_code_section

        remote_code_section(r.remote_code, out)
    _findings(r.findings)
    _failed_files(r.files)
    s = r.summary
    how = f"{s.hashed} hashed ({fmt_size(s.bytes_hashed)}), {s.trusted_from_state} trusted from state"
    claims_ok = len(r.claims) - s.claims_failed
    if r.ok:
        out.print(
            f"[bold green]VERIFIED[/] {r.release}: {s.ok}/{s.files} files ok ({how}); "
            f"claims {claims_ok}/{len(r.claims)} hold; release digest {r.release_digest}; {s.seconds:.2f} s"
        )
    else:
        out.print(
            f"[bold red]FAILED[/] {r.release}: {s.failed} file(s) failed, {s.errors} error(s), "
            f"{s.claims_failed} claim(s) not holding ({how}); {s.seconds:.2f} s"
        )


def lock_table(r: Any) -> None:
    out.print(_files_table(r.files, f"assay lock — {r.manifest}"))
    _failed_files(r.files)
    if r.ok:
        out.print(f"[bold green]LOCKED[/] wrote {r.lock}; release digest {r.release_digest}")
    else:
        out.print(f"[bold red]NOT LOCKED[/] {r.message}")


def init_table(r: Any) -> None:
    out.print(_files_table(r.files, f"assay init — {r.folder}"))
    _findings(r.findings)
    if r.claims:
        out.print("measured claims: " + ", ".join(f"{k}={fmt_value(v)}" for k, v in r.claims.items()))
    if r.ok:
        out.print(f"[bold green]PACKAGED[/] wrote {r.manifest} and {r.lock}; release digest {r.release_digest}")
    else:
        out.print("[bold red]NOT PACKAGED[/]: structural errors above; fix the files first")


def inspect_table(r: Any) -> None:
    out.print(
        f"[bold]{_esc(r.path)}[/] ({r.format}): {r.tensors} tensors, {r.parameters:,} parameters, "
        f"dtypes {', '.join(r.dtypes) or '-'}"
    )
    if r.parameters_by_dtype:
        out.print("  parameters by dtype: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.parameters_by_dtype.items())))
    if r.pickle_globals:
        out.print("  pickle imports: " + _esc(", ".join(r.pickle_globals)))
    for e in r.errors:
        out.print(f"[bold red]  error[/] {_esc(e)}")
    for w in r.warnings:
        out.print(f"[yellow]warning[/] {_esc(w)}")
    out.print("[bold green]OK[/]" if r.ok else "[bold red]FAILED[/]")


def fmt_value(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {fmt_value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "-"
    return "-" if v is None else str(v)


_TRANSFER_STYLE = {
    "downloaded": "green",
    "resumed": "green",
    "present": "green",
    "uploaded": "green",
    "exists": "green",
    "mismatch": "bold red",
    "failed": "bold red",
    "skipped": "yellow",
}


def transfer_table(r: Any) -> None:
    """Pull and push results: one row per file, then a verdict line."""
    pulling = hasattr(r, "source")
    t = Table(title=f"assay {'pull' if pulling else 'push'} — {r.source if pulling else r.to}", title_justify="left")
    for col in ("file", "status", "size", "transferred", "sha256"):
        t.add_column(col, overflow="fold", justify="right" if col in ("size", "transferred") else "left")
    for f in r.files:
        t.add_row(
            f.path,
            f"[{_TRANSFER_STYLE.get(f.status, '')}]{f.status}[/]",
            fmt_size(f.size),
            fmt_size(f.bytes_transferred),
            (f.sha256 or "")[:16] + ("…" if f.sha256 else ""),
        )
    if r.files:
        out.print(t)
    for f in r.files:
        if f.message:
            out.print(f"[{_TRANSFER_STYLE.get(f.status, '')}]{f.status:>9}[/] {f.path}: {f.message}")
    moved = fmt_size(r.bytes_transferred)
    if r.ok:
        where = f"into {r.to}" if pulling else f"to {r.to}"
        out.print(
            f"[bold green]{'PULLED' if pulling else 'PUSHED'}[/] {len(r.files)} files {where} "
            f"({moved} transferred); "
            f"revision {r.revision}; release digest {r.release_digest or '- (partial pull)'}; {r.seconds:.2f} s"
        )
    else:
        bad = sum(f.status not in ("downloaded", "resumed", "present", "uploaded", "exists") for f in r.files)
        msg = getattr(r, "message", None)
        out.print(f"[bold red]FAILED[/] {bad} file(s) failed" + (f": {msg}" if msg else ""))


def diff_table(r: Any) -> None:
    out.print(f"[bold]a[/] {r.a}: {r.release_a} {r.release_digest_a or '(no lock)'}")
    out.print(f"[bold]b[/] {r.b}: {r.release_b} {r.release_digest_b or '(no lock)'}")
    if r.files:
        t = Table(title="files", title_justify="left")
        for col in ("file", "change", "before", "after"):
            t.add_column(col, overflow="fold")

        def ident(v: Any) -> str:
            if not v:
                return "-"
            where = f"{v['path']} " if "path" in v else ""
            return f"{where}{fmt_size(v.get('size'))} {(v.get('sha256') or '')[:12]}"

        style = {"added": "green", "removed": "red", "modified": "yellow", "renamed": "cyan"}
        for f in r.files:
            t.add_row(f.path, f"[{style[f.change]}]{f.change}[/]", ident(f.before), ident(f.after))
        out.print(t)
    for title, rows in (("release", r.release), ("sources", r.sources), ("claims", r.claims), ("scores", r.scores)):
        if rows:
            t = Table(title=title, title_justify="left")
            for col in ("key", "a", "b"):
                t.add_column(col, overflow="fold")
            for c in rows:
                t.add_row(c.key, fmt_value(c.before), fmt_value(c.after))
            out.print(t)
    out.print(
        "[bold green]IDENTICAL[/]"
        if r.identical
        else f"[bold yellow]DIFFERENT[/]: {len(r.files)} file(s), {len(r.claims)} claim(s), "
        f"{len(r.scores)} score(s) changed"
    )


_VERDICT_MARK = {
    "pass": "[green]pass[/]",
    "fail": "[bold red]FAIL[/]",
    "attested": "[dim]attested[/]",
    "inconclusive": "[yellow]inconclusive[/]",
    "not-checked": "[bold yellow]NOT CHECKED[/]",
    "error": "[bold red]ERROR[/]",
}


def audit_summary(r: Any, out_dir: Any) -> None:
    from ..audit.model import FAILING

    t = Table(title=f"assay audit — {r.release.name} {r.release.version}", title_justify="left")
    for col in ("step", "status", "claims", "failing", "seconds"):
        t.add_column(col, justify="right" if col in ("claims", "failing", "seconds") else "left")
    for s in r.steps:
        bad = sum(c.verdict in FAILING for c in s.claims)
        t.add_row(
            s.name,
            s.status + (" (reused)" if s.summary.reused else ""),
            str(len(s.claims)),
            f"[bold red]{bad}[/]" if bad else "0",
            f"{s.seconds:.2f}",
        )
    out.print(t)
    for c in r.claims:
        if c.verdict in FAILING:
            out.print(f"  {_VERDICT_MARK[c.verdict]} {c.id}: {c.message or ''}")
    k = r.counts
    head = "[bold green]PASS[/]" if r.verdict == "pass" else "[bold red]FAIL[/]"
    out.print(
        f"{head} {k.passed} passed, {k.failed} failed, {k.inconclusive} inconclusive, "
        f"{k.attested} attested only, "
        f"{k.not_checked} not checked, {k.errors} errors ({k.total} claims); report in {out_dir}/report.html"
    )


def export_table(r: Any) -> None:
    """``assay export`` (an ExportResult): the files written, warnings, schema errors."""
    t = Table(title=f"assay export {r.format} — {r.release} {r.version}", title_justify="left")
    t.add_column("file", overflow="fold")
    t.add_column("size", justify="right")
    t.add_column("sha256", overflow="fold")
    for f in r.files:
        t.add_row(f.path, f"{f.size:,}", f.sha256[:16] + "…")
    if r.files:
        out.print(t)
    for w in r.warnings:
        out.print(f"[yellow]warning[/] {w}", markup=True, highlight=False)
    for e in r.errors:
        out.print(f"[bold red]  error[/] {e}", markup=True, highlight=False)
    if not r.ok:
        out.print(
            f"[bold red]FAILED[/]: the {r.format} document does not pass its schema check; nothing written",
            markup=True,
            highlight=False,
        )


def log_export_lines(r: Any) -> None:
    """``assay export --log`` (a LogExportResult): one ``wrote PATH`` line per file on stdout, warnings on stderr."""
    for p in r.files:
        sys.stdout.write(f"wrote {p}\n")
    for w in r.warnings:
        sys.stderr.write(f"assay: warning: {w}\n")
