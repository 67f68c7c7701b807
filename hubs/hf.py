"""The Hugging Face Hub as a source and destination (``hf://org/name@revision``), through huggingface_hub.

* :meth:`HfHub.resolve` pins a revision to its exact commit sha and lists the files of that commit with the sizes
  and digests the Hub states: ``sha256`` (the LFS oid) for LFS/Xet files, ``git_sha1`` (the git blob id) for the
  others.  The listing comes from the tree API at the commit sha, never from a moving branch.
* :meth:`HfHub.open` streams a file of that commit, from an offset where the server honours ``Range``.
* :meth:`HfHub.push` uploads a package as one commit; files the branch already holds with the same digest are not
  uploaded again, and nothing changed means no commit.

The endpoint (``$HF_ENDPOINT``), token (``$HF_TOKEN`` or the stored login) and offline mode (``$HF_HUB_OFFLINE``)
are read at call time, not when huggingface_hub was imported.  The token is never printed or put in an error.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..manifests.errors import InputError, PathEscapeError
from ..manifests.paths import check_relpath
from ..manifests.uris import SourceURI
from .base import Chunks, FileTransfer, HubError, PushFile, PushResult, RemoteFile, Resolved, TransferError

if TYPE_CHECKING:  # pragma: no cover
    from huggingface_hub import CommitOperationAdd, HfApi

DEFAULT_ENDPOINT = "https://huggingface.co"
CHUNK_SIZE = 1 << 20
_TRUE = {"1", "ON", "YES", "TRUE"}
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")


# -- digests -------------------------------------------------------------------------------------------------------


def git_blob_sha1(data_or_path: bytes | bytearray | memoryview | str | os.PathLike) -> str:
    """The git blob id (``git hash-object``) of bytes, or of a file's contents when given a path."""
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        data = bytes(data_or_path)
        h = hashlib.sha1(b"blob %d\0" % len(data))
        h.update(data)
        return h.hexdigest()
    return _file_digests(Path(data_or_path))[1]


def _file_digests(path: Path) -> tuple[str, str, int]:
    """(sha256, git blob sha1, size) of a file, in one read."""
    size = path.stat().st_size
    s256 = hashlib.sha256()
    s1 = hashlib.sha1(b"blob %d\0" % size)
    n = 0
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK_SIZE):
            s256.update(block)
            s1.update(block)
            n += len(block)
    if n != size:
        raise InputError(f"{path}: file changed while it was read ({size} bytes stated, {n} read)")
    return s256.hexdigest(), s1.hexdigest(), n


# -- environment ---------------------------------------------------------------------------------------------------


def hf_endpoint() -> str:
    """The Hub endpoint now: ``$HF_ENDPOINT`` or https://huggingface.co (read at call time)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_offline() -> bool:
    """Offline mode now: ``$HF_HUB_OFFLINE`` (or ``$TRANSFORMERS_OFFLINE``), as huggingface_hub reads them."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return value is not None and value.upper() in _TRUE


def _download_timeout() -> float:
    try:
        return float(os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT") or 10)
    except ValueError:
        return 10.0


def _one_line(text: object, limit: int = 300) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _repo_type_arg(uri: SourceURI) -> str | None:
    return None if uri.repo_type == "model" else uri.repo_type


def _label(uri: SourceURI | str) -> str:
    return uri.raw if isinstance(uri, SourceURI) else str(uri)


def _hub_error(exc: BaseException, where: str, endpoint: str, what: str) -> HubError:
    """Map a huggingface_hub / HTTP exception to a one-line HubError (never carrying the token)."""
    import httpx2
    from huggingface_hub.errors import (
        DisabledRepoError,
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, OfflineModeIsEnabled):
        return HubError(f"{where}: cannot {what}: Hugging Face offline mode is enabled (HF_HUB_OFFLINE)")
    if isinstance(exc, GatedRepoError):
        return HubError(f"{where}: cannot {what}: the repository is gated; accept its terms and set HF_TOKEN")
    if isinstance(exc, RepositoryNotFoundError):
        return HubError(
            f"{where}: cannot {what}: repository (or revision) not found on {endpoint}, "
            "or not accessible with the current token"
        )
    if isinstance(exc, RevisionNotFoundError):
        return HubError(f"{where}: cannot {what}: revision not found on {endpoint}")
    if isinstance(exc, RemoteEntryNotFoundError):
        return HubError(f"{where}: cannot {what}: file not found on {endpoint}")
    if isinstance(exc, DisabledRepoError):
        return HubError(f"{where}: cannot {what}: the repository is disabled on {endpoint}")
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return HubError(f"{where}: cannot {what}: HTTP {status} from {endpoint}: {_one_line(first)}")
    if isinstance(exc, httpx2.TimeoutException):
        return HubError(f"{where}: cannot {what}: {endpoint} timed out ({type(exc).__name__})")
    detail = _one_line(exc) or type(exc).__name__
    if isinstance(exc, (httpx2.ConnectError, ConnectionRefusedError)):
        return HubError(f"{where}: cannot {what}: cannot reach {endpoint}: {detail}")
    if isinstance(exc, (httpx2.HTTPError, OSError)):
        return HubError(f"{where}: cannot {what}: the connection to {endpoint} failed: {detail}")
    return HubError(f"{where}: cannot {what}: {type(exc).__name__}: {_one_line(exc)}")


def _once_more_on_dropped_connection(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; if it fails with a transport error that is no timeout (typically a pooled keep-alive
    connection the server closed), call it once more.  Only for idempotent reads."""
    import httpx2

    try:
        return fn(*args, **kwargs)
    except httpx2.TransportError as exc:
        if isinstance(exc, httpx2.TimeoutException):
            raise
    return fn(*args, **kwargs)


def _mapped_errors() -> tuple[type[BaseException], ...]:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    return (HfHubHTTPError, OfflineModeIsEnabled, httpx2.HTTPError, OSError)


# -- commit planning (pure) ----------------------------------------------------------------------------------------


def build_commit_operations(
    remote_tree: list[RemoteFile] | None, files: Iterable[PushFile]
) -> tuple[list[CommitOperationAdd], list[FileTransfer]]:
    """Plan one commit: the add-operations for files the remote lacks, and one FileTransfer per file.

    ``remote_tree`` is the branch's current file list (``None``: no such branch or repository yet).  A file whose
    remote entry has the same size and the same digest (LFS sha256 against the file's stated sha256; for a plain git
    blob, the git sha1 of the local bytes, which must also hash to the stated sha256) is ``exists`` and gets no
    operation.  Every other file is ``uploaded`` — after checking that its local bytes still have the stated size and
    sha256; a file that does not is ``mismatch`` (no operation: pushing it would publish bytes the lock does not pin).
    Operations keep the input order; ``path_in_repo`` is the package path.
    """
    from huggingface_hub import CommitOperationAdd

    remote = {f.path: f for f in (remote_tree or [])}
    ops: list[CommitOperationAdd] = []
    transfers: list[FileTransfer] = []
    seen: set[str] = set()
    for f in files:
        check_relpath(f.path)
        if f.path in seen:
            raise InputError(f"push: path {f.path!r} is listed twice")
        seen.add(f.path)
        local = Path(f.local)
        if not local.is_file():
            raise InputError(f"push: {f.path}: local file {local} does not exist")
        want = f.sha256.lower()

        # The closure is called only within this file's iteration, never after the loop moves on: the loop
        # variables it reads are bound as defaults.
        def transfer(
            status: str,
            *,
            sha: str | None = want,
            message: str | None = None,
            sent: int = 0,
            f: Any = f,
            want: str = want,
        ) -> None:
            transfers.append(
                FileTransfer(
                    path=f.path,
                    size=f.size,
                    sha256=sha,
                    expected_sha256=want,
                    status=status,
                    bytes_transferred=sent,
                    message=message,
                )
            )

        actual_size = local.stat().st_size
        if actual_size != f.size:
            transfer("mismatch", sha=None, message=f"local file has {actual_size} bytes, the package states {f.size}")
            continue

        r = remote.get(f.path)
        if r is not None and r.size == f.size:
            if r.sha256 is not None:
                if r.sha256.lower() == want:
                    transfer("exists")
                    continue
            elif r.git_sha1 is not None:
                local_sha256, local_sha1, _n = _file_digests(local)
                if local_sha256 != want:
                    transfer("mismatch", sha=local_sha256, message="local bytes do not match the stated sha256")
                    continue
                if local_sha1 == r.git_sha1.lower():
                    transfer("exists")
                    continue

        op = CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(local))  # hashes the file (sha256)
        got = op.upload_info.sha256.hex()
        if got != want or op.upload_info.size != f.size:
            transfer("mismatch", sha=got, message="local bytes do not match the stated sha256")
            continue
        ops.append(op)
        transfer("uploaded", sent=f.size)
    return ops, transfers


# -- the hub -------------------------------------------------------------------------------------------------------


class HfHub:
    """The ``hf://`` hub.  ``api`` (an HfApi-like object) and ``endpoint`` can be injected for tests."""

    scheme = "hf"

    def __init__(self, *, endpoint: str | None = None, api: Any | None = None) -> None:
        self._endpoint_override = endpoint.rstrip("/") if endpoint else None
        self._api_override = api

    # -- plumbing --

    def endpoint(self) -> str:
        return self._endpoint_override or hf_endpoint()

    def _token(self) -> str | None:
        from huggingface_hub import get_token

        try:
            return os.environ.get("HF_TOKEN") or get_token()
        except Exception as exc:  # noqa: BLE001 -- OIDC exchange failures and the like; never echo a token
            raise HubError(f"cannot read the Hugging Face token: {type(exc).__name__}") from None

    def _api(self) -> HfApi:
        if self._api_override is not None:
            return self._api_override
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint(), token=self._token(), library_name="assay")

    def _check_online(self, where: str, what: str) -> None:
        from huggingface_hub import constants

        if hf_offline() or (constants.HF_HUB_OFFLINE and self._api_override is None):
            raise HubError(
                f"{where}: cannot {what}: Hugging Face offline mode is enabled (HF_HUB_OFFLINE); "
                "resolving and transferring need the Hub"
            )

    # -- resolve --

    def resolve(self, uri: SourceURI) -> Resolved:
        where = _label(uri)
        self._check_online(where, "resolve")
        endpoint = self.endpoint()
        revision = uri.revision or "main"
        api = self._api()
        try:
            info = _once_more_on_dropped_connection(
                api.repo_info, uri.repo, revision=revision, repo_type=_repo_type_arg(uri), timeout=60
            )
            sha = getattr(info, "sha", None)
            if not isinstance(sha, str) or not _SHA1.match(sha):
                raise HubError(f"{where}: {endpoint} gave no commit sha for revision {revision!r}")
            if _SHA1.match(revision) and sha != revision:
                raise HubError(f"{where}: {endpoint} answered commit {sha} for commit {revision}")
            tree = _once_more_on_dropped_connection(
                lambda: list(api.list_repo_tree(uri.repo, recursive=True, revision=sha, repo_type=_repo_type_arg(uri)))
            )
        except HubError:
            raise
        except _mapped_errors() as exc:
            raise _hub_error(exc, where, endpoint, f"resolve revision {revision!r}") from None
        return Resolved(uri=uri.raw, revision=sha, files=self._remote_files(tree, where))

    @staticmethod
    def _remote_files(tree: Iterable[Any], where: str) -> list[RemoteFile]:
        files: dict[str, RemoteFile] = {}
        for entry in tree:
            if not hasattr(entry, "blob_id"):  # RepoFolder
                continue
            try:
                path = check_relpath(entry.path)
            except PathEscapeError as exc:
                raise HubError(f"{where}: the hub lists an unsafe path: {exc}") from None
            if path in files:
                raise HubError(f"{where}: the hub lists {path!r} twice")
            lfs = getattr(entry, "lfs", None)
            if lfs is not None:
                files[path] = RemoteFile(path=path, size=int(lfs.size), sha256=str(lfs.sha256).lower())
            else:
                files[path] = RemoteFile(path=path, size=int(entry.size), git_sha1=str(entry.blob_id).lower())
        return [files[p] for p in sorted(files)]

    # -- open --

    def file_url(self, resolved: Resolved, file: RemoteFile) -> str:
        from huggingface_hub import hf_hub_url

        from ..manifests.uris import parse_source_uri

        uri = parse_source_uri(resolved.uri)
        return hf_hub_url(
            uri.repo, file.path, revision=resolved.revision, repo_type=_repo_type_arg(uri), endpoint=self.endpoint()
        )

    def open(self, resolved: Resolved, file: RemoteFile, offset: int = 0) -> Chunks:
        import httpx2
        from huggingface_hub import get_session
        from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

        where = f"{resolved.uri}@{resolved.revision}:{file.path}"
        self._check_online(where, "download")
        if offset < 0:
            raise ValueError("offset must be >= 0")
        endpoint = self.endpoint()
        url = self.file_url(resolved, file)
        headers = build_hf_headers(token=self._token() or False, library_name="assay")
        headers["Accept-Encoding"] = "identity"  # byte offsets must be offsets of the file itself
        if offset > 0:
            headers["Range"] = f"bytes={offset}-"
        session = get_session()
        timeout = httpx2.Timeout(_download_timeout(), connect=10.0)
        response = None
        for attempt in (1, 2):
            try:
                request = session.build_request("GET", url, headers=headers, timeout=timeout)
                response = session.send(request, stream=True, follow_redirects=True)
                break
            except httpx2.TransportError as exc:
                # A pooled keep-alive connection the server already closed fails before any response: a GET is
                # idempotent, so try once more on a fresh connection.
                if attempt == 2 or isinstance(exc, httpx2.TimeoutException):
                    raise _hub_error(exc, where, endpoint, "download") from None
            except _mapped_errors() as exc:
                raise _hub_error(exc, where, endpoint, "download") from None
        assert response is not None

        status = response.status_code
        if status == 416 and offset > 0 and file.size is not None and offset == file.size:
            response.close()
            return Chunks(offset=offset, iterator=iter(()), close=lambda: None)
        if status >= 400:
            try:
                response.read()
                hf_raise_for_status(response)
            except _mapped_errors() as exc:
                raise _hub_error(exc, where, endpoint, "download") from None
            finally:
                response.close()
        if status == 206:
            m = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
            if not m or int(m.group(1)) != offset:
                response.close()
                raise HubError(
                    f"{where}: {endpoint} answered a range request for bytes {offset}- with "
                    f"Content-Range {response.headers.get('Content-Range')!r}"
                )
            start = offset
        elif status == 200:
            start = 0  # the server ignored Range (olah does): the stream is the whole file
        else:
            response.close()
            raise HubError(f"{where}: cannot download: unexpected HTTP {status} from {endpoint}")

        expected = None if file.size is None else file.size - start
        return Chunks(offset=start, iterator=self._stream(response, where, expected), close=response.close)

    @staticmethod
    def _stream(response: Any, where: str, expected: int | None) -> Iterator[bytes]:
        import httpx2

        got = 0
        try:
            for chunk in response.iter_bytes(chunk_size=CHUNK_SIZE):
                if not chunk:
                    continue
                got += len(chunk)
                if expected is not None and got > expected:
                    raise TransferError(f"{where}: the server sent more than the {expected} bytes expected")
                yield chunk
        except httpx2.HTTPError as exc:
            raise TransferError(
                f"{where}: transfer broke off after {got} bytes: {_one_line(exc) or type(exc).__name__}"
            ) from None
        finally:
            response.close()
        if expected is not None and got < expected:
            raise TransferError(f"{where}: transfer ended after {got} of {expected} bytes")

    # -- push --

    def remote_tree(self, uri: SourceURI, revision: str) -> tuple[str | None, list[RemoteFile] | None]:
        """(commit sha, files) of ``revision``; ``(None, None)`` when the repository or branch does not exist."""
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

        api = self._api()
        try:
            info = api.repo_info(uri.repo, revision=revision, repo_type=_repo_type_arg(uri), timeout=60)
        except GatedRepoError:
            raise
        except (RepositoryNotFoundError, RevisionNotFoundError):
            return None, None
        sha = getattr(info, "sha", None)
        tree = api.list_repo_tree(uri.repo, recursive=True, revision=sha or revision, repo_type=_repo_type_arg(uri))
        return sha, self._remote_files(tree, _label(uri))

    def push(self, uri: SourceURI, files: list[PushFile], *, message: str, create: bool = False) -> PushResult:
        where = _label(uri)
        self._check_online(where, "push")
        endpoint = self.endpoint()
        branch = uri.revision or "main"
        if _SHA1.match(branch):
            raise InputError(f"{where}: cannot push to a commit ({branch}); name a branch, e.g. hf://{uri.repo}@main")
        if not message or not message.strip():
            raise InputError("push: the commit message is empty")
        t0 = time.monotonic()
        api = self._api()
        rtype = _repo_type_arg(uri)
        try:
            if create:
                api.create_repo(uri.repo, repo_type=rtype, exist_ok=True)
            parent, remote = self.remote_tree(uri, branch)
            if parent is None:
                if not create:
                    raise HubError(
                        f"{where}: cannot push: repository or branch {branch!r} not found on {endpoint} "
                        "(pass create to create it)"
                    )
                if branch != "main":
                    api.create_branch(uri.repo, branch=branch, repo_type=rtype, exist_ok=True)
                    parent, remote = self.remote_tree(uri, branch)
            ops, transfers = build_commit_operations(remote, files)
            if any(t.status == "mismatch" for t in transfers):
                bad = [t.path for t in transfers if t.status == "mismatch"]
                return PushResult(
                    to=where,
                    revision=parent,
                    release_digest=None,
                    files=transfers,
                    ok=False,
                    seconds=time.monotonic() - t0,
                    bytes_transferred=0,
                    message=f"not pushed: local files differ from the package: {', '.join(bad)}",
                )
            if not ops:
                return PushResult(
                    to=where,
                    revision=parent,
                    release_digest=None,
                    files=transfers,
                    ok=True,
                    seconds=time.monotonic() - t0,
                    bytes_transferred=0,
                    message="nothing changed; no commit made",
                )
            info = api.create_commit(
                uri.repo,
                operations=ops,
                commit_message=message,
                repo_type=rtype,
                revision=branch,
                parent_commit=parent,
            )
        except (HubError, InputError):
            raise
        except _mapped_errors() as exc:
            raise _hub_error(exc, where, endpoint, "push") from None
        revision = getattr(info, "oid", None)
        return PushResult(
            to=where,
            revision=revision,
            release_digest=None,
            files=transfers,
            ok=True,
            seconds=time.monotonic() - t0,
            bytes_transferred=sum(t.bytes_transferred for t in transfers),
            message=f"committed {len(ops)} file(s)",
        )
