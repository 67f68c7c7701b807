"""CLI verb of the exports work: ``assay export``.

Like every verb module, this imports only typer at module level; the library code (cyclonedx-python-lib,
huggingface_hub) is imported inside the verb.  Exit codes: 0 written, 1 the document failed its schema check
(nothing written), 2 bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

FORMATS_HELP = "cyclonedx, model-index, eval-results, eee, kitfile or modelpack"


def export(
    manifest: Optional[Path] = typer.Argument(None, help="Release manifest; its lock X.lock.yaml must be beside it."),
    format: str = typer.Option(..., "--format", "-f", help=f"Output format: {FORMATS_HELP}."),  # noqa: A002
    report: Optional[Path] = typer.Option(None, "--report", help="An audit report (report.json): reproduced scores "
                                          "with CIs, audit findings."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file (folder for eval-results / eee). Default: "
                                       "one-file formats print to stdout; eval-results -> ./.eval_results, eee -> "
                                       "./<release>-eee."),
    dataset: Optional[List[str]] = typer.Option(None, "--dataset", help="NAME=ORG/DATASET: the Hub dataset of "
                                                "benchmark NAME (model-index, eval-results, eee); repeatable."),
    log: Optional[Path] = typer.Option(None, "--log", help="Instead of a manifest: an assay log (*.assay.jsonl, e.g. "
                                       "a re-run) to export as eee or eval-results."),
    json_out: bool = typer.Option(False, "--json", help="Print the result (files, warnings) as JSON on stdout."),
) -> None:
    """Export a release in a standard format: CycloneDX 1.6 ML-BOM, Hugging Face model-index or .eval_results,
    Every Eval Ever, KitOps Kitfile, or the ModelPack config.  Scores an audit reproduced carry their 95% CI and
    are marked verified; published-only scores are marked as such.

    Example: assay export manifests/examples/tiny-vlm/assay.yaml --format cyclonedx --out tiny-vlm.cdx.json
    (a re-run's log: assay export --log audit-out/rerun/chartqa-mini.assay.jsonl --format eee --out ./eee)
    """
    from ..audit.exports import FOLDER_FORMATS, FORMATS, export as do_export
    from ..manifests.errors import InputError
    from . import render

    if log is not None:
        if manifest is not None:
            raise InputError("give either a manifest or --log, not both")
        _export_log(log, format, out, dataset or [], json_out)
        return
    if manifest is None:
        raise InputError("missing MANIFEST (or --log LOG)")
    if format not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
    if json_out and out is None and format not in FOLDER_FORMATS:
        raise InputError(f"--json needs --out: without it the {format} document itself is printed on stdout")
    datasets: dict[str, str] = {}
    for item in dataset or ():
        name, sep, ds = item.partition("=")
        if not sep or not name or not ds:
            raise InputError(f"--dataset {item!r}: expected NAME=ORG/DATASET")
        datasets[name] = ds
    result = do_export(format, manifest, report, out, datasets=datasets)
    if result.content is not None and result.ok:
        sys.stdout.write(result.content)
        for w in result.warnings:
            sys.stderr.write(f"assay: warning: {w}\n")
    else:
        render.emit(result, json_out, _table)
    raise typer.Exit(0 if result.ok else 1)


def _export_log(log: Path, format: str, out: Optional[Path], dataset: list[str], json_out: bool) -> None:
    """A re-run's assay log as Every Eval Ever (aggregate + instance rows) or HF ``.eval_results`` entries."""
    import json

    from ..evals.exports import eval_results_entries, write_eee, write_eval_results
    from ..evals.samples import read_log
    from ..manifests.errors import InputError

    if format not in ("eee", "eval-results"):
        raise InputError(f"--log exports as eee or eval-results, not {format!r}")
    if not log.is_file():
        raise InputError(f"{log}: no such log")
    normalised = read_log(log)
    header = normalised.header
    datasets = dict(item.partition("=")[::2] for item in dataset)
    written = []
    for task in header.tasks or sorted({s.task for s in normalised.samples}):
        metric = str(header.config.get("metric") or next(iter(normalised.samples[0].scores), "score"))
        if format == "eee":
            written.append(write_eee(normalised, out or Path(f"{task}-eee"), task=task, metric=metric))
        else:
            entries = eval_results_entries(normalised, task=task, metric=metric, dataset_id=datasets.get(task, task))
            written.append(write_eval_results(entries, (out or Path(".")) / ".eval_results", task))
    if json_out:
        sys.stdout.write(json.dumps({"ok": True, "format": format, "files": [str(p) for p in written]}, indent=2) + "\n")
    else:
        for p in written:
            sys.stdout.write(f"wrote {p}\n")


def _table(r) -> None:  # noqa: ANN001 - an ExportResult
    from .render import Table, out

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
        out.print(f"[bold red]FAILED[/]: the {r.format} document does not pass its schema check; nothing written",
                  markup=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's verb to the ``assay`` app."""
    app.command("export")(export)
