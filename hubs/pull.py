"""``assay pull``: fetch exactly the locked files of a release from its hub(s), verified while writing.

Two entry points:
  * a manifest (with its lock): every locked source is resolved at its *locked* revision and its files fetched;
  * a hub URI: the package's own ``assay.yaml`` and ``assay.lock.yaml`` (at its root) are fetched first, then the
    files they lock.

The pulled folder gets ``.assay/origin.json`` (source, revision, release digest), which makes it a local store:
``assay verify <to>/assay.yaml`` then checks the files in that folder.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from ..manifests.errors import InputError
from ..manifests.fsio import write_atomic, write_bytes_atomic
from ..manifests.loader import lock_path_for
from ..manifests.lock import Lock
from ..manifests.uris import SourceURI, parse_source_uri
from .base import LOCK_NAME, MANIFEST_NAME, FileTransfer, HubError, PullResult, RemoteFile, Resolved
from .select import hub_for
from .transfer import Wanted, fetch_many


def git_blob_sha1(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hugging Face Hub states for non-LFS files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def read_small(hub: Any, resolved: Resolved, remote: RemoteFile, limit: int = 64 * 1024 * 1024) -> bytes:
    """Read a small file fully into memory and check it against whatever digest the hub states."""
    chunks = hub.open(resolved, remote, 0)
    parts, n = [], 0
    try:
        for chunk in chunks.iterator:
            parts.append(chunk)
            n += len(chunk)
            if n > limit:
                raise HubError(f"{resolved.uri}: {remote.path} is larger than {limit:,} bytes")
    finally:
        if callable(chunks.close):
            chunks.close()
    data = b"".join(parts)
    if remote.size is not None and len(data) != remote.size:
        raise HubError(f"{resolved.uri}: {remote.path}: got {len(data):,} bytes, the hub lists {remote.size:,}")
    if remote.sha256 and hashlib.sha256(data).hexdigest() != remote.sha256:
        raise HubError(f"{resolved.uri}: {remote.path}: content does not match the hub's sha256")
    if remote.git_sha1 and git_blob_sha1(data) != remote.git_sha1:
        raise HubError(f"{resolved.uri}: {remote.path}: content does not match the hub's git blob id")
    return data


def _select(paths: list[str], only: list[str] | None) -> set[str]:
    if not only:
        return set(paths)
    return {
        p
        for p in paths
        if any(fnmatch.fnmatchcase(p, pat) or fnmatch.fnmatchcase(p.rsplit("/", 1)[-1], pat) for pat in only)
    }


def resolve_pinned(uri: str, revision: str | None, base: Path) -> tuple[Any, Resolved, SourceURI]:
    """Resolve a source at an exact revision; relative ``dir://`` paths are taken relative to ``base``.

    Plain folders are locked by their files' digests (revision ``tree-sha256:…``), so they are resolved as they
    are and every file is checked against the lock; every other source must resolve to the locked revision.
    """
    parsed = parse_source_uri(uri)
    if parsed.scheme == "dir" and not Path(parsed.repo).is_absolute():
        frag = f"#{uri.split('#', 1)[1]}" if "#" in uri else ""
        parsed = parse_source_uri(f"dir://{(base / parsed.repo).resolve()}{frag}")
    exact = revision if revision and not revision.startswith("tree-") else None
    if exact and (parsed.scheme != "dir" or parsed.package):
        parsed = parse_source_uri(parsed.pinned(exact))
    hub = hub_for(parsed)
    resolved = hub.resolve(parsed)
    if exact and resolved.revision != exact:
        raise HubError(f"{uri}: the hub resolved revision {resolved.revision}, the lock pins {exact}")
    return hub, resolved, parsed


def _write_origin(to: Path, source: str, revision: str | None, digest: str | None) -> None:

    from ..manifests.release import Store

    write_atomic(
        to / Store.ORIGIN,
        json.dumps({"source": source, "revision": revision, "release_digest": digest}, indent=2, sort_keys=True) + "\n",
    )


def pull(
    target: str, *, to: Path | None = None, only: list[str] | None = None, workers: int = 4, progress: Any = None
) -> PullResult:
    t0 = time.perf_counter()
    if "://" in target:
        return _pull_uri(target, to=to, only=only, workers=workers, progress=progress, t0=t0)
    return _pull_manifest(Path(target), to=to, only=only, workers=workers, progress=progress, t0=t0)


def _finish(
    source: str, revision: str | None, to: Path, lock: Lock, transfers: list[FileTransfer], full: bool, t0: float
) -> PullResult:
    ok = all(t.status in ("downloaded", "present", "resumed") for t in transfers)
    digest = lock.release_digest if ok and full else None
    _write_origin(to, source, revision, digest)
    return PullResult(
        source=source,
        revision=revision,
        to=str(to),
        release=f"{lock.release.name} {lock.release.version}",
        release_digest=digest,
        files=transfers,
        ok=ok,
        seconds=round(time.perf_counter() - t0, 3),
        bytes_transferred=sum(t.bytes_transferred for t in transfers),
    )


def _pull_manifest(
    manifest_path: Path, *, to: Path | None, only: list[str] | None, workers: int, progress: Any, t0: float
) -> PullResult:
    from ..manifests.release import load_release

    loaded = load_release(manifest_path, require_lock=True)
    lock, lock_path = loaded.locked()
    if not lock.sources:
        raise InputError(f"{manifest_path}: the lock names no sources to pull from")
    to = to or Path(loaded.manifest.release.name)
    selected = _select([f.path for f in lock.files], only)
    if only and not selected:
        raise InputError(f"--only {' '.join(only)} matches none of the locked files")
    default = lock.sources[0].name
    transfers: list[FileTransfer] = []
    revisions = []
    for src in lock.sources:
        files = [f for f in lock.files if (f.source or default) == src.name and f.path in selected]
        if not files:
            continue
        hub, resolved, _pinned = resolve_pinned(src.uri, src.revision, loaded.manifest_path.parent)
        revisions.append(resolved.revision)
        transfers += fetch_many(
            hub, resolved, [Wanted(f.path, f.size, f.sha256) for f in files], to, workers=workers, progress=progress
        )
    if to.resolve() != loaded.manifest_path.parent.resolve():
        write_bytes_atomic(to / loaded.manifest_path.name, loaded.manifest_path.read_bytes())
        write_bytes_atomic(lock_path_for(to / loaded.manifest_path.name), lock_path.read_bytes())
    order = {f.path: i for i, f in enumerate(lock.files)}
    transfers.sort(key=lambda t: order.get(t.path, 0))
    return _finish(
        str(manifest_path),
        ",".join(revisions) or None,
        to,
        lock,
        transfers,
        full=len(selected) == len(lock.files),
        t0=t0,
    )


def _pull_uri(
    uri: str, *, to: Path | None, only: list[str] | None, workers: int, progress: Any, t0: float
) -> PullResult:
    from ..manifests.loader import load_model

    parsed = parse_source_uri(uri)
    hub = hub_for(parsed)
    resolved = hub.resolve(parsed)
    manifest_file, lock_file = resolved.file(MANIFEST_NAME), resolved.file(LOCK_NAME)
    if manifest_file is None or lock_file is None:
        raise HubError(
            f"{uri} (revision {resolved.revision}) is not an assay package: no {MANIFEST_NAME} and "
            f"{LOCK_NAME} at its root; write a manifest for it and 'assay lock' it"
        )
    to = to or Path((parsed.package or parsed.repo.rstrip("/").rsplit("/", 1)[-1]) or "release")
    for name, remote in ((MANIFEST_NAME, manifest_file), (LOCK_NAME, lock_file)):
        write_bytes_atomic(to / name, read_small(hub, resolved, remote))
    lock = load_model(Lock, to / LOCK_NAME)
    manifest_sha = hashlib.sha256((to / MANIFEST_NAME).read_bytes()).hexdigest()
    if manifest_sha != lock.manifest_sha256:
        raise HubError(f"{uri}: the package's {LOCK_NAME} was not made from its {MANIFEST_NAME}")
    selected = _select([f.path for f in lock.files], only)
    if only and not selected:
        raise InputError(f"--only {' '.join(only)} matches none of the locked files")
    wanted = [Wanted(f.path, f.size, f.sha256) for f in lock.files if f.path in selected]
    transfers = fetch_many(hub, resolved, wanted, to, workers=workers, progress=progress)
    return _finish(uri, resolved.revision, to, lock, transfers, full=len(selected) == len(lock.files), t0=t0)
