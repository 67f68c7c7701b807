"""Typed results of the evaluation checks (what ``assay rescore`` prints, as tables or ``--json``).

Findings are the core :class:`assay.manifests.findings.Finding` (re-exported here): ``where`` names the task a
finding is about.  Verdicts are the core scale (:data:`assay.manifests.findings.Verdict`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from ..manifests.findings import ClaimResult, Evidence
from ..manifests.findings import Finding as Finding
from ..manifests.findings import Severity as Severity
from ..manifests.findings import Verdict as Verdict


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


def sample_ref(sample_id: str, repeat: int, with_epoch: bool) -> str:
    """How findings name a sample: ``3``, or ``3 (epoch 2)`` when the run has several epochs / repeats."""
    return f"{sample_id} (epoch {repeat + 1})" if with_epoch else str(sample_id)


class LogRescore(_Model):
    path: str
    format: str
    ok: bool
    verdict: Verdict = Field(
        "pass",
        description="pass: every reported metric was recomputed from logged samples "
        "and equals the report; fail: something differs (or the run failed); not-checked: "
        "nothing, or not everything, could be recomputed and nothing differs.",
    )
    code: str | None = Field(
        None,
        description="The code of the finding that decided a non-pass verdict, e.g. "
        "not-recomputed, unscored, sample-score-mismatch.",
    )
    reason: str | None = Field(None, description="Why the verdict is not pass (the first deciding finding).")

    @model_validator(mode="after")
    def _no_pass_without_ok(self) -> LogRescore:
        if not self.ok and self.verdict == "pass":  # built without a verdict: never a pass when not ok
            self.verdict = "fail"
        return self

    rows: list[RescoreRow] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    audit: list[AuditRow] = Field(default_factory=list)

    def to_claim(self, where: str, step: str = "rescore") -> ClaimResult:
        """This log as one report row (``eval-log:<where>``).  Fail closed: a log from whose samples nothing was
        recomputed, or one with an error finding, is never a pass, whatever verdict it was built with."""
        errors = [f for f in self.findings if f.severity == "error"]
        verdict = self.verdict
        message = (
            "; ".join(
                f"{f.code}: {f.message}" + (f" (samples {', '.join(f.samples[:5])})" if f.samples else "")
                for f in errors
            )
            or None
        )
        if verdict == "pass" and errors:
            verdict = "fail"
        if verdict == "pass" and not any(row.recomputed is not None and row.n > 0 for row in self.rows):
            verdict, message = "not-checked", "nothing was recomputed from any logged sample"
        return ClaimResult(
            id=f"eval-log:{where}",
            step=step,
            kind="eval-log",
            subject=where,
            verdict=verdict,
            measured=[row.model_dump() for row in self.rows],
            message=message,
            evidence=[Evidence(kind="log", ref=where, note=self.format)],
        )


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


ClaimStatus = Literal["matches", "mismatch", "derived", "no-log", "attested", "not-recomputed"]
# A published score with no per-sample log is not-checked (fail closed) unless the manifest declares it attested-only;
# one whose logs give no recomputed value is not-checked too.  A derived score (a plain mean of sub-scores that the
# logs recompute) passes; a mean of published sub-scores is no-log (arithmetic on claims is not evidence).
CLAIM_VERDICT: dict[str, Verdict] = {
    "matches": "pass",
    "derived": "pass",
    "mismatch": "fail",
    "no-log": "not-checked",
    "attested": "attested",
    "not-recomputed": "not-checked",
}


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
    status: ClaimStatus = Field(
        description="How the published value compares: matches, derived (a mean of "
        "sub-scores), mismatch, no-log (nothing backs it), attested (declared attested-only), "
        "not-recomputed (the logs give no recomputed value)."
    )
    note: str | None = None

    @computed_field(description="The status on the one verdict scale.")  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Verdict:
        return CLAIM_VERDICT[self.status]

    def message(self) -> str:
        """One line for the report: the status and why."""
        if self.status == "no-log":
            return "no per-sample log, and the score is not declared attested_only: nothing checks it"
        if self.status == "attested":
            return "declared attested-only: reported, never checked"
        note = self.note or (
            f"published {self.value} vs recomputed {self.recomputed} (harness reported {self.reported})"
            if self.recomputed is not None
            else None
        )
        return f"{self.status}: {note}" if note else self.status


class EvalRescore(_Model):
    name: str
    task: str
    metric: str
    filter: str | None = None
    ok: bool
    logs: list[LogRescore] = Field(default_factory=list)
    claims: list[ClaimCheck] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)


def _basename(path: str) -> str:
    return PurePath(path).name


class RescoreReport(_Model):
    manifest: str
    ok: bool
    evals: list[EvalRescore] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)

    def to_claims(self, name: Callable[[str], str] = _basename, step: str = "rescore") -> list[ClaimResult]:
        """The report's rows: one per published value (``eval:<name>``, ``[i]`` when several), one per log
        (``eval-log:<log>``), one per error finding of an eval that is not about a published value, one per error
        finding of the report.  ``name`` maps a log's path on this machine to the name the release gives it (claim
        ids and a signed report never carry this machine's paths; by default the file name)."""
        out: list[ClaimResult] = []
        for ev in self.evals:
            evidence = [Evidence(kind="log", ref=name(log.path), note=log.format) for log in ev.logs]
            for i, c in enumerate(ev.claims):
                out.append(
                    ClaimResult(
                        id=f"eval:{ev.name}" + (f"[{i}]" if len(ev.claims) > 1 else ""),
                        step=step,
                        kind="rescore",
                        subject=ev.name,
                        declared={"value": c.value, "metric": c.metric, "source": c.source},
                        measured={"recomputed": c.recomputed, "reported": c.reported, "tolerance": c.tolerance},
                        verdict=c.verdict,
                        level="L1 re-score from logs",
                        message=c.message(),
                        needs=["samples"] if c.status in ("no-log", "attested", "not-recomputed") else [],
                        evidence=list(evidence),
                    )
                )
            for log in ev.logs:
                out.append(log.to_claim(name(log.path), step))
            for f in ev.findings:
                if f.severity == "error" and not f.code.startswith("claim-") and f.code != "no-log":
                    # claim-* and no-log findings are the published-value rows above
                    out.append(
                        ClaimResult(
                            id=f"eval:{ev.name}:{f.code}",
                            step=step,
                            kind="rescore",
                            subject=ev.name,
                            verdict="fail",
                            message=f.message,
                        )
                    )
        for f in self.findings:
            if f.severity == "error":
                out.append(
                    ClaimResult(
                        id=f"evals:{f.code}",
                        step=step,
                        kind="rescore",
                        subject=f.where or "evals",
                        verdict="fail",
                        message=f.message,
                    )
                )
        return out
