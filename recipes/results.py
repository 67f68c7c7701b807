"""Typed results of ``assay rebuild``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..manifests.findings import ClaimResult, Evidence, Verdict


class InputCheck(BaseModel):
    ref: str = Field(description="The artifact path, 'component/file', or 'recipe-output' of an earlier recipe.")
    status: Literal["ok", "changed", "missing", "unpinned", "unavailable", "from-recipe"]
    sha256: str | None = None
    expected_sha256: str | None = None
    message: str | None = None


class OutputCheck(BaseModel):
    path: str
    declared_tier: Literal["bit-exact", "tolerance", "evaluation"]
    reached: str | None = Field(None, description="bit-exact | tolerance | needs-evaluation | unpinned | missing")
    verdict: Verdict = Field(
        description="pass: reached its declared tier; fail: did not; inconclusive: only an "
        "evaluation of the rebuilt model can say (needs-evaluation); "
        "not-checked: the recipe did not run."
    )
    sha256: str | None = None
    expected_sha256: str | None = None
    dvc_md5: str | None = Field(None, description="The md5 DVC recorded for the output in dvc.lock.")
    errors: dict[str, Any] | None = Field(
        None, description="tolerance comparison: max_abs, max_rel and the worst tensor."
    )
    message: str | None = None


class RecipeResult(BaseModel):
    name: str
    step: str
    status: Literal["rebuilt", "refused", "failed", "not-run"]
    message: str | None = None
    inputs: list[InputCheck] = Field(default_factory=list)
    outputs: list[OutputCheck] = Field(default_factory=list)
    environment: dict[str, Any] | None = None


class RebuildResult(BaseModel):
    manifest: str
    release: str
    workdir: str
    dvc: str | None = Field(None, description="The DVC version that ran the stages (forced, no run cache).")
    run_id: str
    recipes: list[RecipeResult]
    summary: str
    seconds: float
    ok: bool

    def to_claims(self) -> list[ClaimResult]:
        """The report's rows: a failing row for a recipe that was refused or failed (or produced nothing), else one
        per output at the tier it reached."""
        out: list[ClaimResult] = []
        for rec in self.recipes:
            env = Evidence(kind="environment", ref=rec.step, note=str(rec.environment))
            if rec.status in ("refused", "failed") or not rec.outputs:
                out.append(
                    ClaimResult(
                        id=f"recipe:{rec.name}",
                        step="rebuild",
                        kind="recipe",
                        subject=rec.name,
                        verdict="fail",
                        message=f"{rec.status}: {rec.message or ''}".strip(),
                        evidence=[env],
                    )
                )
                continue
            for o in rec.outputs:
                out.append(
                    ClaimResult(
                        id=f"recipe:{rec.name}:{o.path}",
                        step="rebuild",
                        kind="recipe",
                        subject=o.path,
                        declared={"tier": o.declared_tier, "sha256": o.expected_sha256},
                        measured={"tier": o.reached, "sha256": o.sha256, **({"errors": o.errors} if o.errors else {})},
                        verdict=o.verdict,
                        level=f"declared {o.declared_tier}, reached {o.reached}",
                        message=o.message,
                        evidence=[env, Evidence(kind="file", ref=o.path, sha256=o.sha256, note=f"dvc md5 {o.dvc_md5}")],
                    )
                )
        return out
