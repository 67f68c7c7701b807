"""The interface every hub implements, and the typed results of pulls and pushes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from ..manifests.errors import AssayError
from ..manifests.uris import SourceURI

# The manifest and lock travel with every package assay pushes, at the package root.
MANIFEST_NAME = "assay.yaml"
LOCK_NAME = "assay.lock.yaml"
REPORT_NAME = "report.json"


class HubError(AssayError):
    """A hub could not be reached or refused a request (network, auth, missing repo or revision): exit 2."""

    exit_code = 2


class TransferError(AssayError):
    """A transfer broke off (connection lost, server died): the partial file is kept for resuming; exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class RemoteFile:
    """One file of a resolved revision on a hub."""

    path: str
    size: int | None
    sha256: str | None = None  # the content digest the hub states (LFS oid, raw OCI layer digest, dir-hub blob)
    git_sha1: str | None = None  # Hugging Face non-LFS files: git blob id
    locator: str | None = None  # hub-specific handle (e.g. an OCI blob digest)


@dataclass
class Resolved:
    """A source URI pinned to an exact revision, with the files it holds."""

    uri: str
    revision: str
    files: list[RemoteFile] = field(default_factory=list)

    def file(self, path: str) -> RemoteFile | None:
        for f in self.files:
            if f.path == path:
                return f
        return None


@dataclass(frozen=True)
class Chunks:
    """A byte stream of one file starting at ``offset`` (0 when the server ignored a range request)."""

    offset: int
    iterator: Iterator[bytes]
    close: object = None  # optional callable


@dataclass
class PushFile:
    path: str  # path inside the package
    local: Path  # bytes to upload
    size: int
    sha256: str
    role: str = "other"


class Hub(Protocol):
    scheme: str

    def resolve(self, uri: SourceURI) -> Resolved:
        """Pin ``uri`` to an exact revision and list its files (with sizes and digests the hub states)."""

    def open(self, resolved: Resolved, file: RemoteFile, offset: int = 0) -> Chunks:
        """Stream ``file``'s bytes from ``offset`` (or from 0 if the hub cannot seek; ``Chunks.offset`` says)."""

    def push(self, uri: SourceURI, files: list[PushFile], *, message: str, create: bool = False) -> PushResult:
        """Upload ``files`` as one package (idempotent: unchanged blobs are not uploaded again)."""


class FileTransfer(BaseModel):
    path: str
    size: int | None
    sha256: str | None
    expected_sha256: str | None
    status: str  # downloaded | present | resumed | mismatch | failed | skipped | uploaded | exists
    bytes_transferred: int = 0
    message: str | None = None


class PullResult(BaseModel):
    source: str
    revision: str | None
    to: str
    release: str | None
    release_digest: str | None
    files: list[FileTransfer]
    ok: bool
    seconds: float
    bytes_transferred: int


class PushResult(BaseModel):
    to: str
    revision: str | None
    release_digest: str | None
    files: list[FileTransfer]
    ok: bool
    seconds: float = 0.0
    bytes_transferred: int = 0
    message: str | None = None
