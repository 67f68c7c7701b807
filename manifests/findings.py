"""The vocabulary every check reports in: one verdict scale, one :class:`Finding`, one claim record.

Each check (verify, structure, data, rebuild, rescore, rerun, attest, metadata consistency, remote code, the model as
loaded) returns its own typed result, and that result turns itself into :class:`ClaimResult` rows (``.to_claims()``);
the audit report is the list of those rows.  Nothing translates between vocabularies: the verdicts below are the
only ones a claim can carry.

Verdicts (fail closed: only ``pass`` and ``attested`` let an audit pass):

* ``pass``          the claim holds at its declared level (bytes hashed, counts recomputed, score reproduced, …)
* ``fail``          it does not
* ``attested``      it cannot be checked and is declared as such in the manifest: reported, never counted as verified
* ``inconclusive``  the evidence does not decide (e.g. too few samples for the equivalence margin)
* ``not-checked``   no evidence was produced: the check did not run, a score has no per-sample log, a metric nothing
                    could be recomputed from, a file that was not scanned, a mode that is not supported
* ``error``         the check could not run (bad input in the section, a crash in a step)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["pass", "fail", "attested", "inconclusive", "not-checked", "error"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "attested", "inconclusive", "not-checked", "error")
PASSING: frozenset[str] = frozenset({"pass", "attested"})
FAILING: frozenset[str] = frozenset({"fail", "inconclusive", "not-checked", "error"})
Severity = Literal["error", "warning", "info"]
Need = Literal["network", "gpu", "samples", "lock", "extra", "data", "weights"]


class Finding(BaseModel):
    """One observation a check made.  ``error`` findings fail the check; ``warning`` and ``info`` do not."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity
    code: str = Field(
        description="Stable machine name of what was found, e.g. hash-mismatch, pickle, "
        "context-length-mismatch, unpinned-download, sample-score-mismatch."
    )
    message: str
    where: str | None = Field(
        None,
        description="What it is about: a file (`config.json`), a key "
        "(`config.json:max_position_embeddings`), a task or a component.",
    )
    samples: list[str] = Field(default_factory=list, description="Ids of the samples concerned (first 50).")

    @classmethod
    def make(
        cls, severity: Severity, code: str, message: str, where: str | None = None, samples: list[str] | None = None
    ) -> Finding:
        return cls(severity=severity, code=code, message=message, where=where, samples=list(samples or [])[:50])

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class Evidence(BaseModel):
    kind: str = Field(description="file, log, command, environment, statistic, …")
    ref: str
    sha256: str | None = None
    note: str | None = None


class ClaimResult(BaseModel):
    """One claim of the release and its verdict: a row of the audit report."""

    id: str = Field(description="Stable identifier, e.g. file:config.json, claim:parameters.total, eval:chartqa.")
    step: str
    kind: str = Field(description="file, structure, claim, data, recipe, rescore, rerun, …")
    subject: str
    declared: Any = None
    measured: Any = None
    verdict: Verdict
    level: str | None = Field(None, description="Declared / reached level, e.g. bit-exact, tolerance, L1 re-score.")
    message: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    needs: list[Need] = Field(
        default_factory=list,
        description="What a non-pass claim needs to be checked: network "
        "(to pull or lock), gpu (to load or re-run the "
        "model), samples (per-sample logs), lock, extra "
        "(an optional dependency), data.",
    )


def error_claims(step: str, kind: str, findings: list[Finding], prefix: str | None = None) -> list[ClaimResult]:
    """A failing claim for each error finding (one claim per code and subject: repeats are folded into one)."""
    grouped: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        if f.severity == "error":
            grouped.setdefault((f.code, f.where or step), []).append(f)
    out: list[ClaimResult] = []
    for (code, where), fs in grouped.items():
        more = f" (and {len(fs) - 1} more like it)" if len(fs) > 1 else ""
        samples = f" (samples {', '.join(fs[0].samples[:5])})" if fs[0].samples else ""
        out.append(
            ClaimResult(
                id=f"{prefix or kind}:{code}" + (f":{where}" if where != step else ""),
                step=step,
                kind=kind,
                subject=where,
                verdict="fail",
                message=f"{code}: {fs[0].message}{samples}{more}",
            )
        )
    return out
