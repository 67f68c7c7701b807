"""``assay lock``: resolve every source of a manifest to an exact revision and pin sha256 + size per file.

* plain ``dir://`` folders (and manifests without sources, whose files sit beside them) are locked by hashing the
  files; their revision is ``tree-`` + the release digest of the files taken from them;
* hub sources (``hf://``, ``oci://``, ``dir://hub#package:tag``) are resolved through the hub: the revision is the
  commit sha / manifest digest / package digest, and each file's sha256 is what the hub states for it (Hugging Face
  LFS oid, raw OCI layer digest, dir-hub blob name); files the hub states no sha256 for (Hugging Face non-LFS
  files, known only by their git blob id) are fetched into memory, checked against the git blob id and hashed.

A file whose sha256 or size contradicts what the manifest declares is not locked: the lock would pin a false claim.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from ..manifests.errors import AssayError
from ..manifests.fsio import write_atomic
from ..manifests.loader import lock_path_for
from ..manifests.lock import Lock, LockedFile, LockedSource, LockRelease, lock_to_yaml, release_digest
from ..manifests.release import Progress, Release, load_release
from ..manifests.schema import Manifest
from ..manifests.uris import parse_source_uri
from ..verify.release import measure_files
from ..verify.results import FileCheck


class LockResult(BaseModel):
    manifest: str
    lock: str | None
    written: bool
    release_digest: str | None
    files: list[FileCheck]
    ok: bool
    message: str | None = None


def _is_hub(uri: str) -> bool:
    parsed = parse_source_uri(uri)
    return parsed.scheme != "dir" or parsed.package is not None


def _lock_from_hub(loaded: Release, source_uri: str, paths: list[str]) -> tuple[str, dict[str, FileCheck]]:
    """Resolve a hub source and take each file's digest from the hub (hashing those it states none for)."""
    import hashlib

    from ..hubs.pull import read_small, resolve_pinned

    hub, resolved, _ = resolve_pinned(source_uri, None, loaded.manifest_path.parent)
    checks: dict[str, FileCheck] = {}
    arts = {a.path: a for a in loaded.manifest.artifacts}
    for path in paths:
        art = arts[path]
        base = FileCheck(
            path=path, role=art.role.value, status="ok", how="hub", expected_size=art.size, expected_sha256=art.sha256
        )
        remote = resolved.file(path)
        if remote is None:
            checks[path] = base.model_copy(
                update={
                    "status": "missing",
                    "how": "not-read",
                    "message": f"not found at {source_uri} (revision {resolved.revision})",
                }
            )
            continue
        size, sha, how = remote.size, remote.sha256, "hub"
        if sha is None:
            data = read_small(hub, resolved, remote)
            size, sha, how = len(data), hashlib.sha256(data).hexdigest(), "hashed"
        chk = base.model_copy(update={"size": size, "sha256": sha, "how": how})
        if art.sha256 and art.sha256 != sha:
            chk = chk.model_copy(
                update={
                    "status": "mismatch",
                    "message": f"the hub has sha256 {sha}, the manifest declares {art.sha256}",
                }
            )
        elif art.size is not None and art.size != size:
            chk = chk.model_copy(
                update={
                    "status": "size-mismatch",
                    "message": f"the hub has {size:,} bytes, the manifest declares {art.size:,}",
                }
            )
        checks[path] = chk
    return resolved.revision, checks


def build_lock(m: Manifest, manifest_sha256: str, files: list[FileCheck], revisions: dict[str, str]) -> Lock:
    """The lock of measured files: hub sources get their resolved ``revisions``, plain folders ``tree-<digest>``."""
    from importlib.metadata import version

    default = m.sources[0].name if m.sources else None
    source_of = {a.path: a.source for a in m.artifacts}
    locked = []
    for c in files:
        if c.size is None or c.sha256 is None:
            raise AssayError(f"{c.path}: not measured ({c.status}); a lock pins measured files only")
        locked.append(LockedFile(path=c.path, size=c.size, sha256=c.sha256, blake3=c.blake3, source=source_of[c.path]))
    sources = []
    for src in m.sources:
        revision = revisions.get(src.name)
        if revision is None:
            mine = [f for f in locked if (f.source or default) == src.name]
            revision = "tree-" + release_digest((f.path, f.size, f.sha256) for f in mine)
        sources.append(LockedSource(name=src.name, uri=src.uri, revision=revision))
    return Lock(
        release=LockRelease(name=m.release.name, version=m.release.version),
        manifest_sha256=manifest_sha256,
        generator=f"assay {version('assay')}",
        sources=sources,
        files=locked,
        release_digest=release_digest((f.path, f.size, f.sha256) for f in locked),
    )


def lock_release(
    manifest_path: Path | str,
    *,
    root: Path | None = None,
    strict: bool = True,
    blake3: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    use_state: bool = True,
) -> LockResult:
    loaded = load_release(manifest_path)
    m = loaded.manifest
    default = m.sources[0].name if m.sources else None
    source_of = {a.path: a.source or default for a in m.artifacts}
    revisions: dict[str, str] = {}
    checks: dict[str, FileCheck] = {}
    for src in m.sources:
        if _is_hub(src.uri) and root is None:
            revisions[src.name], got = _lock_from_hub(
                loaded, src.uri, [p for p, s in source_of.items() if s == src.name]
            )
            checks.update(got)
    local = [a for a in m.artifacts if a.path not in checks]
    if local:
        roots = loaded.with_root(root).roots()
        state = None
        if use_state:
            from ..verify.state import open_state

            state = open_state()
        try:
            checks.update(
                measure_files(
                    [(a.path, a.role.value, roots[a.path], a.size, a.sha256) for a in local],
                    strict=strict,
                    state=state,
                    blake3=blake3,
                    workers=workers,
                    progress=progress,
                )
            )
        finally:
            if state is not None:
                state.close()
    files = [checks[a.path] for a in m.artifacts]
    # "unpinned" only means the manifest declares no sha256: pinning it is what a lock is for.
    bad = [c for c in files if c.status not in ("ok", "unpinned")]
    lock_path = lock_path_for(loaded.manifest_path)
    if bad:
        return LockResult(
            manifest=str(loaded.manifest_path),
            lock=str(lock_path),
            written=False,
            release_digest=None,
            files=files,
            ok=False,
            message=f"{len(bad)} file(s) do not match the manifest: " + ", ".join(c.path for c in bad),
        )
    lock = build_lock(m, loaded.manifest_sha256, files, revisions)
    digest = lock.release_digest
    write_atomic(lock_path, lock_to_yaml(lock))
    files = [c.model_copy(update={"status": "ok", "expected_sha256": c.sha256, "expected_size": c.size}) for c in files]
    return LockResult(
        manifest=str(loaded.manifest_path),
        lock=str(lock_path),
        written=True,
        release_digest=digest,
        files=files,
        ok=True,
    )
