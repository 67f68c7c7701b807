"""Typed results of ``assay data check``; the CLI renders these as a table or as JSON."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..manifests.findings import ClaimResult, Evidence, Finding, Verdict, error_claims

# One verdict scale for every check (assay.manifests.findings): a component is pass / fail / attested / not-checked;
# a figure with nothing declared to compare it with is informational (verdict None).
ComponentStatus = Literal["pass", "fail", "attested", "not-checked"]


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
    verdict: Verdict | None = Field(
        None, description="None: nothing was declared; the measured figure is informational."
    )
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
    measured: dict[str, Any] | None = Field(
        None, description="documents, tokens, text_bytes, images, bytes, invalid_records."
    )
    epochs: float | None = Field(None, description="Times its data is seen in training, implied by the weights.")


class MixtureCheck(BaseModel):
    check: str = Field(
        description="weights, units, totals.tokens, totals.documents, totals.bytes, epochs:<component>, share:<tag>"
    )
    declared: Any = None
    from_declaration: Any = Field(None, description="The value computed from the declared component figures.")
    from_data: Any = Field(
        None, description="The value computed from the recounted data (declared figures for attested components)."
    )
    verdict: Verdict
    message: str | None = None


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

    def to_claims(self) -> list[ClaimResult]:
        """The report's rows: one per component (files hashed, counts recounted), one per mixture claim that
        declares something, one per error finding."""
        out: list[ClaimResult] = []
        for comp in self.components:
            bad = [f for f in comp.files if f.status != "ok"]
            out.append(
                ClaimResult(
                    id=f"data:component:{comp.name}",
                    step="data",
                    kind="data",
                    subject=comp.name,
                    declared={
                        "source": comp.source,
                        "tags": comp.tags,
                        "weight": comp.weight,
                        **{c.field: c.declared for c in comp.counts},
                    },
                    measured={
                        "files_ok": len(comp.files) - len(bad),
                        "files": len(comp.files),
                        **{c.field: c.measured for c in comp.counts},
                    },
                    verdict=comp.status,
                    level="attested only" if comp.status == "attested" else "recounted",
                    message=comp.reason or ("; ".join(f"{f.path}: {f.status}" for f in bad) or None),
                    needs=["data"] if comp.status == "not-checked" else [],
                    evidence=[Evidence(kind="file", ref=f.path, sha256=f.sha256, note=f.how) for f in comp.files],
                )
            )
        for mc in self.mixture:
            if mc.verdict is None:  # informational: nothing was declared
                continue
            out.append(
                ClaimResult(
                    id=f"data:{mc.check}",
                    step="data",
                    kind="data",
                    subject=mc.check,
                    declared=mc.declared,
                    measured=mc.from_data,
                    verdict=mc.verdict,
                    message=mc.message,
                    evidence=[Evidence(kind="computation", ref="from declared figures", note=str(mc.from_declaration))],
                )
            )
        return out + error_claims("data", "data", self.findings)
