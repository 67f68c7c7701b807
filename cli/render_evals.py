"""Rendering of the evaluation results (``assay rescore``, ``assay rerun``): rich tables for people, findings and
progress on stderr."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rich.markup import escape

from .render import Table, claims_line, out, verdict_line

_SEV = {"error": "bold red", "warning": "yellow", "info": "cyan"}
_VERDICT_COLOUR = {
    "pass": "green",
    "fail": "bold red",
    "attested": "cyan",
    "inconclusive": "yellow",
    "not-checked": "bold yellow",
    "error": "bold red",
}


def _fmt_score(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def _finding_line(f: Any, prefix: str = "") -> str:
    where = f"{f.where}: " if f.where else ""
    ids = ""
    if f.samples:
        shown = ", ".join(f.samples[:10])
        ids = f" [samples: {shown}{', …' if len(f.samples) > 10 else ''}]"
    return f"{prefix}{where}{f.message}{ids}"


def _skip_line(s: Any) -> str:
    what = f" (read as {s.format})" if s.format else ""
    return f"{s.path}{what}: {s.reason}"


def findings_to_stderr(results: Iterable[Any], skipped: Iterable[Any] = ()) -> None:
    """With --json, stdout holds only the rows; what differs (and where), each log's verdict when it is not pass,
    and every skipped file go to stderr, one line each."""
    for s in skipped:
        sys.stderr.write(f"assay: skipped: {_skip_line(s)}\n")
    for res in results:
        if res.verdict != "pass":
            sys.stderr.write(f"assay: {res.verdict}: {res.path}: {res.reason}\n")
        for f in res.findings:
            sys.stderr.write(f"assay: {f.severity}: {res.path}: {_finding_line(f)}\n")
        for a in res.audit:
            if a.accepted_only_by_harness or a.accepted_only_by_strict:
                sys.stderr.write(
                    f"assay: audit: {res.path}: {a.task} {a.metric},{a.filter}: harness "
                    f"{_fmt_score(a.harness)} vs strict {a.strict_scorer} {_fmt_score(a.strict)}; "
                    "accepted only by the "
                    f"harness: {', '.join(a.accepted_only_by_harness[:10]) or '-'}; only by the strict "
                    f"scorer: {', '.join(a.accepted_only_by_strict[:10]) or '-'}\n"
                )


def _rows_table(rows: list[Any], title: str) -> Any:
    t = Table(title=title, title_justify="left")
    for col in ("task", "metric", "filter"):
        t.add_column(col)
    t.add_column("reported", justify="right")
    t.add_column("recomputed", justify="right")
    t.add_column("n", justify="right")
    t.add_column("")
    for r in rows:
        same = r.reported is None or r.recomputed is None or r.reported == r.recomputed
        mark = "[green]=[/]" if same and r.recomputed is not None else ("[yellow]?[/]" if same else "[bold red]≠[/]")
        t.add_row(
            escape(r.task),
            escape(r.metric),
            escape(r.filter),
            _fmt_score(r.reported),
            _fmt_score(r.recomputed),
            str(r.n),
            mark,
        )
    return t


def _audit_table(audit: list[Any]) -> Any:
    t = Table(title="scorer audit (harness scorer vs strict scorer)", title_justify="left")
    for col in ("task", "metric", "filter", "strict scorer"):
        t.add_column(col)
    t.add_column("harness", justify="right")
    t.add_column("strict", justify="right")
    t.add_column("accepted only by harness", overflow="fold")
    t.add_column("only by strict", overflow="fold")
    for a in audit:
        t.add_row(
            a.task,
            a.metric,
            a.filter,
            a.strict_scorer,
            _fmt_score(a.harness),
            _fmt_score(a.strict),
            ", ".join(a.accepted_only_by_harness[:10]) or "-",
            ", ".join(a.accepted_only_by_strict[:10]) or "-",
        )
    return t


def _findings(findings: list[Any]) -> None:
    for f in findings:
        out.print(f"[{_SEV[f.severity]}]{f.severity}[/]: {escape(_finding_line(f))}", soft_wrap=True)


_VERDICT = {
    "pass": "[green]re-scores exactly[/]",
    "fail": "[bold red]does not re-score[/]",
    "not-checked": "[bold yellow]not-checked[/]: not re-scored",
}


def log_tables(results: list[Any], skipped: Iterable[Any] = ()) -> None:
    """The verdict line; one table per log, its findings, and its verdict ("re-scores exactly" only for verdict
    pass); then a line per skipped file."""
    skipped = list(skipped)
    counts = {v: sum(1 for r in results if r.verdict == v) for v in ("pass", "fail", "not-checked")}
    every = bool(results) and all(r.verdict == "pass" and r.ok for r in results)
    worst = "pass" if every else "fail" if counts["fail"] or not results else "not-checked"
    verdict_line(
        worst,
        f"{len(results)} log(s): {counts['pass']} re-score exactly, {counts['fail']} do not, "
        f"{counts['not-checked']} not checked" + (f"; {len(skipped)} file(s) skipped" if skipped else ""),
    )
    for res in results:
        if res.rows:
            out.print(_rows_table(res.rows, f"{res.path} ({res.format})"))
        if res.audit:
            out.print(_audit_table(res.audit))
        _findings(res.findings)
        verdict = _VERDICT["pass"] if res.verdict == "pass" and res.ok else _VERDICT.get(res.verdict, _VERDICT["fail"])
        why = f" ({escape(res.reason)})" if res.reason and res.verdict != "pass" else ""
        out.print(f"{escape(res.path)}: {verdict}{why}", soft_wrap=True)
    for s in skipped:
        out.print(f"[yellow]skipped[/]: {escape(_skip_line(s))}", soft_wrap=True)


def report_tables(report: Any) -> None:
    """``assay rescore MANIFEST``: the verdict line, the published claims, each log's rows and findings."""
    claims_line(report.manifest, report.ok, report.to_claims())
    t = Table(title=f"{report.manifest}: published claims", title_justify="left")
    for col in ("eval", "metric", "filter", "published", "source"):
        t.add_column(col)
    t.add_column("recomputed", justify="right")
    t.add_column("reported", justify="right")
    t.add_column("status")
    t.add_column("verdict")
    style = {
        "matches": "green",
        "mismatch": "bold red",
        "derived": "bold red",
        "no-log": "yellow",
        "not-recomputed": "yellow",
        "attested": "cyan",
    }
    for ev in report.evals:
        for c in ev.claims:
            t.add_row(
                ev.name,
                ev.metric,
                ev.filter or "-",
                f"{c.value:g}",
                c.source or "-",
                _fmt_score(c.recomputed),
                _fmt_score(c.reported),
                f"[{style[c.status]}]{c.status}[/]",
                f"[{_VERDICT_COLOUR[c.verdict]}]{c.verdict}[/]",
            )
        if not ev.claims:
            t.add_row(ev.name, ev.metric, ev.filter or "-", "-", "-", "-", "-", "-", "-")
    out.print(t)
    for ev in report.evals:
        for lg in ev.logs:
            if lg.rows:
                out.print(_rows_table(lg.rows, f"{ev.name}: {lg.path} ({lg.format})"))
            if lg.audit:
                out.print(_audit_table(lg.audit))
            _findings(lg.findings)
        _findings(ev.findings)
    _findings(report.findings)
    out.print("[green]all claims re-score[/]" if report.ok else "[bold red]some claims do not re-score[/]")


class _RequestBars:
    """``assay rerun``'s progress: one rich bar of requests per benchmark on stderr (the library reports
    ``(benchmark, done, total)`` after each chunk of generations)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from .render import console_for

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("requests"),
            TimeRemainingColumn(),
            console=console_for("err"),
            transient=True,
        )
        self._tasks: dict[str, Any] = {}

    def __call__(self, name: str, done: int, total: int) -> None:
        if not self._tasks:
            self._progress.start()
        if name not in self._tasks:
            self._tasks[name] = self._progress.add_task(name, total=total)
        self._progress.update(self._tasks[name], completed=done, total=total)

    def close(self) -> None:
        if self._tasks:
            self._progress.stop()


@contextlib.contextmanager
def rerun_progress(json_out: bool, quiet: bool = False) -> Iterator[Callable[[str, int, int], None] | None]:
    """Request bars on stderr for a person at a terminal (cli.render.show_progress: not CI, not --quiet); None
    otherwise."""
    from .render import quiet_libraries, show_progress

    quiet_libraries()
    if not show_progress(quiet):
        yield None
        return
    bars = _RequestBars()
    try:
        yield bars
    finally:
        bars.close()


# What a re-run verdict means, for people (the verdicts are the one scale's)
_RERUN_WORDS = {
    "pass": "reproduced",
    "fail": "not reproduced",
    "inconclusive": "inconclusive",
    "not-checked": "nothing compared",
    "error": "requests failed",
}


def rerun_table(r: Any) -> None:
    """``assay rerun``: the backend line, one row per benchmark with its verdict, the logs, assumptions, findings."""

    def pts(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    claims_line(r.release, r.ok, r.to_claims(), noun="benchmark")
    b = r.backend
    where = b.get("base_url") or b.get("model") or "-"
    if r.benchmarks:
        out.print(
            f"[bold]{r.release}[/]: re-run with {b.get('backend', '?')} ({where}"
            + (f", {b['device']}, {b['dtype']}" if b.get("device") else "")
            + f") in {r.seconds:.1f} s"
        )
    else:
        out.print(f"[bold]{r.release}[/]: re-run through the harnesses in {r.seconds:.1f} s")
    t = Table(title_justify="left")
    for col in (
        "benchmark",
        "items",
        "repeats",
        "published log",
        "re-run",
        "diff [CI]",
        "margin",
        "verdict",
        "same output",
        "failed",
    ):
        t.add_column(
            col,
            justify="right"
            if col in ("items", "repeats", "published log", "re-run", "margin", "same output", "failed")
            else "left",
        )
    for bench in r.benchmarks:
        claim = bench.to_claim()  # the verdict the audit reports
        v = bench.verdict
        shown = f"{claim.verdict} ({_RERUN_WORDS[claim.verdict]})"
        if v is not None and v.verdict == "inconclusive" and v.n_needed:
            shown += f" (n≈{v.n_needed})"
        ci = f"{pts(v.diff)} [{pts(v.ci_low)}, {pts(v.ci_high)}]" if v is not None and v.diff is not None else "-"
        agree = v.output_agreement if v is not None else None
        t.add_row(
            bench.name,
            f"{bench.selected_items}/{bench.reference_items}",
            str(bench.repeats),
            pts(v.reference_score if v else None),
            pts(v.rerun_score if v else None),
            ci,
            pts(v.margin if v else None),
            f"[{_VERDICT_COLOUR[claim.verdict]}]{escape(shown)}[/]",
            "-" if agree is None else f"{agree:.0%}",
            str(bench.n_failed),
        )
    if r.benchmarks:
        out.print(t)
    for h in getattr(r, "harness_runs", []):  # entries with run: (unpaired: the re-run's CI against the published)
        claim = h.to_claim()
        v = h.verdict
        shown = f"{claim.verdict} ({_RERUN_WORDS[claim.verdict]})"
        if v is not None and v.verdict == "inconclusive" and v.n_needed:
            shown += f" (n≈{v.n_needed})"
        where = h.endpoint if h.mode == "endpoint" else "in process"
        score = f"{pts(v.rerun_score)} [{pts(v.ci_low)}, {pts(v.ci_high)}]" if v is not None else "-"
        out.print(
            escape(
                f"  {h.name}: {h.harness} {h.version} ({where}), {h.n} items, re-run {score} against "
                f"published {pts(v.published if v else None)} ± {pts(v.margin if v else None)}, "
                f"dataset sha256 {h.dataset_sha256 or '-'}: "
            )
            + f"[{_VERDICT_COLOUR[claim.verdict]}]{escape(shown)}[/]"
        )
        for f in h.findings:
            out.print(f"[{_SEV.get(f.severity, '')}]{f.severity:>7}[/] {escape(f'[{f.code}] {f.message}')}")
    for bench in r.benchmarks:
        if bench.log:
            out.print(
                escape(f"  {bench.name}: re-run log {bench.log}")
                + (f" (stratified by {bench.stratify})" if bench.limit and bench.stratify else "")
            )
        if bench.assumed:
            out.print(f"  {bench.name}: [yellow]assumed[/] {', '.join(bench.assumed)} (neither pinned nor logged)")
    for f in r.findings:
        out.print(f"[{_SEV.get(f.severity, '')}]{f.severity:>7}[/] {escape(f'[{f.code}] {f.message}')}")
    out.print("[green]reproduced[/]" if r.ok else "[bold red]not reproduced[/]")
