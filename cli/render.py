"""Rendering of typed results: rich tables for people, JSON for machines, progress bars in bytes on stderr."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

# rich is imported on first use: `--json` runs and non-terminal runs never pay for it.
_consoles: dict[str, Any] = {}


def console_for(kind: str) -> Any:
    if kind not in _consoles:
        from rich.console import Console

        _consoles[kind] = Console(stderr=(kind == "err"), highlight=False, soft_wrap=False)
    return _consoles[kind]


class _Lazy:
    def __init__(self, kind: str) -> None:
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        return getattr(console_for(self._kind), name)


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
    """Adapter from the library's Progress protocol to one rich progress line on stderr (thread-safe advance).

    ``start``/``advance``/``finish`` are the protocol (a byte bar while files are hashed or transferred); ``step``
    (used by the audit) names the step that runs, with a pulsing bar and the elapsed time until bytes are counted.
    """

    def __init__(self, label: str) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )
        from rich.text import Text

        class WhenSized(ProgressColumn):
            """A column shown only once the total is known (bytes make no sense while a step only runs)."""

            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def render(self, task: Any) -> Any:
                return self.inner.render(task) if task.total is not None else Text("")

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            WhenSized(DownloadColumn(binary_units=True)),
            WhenSized(TransferSpeedColumn()),
            TimeElapsedColumn(),
            console=console_for("err"),
            transient=True,
        )
        self._label = label
        self._task: Any = None  # a rich TaskID while shown
        self._step: str | None = None
        self._running = False

    def _show(self, description: str, total: int | None) -> None:
        if not self._running:
            self._progress.start()
            self._running = True
        if self._task is not None:  # a new line, not reset(): rich cannot set a total back to None (unknown)
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description, total=total)

    def step(self, name: str) -> None:
        self._step = name
        self._show(f"{self._label}: {name}", None)

    def start(self, total_bytes: int, files: int) -> None:
        if files:
            what = f"{files} file{'s' * (files != 1)}"
            self._show(f"{self._label}: {self._step} {what}" if self._step else f"{self._label} {what}", total_bytes)

    def advance(self, n: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def finish(self) -> None:
        """The hashing or transfer is done; during an audit the line goes on showing the step."""
        if self._step is not None and self._task is not None:
            self._show(f"{self._label}: {self._step}", None)
        elif self._running:
            self.close()

    def close(self) -> None:
        if self._running:
            self._progress.stop()
            self._running = False
            self._task = None


def show_progress(quiet: bool = False) -> bool:
    """Progress bars only for a person watching: stderr is a terminal, no ``CI`` variable (CI runners set CI=true;
    some also give jobs a pseudo-terminal), and no ``--quiet``."""
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return not quiet and not ci and sys.stderr.isatty()


def quiet_libraries() -> None:
    """transformers and huggingface_hub draw their own tqdm bars on stderr (loading weights, downloads), in CI logs
    too and over assay's line on a terminal: off, unless the user set HF_HUB_DISABLE_PROGRESS_BARS (both read it
    when imported, which happens later, inside the step)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@contextlib.contextmanager
def progress(label: str, json_out: bool, quiet: bool = False) -> Iterator[_RichProgress | None]:
    """A byte progress bar on stderr for a person at a terminal (see :func:`show_progress`); nothing otherwise, so CI
    logs and piped output stay clean.  ``--json`` keeps its bar: it is on stderr, stdout stays the JSON alone."""
    quiet_libraries()
    if not show_progress(quiet):
        yield None
        return
    bar = _RichProgress(label)
    try:
        yield bar
    finally:
        bar.close()


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


# ---------------------------------------------------------------------------------------------------- summary first
# Every verb that judges something prints, in the terminal, ONE verdict line first, then only what did not pass
# (fail, not-checked, inconclusive, error, attested), then a line of details.  Passing rows (every file of a
# release, every claim that holds) are listed only with --files.  --json is the complete result, unchanged.

_WORD = {
    "pass": ("PASS", "bold green"),
    "fail": ("FAIL", "bold red"),
    "error": ("ERROR", "bold red"),
    "not-checked": ("NOT CHECKED", "bold yellow"),
    "inconclusive": ("INCONCLUSIVE", "bold yellow"),
    "attested": ("ATTESTED", "cyan"),
}


def verdict_line(verdict: str, text: str) -> None:
    """The first line: ``PASS  what it rests on`` (the verdict word in colour, the text never read as markup)."""
    word, style = _WORD.get(verdict, (verdict.upper(), "bold"))
    out.print(f"[{style}]{word}[/]  {_esc(text)}", highlight=False)


def overall(verdicts: Any) -> str:
    """The one verdict of a list of verdicts, fail closed: fail or error beats not-checked and inconclusive, which
    beat pass; ``attested`` alone is not a pass (nothing was checked) but does not fail either."""
    seen = set(verdicts)
    for v in ("error", "fail", "not-checked", "inconclusive"):
        if v in seen:
            return "fail" if v == "error" else v
    return "pass" if "pass" in seen or not seen else "attested"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


def counted(verdicts: Any, noun: str) -> str:
    """'2 claims fail, 1 not-checked, 1 attested' for the verdicts that are not pass (empty when all pass)."""
    from collections import Counter

    c = Counter(verdicts)
    parts = [f"{c[v]} {v if v != 'fail' else 'fail' + ('s' if c[v] == 1 else '')}" for v in _NOT_PASS if c[v]]
    if not parts:
        return ""
    if noun:
        first_n, _, first_v = parts[0].partition(" ")
        parts[0] = f"{plural(int(first_n), noun)} {first_v}"
    return ", ".join(parts)


_NOT_PASS = ("fail", "error", "not-checked", "inconclusive", "attested")


def claims_line(subject: str, ok: bool, claims: list[Any], noun: str = "claim") -> None:
    """The verdict line of a result that turns itself into report rows (``to_claims()``): its verdict (fail closed:
    a result that is not ok never reads as a pass, whatever its rows say) and the count of each verdict."""
    verdicts = [c.verdict for c in claims]
    v = overall(verdicts)
    if ok:
        v = "pass"
    elif v in ("pass", "attested"):
        v = "fail"
    tail = counted(verdicts, noun)
    passed = sum(x == "pass" for x in verdicts)
    if ok:
        also = counted(verdicts, "")
        verdict_line(v, f"{subject}: {plural(passed, noun)} verified" + (f", {also}" if also else ""))
    else:
        verdict_line(v, f"{subject}: " + (f"{tail} (of {len(verdicts)})" if tail else "does not hold"))


def width() -> int:
    """The terminal's columns (rich reads COLUMNS; 80 when stdout is not a terminal)."""
    return int(out.width)


def mid(text: Any, room: int) -> str:
    """``text`` shortened in the middle to ``room`` characters: a path keeps its top folder and its file name, where
    folding it would break it over lines (rich's overflow modes cut only at the end)."""
    text = str(text)
    if len(text) <= room:
        return text
    if room < 2:
        return text[:room]
    head = (room - 1) * 2 // 5  # more of the tail: the file name tells files apart
    return text[:head] + "…" + text[len(text) - (room - 1 - head) :]


def short_digests(text: str) -> str:
    """64-digit hex digests in a message shortened to their first 16 digits (the terminal summary; --json keeps
    them whole)."""
    import re

    return re.sub(r"\b([0-9a-f]{16})[0-9a-f]{48}\b", r"\1…", text)


def path_line(label: str, path: Any) -> None:
    """``label path`` on one line when it fits, else the path alone on the next line: a path a person copies is
    never cut or broken over lines (rich would wrap it at a space or a dash)."""
    text = f"{label} {path}"
    if len(text) <= width():
        out.print(_esc(text), highlight=False, soft_wrap=True)
    else:
        out.print(_esc(label), highlight=False)
        out.print(_esc(path), highlight=False, soft_wrap=True)


def items(rows: list[tuple[str, str]], indent: int = 2) -> None:
    """One line per item: a styled mark (markup) and its text (markup); a long text wraps under itself, not under
    the mark (a hanging indent), and a word longer than the line is folded."""
    if not rows:
        return
    from rich.table import Table as RichTable

    g = RichTable.grid(padding=(0, 1, 0, 0))
    g.add_column(no_wrap=True)
    g.add_column(no_wrap=True)
    g.add_column(overflow="fold")
    for mark, text in rows:
        g.add_row(" " * (indent - 1) if indent else "", mark, text)
    out.print(g)


def mark(verdict: str) -> str:
    """An item's verdict word: in capitals when it fails the check (FAIL, ERROR, NOT CHECKED), else lower case."""
    word, style = _WORD.get(verdict, (verdict, "bold"))
    return f"[{style}]{word if verdict in ('fail', 'error', 'not-checked') else word.lower()}[/]"


def rule_grid(title: str | None = None) -> Any:
    """A borderless table (two spaces between columns) whose widths add up exactly, so paths can be fitted."""
    return Table(title=title, title_justify="left", box=None, pad_edge=False, padding=(0, 1), header_style="bold")


def fit(
    widths: dict[str, int], flexible: str, optional: tuple[str, ...] = (), least: int = 24
) -> tuple[int, list[str]]:
    """The room left for the ``flexible`` column (a path) when the others keep ``widths``, dropping ``optional``
    columns (in order) while the path would get fewer than ``least`` characters; returns (room, columns kept)."""
    widths = {c: max(w, len(c)) for c, w in widths.items()}  # a column is never narrower than its header
    cols = list(widths)
    while True:
        others = sum(w for c, w in widths.items() if c in cols and c != flexible)
        room = width() - others - 2 * (len(cols) - 1)
        dropping = [c for c in optional if c in cols]
        if room >= least or not dropping:
            return max(room, 8), cols
        cols.remove(dropping[0])


_HOW = {"hashed": "hashed now", "state": "from state", "not-read": "not read"}  # the table's short words


def _files_table(files: list[Any], title: str, full: bool = True) -> Any:
    """The per-file table, fitted to the terminal: no column wraps; the path is shortened in the middle.  ``full``:
    every file with role, how it was verified and its sha256; otherwise the failing files with what is wrong."""
    if full:
        w = {
            "file": max((len(f.path) for f in files), default=4),
            "role": max((len(f.role) for f in files), default=4),
            "status": max((len(f.status) for f in files), default=6),
            "size": max((len(fmt_size(f.size)) for f in files), default=4),
            "verified": max((len(_HOW.get(f.how, f.how)) for f in files), default=8),
            "sha256": 17,
        }
        room, cols = fit(w, "file", optional=("sha256", "role"))
    else:
        # the failing files: one item each (status, then path, size and what is wrong, wrapped under itself: a
        # message quotes two 64-digit digests, which a table column would fold into slivers)
        out.print(title, highlight=False)
        items(
            [
                (
                    f"[{_STATUS_STYLE.get(f.status, '')}]{f.status}[/]",
                    _esc(f"{mid(f.path, width() - 20)} ({fmt_size(f.size)}): {short_digests(f.message or f.status)}"),
                )
                for f in files
            ]
        )
        return None
    t = rule_grid(title)
    for c in cols:
        t.add_column(c, justify="right" if c == "size" else "left", no_wrap=True, overflow="ellipsis")
    for f in files:
        cells = {
            "file": _esc(mid(f.path, room)),
            "role": f.role,
            "status": f"[{_STATUS_STYLE.get(f.status, '')}]{f.status}[/]",
            "size": fmt_size(f.size),
            "verified": _HOW.get(f.how, f.how),
            "sha256": (f.sha256 or "")[:16] + ("…" if f.sha256 else ""),
        }
        t.add_row(*(cells[c] for c in cols))
    return t


def _esc(text: Any) -> str:
    """Text from files (tensor names, paths, messages quoting them) is never rich markup: '[/x]' must print, not
    crash."""
    from rich.markup import escape

    return escape(str(text))


def finding_rows(findings: list[Any], everything: bool = False) -> list[tuple[str, str]]:
    """Errors and warnings (info too with ``everything``) as item rows: severity, then [code] where: message."""
    rows = []
    for f in findings:
        if f.severity == "info" and not everything:
            continue
        where = f"{mid(f.where, 40)}: " if f.where else ""
        rows.append((f"[{_SEVERITY_STYLE[f.severity]}]{f.severity}[/]", _esc(f"[{f.code}] {where}{f.message}")))
    return rows


def _findings(findings: list[Any], everything: bool = True) -> None:
    items(finding_rows(findings, everything))


def claim_rows(claims: list[Any]) -> list[tuple[str, str]]:
    """Structural claims as item rows: the verdict, then ``claim: measured`` and the declared value when it differs
    (a table would fold long values such as class names into slivers at 80 columns)."""
    rows = []
    for c in claims:
        measured, declared = fmt_value(c.measured), fmt_value(c.declared)
        text = f"{c.claim}: {measured}" + (" (as declared)" if measured == declared else f", declared {declared}")
        rows.append((mark(c.verdict), _esc(short_digests(text + (f" — {c.message}" if c.message else "")))))
    return rows


def verify_table(r: Any, files: bool = False) -> None:
    """``assay verify``: the verdict line; the failing files (every file with ``files``); the structural claims that
    do not pass, the findings; then how the files were verified and the release digest."""
    s = r.summary
    bad = [f for f in r.files if f.status != "ok"]
    unreached = [f for f in bad if "network" in f.needs]  # its hub was not pulled here: not checked, not failed
    failed = [f for f in bad if "network" not in f.needs]
    claim_verdicts = [c.verdict for c in r.claims]
    errors = [f for f in r.findings if f.severity == "error"]
    if r.ok:
        attested = sum(v == "attested" for v in claim_verdicts)
        verdict_line(
            "pass",
            f"{r.release}: {plural(s.files, 'file')}, {plural(len(r.claims) - attested, 'claim')} verified"
            + (f", {attested} attested" if attested else ""),
        )
    else:
        parts = []
        if failed:
            parts.append(f"{len(failed)} of {plural(s.files, 'file')} fail")
        if unreached:
            parts.append(f"{len(unreached)} of {plural(s.files, 'file')} not checked")
        if claim_verdicts:
            parts.append(counted(claim_verdicts, "claim"))
        if errors:
            parts.append(plural(len(errors), "structural error"))
        worst = (
            "fail"
            if failed or errors or any(v in ("fail", "error") for v in claim_verdicts)
            else overall(claim_verdicts + ["not-checked"] * len(unreached))
        )
        verdict_line(
            worst if worst != "pass" else "fail",
            f"{r.release}: " + (", ".join(p for p in parts if p) or "does not verify"),
        )
    mode = "strict" if r.strict else "incremental"
    if files:
        out.print(_files_table(r.files, f"files ({mode})"))
    elif bad:
        _files_table(bad, f"files that do not verify ({len(bad)} of {s.files}; all: --files)", full=False)
    shown = r.claims if files else [c for c in r.claims if c.verdict != "pass"]
    if shown:
        out.print("claims" if files else "claims that do not pass", highlight=False)
        items(claim_rows(shown))
    if r.remote_code is not None and (files or any(f.severity != "info" for f in r.remote_code.findings)):
        from .render_remote_code import remote_code_section

        remote_code_section(r.remote_code, out)
    items(finding_rows(r.findings, everything=files))
    how = f"{s.hashed} hashed now ({fmt_size(s.bytes_hashed)}), {s.trusted_from_state} trusted from state"
    out.print(f"[dim]{mode}: {how}; {s.seconds:.2f} s[/]", highlight=False)
    if r.release_digest:
        out.print(f"[dim]digest {r.release_digest}[/]", highlight=False)


def lock_table(r: Any, files: bool = False) -> None:
    bad = [f for f in r.files if f.status != "ok"]
    if r.ok:
        verdict_line("pass", f"locked {plural(len(r.files), 'file')} of {r.manifest}")
    else:
        why = r.message or f"{len(bad)} of {plural(len(r.files), 'file')} fail"
        verdict_line("fail", f"not locked: {why}")
    if files:
        out.print(_files_table(r.files, "files"))
    elif bad:
        _files_table(bad, f"files that fail ({len(bad)} of {len(r.files)}; all: --files)", full=False)
    if r.ok:
        path_line("wrote", r.lock)
        out.print(f"[dim]digest {r.release_digest}[/]", highlight=False)


def init_table(r: Any, files: bool = False) -> None:
    bad = [f for f in r.files if f.status != "ok"]
    errors = [f for f in r.findings if f.severity == "error"]
    if r.ok:
        verdict_line("pass", f"packaged {plural(len(r.files), 'file')} of {r.folder}")
    else:
        verdict_line(
            "fail", f"not packaged: {plural(len(errors), 'structural error')}, {plural(len(bad), 'file')} failing"
        )
    if files:
        out.print(_files_table(r.files, "files"))
    elif bad:
        _files_table(bad, f"files that fail ({len(bad)} of {len(r.files)}; all: --files)", full=False)
    items(finding_rows(r.findings, everything=files))
    if r.claims:
        out.print("measured claims: " + _esc(", ".join(f"{k}={fmt_value(v)}" for k, v in r.claims.items())))
    if r.ok:
        path_line("wrote", r.manifest)
        path_line("wrote", r.lock)
        out.print(f"[dim]digest {r.release_digest}[/]", highlight=False)
    else:
        out.print("fix the files first: the structural errors above")


def inspect_table(r: Any) -> None:
    verdict_line("pass" if r.ok else "fail", f"{r.path} ({r.format}): {r.tensors} tensors, {r.parameters:,} parameters")
    items([("[bold red]error[/]", _esc(e)) for e in r.errors] + [("[yellow]warning[/]", _esc(w)) for w in r.warnings])
    out.print(f"  dtypes: {', '.join(r.dtypes) or '-'}", highlight=False)
    if r.parameters_by_dtype:
        out.print(
            "  parameters by dtype: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.parameters_by_dtype.items())),
            highlight=False,
        )
    if r.pickle_globals:
        out.print("  pickle imports: " + _esc(", ".join(r.pickle_globals)), highlight=False)


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


_TRANSFER_OK = ("downloaded", "resumed", "present", "uploaded", "exists")


def transfer_table(r: Any, files: bool = False) -> None:
    """Pull and push results: the verdict line, the files that failed (every file with ``files``), details."""
    pulling = hasattr(r, "source")
    moved = fmt_size(r.bytes_transferred)
    bad = [f for f in r.files if f.status not in _TRANSFER_OK]
    if r.ok:
        where = f"into {r.to}" if pulling else f"to {r.to}"
        verdict_line("pass", f"{'pulled' if pulling else 'pushed'} {plural(len(r.files), 'file')} {where}")
    else:
        msg = getattr(r, "message", None)
        verdict_line("fail", f"{len(bad)} of {plural(len(r.files), 'file')} failed" + (f": {msg}" if msg else ""))
    shown = r.files if files else bad
    if shown:
        w = {
            "file": max(len(f.path) for f in shown),
            "status": max(len(f.status) for f in shown),
            "size": max(len(fmt_size(f.size)) for f in shown),
            "transferred": max(11, *(len(fmt_size(f.bytes_transferred)) for f in shown)),
            "sha256": 17,
        }
        room, cols = fit(w, "file", optional=("sha256", "transferred"))
        title = "files" if files else f"files that failed ({len(bad)} of {len(r.files)}; all: --files)"
        t = rule_grid(title)
        for c in cols:
            t.add_column(c, no_wrap=True, justify="right" if c in ("size", "transferred") else "left")
        for f in shown:
            cells = {
                "file": _esc(mid(f.path, room)),
                "status": f"[{_TRANSFER_STYLE.get(f.status, '')}]{f.status}[/]",
                "size": fmt_size(f.size),
                "transferred": fmt_size(f.bytes_transferred),
                "sha256": (f.sha256 or "")[:16] + ("…" if f.sha256 else ""),
            }
            t.add_row(*(cells[c] for c in cols))
        out.print(t)
    items(
        [
            (f"[{_TRANSFER_STYLE.get(f.status, '')}]{f.status}[/]", _esc(f"{mid(f.path, 40)}: {f.message}"))
            for f in r.files
            if f.message and (files or f.status not in _TRANSFER_OK)
        ]
    )
    out.print(f"[dim]{moved} transferred; {r.seconds:.2f} s; revision {_esc(r.revision)}[/]", highlight=False)
    if r.ok:
        out.print(f"[dim]digest {r.release_digest or '- (partial pull)'}[/]", highlight=False)


def diff_table(r: Any) -> None:
    if r.identical:
        out.print("[bold green]IDENTICAL[/]")
    else:
        out.print(
            f"[bold yellow]DIFFERENT[/]  {plural(len(r.files), 'file')}, {plural(len(r.claims), 'claim')}, "
            f"{plural(len(r.scores), 'score')} changed"
        )
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


def audit_summary(r: Any, out_dir: Any, files: bool = False) -> None:
    """``assay audit``: the verdict line, every claim that is not a pass (each claim with ``files``), the steps, and
    where the report is."""
    from collections import Counter

    k = r.counts
    verdicts = Counter(c.verdict for c in r.claims)
    not_passing = [c for c in r.claims if c.verdict != "pass"]
    tail = counted([c.verdict for c in r.claims], "claim")
    head = f"{r.release.name} {r.release.version}: "
    if r.verdict == "pass":
        also = counted([c.verdict for c in r.claims], "")
        verdict_line("pass", head + f"{plural(verdicts['pass'], 'claim')} verified" + (f", {also}" if also else ""))
    else:
        verdict_line("fail", head + (f"{tail} (of {k.total})" if tail else "a step failed"))
    shown = r.claims if files else not_passing
    order = {v: i for i, v in enumerate(("fail", "error", "not-checked", "inconclusive", "attested", "pass"))}
    # fail / error / not-checked / inconclusive in full (wrapped), attested and pass on one line each (ellipsis):
    # what failed the audit comes first and is never cut; what only informs stays out of the way
    room = width() - 2 - max((len(_WORD.get(c.verdict, (c.verdict,))[0]) for c in shown), default=0) - 1
    rows = []
    for c in sorted(shown, key=lambda c: order.get(c.verdict, 9)):
        text = short_digests(f"{mid(c.id, 60)}" + (f": {c.message}" if c.message else ""))
        if c.verdict in ("attested", "pass") and len(text) > room:
            text = text[: room - 1] + "…"
        rows.append((mark(c.verdict), _esc(text)))
    items(rows)
    if not files:  # the steps on one line (the table, with --files, is 8 lines of a 24-line screen)
        steps = ", ".join(f"{s.name} {s.status}" + (" (reused)" if s.summary.reused else "") for s in r.steps)
        out.print(_esc(f"steps: {steps}; {r.seconds:.1f} s"), highlight=False)
        path_line("report:", f"{out_dir}/report.html")
        return
    t = rule_grid("steps")
    for col in ("step", "status", "claims", "not passing", "seconds"):
        t.add_column(col, justify="left" if col in ("step", "status") else "right", no_wrap=True)
    for s in r.steps:
        bad = sum(c.verdict != "pass" for c in s.claims)
        t.add_row(
            s.name,
            s.status + (" (reused)" if s.summary.reused else ""),
            str(len(s.claims)),
            f"[bold]{bad}[/]" if bad else "0",
            f"{s.seconds:.2f}",
        )
    out.print(t)
    path_line("report:", f"{out_dir}/report.html")


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


def remote_code_table(audit: Any) -> None:
    """``assay inspect`` on a folder or a ``.py`` file: the verdict line, the listing and its findings."""
    from .render_remote_code import remote_code_section

    errors = [f for f in audit.findings if f.severity == "error"]
    warnings = [f for f in audit.findings if f.severity == "warning"]
    if audit.ok:
        verdict_line(
            "pass",
            f"{len(audit.files)} remote-code file(s) analysed, no error finding"
            + (f"; {len(warnings)} warning(s)" if warnings else ""),
        )
    else:
        verdict_line("fail", f"{len(errors)} error finding(s): {', '.join(sorted({f.code for f in errors}))}")
    if not audit.files:
        out.print("no remote code: no config's auto_map names a Python file, and none was given")
    remote_code_section(audit, out)
