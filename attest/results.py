"""Typed results of the attestation and signing verbs; the CLI's tables and ``--json`` output render these models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..manifests.findings import Finding, Verdict

SubjectStatus = Literal["ok", "mismatch", "missing", "unsafe-path", "unreadable", "unsupported-digest", "not-checked"]


# What failed, as the core Finding (severity error): ``code`` is the named reason (bad-signature, wrong-key,
# subject-mismatch, missing-subject, malformed-envelope, audit-failed, file-mismatch, …), ``where`` the file.
Problem = Finding


class SubjectCheck(BaseModel):
    name: str
    status: SubjectStatus
    expected_sha256: str | None = None
    sha256: str | None = None
    size: int | None = None
    message: str | None = None


class AttestationResult(BaseModel):
    attestation: str
    format: Literal["dsse", "sigstore-bundle", "unknown"]
    root: str | None = Field(None, description="Release folder whose files were checked against the subjects.")
    key: str | None = None
    signer: str | None = Field(
        None, description="keyid (sha256 of the SPKI DER) that verified, or the Sigstore identity."
    )
    signature_ok: bool = False
    payload_type: str | None = None
    predicate_type: str | None = None
    verdict: str | None = Field(None, description="pass / warn / fail as the predicate states it (known types).")
    subjects_checked: bool = False
    subjects: list[SubjectCheck] = []
    predicate: dict[str, Any] | None = Field(
        None, description="The verified predicate (only when the signature holds)."
    )
    problems: list[Problem] = []
    warnings: list[str] = []
    ok: bool = False

    @property
    def reasons(self) -> list[str]:
        return [p.code for p in self.problems]


class ResourceCheck(BaseModel):
    name: str
    algorithm: str
    digest: str
    status: Literal["ok", "mismatch", "missing", "extra", "signed"] = "signed"


class SignResult(BaseModel):
    model_dir: str
    signature: str
    method: Literal["key", "sigstore"]
    key: str | None = None
    keyid: str | None = None
    predicate_type: str
    model_name: str
    root_digest: str = Field(description="The OMS subject digest: sha256 over the files' digests sorted by name.")
    serialization: dict[str, Any]
    files: list[ResourceCheck]
    ok: bool = True


class SignatureResult(BaseModel):
    model_dir: str = Field(description="The signed model: a folder, or a single file.")
    signature: str
    method: Literal["key", "certificate", "sigstore"] = Field(
        description="How it was verified (model-signing's verify modes)."
    )
    verdict: Verdict = Field(
        "fail",
        description="pass only when the signature and every file were checked; not-checked when a check "
        "could not run here (e.g. Sigstore without a trust root), which is never a pass.",
    )
    signed_mode: Literal["key", "certificate", "sigstore"] | None = Field(
        None, description="The signing mode the bundle's verification material shows."
    )
    key: str | None = None
    keyid: str | None = None
    certificate_chain: list[str] = Field([], description="Certificate mode: the trust-anchor PEM files given.")
    signer: str | None = Field(None, description="Certificate mode: the verified leaf certificate's subject.")
    identity: str | None = None
    issuer: str | None = None
    predicate_type: str | None = None
    model_name: str | None = None
    root_digest: str | None = None
    serialization: dict[str, Any] | None = None
    files: list[ResourceCheck] = []
    problems: list[Problem] = []
    warnings: list[str] = []
    ok: bool = False

    @property
    def reasons(self) -> list[str]:
        return [p.code for p in self.problems]

    @property
    def reason(self) -> str | None:
        return self.problems[0].code if self.problems else None
