"""CLI verb of the exports work: ``assay export``.

Like every verb module, this imports only typer at module level; the library code (``assay.audit.exports``:
cyclonedx-python-lib, huggingface_hub) is imported inside the verb.  Exit codes: 0 written, 1 the document failed its
schema check (nothing written), 2 bad input.
"""

# No `from __future__ import annotations`: typer evaluates these annotations on every run (see main.py).

import sys
from typing import Annotated

import typer

from .app import finish
from .options import (
    ExportFormatOpt,
    ExportLogOpt,
    ExportOutOpt,
    ExportReportOpt,
    JsonFlag,
    OptionalManifestArg,
)

# Options only these verbs take, one alias each (the shared ones are in cli/options.py).
# export
ExportDatasetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--dataset",
        help="NAME=ORG/DATASET: the Hub dataset of benchmark NAME (model-index, eval-results, eee); repeatable.",
    ),
]


def _datasets(items: list[str]) -> dict[str, str]:
    """``--dataset NAME=ORG/DATASET`` (repeatable) as {NAME: ORG/DATASET}."""
    from ..manifests.errors import InputError

    datasets: dict[str, str] = {}
    for item in items:
        name, sep, ds = item.partition("=")
        if not sep or not name or not ds:
            raise InputError(f"--dataset {item!r}: expected NAME=ORG/DATASET")
        datasets[name] = ds
    return datasets


def export(
    manifest: OptionalManifestArg = None,
    *,  # --format is required: keyword-only, so it needs no default after MANIFEST's
    format: ExportFormatOpt,  # noqa: A002
    report: ExportReportOpt = None,
    out: ExportOutOpt = None,
    dataset: ExportDatasetOpt = None,
    log: ExportLogOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Export a release in a standard format: CycloneDX 1.6 ML-BOM, Hugging Face model-index or .eval_results,
    Every Eval Ever, KitOps Kitfile, or the ModelPack config.  Scores an audit reproduced carry their 95% CI and
    are marked verified; published-only scores are marked as such.

    Example: assay export manifests/examples/tiny-vlm/assay.yaml --format cyclonedx --out tiny-vlm.cdx.json
    (a re-run's log: assay export --log audit-out/rerun/chartqa-mini.assay.jsonl --format eee --out ./eee)
    """
    from ..manifests.errors import InputError
    from . import render

    if log is not None:
        if manifest is not None:
            raise InputError("give either a manifest or --log, not both")
        from ..audit.exports.log_export import export_log

        logged = export_log(log, format, out, _datasets(dataset or []))
        render.emit(logged, json_out, render.log_export_lines)
        finish(logged.ok)
    if manifest is None:
        raise InputError("missing MANIFEST (or --log LOG)")
    from ..audit.exports import FOLDER_FORMATS, FORMATS
    from ..audit.exports import export as do_export

    if format not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
    if json_out and out is None and format not in FOLDER_FORMATS:
        raise InputError(f"--json needs --out: without it the {format} document itself is printed on stdout")
    result = do_export(format, manifest, report, out, datasets=_datasets(dataset or []))
    if result.content is not None and result.ok:
        sys.stdout.write(result.content)
        for w in result.warnings:
            sys.stderr.write(f"assay: warning: {w}\n")
    else:
        render.emit(result, json_out, render.export_table)
    finish(result.ok)


def register(app: typer.Typer) -> None:
    """Add this module's verb to the ``assay`` app."""
    app.command("export")(export)
