"""The lock file (``X.lock.yaml`` beside ``X.yaml``) and the canonical release digest.

The **release digest** binds names, sizes and contents: SHA-256 over

    b"assay-release-digest-v1\\n" + b"".join(f"{path}\\t{size}\\tsha256\\t{hex}\\n" for each file, sorted by path bytes)

Paths are normalised relative POSIX paths (no control characters, so TAB and LF cannot occur in them), sizes are
decimal.  Unlike model-signing's root digest (a hash of the concatenated file digests sorted by name), renaming or
swapping two files changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from .schema_base import SHA256_RE, RelPath, Strict

DIGEST_DOMAIN = b"assay-release-digest-v1\n"


class LockedSource(Strict):
    name: str
    uri: str
    revision: str = Field(description="Exact revision: a commit sha, a manifest digest, or a tree digest for dir://.")


class LockedFile(Strict):
    path: RelPath
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_RE)
    blake3: str | None = Field(None, pattern=SHA256_RE)
    source: str | None = None


class LockRelease(Strict):
    name: str
    version: str


class Lock(Strict):
    api_version: Literal["assay/v1"] = Field("assay/v1", alias="apiVersion")
    kind: Literal["Lock"] = "Lock"
    release: LockRelease
    manifest_sha256: str = Field(pattern=SHA256_RE, description="sha256 of the manifest file this lock was made from.")
    generator: str = "assay"
    sources: list[LockedSource] = Field(default_factory=list)
    files: list[LockedFile]
    release_digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")

    def file(self, path: str) -> LockedFile | None:
        for f in self.files:
            if f.path == path:
                return f
        return None


def release_digest(entries: Iterable[tuple[str, int, str]]) -> str:
    """Canonical digest of (path, size, sha256-hex) triples; returns ``"sha256:<hex>"``."""
    h = hashlib.sha256(DIGEST_DOMAIN)
    seen: set[str] = set()
    for path, size, hexdigest in sorted(entries, key=lambda e: e[0].encode("utf-8")):
        if path in seen:
            raise ValueError(f"path {path!r} appears twice in a release")
        seen.add(path)
        h.update(f"{path}\t{int(size)}\tsha256\t{hexdigest}\n".encode())
    return "sha256:" + h.hexdigest()


def lock_to_yaml(lock: Lock) -> str:
    from .yamlio import dump_yaml

    data = lock.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dump_yaml(data)
