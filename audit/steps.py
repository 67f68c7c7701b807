"""Audit steps: each adapts one library check to a list of per-claim results.

A step takes the :class:`AuditContext` and returns a :class:`StepResult`; it never decides the audit's verdict.
Steps that do not apply (no ``data:`` section, no recipes, no evals) return ``not-applicable``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .model import ClaimResult, Evidence, StepResult


@dataclass
class AuditContext:
    manifest_path: Path
    release_dir: Path | None  # --dir for verification (a pulled folder), or None for the manifest's own sources
    out: Path
    rerun_limit: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def manifest(self):
        from ..verify.release import load_release

        return load_release(self.manifest_path).manifest


def step_verify(ctx: AuditContext) -> StepResult:
    """Strict verification: every file re-hashed, headers audited, structural claims measured."""
    from ..verify.release import verify_release

    r = verify_release(ctx.manifest_path, root=ctx.release_dir, strict=True)
    claims: list[ClaimResult] = []
    for f in r.files:
        claims.append(ClaimResult(
            id=f"file:{f.path}", step="verify", kind="file", subject=f.path,
            declared={"sha256": f.expected_sha256, "size": f.expected_size},
            measured={"sha256": f.sha256, "size": f.size},
            verdict="pass" if f.status == "ok" else "fail", level="sha256 (hashed now)",
            message=None if f.status == "ok" else f"{f.status}: {f.message}",
            evidence=[Evidence(kind="file", ref=f.path, sha256=f.sha256, note=f.how)]))
    for finding in r.findings:
        if finding.severity == "error":
            claims.append(ClaimResult(
                id=f"structure:{finding.check}:{finding.path or ''}", step="verify", kind="structure",
                subject=finding.path or finding.check, verdict="fail", message=finding.message,
                evidence=[Evidence(kind="check", ref=finding.check)]))
        elif finding.check == "remote-code":
            claims.append(ClaimResult(
                id=f"remote-code:{finding.path}", step="verify", kind="remote-code", subject=finding.path or "",
                verdict="pass", message=finding.message, evidence=[Evidence(kind="file", ref=finding.path or "")]))
    for c in r.claims:
        verdict = {"holds": "pass", "fails": "fail", "unverifiable": "fail"}[c.verdict]
        claims.append(ClaimResult(id=f"claim:{c.claim}", step="verify", kind="claim", subject=c.claim,
                                  declared=c.declared, measured=c.measured, verdict=verdict, message=c.message,
                                  evidence=[Evidence(kind="check", ref="safetensors headers / config.json")]))
    summary = r.summary.model_dump()
    summary.update(release_digest=r.release_digest, expected_release_digest=r.expected_release_digest,
                   warnings=[f"{f.check}: {f.path or ''}: {f.message}" for f in r.findings if f.severity == "warning"])
    return StepResult(name="verify", status="ok" if r.ok else "failed", summary=summary, claims=claims)


STEP_FUNCTIONS: dict[str, Callable[[AuditContext], StepResult]] = {
    "verify": step_verify,
}
