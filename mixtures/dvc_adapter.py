"""The one place assay touches DVC's Python API.

``dvc.repo.Repo`` is "not officially released" (treeverse/dvc#5050, #3278): every call into it lives here, so a
DVC upgrade that moves things breaks one module.  What assay needs from DVC:

* which md5 DVC records for a file — a ``.dvc`` file's out, a ``dvc.lock`` out, or a file inside a tracked folder
  (``DVCFileSystem.info``);
* the file's bytes from the workspace, DVC's local cache, or a remote's object store (local folder, S3, … — any
  remote DVC can read), without trusting any of them: callers hash what they read;
* a new repository without git (``Repo.init(no_scm=True)``) and a forced, run-cache-free ``dvc repro``.

Remotes other than local folders need DVC's plugin for them (``dvc-s3`` for ``s3://``, S3-compatible servers
included; without it the check is bad input, exit 2).  assay passes a remote nothing of its own: the endpoint
(``endpointurl``), region and credentials are whatever DVC's config gives (secrets in ``.dvc/config.local``, written
by ``dvc remote modify --local``) or the client finds itself (``AWS_*`` variables, ``~/.aws``).  A remote that cannot
be read (no credentials, endpoint down, access denied) makes that file unreadable (an ``OSError``), never a crash,
and the remote's secrets are cut out of the message.

A file inside a tracked folder has its md5 in the folder's listing (the ``.dir`` object, a JSON list of
``{relpath, md5}``), which the ``.dvc`` file / ``dvc.lock`` pins only by its own md5 (``md5: <hash>.dir``).  When the
local cache lacks the listing, DVC loads it from the remote and does *not* check it against that md5, so a remote whose
listing was rewritten (with forged objects beside it) would make DVC report forged md5s that the forged bytes then
match.  ``tracked`` therefore reads the listing's bytes itself (cache, else remote; only the remote when one is
named), hashes them, and refuses a listing whose md5 is not the recorded one (``ListingMismatch``); the md5 DVC reports
must also be the one in the verified listing.

DVC records md5 only: ``hash: md5`` (DVC 3), or no ``hash`` at all for an out written by DVC 2, whose md5 DVC 3 names
``md5-dos2unix`` (``Tracked.hash_name``): the md5 of a text file's bytes after CRLF -> LF, of a binary file's bytes as
they are (DVC's own text sniffing, per 1 MiB chunk).  assay never re-implements it: bytes are hashed through DVC's
``dvc_data.hashfile.hash.get_hash_stream`` under the out's hash name, the same code DVC's ``file_md5`` uses.  Legacy
objects live where DVC 3 keeps them, outside ``files/md5/``: ``<cache>/ab/cdef…`` and ``<remote>/ab/cdef…``
(``repo.cache.legacy``, ``get_remote_odb(hash_name="md5-dos2unix")``).  A legacy folder's listing and the md5s in it
are legacy too; the listing is checked with the same algorithm, as DVC's legacy object store checks its objects.
Analytics are switched off (``DVC_NO_ANALYTICS=1``) before DVC is imported.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from ..manifests.errors import InputError, MissingExtra, require_extra

# A remote setting whose name holds one of these (access_key_id, secret_access_key, session_token, password, …) is
# never printed.
SECRET_WORDS = ("secret", "password", "token", "key", "credential")

# The hash names DVC records for files: "md5" (DVC 3), "md5-dos2unix" (an out written by DVC 2, with no ``hash:``).
HASH_NAMES = ("md5", "md5-dos2unix")
CHUNK = 2**20  # as DVC's fobj_md5: the dos2unix stream sniffs text/binary per read, so the chunk size matters


def _quiet() -> None:
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    # DVC is not in the core install: without it, exit 2 naming the extra (never an ImportError traceback).
    require_extra("dvc", "rebuild", "DVC (data components tracked by DVC, recipes rebuilt as DVC stages)")


@dataclass(frozen=True)
class Tracked:
    """DVC's record of one file."""

    md5: str
    hash_name: str  # "md5", or "md5-dos2unix" for legacy (DVC 2) outs: see the module's doc
    size: int | None
    dvc_file: str  # the .dvc file or dvc.yaml/dvc.lock that tracks it (or the folder containing it)


class ListingMismatch(Exception):
    """A tracked folder's listing (``.dir`` object) whose bytes are not the ones its ``.dvc`` file / ``dvc.lock`` pins.

    Nothing read from it is DVC's record: every file of the folder is a mismatch.
    """

    def __init__(self, message: str, dvc_file: str) -> None:
        super().__init__(message)
        self.dvc_file = dvc_file


class DvcRepo:
    """A DVC repository folder (git not required)."""

    def __init__(self, root: Path | str) -> None:
        _quiet()
        from dvc.exceptions import NotDvcRepoError
        from dvc.repo import Repo

        self.root = Path(root)
        try:
            self.repo = Repo(str(root))
        except NotDvcRepoError:
            raise InputError(f"{root}: not a DVC repository (no .dvc folder)") from None
        self._listings: dict[tuple[str, str | None], dict[str, str] | Exception] = {}

    def close(self) -> None:
        self.repo.close()

    def __enter__(self) -> DvcRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def init(root: Path | str) -> DvcRepo:
        """Create a DVC repository without git."""
        _quiet()
        import contextlib
        import io
        import logging

        from dvc.repo import Repo

        dvc_log = logging.getLogger("dvc")
        level = dvc_log.level
        dvc_log.setLevel(logging.WARNING)  # "Initialized DVC repository." must not reach stdout (--json)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                Repo.init(str(root), no_scm=True, force=True).close()
        finally:
            dvc_log.setLevel(level)
        return DvcRepo(root)

    def _out(self, path: str):
        """The DVC out that is ``path`` or the tracked folder holding it (None if none)."""
        target = (self.root / path).resolve()
        for out in self.repo.index.outs:
            out_path = Path(out.fs_path).resolve()
            if out_path == target or out_path in target.parents:
                return out
        return None

    def _dvc_file(self, out) -> str:
        if out is None:
            return "?"
        stage_file = Path(out.stage.path).resolve()
        root = self.root.resolve()
        rel = stage_file.relative_to(root).as_posix() if root in stage_file.parents else str(stage_file)
        return rel[: -len("dvc.yaml")] + "dvc.lock" if rel.endswith("dvc.yaml") else rel

    def _folder(self, out) -> str:
        path = Path(out.fs_path).resolve()
        return path.relative_to(self.root.resolve()).as_posix() if self.root.resolve() in path.parents else str(path)

    def _listing(self, out, remote: str | None) -> dict[str, str]:
        """relpath -> md5 from a tracked folder's ``.dir`` object, after checking its bytes against the recorded md5.

        Read like a file (the named remote only, else the cache, else the default remote); once per folder.  Raises
        ``ListingMismatch``, or OSError when the listing cannot be read.
        """
        key = (out.hash_info.value, remote)
        if key not in self._listings:
            try:
                self._listings[key] = self._read_listing(out, remote)
            except (ListingMismatch, OSError) as exc:
                self._listings[key] = exc
        found = self._listings[key]
        if isinstance(found, Exception):
            raise found
        return found

    def _read_listing(self, out, remote: str | None) -> dict[str, str]:
        recorded = out.hash_info.value  # "<md5>.dir"
        folder, dvc_file = self._folder(out), self._dvc_file(out)
        obj = Tracked(md5=recorded, hash_name=out.hash_info.name or "md5", size=None, dvc_file=dvc_file)
        cached = self.cache_path(obj) if remote is None else None
        what = f"DVC's listing {recorded} of folder {folder}"
        try:
            if cached:
                how, data = "cache", cached.read_bytes()
            else:
                how = f"remote {remote or out.remote or self.repo.config['core'].get('remote') or '(default)'}"
                with self.open_remote(obj, remote or out.remote) as fobj:
                    data = fobj.read()
        except OSError as exc:
            raise type(exc)(f"{what}: {exc}") from None
        # The listing is hashed as DVC's object store for its hash name checks it (md5-dos2unix for a DVC 2 folder).
        stream = hash_stream(obj.hash_name)(io.BytesIO(data))
        while stream.read(CHUNK):
            pass
        actual = stream.hash_value
        if actual != recorded.removesuffix(".dir"):
            raise ListingMismatch(
                f"listing of folder {folder} ({how}) has md5 {actual}, but {dvc_file} records "
                f"{recorded}: its md5s are not trusted",
                dvc_file,
            )
        try:
            return {e["relpath"]: e["md5"] for e in json.loads(data)}
        except (ValueError, TypeError, KeyError) as exc:
            raise OSError(f"{what}: not a DVC folder listing ({exc})") from None

    def tracked(self, path: str, remote: str | None = None) -> Tracked | None:
        """DVC's md5 and size of ``path`` (relative to the repository root), or None when DVC does not track it.

        For a file inside a tracked folder the folder's listing is verified first (see the module's doc; ``remote``
        names the remote to read it from, as for the files).  Raises ``ListingMismatch`` for a listing that fails,
        OSError when DVC cannot read its own record (see below).
        """
        out = self._out(path)
        listing = None
        if (
            out is not None
            and out.hash_info
            and out.hash_info.isdir
            and Path(out.fs_path).resolve() != (self.root / path).resolve()
        ):
            listing = self._listing(out, remote)
        try:
            info = self.repo.dvcfs.info(path)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            # A tracked folder's listing (its .dir object) that the cache lacks is loaded from the default remote;
            # DVC wraps that remote's error (no credentials, endpoint down, ...) in DataIndexDirError.
            cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
            default = self.repo.config["core"].get("remote") or "(default)"
            where = f"DVC's listing of the folder holding it (remote {default})"
            raise _remote_error(where, cause, self._secrets()) from None
        dvc_info = info.get("dvc_info") or {}
        # DVC keys the recorded hash by its name: "md5", or "md5-dos2unix" for a DVC 2 (legacy) out.
        entry = dvc_info.get("entry")
        hash_name = getattr(getattr(entry, "hash_info", None), "name", None) or "md5"
        md5 = dvc_info.get(hash_name) or dvc_info.get("md5")
        if not md5 or info.get("type") != "file" or hash_name not in HASH_NAMES:
            return None
        if listing is not None:
            rel = (self.root / path).resolve().relative_to(Path(out.fs_path).resolve()).as_posix()
            if listing.get(rel) != md5:  # DVC read another copy of the listing than the one verified
                raise ListingMismatch(
                    f"DVC reports md5 {md5} for {path}, but the verified listing "
                    f"{out.hash_info.value} of folder {self._folder(out)} records {listing.get(rel)}",
                    self._dvc_file(out),
                )
        return Tracked(md5=md5, hash_name=hash_name, size=dvc_info.get("size"), dvc_file=self._dvc_file(out))

    def cache_path(self, tracked: Tracked) -> Path | None:
        """Where DVC's local cache keeps the object, if it does."""
        odb = self.repo.cache.legacy if tracked.hash_name == "md5-dos2unix" else self.repo.cache.local
        p = Path(odb.oid_to_path(tracked.md5))
        return p if p.is_file() else None

    def open_remote(self, tracked: Tracked, remote: str | None) -> ByteStream:
        """Open the object in a DVC remote (the named one, else the default) through the remote's own filesystem."""
        from dvc.config import ConfigError

        try:
            odb = self.repo.cloud.get_remote_odb(remote, "assay data check", hash_name=tracked.hash_name)
        except ConfigError as exc:  # no default remote, or no remote by that name
            raise InputError(f"{self.root}: {exc}") from None
        except ImportError as exc:  # "s3 is supported, but requires 'dvc-s3' to be installed"
            if "'dvc-s3'" in str(exc):  # the plugin assay's s3 extra installs
                raise MissingExtra("s3", "dvc_s3", f"{self.root}: remote {remote or '(default)'}") from None
            raise InputError(f"{self.root}: remote {remote or '(default)'}: {exc}") from None
        where = f"remote {remote or self.repo.config['core'].get('remote') or '(default)'}"  # its name, never its URL
        secrets = self._secrets()
        try:
            fobj = odb.fs.open(odb.oid_to_path(tracked.md5), mode="rb")
        except Exception as exc:  # noqa: BLE001 - the remote client's own exceptions: see _remote_error
            raise _remote_error(where, exc, secrets) from None
        return _RemoteFile(fobj, where, secrets)

    def _secrets(self) -> list[str]:
        """Values never to print: every remote's credential-like settings, and the AWS secret variables."""
        found = [os.environ.get(v, "") for v in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]
        for conf in (self.repo.config.get("remote") or {}).values():
            found += [str(v) for k, v in conf.items() if any(w in k for w in SECRET_WORDS)]
        return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def _remote_error(where: str, exc: Exception, secrets: list[str]) -> OSError:
    """A remote client's error as the OSError callers treat as "unreadable" (FileNotFoundError stays "missing").

    Remote filesystems raise their client's own exceptions (botocore's ``NoCredentialsError``,
    ``EndpointConnectionError``, …), which are not ``OSError``.  The remote's secrets are cut out of the message.
    """
    msg = f"{where}: {exc if isinstance(exc, OSError) else f'{type(exc).__name__}: {exc}'}"
    for secret in secrets:
        msg = msg.replace(secret, "***")
    return (FileNotFoundError if isinstance(exc, FileNotFoundError) else OSError)(msg)


class ByteStream(Protocol):
    """What a DVC file is read through: a local file opened "rb", or a remote object (its errors made safe)."""

    def read(self, n: int = -1, /) -> bytes: ...

    def __enter__(self) -> ByteStream: ...

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None, /) -> None: ...


class _RemoteFile:
    """A remote object opened for reading; its read errors go through ``_remote_error`` too."""

    def __init__(self, fobj: BinaryIO, where: str, secrets: list[str]) -> None:
        self.fobj, self.where, self.secrets = fobj, where, secrets

    def read(self, n: int = -1) -> bytes:
        try:
            return self.fobj.read(n)
        except Exception as exc:  # noqa: BLE001
            raise _remote_error(self.where, exc, self.secrets) from None

    def tell(self) -> int:
        return self.fobj.tell()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a read-only object: nothing to lose
            self.fobj.close()

    def __enter__(self) -> _RemoteFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hash_stream(name: str):
    """DVC's own md5 stream wrapper (handles the legacy dos2unix variant), for hashing bytes as DVC does."""
    from dvc_data.hashfile.hash import get_hash_stream

    return lambda fobj: get_hash_stream(fobj, name=name)


def repro_forced(
    root: Path, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """``dvc repro --force --no-run-cache`` in ``root``: every stage runs, nothing is restored from the run cache.

    The CLI (DVC's stable interface) runs in a child process, so stage commands cannot write to assay's stdout and a
    crash in DVC cannot take assay down.
    """
    full = dict(os.environ)
    full.update(env or {})
    full["DVC_NO_ANALYTICS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "--force", "--no-run-cache"],
        cwd=root,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def lock_outs(root: Path) -> dict[str, str]:
    """path -> md5 of every stage out recorded in ``root/dvc.lock`` (empty when there is none)."""
    import yaml

    lock = Path(root) / "dvc.lock"
    if not lock.is_file():
        return {}
    doc = yaml.safe_load(lock.read_text()) or {}
    out: dict[str, str] = {}
    for stage in (doc.get("stages") or {}).values():
        for o in stage.get("outs") or []:
            if o.get("md5"):
                out[o["path"]] = o["md5"]
    return out
