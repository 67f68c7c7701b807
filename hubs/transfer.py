"""The pull engine: download locked files in parallel, hashing while writing, atomically, resumably.

For every file:
  * the destination path is resolved inside the target folder (no escapes through ``..`` or symlinks);
  * a file already there with the locked size and sha256 is kept (``present``), hashed or trusted from state;
  * bytes stream into ``<to>/.assay/partial/<sha256>`` (named by the *expected* digest, so a changed lock never
    resumes someone else's bytes), SHA-256 updated on each chunk — there is no second read;
  * an interrupted download leaves its partial file; the next pull re-hashes those bytes and asks the hub to
    continue from there (a hub that ignores ranges restarts from 0 — detected from ``Chunks.offset``);
  * only when size and sha256 equal the lock is the file fsynced and renamed into place; a mismatch deletes the
    bad bytes and names the file.  Nothing is ever marked verified that was not hashed.
"""

from __future__ import annotations

import errno
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..manifests.errors import PathEscapeError
from ..manifests.paths import resolve_inside
from ..manifests.release import Store
from .base import FileTransfer, Hub, RemoteFile, Resolved

PARTIAL_DIR = Store.PARTIAL
_READ = 4 * 1024 * 1024


@dataclass(frozen=True)
class Wanted:
    """A file to fetch and what the lock says it must be."""

    path: str
    size: int
    sha256: str


def _hash_prefix(path: Path, n: int) -> hashlib._Hash:
    sha = hashlib.sha256()
    buf = bytearray(_READ)
    view = memoryview(buf)
    left = n
    with open(path, "rb", buffering=0) as fh:
        while left:
            got = fh.readinto(view[: min(left, _READ)])
            if not got:
                break
            sha.update(view[:got])
            left -= got
    return sha


def _already_present(target: Path, want: Wanted, state: Any) -> bool:
    try:
        st = target.stat()
    except FileNotFoundError:
        return False
    if st.st_size != want.size or not target.is_file():
        return False
    if state is not None:
        hit = state.lookup(st)
        if hit is not None:
            return hit[0] == want.sha256
    from ..verify.hashing import hash_file

    dig = hash_file(target)
    if state is not None and dig.stable:
        state.record(dig.stat_after, dig.sha256, None, str(target))
    return dig.sha256 == want.sha256


def fetch_one(
    hub: Hub, resolved: Resolved, remote: RemoteFile, want: Wanted, to: Path, *, state: Any = None, progress: Any = None
) -> FileTransfer:
    """Fetch one file into ``to``; never raises for transfer problems (they are reported in the result)."""
    base = FileTransfer(path=want.path, size=None, sha256=None, expected_sha256=want.sha256, status="failed")
    try:
        target = resolve_inside(to, want.path)
    except PathEscapeError as exc:
        return base.model_copy(update={"message": str(exc)})
    if remote.size is not None and remote.size != want.size:
        return base.model_copy(
            update={
                "status": "mismatch",
                "size": remote.size,
                "message": f"the hub lists {remote.size:,} bytes, the lock pins {want.size:,}",
            }
        )
    if remote.sha256 is not None and remote.sha256 != want.sha256:
        return base.model_copy(
            update={
                "status": "mismatch",
                "sha256": remote.sha256,
                "message": f"the hub states sha256 {remote.sha256}, the lock pins {want.sha256}",
            }
        )
    if _already_present(target, want, state):
        if progress is not None:
            progress.advance(want.size)
        return base.model_copy(update={"status": "present", "size": want.size, "sha256": want.sha256})

    partial_dir = to / PARTIAL_DIR
    partial_dir.mkdir(parents=True, exist_ok=True)
    partial = partial_dir / want.sha256
    have = partial.stat().st_size if partial.exists() else 0
    if have > want.size:
        partial.unlink()
        have = 0
    sha = _hash_prefix(partial, have) if have else hashlib.sha256()
    resumed_from = have
    transferred = 0
    try:
        chunks = hub.open(resolved, remote, have)
        mode = "ab"
        if chunks.offset != have:  # the hub restarted from 0 (no Range support)
            sha, have, resumed_from, mode = hashlib.sha256(), 0, 0, "wb"
        if progress is not None and have:
            progress.advance(have)
        with open(partial, mode) as fh:
            try:
                for chunk in chunks.iterator:
                    if not chunk:
                        continue
                    if have + len(chunk) > want.size:
                        fh.close()
                        partial.unlink(missing_ok=True)
                        return base.model_copy(
                            update={
                                "status": "mismatch",
                                "bytes_transferred": transferred + len(chunk),
                                "message": f"the hub sent more than the locked {want.size:,} bytes; bad bytes deleted",
                            }
                        )
                    fh.write(chunk)
                    sha.update(chunk)
                    have += len(chunk)
                    transferred += len(chunk)
                    if progress is not None:
                        progress.advance(len(chunk))
            finally:
                if callable(chunks.close):
                    chunks.close()
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS):
            partial.unlink(missing_ok=True)  # nothing partial is left behind on a full or read-only disk
            return base.model_copy(
                update={"bytes_transferred": transferred, "message": f"cannot write {target}: {exc.strerror}"}
            )
        return base.model_copy(
            update={
                "bytes_transferred": transferred,
                "message": f"transfer interrupted after {have:,} of {want.size:,} bytes "
                f"({exc.strerror or exc}); run the pull again to resume",
            }
        )
    except Exception as exc:  # noqa: BLE001 -- network libraries raise their own types; keep the partial file
        first = str(exc).splitlines()[0] if str(exc) else ""
        return base.model_copy(
            update={
                "bytes_transferred": transferred,
                "message": f"transfer interrupted after {have:,} of {want.size:,} bytes "
                f"({type(exc).__name__}: {first}); run the pull again to resume",
            }
        )
    if have < want.size:
        return base.model_copy(
            update={
                "size": have,
                "bytes_transferred": transferred,
                "message": f"the hub ended the file after {have:,} of {want.size:,} bytes; "
                "run the pull again to resume",
            }
        )
    digest = sha.hexdigest()
    if digest != want.sha256:
        partial.unlink(missing_ok=True)
        return base.model_copy(
            update={
                "status": "mismatch",
                "size": have,
                "sha256": digest,
                "bytes_transferred": transferred,
                "message": f"sha256 {digest} != locked {want.sha256}; bad bytes deleted",
            }
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        resolve_inside(to, want.path)  # re-check after creating parents
        os.replace(partial, target)
    except PathEscapeError as exc:
        partial.unlink(missing_ok=True)
        return base.model_copy(update={"message": str(exc)})
    except OSError as exc:
        partial.unlink(missing_ok=True)
        return base.model_copy(update={"message": f"cannot write {target}: {exc.strerror}"})
    if state is not None:
        st = target.stat()
        state.record(st, digest, None, str(target))
    return base.model_copy(
        update={
            "status": "resumed" if resumed_from else "downloaded",
            "size": have,
            "sha256": digest,
            "bytes_transferred": transferred,
        }
    )


def fetch_many(
    hub: Hub,
    resolved: Resolved,
    wanted: list[Wanted],
    to: Path,
    *,
    workers: int = 4,
    state_path: Path | None = None,
    progress: Any = None,
) -> list[FileTransfer]:
    """Fetch files concurrently (largest first); results in the order of ``wanted``."""
    from ..verify.state import open_state

    to.mkdir(parents=True, exist_ok=True)
    results: dict[str, FileTransfer] = {}
    remotes = {w.path: remote for w in wanted if (remote := resolved.file(w.path)) is not None}
    missing = [w for w in wanted if w.path not in remotes]
    for w in missing:
        results[w.path] = FileTransfer(
            path=w.path,
            size=None,
            sha256=None,
            expected_sha256=w.sha256,
            status="failed",
            message=f"not found at {resolved.uri} (revision {resolved.revision})",
        )
    todo = sorted((w for w in wanted if w.path not in results), key=lambda w: w.size, reverse=True)
    if progress is not None:
        progress.start(sum(w.size for w in todo), len(todo))

    def one(w: Wanted) -> None:
        # SQLite connections are per thread: each worker opens its own handle on the state.
        state = open_state(state_path)
        try:
            results[w.path] = fetch_one(hub, resolved, remotes[w.path], w, to, state=state, progress=progress)
        finally:
            if state is not None:
                state.close()

    try:
        with ThreadPoolExecutor(
            max_workers=max(1, min(workers, len(todo) or 1)), thread_name_prefix="assay-pull"
        ) as pool:
            for fut in [pool.submit(one, w) for w in todo]:
                fut.result()
    finally:
        if progress is not None:
            progress.finish()
    partial_dir = to / PARTIAL_DIR
    if partial_dir.is_dir() and not any(partial_dir.iterdir()):
        partial_dir.rmdir()
    return [results[w.path] for w in wanted]
