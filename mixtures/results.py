"""Typed results of ``assay data check``; the CLI renders these as a table or as JSON."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ComponentStatus = Literal["verified", "failed", "attested", "unverifiable"]
Verdict = Literal["holds", "fails", "unverifiable", "attested", "measured"]


class DataFileCheck(BaseModel):
    path: str
    status: Literal["ok", "mismatch", "size-mismatch", "missing", "unpinned", "unsafe-path", "unreadable"]
    how: str = Field(description="hashed | state | dvc-workspace | dvc-cache | dvc-remote | not-read")
    size: int | None = None
    sha256: str | None = None
    expected_sha256: str | None = None
    md5: str | None = Field(None, description="md5 of the bytes read (DVC-tracked files only).")
    dvc_md5: str | None = Field(None, description="The md5 DVC records for the file (.dvc file or dvc.lock out).")
    dvc_hash: str | None = Field(None, description="DVC's algorithm for dvc_md5: md5, or md5-dos2unix (DVC 2 outs).")
    dvc_file: str | None = Field(None, description="The DVC file that records it: a .dvc file or dvc.lock.")
    message: str | None = None


class CountCheck(BaseModel):
    field: Literal["tokens", "documents", "bytes"]
    declared: int | None
    measured: int | None
    verdict: Verdict
    message: str | None = None


class ComponentCheck(BaseModel):
    name: str
    source: str
    status: ComponentStatus
    reason: str | None = Field(None, description="Why it is attested only / unverifiable / failed.")
    tags: list[str] = Field(default_factory=list)
    weight: str | None = None
    files: list[DataFileCheck] = Field(default_factory=list)
    counts: list[CountCheck] = Field(default_factory=list)
    measured: dict[str, Any] | None = Field(None, description="documents, tokens, text_bytes, images, bytes, "
                                                              "invalid_records.")
    epochs: float | None = Field(None, description="Times its data is seen in training, implied by the weights.")


class MixtureCheck(BaseModel):
    check: str = Field(description="weights, units, totals.tokens, totals.documents, totals.bytes, epochs:<component>, "
                                   "share:<tag>")
    declared: Any = None
    from_declaration: Any = Field(None, description="The value computed from the declared component figures.")
    from_data: Any = Field(None, description="The value computed from the recounted data (declared figures for "
                                             "attested components).")
    verdict: Verdict
    message: str | None = None


class Finding(BaseModel):
    severity: Literal["error", "warning", "info"]
    where: str | None = None
    message: str


class DataCheckSummary(BaseModel):
    components: int
    verified: int
    failed: int
    attested: int
    unverifiable: int
    files_hashed: int
    bytes_hashed: int
    documents_counted: int
    tokens_counted: int | None
    mixture_checks_failed: int
    seconds: float


class DataCheckResult(BaseModel):
    manifest: str
    release: str
    executor: str
    tokenizer: str | None = None
    tokenizer_sha256: str | None = None
    components: list[ComponentCheck]
    mixture: list[MixtureCheck]
    findings: list[Finding]
    summary: DataCheckSummary
    ok: bool
