"""The CNCF ModelPack config (``application/vnd.cncf.model.config.v1+json``) that ``assay push oci://…`` uploads.

It is built by the same function as the push (:func:`assay.hubs.oci.modelpack_config`) from the same file list
(every locked file, plus ``assay.yaml``, ``assay.lock.yaml`` and, with ``--report``, ``report.json``) and
written as the same canonical JSON bytes, so its sha256 is the config digest the registry will hold.
ModelPack has no fields for evaluations, mixtures or signatures (modelpack/model-spec ``docs/config.md``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ...manifests.errors import InputError
from .common import ExportContext


def build(ctx: ExportContext) -> bytes:
    from ...hubs.base import LOCK_NAME, MANIFEST_NAME, REPORT_NAME, PushFile
    from ...hubs.oci import canonical_json, modelpack_config
    from ...manifests.loader import lock_path_for
    from ...manifests.uris import SourceURI

    reserved = {MANIFEST_NAME, LOCK_NAME, REPORT_NAME}
    clash = [a.path for a in ctx.manifest.artifacts if a.path in reserved]
    if clash:
        raise InputError(f"{ctx.manifest_path}: artifact {clash[0]!r} clashes with the package's own {clash[0]}")
    roles = {a.path: a.role.value for a in ctx.manifest.artifacts}
    files = [
        PushFile(
            path=f.path,
            local=ctx.manifest_path.parent / f.path,
            size=f.size,
            sha256=f.sha256,
            role=roles.get(f.path, "other"),
        )
        for f in ctx.lock.files
    ]

    def meta(name: str, local: Path, role: str) -> PushFile:
        data = local.read_bytes()
        return PushFile(path=name, local=local, size=len(data), sha256=hashlib.sha256(data).hexdigest(), role=role)

    files.append(meta(MANIFEST_NAME, ctx.manifest_path, "config"))
    files.append(meta(LOCK_NAME, lock_path_for(ctx.manifest_path), "config"))
    if ctx.report_path is not None:
        files.append(meta(REPORT_NAME, ctx.report_path, "docs"))
    files.sort(key=lambda f: f.path.encode())
    name, version = ctx.name, ctx.version
    uri = SourceURI(
        "oci", f"oci://localhost/{name.lower()}:{version}", repo=name.lower(), host="localhost", revision=version
    )
    return canonical_json(modelpack_config(uri, files, [f"sha256:{f.sha256}" for f in files]))
