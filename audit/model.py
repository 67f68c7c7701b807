"""The audit report (``report.json``): pydantic models are the file format; ``assay schema --report`` publishes it.

One entry per claim: what kind of claim, what the release declares, what assay measured, the evidence, and a
verdict.  Verdicts:

* ``pass``          the claim holds at its declared level (bytes hashed, counts recomputed, score reproduced, …)
* ``fail``          it does not
* ``attested``      it cannot be checked and is declared as such (e.g. a data component marked ``unavailable``):
                    reported, never counted as verified, does not fail the audit
* ``inconclusive``  the evidence does not decide (e.g. too few samples for the equivalence margin): fails the audit
* ``not-checked``   no evidence was produced: the check did not run (``--skip``, a step that could not start, a
                    re-run of a release that did not verify), a score with no per-sample log that is not declared
                    attested-only, a metric nothing could be recomputed from.  Fails the audit: no evidence, no pass
* ``error``         the check could not run (bad input in the section, a crash in a step)

Only ``pass`` and ``attested`` (declared so in the manifest) let the audit pass.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from ..evals.results import AuditRow

# The claim vocabulary lives in the core (every check's result builds these); re-exported for the report's users.
from ..manifests.findings import FAILING as FAILING
from ..manifests.findings import ClaimResult as ClaimResult
from ..manifests.findings import Evidence as Evidence
from ..manifests.findings import Verdict as Verdict
from ..mixtures.results import DataCheckSummary
from ..verify.results import VerifySummary

REPORT_SCHEMA = "assay-report/v1"


class MixtureBar(BaseModel):
    """A bar pair of the report's mixture chart: one tag's declared and measured share."""

    name: str
    declared: float | None = None
    measured: float | None = None


class ScorePoint(BaseModel):
    """A point of the report's score chart: a published score beside the one assay re-scored or re-ran, with the
    approximate 95% bounds of a re-run."""

    name: str
    published: float | None = None
    reproduced: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = Field(None, description="Items the reproduction is over.")


class RebuildSummary(BaseModel):
    dvc: str | None = Field(None, description="The DVC version that ran the stages.")
    run_id: str
    workdir: str
    text: str = Field(description="One line: what was rebuilt and at which tier.")


class PullSummary(BaseModel):
    source: str
    revision: str | None = None
    to: str
    release_digest: str | None = None
    bytes_transferred: int = 0
    files: int = 0


class StepSummary(BaseModel):
    """What a step reports besides its claims; each step fills its own fields, the rest stay empty."""

    model_config = ConfigDict(extra="forbid")

    reused: bool = Field(False, description="The saved result of an earlier run with the same inputs was reused.")
    warnings: list[str] = Field(default_factory=list)
    traceback: str | None = Field(None, description="A step that crashed: the last frames (a bug in assay).")
    verify: VerifySummary | None = None
    release_digest: str | None = Field(None, description="verify: the digest recomputed from the verified files.")
    expected_release_digest: str | None = Field(None, description="verify: the lock's release digest.")
    data: DataCheckSummary | None = None
    mixture: list[MixtureBar] = Field(default_factory=list, description="data: declared vs measured tag shares.")
    rebuild: RebuildSummary | None = None
    scores: list[ScorePoint] = Field(default_factory=list, description="rescore / rerun: published vs reproduced.")
    scorer_audit: list[AuditRow] = Field(
        default_factory=list, description="rescore: samples where the harness's scorer and a strict one disagree."
    )
    backend: dict[str, Any] | None = Field(None, description="rerun: the backend that ran the model.")
    verified: bool | None = Field(None, description="rerun: whether the release verified before it was loaded.")
    pull: PullSummary | None = None

    @model_serializer(mode="wrap")
    def _only_filled(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """report.json carries the fields a step filled, not every other step's empty ones."""
        return {k: v for k, v in handler(self).items() if not (v is None or v == [] or (k == "reused" and v is False))}


class StepResult(BaseModel):
    name: str
    status: Literal["ok", "failed", "error", "not-checked", "not-applicable"]
    seconds: float = 0.0
    fingerprint: str | None = Field(
        None, description="Inputs this result depends on; a resumed audit reuses it if equal."
    )
    summary: StepSummary = Field(default_factory=StepSummary)
    claims: list[ClaimResult] = Field(default_factory=list)
    error: str | None = None


class ReleaseRef(BaseModel):
    name: str
    version: str
    publisher: str | None = None
    license: str | None = None
    manifest: str
    manifest_sha256: str
    release_digest: str | None


class Environment(BaseModel):
    assay: str
    python: str
    platform: str
    cpu_count: int
    torch: str | None = None


class Counts(BaseModel):
    total: int
    passed: int
    failed: int
    attested: int
    inconclusive: int
    not_checked: int
    errors: int


class AuditReport(BaseModel):
    schema_: str = Field(REPORT_SCHEMA, alias="schema")
    release: ReleaseRef
    source: str | None = Field(None, description="Where the audited bytes came from (--from URI), if pulled.")
    generated_by: str
    environment: Environment
    steps: list[StepResult]
    claims: list[ClaimResult]
    counts: Counts
    verdict: Literal["pass", "fail"]
    seconds: float
    notes: list[str] = Field(default_factory=list)

    model_config = {"populate_by_name": True}


def report_json_schema() -> dict[str, Any]:
    schema = AuditReport.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://assay.dev/schema/report-v1.json"
    return schema
