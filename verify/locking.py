"""``assay lock``: resolve every source of a manifest to an exact revision and pin sha256 + size per file.

``dir://`` sources (and manifests without sources, whose files sit beside them) are locked by hashing the files;
the revision of a ``dir://`` source is the release digest of the files taken from it.  A file whose measured
sha256 or size contradicts what the manifest declares is not locked: the lock would pin a false claim.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from ..manifests.errors import InputError
from ..manifests.lock import Lock, LockedFile, LockedSource, LockRelease, lock_to_yaml, release_digest
from ..manifests.loader import lock_path_for
from ..manifests.uris import parse_source_uri
from .release import Progress, artifact_roots, load_release, measure_files
from .results import FileCheck


class LockResult(BaseModel):
    manifest: str
    lock: str | None
    written: bool
    release_digest: str | None
    files: list[FileCheck]
    ok: bool
    message: str | None = None


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def lock_release(manifest_path: Path | str, *, root: Path | None = None, strict: bool = True, blake3: bool = False,
                 workers: int | None = None, progress: Progress | None = None, use_state: bool = True) -> LockResult:
    loaded = load_release(manifest_path)
    m = loaded.manifest
    for src in m.sources:
        parsed = parse_source_uri(src.uri)
        if parsed.scheme != "dir" and root is None:
            raise InputError(f"{loaded.manifest_path}: source {src.uri}: only dir:// sources can be locked by this "
                             f"version; pull the files and pass --dir to lock them from a local copy")
    roots = artifact_roots(loaded, root)
    state = None
    if use_state:
        from .state import open_state

        state = open_state()
    try:
        checks = measure_files([(a.path, a.role.value, roots[a.path], a.size, a.sha256) for a in m.artifacts],
                               strict=strict, state=state, blake3=blake3, workers=workers, progress=progress)
    finally:
        if state is not None:
            state.close()
    files = [checks[a.path] for a in m.artifacts]
    # Unpinned means "the manifest declares no sha256": that is what a lock is for.
    bad = [c for c in files if c.status not in ("ok", "unpinned")]
    lock_path = lock_path_for(loaded.manifest_path)
    if bad:
        return LockResult(manifest=str(loaded.manifest_path), lock=str(lock_path), written=False, release_digest=None,
                          files=files, ok=False,
                          message=f"{len(bad)} file(s) do not match the manifest: " + ", ".join(c.path for c in bad))
    locked = [LockedFile(path=c.path, size=c.size, sha256=c.sha256, blake3=c.blake3,
                         source=next((a.source for a in m.artifacts if a.path == c.path), None)) for c in files]
    sources = []
    for i, src in enumerate(m.sources):
        mine = [f for f in locked if (f.source or (m.sources[0].name)) == src.name]
        sources.append(LockedSource(name=src.name, uri=src.uri,
                                    revision="tree-" + release_digest((f.path, f.size, f.sha256) for f in mine)))
    digest = release_digest((f.path, f.size, f.sha256) for f in locked)
    from importlib.metadata import version

    lock = Lock(release=LockRelease(name=m.release.name, version=m.release.version),
                manifest_sha256=loaded.manifest_sha256, generator=f"assay {version('assay')}", sources=sources,
                files=locked, release_digest=digest)
    write_atomic(lock_path, lock_to_yaml(lock))
    files = [c.model_copy(update={"status": "ok", "expected_sha256": c.sha256, "expected_size": c.size}) for c in files]
    return LockResult(manifest=str(loaded.manifest_path), lock=str(lock_path), written=True, release_digest=digest,
                      files=files, ok=True)
