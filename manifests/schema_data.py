"""Manifest sections ``data`` (the training mixture) and ``recipes`` (rebuild steps)."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import Field, model_validator

from .schema_base import NAME_RE, SHA256_RE, Count, RelPath, Strict

# ------------------------------------------------------------------------------------------------------------ data
class WeightUnit(str, Enum):
    tokens = "tokens"
    samples = "samples"
    documents = "documents"
    multiplier = "multiplier"


class MixtureWeight(Strict):
    value: float = Field(ge=0)
    unit: WeightUnit


class DataFile(Strict):
    path: RelPath
    sha256: str | None = Field(None, pattern=SHA256_RE)
    size: int | None = Field(None, ge=0)



class ShareClaim(Strict):
    value: float = Field(ge=0, le=1)
    tolerance: float = Field(0.0, ge=0, le=1)


class DataComponent(Strict):
    name: str = Field(pattern=NAME_RE)
    source: str = Field(description="hf://datasets/…@rev, dir://…, dvc://path, or 'unavailable'.")
    reason: str | None = Field(None, description="Why the component cannot be checked (required when unavailable).")
    files: list[DataFile] = Field(default_factory=list)
    tokens: Count | None = None
    documents: Count | None = None
    bytes: Count | None = None
    weight: MixtureWeight | None = None
    max_epochs: float | None = Field(None, gt=0)
    tags: list[str] = Field(default_factory=list)
    license: str | None = None


    @model_validator(mode="after")
    def _unavailable(self) -> "DataComponent":
        if self.source == "unavailable" and not self.reason:
            raise ValueError("a component with source 'unavailable' needs a 'reason'")
        return self


class DataTotals(Strict):
    tokens: Count | None = None
    documents: Count | None = None
    bytes: Count | None = None
    tolerance: float = Field(0.0, ge=0, le=1)



class DataSection(Strict):
    tokenizer: str | None = Field(None, description="Artifact path or hf:// URI of the tokenizer used for counting.")
    totals: DataTotals | None = None
    shares: dict[str, ShareClaim] = Field(default_factory=dict, description="Tag shares, e.g. cot: {value: 0.2, tolerance: 0.02}.")
    components: list[DataComponent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> "DataSection":
        names = [c.name for c in self.components]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate component names: {', '.join(dupes)}")
        return self


# --------------------------------------------------------------------------------------------------------- recipes
class RecipeInput(Strict):
    path: RelPath | None = None
    component: str | None = None
    sha256: str | None = Field(None, pattern=SHA256_RE)


    @model_validator(mode="after")
    def _one(self) -> "RecipeInput":
        if (self.path is None) == (self.component is None):
            raise ValueError("a recipe input names exactly one of 'path' or 'component'")
        return self


class RecipeOutput(Strict):
    path: RelPath
    sha256: str | None = Field(None, pattern=SHA256_RE)
    tier: Literal["bit-exact", "tolerance", "evaluation"] = "bit-exact"
    atol: float | None = Field(None, ge=0)
    rtol: float | None = Field(None, ge=0)



class Recipe(Strict):
    name: str = Field(pattern=NAME_RE)
    step: Literal["cast", "reshard", "merge-shards", "lora-merge", "quantize-int8", "pickle-to-safetensors",
                  "tokenizer-build", "train", "cmd"]
    inputs: list[RecipeInput] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    cmd: str | None = None
    outputs: list[RecipeOutput] = Field(min_length=1)

    @model_validator(mode="after")
    def _cmd(self) -> "Recipe":
        if (self.step == "cmd") != (self.cmd is not None):
            raise ValueError("'cmd' is required for step 'cmd' and only allowed there")
        return self


