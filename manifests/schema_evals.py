"""Manifest section ``evals``: published scores, their logs, decoding settings and margins."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .schema_base import NAME_RE, SHA256_RE, RelPath, Strict

# ----------------------------------------------------------------------------------------------------------- evals
class PublishedScore(Strict):
    value: float
    source: str | None = Field(None, description="Where the claim was published: model card, paper, README table, URL.")
    stderr: float | None = Field(None, ge=0)


class EvalLog(Strict):
    path: RelPath
    sha256: str | None = Field(None, pattern=SHA256_RE)
    format: Literal["auto", "lm-eval", "inspect", "vlmevalkit", "eureka", "eee", "assay"] = "auto"



class Decoding(Strict):
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_new_tokens: int | None = Field(None, gt=0)
    seed: int | None = None
    repeats: int = Field(1, ge=1)
    system_prompt: str | None = None
    chat_template_sha256: str | None = Field(None, pattern=SHA256_RE)


class EvalClaim(Strict):
    name: str = Field(pattern=NAME_RE)
    metric: str
    published: list[PublishedScore] = Field(default_factory=list)
    logs: list[EvalLog] = Field(default_factory=list)
    decoding: Decoding | None = None
    scorer: str | None = None
    margin: float | None = Field(None, ge=0, description="Equivalence margin for re-runs, in score points.")
    task: str | None = Field(None, description="Harness task name when it differs from name.")


