"""Local directory hubs: ``dir://path#package:tag`` (content-addressed) and plain folders (``dir://path``).

A directory hub needs no server; it is what the bundled demo is published to and a simple shared store on a file
system.  Layout::

    <hub>/assay-hub.json                  {"format": "assay-dir-hub", "version": 1}
    <hub>/blobs/sha256/<hex>              file bytes, named by their sha256
    <hub>/packages/sha256/<hex>           a package: canonical JSON {"files": [{path, size, sha256}, ...]}
    <hub>/refs/<package>/<tag>            "sha256:<package digest>\n"
    <hub>/.lock                           flock(2) taken while refs change

Blobs and packages are written to a temporary name and renamed, so concurrent writers of the same content are
harmless; tag updates take an exclusive file lock.  Pushing is idempotent: a blob that exists is not copied again
(its bytes are re-hashed only if its size disagrees).  Readers never trust blob names: pulls hash while writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..manifests.errors import PathEscapeError
from ..manifests.fsio import new_temp, write_bytes_atomic
from ..manifests.paths import check_relpath, resolve_inside
from ..manifests.uris import SourceURI
from .base import Chunks, FileTransfer, HubError, PushFile, PushResult, RemoteFile, Resolved

MARKER = "assay-hub.json"
CHUNK = 1024 * 1024
_HEX = re.compile(r"^[0-9a-f]{64}$")


def hub_root(uri: SourceURI) -> Path:
    return Path(uri.repo)


def _stream(path: Path, offset: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(offset)
        while chunk := fh.read(CHUNK):
            yield chunk


def package_json(files: list[tuple[str, int, str]]) -> bytes:
    """Canonical package document: files sorted by path bytes, compact, sorted keys."""
    entries = [{"path": p, "sha256": s, "size": n} for p, n, s in sorted(files, key=lambda f: f[0].encode())]
    return json.dumps(
        {"files": entries, "format": "assay-dir-package", "version": 1}, sort_keys=True, separators=(",", ":")
    ).encode()


class DirHub:
    scheme = "dir"

    # ------------------------------------------------------------------------------------------------- reading
    def resolve(self, uri: SourceURI) -> Resolved:
        root = hub_root(uri)
        if uri.package is None:
            return self._resolve_folder(uri, root)
        if not (root / MARKER).is_file():
            raise HubError(f"{root} is not an assay directory hub (no {MARKER}); push to it first")
        rev = uri.revision or "latest"
        if rev.startswith("sha256:"):
            digest = rev
        else:
            ref = root / "refs" / uri.package / rev
            if not ref.is_file():
                raise HubError(f"{uri.raw}: no tag {rev!r} for package {uri.package!r} in {root}")
            digest = ref.read_text().strip()
        hexd = digest.removeprefix("sha256:")
        if not _HEX.match(hexd):
            raise HubError(f"{uri.raw}: malformed package reference {digest!r}")
        pkg_path = root / "packages" / "sha256" / hexd
        try:
            raw = pkg_path.read_bytes()
        except FileNotFoundError:
            raise HubError(f"{uri.raw}: package {digest} not found in {root}") from None
        if hashlib.sha256(raw).hexdigest() != hexd:
            raise HubError(f"{uri.raw}: package {digest} in {root} is corrupt (its bytes do not hash to its name)")
        try:
            doc = json.loads(raw)
            entries = doc["files"]
        except (ValueError, KeyError, TypeError):
            raise HubError(f"{uri.raw}: package {digest} is not a valid package document") from None
        files = []
        for e in entries:
            try:
                check_relpath(e["path"])
            except PathEscapeError as exc:
                raise HubError(f"{uri.raw}: package lists an unsafe path: {exc}") from None
            files.append(RemoteFile(path=e["path"], size=int(e["size"]), sha256=e["sha256"], locator=e["sha256"]))
        return Resolved(uri=uri.raw, revision=digest, files=files)

    def _resolve_folder(self, uri: SourceURI, root: Path) -> Resolved:
        """A plain folder: every regular file below it, with no stated digests (the lock is the only anchor)."""
        if not root.is_dir():
            raise HubError(f"{uri.raw}: {root} is not a directory")
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                try:
                    resolve_inside(root, rel)
                except PathEscapeError:
                    continue
                files.append(RemoteFile(path=rel, size=full.stat().st_size, locator=rel))
        return Resolved(uri=uri.raw, revision="folder", files=files)

    def open(self, resolved: Resolved, file: RemoteFile, offset: int = 0) -> Chunks:
        from ..manifests.uris import parse_source_uri

        uri = parse_source_uri(resolved.uri)
        root = hub_root(uri)
        if uri.package is None:
            path = resolve_inside(root, file.path)
        else:
            if not file.locator or not _HEX.match(file.locator):
                raise HubError(f"{resolved.uri}: no blob for {file.path}")
            path = root / "blobs" / "sha256" / file.locator
        if not path.is_file():
            raise HubError(f"{resolved.uri}: blob for {file.path} is missing from the hub")
        return Chunks(offset=offset, iterator=_stream(path, offset))

    # ------------------------------------------------------------------------------------------------- writing
    @contextlib.contextmanager
    def _locked(self, root: Path) -> Iterator[None]:
        root.mkdir(parents=True, exist_ok=True)
        with open(root / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _put_blob(self, root: Path, f: PushFile) -> FileTransfer:
        """Copy a file into blobs/, hashing while copying; refuse it if it is not what the lock says."""
        blob = root / "blobs" / "sha256" / f.sha256
        if blob.is_file() and blob.stat().st_size == f.size:
            return FileTransfer(path=f.path, size=f.size, sha256=f.sha256, expected_sha256=f.sha256, status="exists")
        fd, tmp = new_temp(blob.parent, f.sha256)
        sha = hashlib.sha256()
        n = 0
        try:
            with os.fdopen(fd, "wb") as out, open(f.local, "rb") as src:
                while chunk := src.read(CHUNK):
                    sha.update(chunk)
                    out.write(chunk)
                    n += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if sha.hexdigest() != f.sha256 or n != f.size:
                return FileTransfer(
                    path=f.path,
                    size=n,
                    sha256=sha.hexdigest(),
                    expected_sha256=f.sha256,
                    status="mismatch",
                    message="the local file changed: it no longer matches the lock",
                )
            os.replace(tmp, blob)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return FileTransfer(
            path=f.path, size=n, sha256=f.sha256, expected_sha256=f.sha256, status="uploaded", bytes_transferred=n
        )

    def push(self, uri: SourceURI, files: list[PushFile], *, message: str, create: bool = False) -> PushResult:
        root = hub_root(uri)
        if uri.package is None:
            raise HubError(f"{uri.raw}: name the package to push, e.g. {uri.raw}#my-model:1.0")
        if uri.revision and uri.revision.startswith("sha256:"):
            raise HubError(f"{uri.raw}: push to a tag, not a digest")
        if not (root / MARKER).is_file():
            if root.exists() and any(root.iterdir()) and not create:
                raise HubError(f"{root} exists and is not an assay directory hub; pass --create to make one there")
            root.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(root / MARKER, json.dumps({"format": "assay-dir-hub", "version": 1}).encode() + b"\n")
        transfers = [self._put_blob(root, f) for f in files]
        ok = all(t.status in ("uploaded", "exists") for t in transfers)
        if not ok:
            return PushResult(
                to=uri.raw,
                revision=None,
                release_digest=None,
                files=transfers,
                ok=False,
                message="some files did not match the lock; nothing was tagged",
            )
        doc = package_json([(f.path, f.size, f.sha256) for f in files])
        digest = hashlib.sha256(doc).hexdigest()
        pkg = root / "packages" / "sha256" / digest
        if not pkg.is_file():
            write_bytes_atomic(pkg, doc)
        with self._locked(root):
            write_bytes_atomic(root / "refs" / uri.package / (uri.revision or "latest"), f"sha256:{digest}\n".encode())
        return PushResult(
            to=uri.raw,
            revision=f"sha256:{digest}",
            release_digest=None,
            files=transfers,
            ok=True,
            bytes_transferred=sum(t.bytes_transferred for t in transfers),
            message=message,
        )
