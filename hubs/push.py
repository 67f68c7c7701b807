"""``assay push``: upload a verified release — artifacts, manifest and lock (and an audit report) — to a hub.

The release must verify first (a push never publishes bytes that do not match the lock).  In the package the
manifest and lock always sit at the root as ``assay.yaml`` and ``assay.lock.yaml``, so ``assay pull URI`` can
read them first.  Every hub skips blobs it already holds, so pushing again uploads nothing.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from ..manifests.errors import InputError
from ..manifests.paths import resolve_inside
from ..manifests.uris import parse_source_uri
from .base import LOCK_NAME, MANIFEST_NAME, REPORT_NAME, PushFile, PushResult
from .select import hub_for


def _meta_file(path_in_package: str, local: Path, role: str) -> PushFile:
    data = local.read_bytes()
    return PushFile(
        path=path_in_package, local=local, size=len(data), sha256=hashlib.sha256(data).hexdigest(), role=role
    )


def push(
    manifest_path: Path | str,
    to: str,
    *,
    root: Path | None = None,
    create: bool = False,
    report: Path | None = None,
    progress: Any = None,
) -> PushResult:
    from ..manifests.release import load_release
    from ..verify.release import verify_release

    t0 = time.perf_counter()
    manifest_path = Path(manifest_path)
    target = parse_source_uri(to)
    loaded = load_release(manifest_path, root=root, require_lock=True)
    reserved = {MANIFEST_NAME, LOCK_NAME, REPORT_NAME}
    clash = [a.path for a in loaded.manifest.artifacts if a.path in reserved]
    if clash:
        raise InputError(f"{manifest_path}: artifact {clash[0]!r} clashes with the package's own {clash[0]}")
    if report is not None and not report.is_file():
        raise InputError(f"{report}: no such report file")
    check = verify_release(loaded, progress=progress)
    if not check.ok:
        bad = [f.path for f in check.files if f.status != "ok"]
        return PushResult(
            to=to,
            revision=None,
            release_digest=None,
            files=[],
            ok=False,
            message="the release does not verify"
            + (f" ({', '.join(bad)})" if bad else "")
            + "; run 'assay verify' and fix it before pushing",
        )
    roots = loaded.roots()
    lock, lock_path = loaded.locked()
    roles = {a.path: a.role.value for a in loaded.manifest.artifacts}
    files = [
        PushFile(
            path=f.path, local=resolve_inside(roots[f.path], f.path), size=f.size, sha256=f.sha256, role=roles[f.path]
        )
        for f in lock.files
    ]
    files.append(_meta_file(MANIFEST_NAME, manifest_path, "config"))
    files.append(_meta_file(LOCK_NAME, lock_path, "config"))
    if report is not None:
        files.append(_meta_file(REPORT_NAME, report, "docs"))
    rel = loaded.manifest.release
    message = f"assay push {rel.name} {rel.version}: release digest {lock.release_digest}"
    result = hub_for(target).push(target, files, message=message, create=create)
    return result.model_copy(
        update={
            "release_digest": lock.release_digest if result.ok else None,
            "seconds": round(time.perf_counter() - t0, 3),
            "message": result.message or message,
        }
    )
