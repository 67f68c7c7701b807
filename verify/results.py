"""Typed results of verification; the CLI's table and ``--json`` output render these models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

FileStatus = Literal["ok", "mismatch", "size-mismatch", "missing", "unpinned", "unsafe-path", "unreadable"]
How = Literal["hashed", "state", "hub", "not-read"]
Severity = Literal["error", "warning", "info"]
Verdict = Literal["holds", "fails", "unverifiable", "attested"]


class FileCheck(BaseModel):
    path: str
    role: str
    status: FileStatus
    how: How = Field(description="hashed: read and hashed now; state: trusted from the incremental state; "
                                 "hub: digest stated by the hub (LFS oid, OCI layer digest) when locking; not-read.")
    size: int | None = None
    expected_size: int | None = None
    sha256: str | None = None
    expected_sha256: str | None = None
    blake3: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Finding(BaseModel):
    check: str = Field(description="Which check produced it, e.g. safetensors, shard-index, pickle, remote-code, lock.")
    severity: Severity
    path: str | None = None
    message: str


class ClaimCheck(BaseModel):
    claim: str
    declared: Any
    measured: Any
    verdict: Verdict
    message: str | None = None


class VerifySummary(BaseModel):
    files: int
    ok: int
    failed: int
    hashed: int
    trusted_from_state: int
    bytes_hashed: int
    bytes_trusted: int
    errors: int
    warnings: int
    claims_failed: int
    seconds: float


class VerifyResult(BaseModel):
    manifest: str
    root: str
    strict: bool
    lock: str | None
    release: str
    release_digest: str | None = Field(None,
                                       description="Recomputed from the verified files (None unless all verified).")
    expected_release_digest: str | None = None
    files: list[FileCheck]
    findings: list[Finding]
    claims: list[ClaimCheck]
    extra_files: list[str]
    summary: VerifySummary
    ok: bool
