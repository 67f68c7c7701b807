"""``assay export``: a release (manifest + lock) and optionally its audit report, in the formats others read.

=============  ==========================================================================  =================
format         what                                                                        output
=============  ==========================================================================  =================
cyclonedx      CycloneDX 1.6 ML-BOM with a modelCard, validated with cyclonedx-python-lib   one JSON file
model-index    Hugging Face ``model-index:`` block for a model card's YAML front matter     one YAML file
eval-results   Hugging Face ``.eval_results/<benchmark>.yaml`` files                        a folder
eee            Every Eval Ever 0.3.0 aggregate logs (published / reproduced)                a folder
kitfile        KitOps Kitfile (documented keys only)                                        one YAML file
modelpack      CNCF ModelPack config JSON, byte-identical to what ``assay push oci://`` sends one JSON file
=============  ==========================================================================  =================

Scores: with ``--report``, a score that an audit step reproduced (its ``chart`` rows) is exported with its 95% CI
and marked verified; every other score is the publisher's and is marked as published only.  Writing is atomic per
file; with no ``out``, a one-file format is returned in ``ExportResult.content`` (the CLI prints it).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ...manifests.errors import InputError
from ...manifests.fsio import write_bytes_atomic
from .common import canonical_json, load_context

FORMATS = ("cyclonedx", "model-index", "eval-results", "eee", "kitfile", "modelpack")
FOLDER_FORMATS = frozenset({"eval-results", "eee"})
EVAL_RESULTS_FOLDER = ".eval_results"


class ExportedFile(BaseModel):
    path: str
    size: int
    sha256: str


class ExportResult(BaseModel):
    format: str
    manifest: str
    release: str
    version: str
    release_digest: str
    report: str | None = None
    ok: bool
    files: list[ExportedFile] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list, description="What did not map cleanly into the format.")
    errors: list[str] = Field(default_factory=list, description="Schema validation errors (nothing was written).")
    seconds: float = 0.0
    content: str | None = Field(None, exclude=True, description="The document, when no output path was given.")


def _yaml(data: Any, header: str | None = None) -> str:
    from ...manifests.yamlio import dump_yaml

    return (f"# {header}\n" if header else "") + dump_yaml(data)


def _default_name(fmt: str, name: str, version: str) -> str:
    return {
        "cyclonedx": f"{name}-{version}.cdx.json",
        "model-index": f"{name}-{version}.model-index.yaml",
        "kitfile": "Kitfile",
        "modelpack": f"{name}-{version}.modelpack-config.json",
    }[fmt]


def _render(fmt: str, ctx: Any) -> tuple[dict[str, bytes], list[str]]:
    """Documents (name -> bytes; one unnamed '' entry for single-file formats) and validation errors."""
    if fmt == "cyclonedx":
        from . import cyclonedx

        bom = cyclonedx.build(ctx)
        text = canonical_json(bom)
        return {"": text.encode()}, cyclonedx.validate(text)
    if fmt == "model-index":
        from . import model_index

        doc = model_index.build(ctx)
        return {
            "": _yaml(
                doc, f"model-index of {ctx.name} {ctx.version} (assay export); paste into README.md's YAML front matter"
            ).encode()
        }, []
    if fmt == "eval-results":
        from . import eval_results

        return {name: _yaml(entries).encode() for name, entries in eval_results.build(ctx).items()}, []
    if fmt == "eee":
        from . import eee

        return {name: canonical_json(log).encode() for name, log in eee.build(ctx).items()}, []
    if fmt == "kitfile":
        from . import kitfile

        kit = kitfile.build(ctx)
        bad = kitfile.check_keys(kit)
        return {"": _yaml(kit).encode()}, [f"{k}: not a Kitfile key" for k in bad]
    if fmt == "modelpack":
        from . import modelpack

        return {"": modelpack.build(ctx)}, []
    raise InputError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")  # pragma: no cover


def export(
    format: str,
    manifest_path: Path | str,
    report_path: Path | str | None = None,  # noqa: A002
    out: Path | str | None = None,
    *,
    datasets: dict[str, str] | None = None,
) -> ExportResult:
    """Export the release of ``manifest_path`` (its lock is required) as ``format``.

    ``out``: a file for one-file formats (an existing folder gets a default file name in it); a folder for
    ``eval-results`` (files go to ``<out>/.eval_results/`` unless ``out`` is itself named ``.eval_results``) and
    ``eee``.  ``None``: one-file formats are returned in ``content``; folder formats write ``./.eval_results`` /
    ``./<release>-eee``.  ``datasets`` maps eval names to Hub dataset ids (``org/name``).
    """
    t0 = time.perf_counter()
    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}; use one of: {', '.join(FORMATS)}")
    ctx = load_context(manifest_path, report_path, datasets)
    docs, errors = _render(format, ctx)
    result = ExportResult(
        format=format,
        manifest=str(manifest_path),
        release=ctx.name,
        version=ctx.version,
        release_digest=ctx.release_digest,
        report=str(report_path) if report_path else None,
        ok=not errors,
        warnings=ctx.warnings,
        errors=errors,
    )
    if errors:
        return result.model_copy(update={"seconds": round(time.perf_counter() - t0, 3)})
    targets: dict[Path, bytes] = {}
    if format in FOLDER_FORMATS:
        default = EVAL_RESULTS_FOLDER if format == "eval-results" else f"{ctx.name}-eee"
        folder = Path(out) if out is not None else Path(default)
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{folder}: not a folder (format {format} writes several files)")
        if format == "eval-results" and folder.name != EVAL_RESULTS_FOLDER:
            folder = folder / EVAL_RESULTS_FOLDER
        targets = {folder / name: data for name, data in docs.items()}
    else:
        data = docs[""]
        if out is None:
            return result.model_copy(update={"content": data.decode(), "seconds": round(time.perf_counter() - t0, 3)})
        target = Path(out)
        if target.is_dir():
            target = target / _default_name(format, ctx.name, ctx.version)
        targets = {target: data}
    files = []
    for path, data in targets.items():
        write_bytes_atomic(path, data)
        files.append(ExportedFile(path=str(path), size=len(data), sha256=hashlib.sha256(data).hexdigest()))
    return result.model_copy(update={"files": files, "seconds": round(time.perf_counter() - t0, 3)})
