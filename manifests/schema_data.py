"""Manifest sections ``data`` (the training mixture) and ``recipes`` (rebuild steps).

Mixture configs in the wild disagree on what a weight means (OLMo-core: token shares; Megatron: sample shares;
DCLM: upsampling multipliers), so every weight here carries an explicit ``unit`` and ``assay data check`` computes
token and document contributions from it.  ``totals`` are what training *consumed* (e.g. "200B tokens"), not the
sum of the available data; per-component ``tokens``/``documents``/``bytes`` are what the component *holds*.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .schema_base import NAME_RE, SHA256_RE, Count, RelPath, Strict

MD5_RE = r"^[0-9a-f]{32}$"
UNAVAILABLE = "unavailable"


# ------------------------------------------------------------------------------------------------------------ data
class WeightUnit(str, Enum):
    tokens = "tokens"  # share of trained tokens (OLMo-core target_ratio); weights sum to 1
    samples = "samples"  # share of trained samples (Megatron blend weights); weights sum to 1
    documents = "documents"  # share of trained documents; weights sum to 1
    multiplier = "multiplier"  # times the component is repeated (DCLM upsampling); 1 = used once


class MixtureWeight(Strict):
    value: float = Field(ge=0)
    unit: WeightUnit


class DataFile(Strict):
    path: RelPath
    sha256: str | None = Field(None, pattern=SHA256_RE)
    size: int | None = Field(None, ge=0)
    md5: str | None = Field(
        None, pattern=MD5_RE, description="DVC's md5 of the file, when DVC tracks it (informative)."
    )
    format: Literal["auto", "jsonl", "parquet"] = Field("auto", description="Record format; auto = by file extension.")


class ShareClaim(Strict):
    value: float = Field(ge=0, le=1)
    tolerance: float = Field(0.0, ge=0, le=1, description="Absolute tolerance on the share, e.g. 0.02 for '20% ± 2%'.")
    unit: Literal["tokens", "documents"] = Field(
        "tokens", description="What the share is a share of (trained tokens by default)."
    )


def _check_source(value: str) -> str:
    if value == UNAVAILABLE:
        return value
    if value.startswith("dvc://"):
        rest = value[len("dvc://") :]
        if not rest:
            raise ValueError("a dvc:// source names the DVC repository folder, e.g. dvc://data-repo or dvc://.")
        return value
    if value.startswith("hf://") and not value.startswith("hf://datasets/"):
        raise ValueError(f"data source {value!r} is a Hugging Face model or space; data comes from hf://datasets/…")
    from .uris import parse_source_uri

    parse_source_uri(value)
    return value


class DataComponent(Strict):
    name: str = Field(pattern=NAME_RE)
    source: str = Field(description="hf://datasets/org/name@rev, dir://folder, dvc://repo-folder, or 'unavailable'.")
    reason: str | None = Field(None, description="Why the component cannot be checked (required when unavailable).")
    remote: str | None = Field(
        None, description="dvc:// sources: the DVC remote to read files missing from the workspace."
    )
    files: list[DataFile] = Field(default_factory=list)
    tokens: Count | None = Field(None, description="Tokens the component holds (counted with data.tokenizer).")
    documents: Count | None = Field(None, description="Records the component holds (JSONL lines / Parquet rows).")
    bytes: Count | None = Field(None, description="Stored bytes of the component's files (sum of file sizes).")
    tolerance: float = Field(
        0.0, ge=0, le=1, description="Relative tolerance of tokens/documents/bytes (rounded counts)."
    )
    weight: MixtureWeight | None = None
    max_epochs: float | None = Field(None, gt=0, description="Most times any of its data may be seen in training.")
    tags: list[str] = Field(default_factory=list)
    license: str | None = Field(None, description="SPDX identifier.")
    text_field: str | None = Field(
        None, description="Record field holding the text (default: text, messages, prompt+response, caption)."
    )

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        return _check_source(v)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for tag in v:
            if not re.fullmatch(NAME_RE, tag):
                raise ValueError(f"tag {tag!r} is not a simple name")
        return v

    @model_validator(mode="after")
    def _unavailable(self) -> DataComponent:
        if self.source == UNAVAILABLE and not self.reason:
            raise ValueError("a component with source 'unavailable' needs a 'reason'")
        if self.remote is not None and not self.source.startswith("dvc://"):
            raise ValueError("'remote' is only meaningful for dvc:// sources")
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("a file is listed twice")
        return self


class DataTotals(Strict):
    """What training consumed (tokens/documents seen, repetitions included); bytes = stored bytes of all components."""

    tokens: Count | None = None
    documents: Count | None = None
    bytes: Count | None = None
    tolerance: float = Field(0.0, ge=0, le=1, description="Relative tolerance, e.g. 0.05 for a rounded '200B'.")


class DataSection(Strict):
    tokenizer: str | None = Field(
        None, description="Artifact path of the tokenizer.json used for counting, or a path relative to the manifest."
    )
    totals: DataTotals | None = None
    shares: dict[str, ShareClaim] = Field(
        default_factory=dict, description="Tag shares, e.g. cot: {value: 0.2, tolerance: 0.02}."
    )
    components: list[DataComponent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> DataSection:
        names = [c.name for c in self.components]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate component names: {', '.join(dupes)}")
        return self

    def component(self, name: str) -> DataComponent | None:
        return next((c for c in self.components if c.name == name), None)


# --------------------------------------------------------------------------------------------------------- recipes
class RecipeInput(Strict):
    path: RelPath | None = Field(None, description="An artifact of the release, or an output of an earlier recipe.")
    component: str | None = Field(None, description="A data component: all of its files.")
    sha256: str | None = Field(
        None, pattern=SHA256_RE, description="Expected input hash (default: the artifact's pin)."
    )

    @model_validator(mode="after")
    def _one(self) -> RecipeInput:
        if (self.path is None) == (self.component is None):
            raise ValueError("a recipe input names exactly one of 'path' or 'component'")
        return self


class RecipeOutput(Strict):
    path: RelPath
    sha256: str | None = Field(None, pattern=SHA256_RE, description="Expected hash (default: the artifact's pin).")
    tier: Literal["bit-exact", "tolerance", "evaluation"] = Field(
        "bit-exact", description="What must hold: bit-exact (sha256), tolerance (tensors within atol/rtol), evaluation."
    )
    atol: float | None = Field(None, ge=0, description="tolerance tier: per-element |a-b| <= atol + rtol*|b|.")
    rtol: float | None = Field(None, ge=0)


STEPS = (
    "cast",
    "reshard",
    "merge-shards",
    "lora-merge",
    "quantize-int8",
    "pickle-to-safetensors",
    "tokenizer-build",
    "train",
    "cmd",
)


class Recipe(Strict):
    name: str = Field(pattern=NAME_RE)
    step: Literal[
        "cast",
        "reshard",
        "merge-shards",
        "lora-merge",
        "quantize-int8",
        "pickle-to-safetensors",
        "tokenizer-build",
        "train",
        "cmd",
    ]
    inputs: list[RecipeInput] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    cmd: str | None = None
    threads: int | None = Field(
        None, ge=1, description="torch threads the publisher used (default 1; --threads overrides)."
    )
    outputs: list[RecipeOutput] = Field(min_length=1)

    @model_validator(mode="after")
    def _cmd(self) -> Recipe:
        if (self.step == "cmd") != (self.cmd is not None):
            raise ValueError("'cmd' is required for step 'cmd' and only allowed there")
        outs = [o.path for o in self.outputs]
        if len(set(outs)) != len(outs):
            raise ValueError("an output path is listed twice")
        clash = sorted(set(outs) & {i.path for i in self.inputs if i.path})
        if clash:
            raise ValueError(f"{clash[0]!r} is both an input and an output")
        return self
