"""Typed results of the evaluation checks (what ``assay rescore`` prints, as tables or ``--json``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Severity = Literal["error", "warning", "info"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Finding(_Model):
    """One observation about a log or claim.  ``error`` findings fail the check (exit 1)."""

    severity: Severity
    code: str = Field(description="Stable machine name, e.g. sample-score-mismatch, hash-mismatch, subset-run.")
    message: str
    task: str | None = None
    samples: list[str] = Field(default_factory=list, description="Ids of the samples concerned (first 50).")

    @classmethod
    def make(cls, severity: Severity, code: str, message: str, task: str | None = None,
             samples: list[str] | None = None) -> Finding:
        return cls(severity=severity, code=code, message=message, task=task, samples=list(samples or [])[:50])


class RescoreRow(_Model):
    """One aggregate: the harness's reported value beside assay's recomputation.  The ``--log --json`` contract:
    exactly these six keys."""

    task: str
    metric: str
    filter: str
    reported: float | None
    recomputed: float | None
    n: int


class AuditRow(_Model):
    """The scorer audit of one (task, metric, filter): the harness scorer beside a strict scorer."""

    task: str
    metric: str
    filter: str
    strict_scorer: str
    harness: float | None = Field(description="Aggregate under the harness's scorer.")
    strict: float | None = Field(description="Aggregate under the strict scorer.")
    n: int
    accepted_only_by_harness: list[str] = Field(default_factory=list)
    accepted_only_by_strict: list[str] = Field(default_factory=list)


Verdict = Literal["pass", "fail", "unverifiable"]


def sample_ref(sample_id: str, repeat: int, with_epoch: bool) -> str:
    """How findings name a sample: ``3``, or ``3 (epoch 2)`` when the run has several epochs / repeats."""
    return f"{sample_id} (epoch {repeat + 1})" if with_epoch else str(sample_id)


class LogRescore(_Model):
    path: str
    format: str
    ok: bool
    verdict: Verdict = Field("pass", description="pass: every reported metric was recomputed from logged samples "
                             "and equals the report; fail: something differs (or the run failed); unverifiable: "
                             "nothing, or not everything, could be recomputed and nothing differs.")
    reason: str | None = Field(None, description="Why the verdict is not pass (the first deciding finding).")

    @model_validator(mode="after")
    def _no_pass_without_ok(self) -> LogRescore:
        if not self.ok and self.verdict == "pass":  # built without a verdict: never a pass when not ok
            self.verdict = "fail"
        return self
    rows: list[RescoreRow] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    audit: list[AuditRow] = Field(default_factory=list)


class SkippedLog(_Model):
    """A file in a re-scored folder that was not re-scored, and why."""

    path: str
    reason: str
    format: str | None = Field(None, description="The format the file was taken for, when it looked like a log.")


class FolderRescore(_Model):
    """``assay rescore --log PATH``: every log found at PATH (each format in a mixed folder) and what was skipped."""

    path: str
    ok: bool
    logs: list[LogRescore] = Field(default_factory=list)
    skipped: list[SkippedLog] = Field(default_factory=list)


class ClaimCheck(_Model):
    """A published score compared with what the logs recompute."""

    value: float
    source: str | None = None
    metric: str
    task: str | None = None
    filter: str | None = None
    recomputed: float | None = Field(None, description="The recomputed aggregate, in the claim's unit.")
    reported: float | None = Field(None, description="The harness's own aggregate, in the claim's unit.")
    tolerance: float = Field(description="Half a unit of the claim's last published decimal.")
    status: Literal["matches", "mismatch", "derived", "no-log", "attested", "unverifiable"]
    note: str | None = None


class EvalRescore(_Model):
    name: str
    task: str
    metric: str
    filter: str | None = None
    ok: bool
    logs: list[LogRescore] = Field(default_factory=list)
    claims: list[ClaimCheck] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)


class RescoreReport(_Model):
    manifest: str
    ok: bool
    evals: list[EvalRescore] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
