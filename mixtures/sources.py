"""Where a data component's bytes are: a local folder, a DVC repository, or nowhere assay can read (attested only).

* ``dir://folder`` — a folder relative to the manifest's folder (``dir:///abs`` absolute).
* ``dvc://repo`` — a DVC repository folder relative to the manifest; files are read from the workspace, else from
  DVC's cache or a remote through DVC's own API (see :mod:`assay.mixtures.dvc_adapter`).
* ``hf://datasets/org/name@rev`` — remote: checked only where ``--data-dir DIR`` holds a local copy in
  ``DIR/<component name>/``; otherwise *attested only*.
* ``unavailable`` — attested only, with the publisher's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..manifests.errors import InputError
from ..manifests.schema_data import UNAVAILABLE, DataComponent
from ..manifests.uris import parse_source_uri


@dataclass(frozen=True)
class ResolvedSource:
    kind: Literal["local", "dvc", "attested"]
    root: Path | None = None
    reason: str | None = None

    def folder(self) -> Path:
        """The local folder of a ``local`` or ``dvc`` source (an ``attested`` one has none)."""
        if self.root is None:
            raise InputError(f"a {self.kind} data source has no local folder")
        return self.root


def _relative_to(manifest_path: Path, raw: str) -> Path:
    p = Path(raw)
    return p if p.is_absolute() else manifest_path.parent / p


def resolve_component(manifest_path: Path, comp: DataComponent, data_dir: Path | None = None) -> ResolvedSource:
    src = comp.source
    if src == UNAVAILABLE:
        return ResolvedSource("attested", reason=f"source unavailable: {comp.reason}")
    if src.startswith("dvc://"):
        return ResolvedSource("dvc", root=_relative_to(manifest_path, src[len("dvc://") :]))
    parsed = parse_source_uri(src)
    if parsed.scheme == "dir" and parsed.package is None:
        return ResolvedSource("local", root=_relative_to(manifest_path, parsed.repo))
    if data_dir is not None and (data_dir / comp.name).is_dir():
        return ResolvedSource("local", root=data_dir / comp.name)
    where = "a directory hub" if parsed.scheme == "dir" else "a remote source"
    return ResolvedSource(
        "attested", reason=f"{where} ({src}) with no local copy; pass --data-dir DIR holding DIR/{comp.name}/"
    )
