"""Typed results of verification; the CLI's table and ``--json`` output render these models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..manifests.findings import PASSING, ClaimResult, Evidence, Finding, Need, Verdict
from .metadata import CODES as METADATA_CODES
from .metadata import MetadataResult
from .remote_code import CODES as REMOTE_CODE_CODES
from .remote_code import RemoteCodeAudit

__all__ = ["ClaimCheck", "FileCheck", "FileStatus", "Finding", "How", "VerifyResult", "VerifySummary"]

FileStatus = Literal["ok", "mismatch", "size-mismatch", "missing", "unpinned", "unsafe-path", "unreadable"]
How = Literal["hashed", "state", "hub", "not-read"]


class FileCheck(BaseModel):
    path: str
    role: str
    status: FileStatus
    how: How = Field(
        description="hashed: read and hashed now; state: trusted from the incremental state; "
        "hub: digest stated by the hub (LFS oid, OCI layer digest) when locking; not-read."
    )
    size: int | None = None
    expected_size: int | None = None
    sha256: str | None = None
    expected_sha256: str | None = None
    blake3: str | None = None
    message: str | None = None
    needs: list[Need] = Field(
        default_factory=list,
        description="What checking it needs: network (missing because its "
        "source is a hub not pulled here), lock (no sha256 "
        "to check it against).",
    )

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ClaimCheck(BaseModel):
    claim: str
    declared: Any
    measured: Any
    verdict: Verdict
    message: str | None = None
    needs: list[Need] = Field(
        default_factory=list, description="What measuring it needs (e.g. network: the release's files are not here)."
    )


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
    release_digest: str | None = Field(
        None, description="Recomputed from the verified files (None unless all verified)."
    )
    expected_release_digest: str | None = None
    files: list[FileCheck]
    findings: list[Finding]
    claims: list[ClaimCheck]
    extra_files: list[str]
    summary: VerifySummary
    ok: bool
    metadata: MetadataResult | None = Field(
        None,
        description="Release-metadata consistency: what was stated where "
        "and compared; its findings are also in findings.",
    )
    remote_code: RemoteCodeAudit | None = Field(
        None,
        description="Static audit of the remote code (auto_map files and "
        "the release modules they import): imports and "
        "every call reaching outside the release; its "
        "warnings and errors are also in findings.",
    )

    def to_claims(self) -> list[ClaimResult]:
        """The report's rows: one per file (hashed now or not), one per failing structural finding, one per verified
        remote-code file, one per structural claim."""
        out: list[ClaimResult] = []
        for f in self.files:
            out.append(
                ClaimResult(
                    id=f"file:{f.path}",
                    step="verify",
                    kind="file",
                    subject=f.path,
                    declared={"sha256": f.expected_sha256, "size": f.expected_size},
                    measured={"sha256": f.sha256, "size": f.size},
                    verdict="pass" if f.ok else "not-checked" if "network" in f.needs else "fail",
                    level="sha256 (hashed now)",
                    message=None if f.ok else f"{f.status}: {f.message}",
                    needs=f.needs or (["lock"] if f.status == "unpinned" else []),
                    evidence=[Evidence(kind="file", ref=f.path, sha256=f.sha256, note=f.how)],
                )
            )
        code_rows: set[str] = set()  # one row per code file, however many configs name it
        for finding in self.findings:
            if finding.code in METADATA_CODES:
                continue  # reported below as the metadata check's own rows (kind metadata)
            if finding.code in REMOTE_CODE_CODES:
                continue  # reported below as the remote-code audit's rows, one per file
            if finding.severity == "error":
                out.append(
                    ClaimResult(
                        id=f"structure:{finding.code}:{finding.where or ''}",
                        step="verify",
                        kind="structure",
                        subject=finding.where or finding.code,
                        verdict="fail",
                        message=finding.message,
                        evidence=[Evidence(kind="check", ref=finding.code)],
                    )
                )
            elif finding.code == "remote-code" and (finding.where or "") not in code_rows:
                code_rows.add(finding.where or "")
                out.append(
                    ClaimResult(
                        id=f"remote-code:{finding.where}",
                        step="verify",
                        kind="remote-code",
                        subject=finding.where or "",
                        verdict="pass",
                        message=finding.message,
                        evidence=[Evidence(kind="file", ref=finding.where or "")],
                    )
                )
        for c in self.claims:
            out.append(
                ClaimResult(
                    id=f"claim:{c.claim}",
                    step="verify",
                    kind="claim",
                    subject=c.claim,
                    declared=c.declared,
                    measured=c.measured,
                    verdict=c.verdict,
                    message=c.message,
                    needs=c.needs or (["weights"] if c.verdict == "not-checked" else []),
                    evidence=[Evidence(kind="check", ref="safetensors headers / config.json")],
                )
            )
        if self.metadata is not None:
            out.extend(self.metadata.to_claims())
        if self.remote_code is not None:
            out.extend(self.remote_code.to_claims())
        # A row about a file that is not here (its hub source not pulled) needs the network, whichever check made it.
        away = {f.path for f in self.files if "network" in f.needs}
        return [
            r.model_copy(update={"needs": ["network"]})
            if r.subject in away and not r.needs and r.verdict not in PASSING
            else r
            for r in out
        ]
