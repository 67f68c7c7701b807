"""``assay inspect FILE``: the strict structural verdict and a header summary of one weights file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..manifests.errors import InputError


class InspectResult(BaseModel):
    path: str
    format: str
    ok: bool
    tensors: int
    parameters: int
    parameters_by_dtype: dict[str, int]
    dtypes: list[str]
    errors: list[str]
    warnings: list[str]
    metadata: dict[str, str] | None = None
    header: list[dict[str, Any]] | None = None
    pickle_globals: list[str] | None = None


def inspect_file(path: Path | str) -> InspectResult:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    from .content_scan import scan_content
    from .sniff import sniff_file

    if path.name.endswith(".safetensors.index.json"):
        return _inspect_index(path)
    # By content, never by name: a pickle saved as .zip / .npy / .safetensors is still a pickle.
    sniffed = sniff_file(path)
    if sniffed.format == "safetensors" or (path.name.endswith(".safetensors") and not sniffed.pickle_bearing):
        from .safetensors_audit import audit_safetensors

        rep = audit_safetensors(path)
        return InspectResult(
            path=str(path),
            format="safetensors",
            ok=rep.ok,
            tensors=len(rep.tensors),
            parameters=rep.parameters,
            parameters_by_dtype=rep.parameters_by_dtype,
            dtypes=rep.dtypes,
            errors=rep.errors,
            warnings=rep.warnings,
            metadata=rep.metadata,
            header=[t.model_dump() for t in rep.tensors],
        )
    if sniffed.pickle_bearing:
        scan = scan_content(path)
        pk = scan.report
        assert pk is not None  # a pickle-bearing file is always scanned
        imported = sorted({f"{g.module}.{g.name}" for g in pk.globals})
        warnings = ["pickle format: loading it runs code chosen by the file's author; assay never unpickles it"]
        return InspectResult(
            path=str(path),
            format=f"{sniffed.format} ({pk.container})",
            ok=pk.ok,
            tensors=0,
            parameters=0,
            parameters_by_dtype={},
            dtypes=[],
            errors=list(pk.errors),
            warnings=warnings,
            pickle_globals=imported,
        )
    raise InputError(
        f"{path}: not a weights file assay can inspect (content is {sniffed.format}"
        + (f", {sniffed.detail}" if sniffed.detail else "")
        + "; safetensors, shard indexes and pickle-bearing files are)"
    )


def _inspect_index(path: Path) -> InspectResult:
    from .safetensors_audit import (
        audit_safetensors,
        audit_shard_index,
        read_index_shard_names,
    )

    reports = {}
    for name in read_index_shard_names(path):  # plain, well-typed names only; the audit reports the rest
        shard = path.parent / name
        if shard.is_file():
            reports[name] = audit_safetensors(shard)
    rep = audit_shard_index(path, reports)
    errors = list(rep.errors) + [f"{n}: {e}" for n, r in reports.items() for e in r.errors]
    by_dtype: dict[str, int] = {}
    for r in reports.values():
        for dt, n in r.parameters_by_dtype.items():
            by_dtype[dt] = by_dtype.get(dt, 0) + n
    return InspectResult(
        path=str(path),
        format="safetensors shard index",
        ok=not errors,
        tensors=sum(len(r.tensors) for r in reports.values()),
        parameters=sum(r.parameters for r in reports.values()),
        parameters_by_dtype=by_dtype,
        dtypes=sorted(by_dtype),
        errors=errors,
        warnings=rep.warnings,
    )
