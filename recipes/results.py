"""Typed results of ``assay rebuild``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


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
    verdict: Literal["holds", "fails", "needs-evaluation", "not-run"]
    sha256: str | None = None
    expected_sha256: str | None = None
    dvc_md5: str | None = Field(None, description="The md5 DVC recorded for the output in dvc.lock.")
    errors: dict[str, Any] | None = Field(None,
                                          description="tolerance comparison: max_abs, max_rel and the worst tensor.")
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
