"""Data components in DVC repositories (``source: dvc://repo``): DVC's md5 mapped to the sha256 assay computes.

Each file is read once from where its bytes are — the workspace, else DVC's cache, else a remote (``remote:``
names one and then *only* the remote is read, so an audit of a remote checks the remote's bytes) — and hashed with
DVC's md5 (to check DVC's own record) and SHA-256 (to check the manifest's pin) in the same pass.  Both are reported:
DVC's md5 is never taken as evidence of the sha256.  Bytes that come from the cache or a remote are written to the
work folder so the recount reads the same bytes that were hashed.  A file inside a tracked folder is checked
against the folder's listing only once that listing's own md5 is checked (``dvc_adapter.ListingMismatch``).

An out written by DVC 2 (no ``hash:``) records the legacy ``md5-dos2unix`` (md5 after CRLF -> LF for text files):
its bytes are hashed with that algorithm (DVC's own code), so ``md5`` / ``dvc_md5`` hold it, and the file's message
names the algorithm ("DVC md5-dos2unix …") beside the sha256, since it is not the plain md5 of the bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from ..manifests.errors import PathEscapeError
from ..manifests.paths import resolve_inside
from ..manifests.schema_data import DataComponent
from .dvc_adapter import ByteStream, DvcRepo, ListingMismatch, hash_stream
from .results import DataFileCheck

CHUNK = 1024 * 1024


def _read(src: ByteStream, dst: Path | None, md5_name: str) -> tuple[str, str, int]:
    """(md5 as DVC computes it, sha256, size) of a binary stream, copied to ``dst`` when given."""
    sha = hashlib.sha256()
    stream = hash_stream(md5_name)(src)
    size = 0
    with open(dst, "wb") if dst is not None else contextlib.nullcontext() as out:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            sha.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    return stream.hash_value, sha.hexdigest(), size


def dvc_files(comp: DataComponent, root: Path, workdir: Path) -> tuple[list[DataFileCheck], dict[str, Path]]:
    """Check each file of a dvc:// component; returns the checks and the local copies to recount."""
    checks: list[DataFileCheck] = []
    readable: dict[str, Path] = {}
    with DvcRepo(root) as repo:
        for f in comp.files:
            base = DataFileCheck(path=f.path, status="ok", how="not-read", expected_sha256=f.sha256)
            try:
                workspace = resolve_inside(root, f.path)
            except PathEscapeError as exc:
                checks.append(base.model_copy(update={"status": "unsafe-path", "message": str(exc)}))
                continue
            try:
                tracked = repo.tracked(f.path, comp.remote)
            except ListingMismatch as exc:  # a folder listing whose md5 is not the recorded one: no md5 from it
                checks.append(
                    base.model_copy(update={"status": "mismatch", "dvc_file": exc.dvc_file, "message": str(exc)})
                )
                continue
            except OSError as exc:  # a folder's listing that only an unreadable remote holds
                checks.append(base.model_copy(update={"status": "unreadable", "message": str(exc)}))
                continue
            if tracked is None:
                checks.append(base.model_copy(update={"status": "missing", "message": f"not tracked by DVC in {root}"}))
                continue
            base = base.model_copy(update={"dvc_md5": tracked.md5, "dvc_file": tracked.dvc_file})
            dst: Path | None = None
            try:
                if comp.remote is None and workspace.is_file():
                    how, local = "dvc-workspace", workspace
                    src: ByteStream = open(workspace, "rb")  # noqa: SIM115 -- closed by `with src` below
                else:
                    cached = repo.cache_path(tracked) if comp.remote is None else None
                    how = "dvc-cache" if cached else "dvc-remote"
                    src = open(cached, "rb") if cached else repo.open_remote(tracked, comp.remote)  # noqa: SIM115
                    dst = local = workdir / f.path
                    dst.parent.mkdir(parents=True, exist_ok=True)
                with src:
                    md5, sha, size = _read(src, dst, tracked.hash_name)
            except FileNotFoundError:
                checks.append(
                    base.model_copy(
                        update={
                            "status": "missing",
                            "message": f"not in the workspace, the cache or remote {comp.remote or '(default)'}",
                        }
                    )
                )
                continue
            except OSError as exc:
                checks.append(base.model_copy(update={"status": "unreadable", "message": str(exc)}))
                continue
            chk = base.model_copy(
                update={"how": how, "size": size, "sha256": sha, "md5": md5, "dvc_hash": tracked.hash_name}
            )
            if md5 != tracked.md5:
                chk = chk.model_copy(
                    update={
                        "status": "mismatch",
                        "message": f"bytes ({how}) have {tracked.hash_name} {md5}, but {tracked.dvc_file} "
                        f"records {tracked.md5}",
                    }
                )
            elif f.size is not None and size != f.size:
                chk = chk.model_copy(
                    update={"status": "size-mismatch", "message": f"size {size:,}, declared {f.size:,}"}
                )
            elif f.sha256 is None:
                chk = chk.model_copy(
                    update={
                        "status": "unpinned",
                        "message": f"DVC's {tracked.hash_name} holds, but no sha256 is pinned (measured {sha})",
                    }
                )
            elif sha != f.sha256:
                chk = chk.model_copy(update={"status": "mismatch", "message": f"sha256 {sha} != pinned {f.sha256}"})
            elif f.md5 is not None and f.md5 != tracked.md5:
                chk = chk.model_copy(
                    update={"status": "mismatch", "message": f"the manifest's md5 {f.md5} is not DVC's {tracked.md5}"}
                )
            elif tracked.hash_name != "md5":
                chk = chk.model_copy(
                    update={"message": f"DVC {tracked.hash_name} {tracked.md5} (a DVC 2 out) holds; sha256 {sha}"}
                )
            checks.append(chk)
            readable[f.path] = local
    return checks, readable
