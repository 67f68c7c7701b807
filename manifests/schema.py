"""The release manifest, schema v1 (``apiVersion: assay/v1``, ``kind: Release``).

The pydantic models *are* the schema: ``assay schema`` prints ``Manifest.model_json_schema()``.  Every model forbids
unknown keys, so a misspelt key is an error that names its line and column (see :mod:`assay.manifests.loader`).

Sections:
  release    who published what (name, version, publisher, license, homepage, model card)
  sources    where the bytes come from (hf://, oci://, dir://)
  artifacts  every file of the release: path, role, size, sha256
  claims     structural claims checked from the weights: parameters, tensors, dtypes, architecture
  data       the training mixture (checked by ``assay data check``)
  evals      published evaluation logs and scores (checked by ``assay rescore`` / ``assay rerun``)
  recipes    steps that rebuild derived artifacts (run by ``assay rebuild``)
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .errors import PathEscapeError
from .paths import check_relpath
from .uris import parse_source_uri

API_VERSION = "assay/v1"
SHA256_RE = r"^[0-9a-f]{64}$"
_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"
_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


def _relpath(value: str) -> str:
    try:
        return check_relpath(value)
    except PathEscapeError as exc:  # -> a pydantic error carrying the same one-line reason
        raise ValueError(str(exc)) from None


def parse_count(value: Any) -> int:
    """Accept an int or a human count such as ``"15B"``, ``"1.5M"``, ``"200_000"``."""
    if isinstance(value, bool):
        raise ValueError("expected a count, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([KMBGT]?)\s*", value.upper())
        if m:
            return int(round(float(m[1].replace("_", "")) * _SUFFIX[m[2]]))
    raise ValueError(f"expected a count such as 1234567 or '15B', got {value!r}")


RelPath = Annotated[str, AfterValidator(_relpath)]
Count = Annotated[int, BeforeValidator(parse_count)]


# --------------------------------------------------------------------------------------------------------- release
class ReleaseInfo(Strict):
    name: str = Field(pattern=_NAME_RE, description="Release name; also the stem of the lock file.")
    version: str = Field(min_length=1)
    publisher: str | None = None
    license: str | None = Field(None, description="SPDX identifier or licence name.")
    homepage: str | None = Field(None, pattern=r"^https?://\S+$")
    model_card: RelPath | None = Field(None, description="Path of the model card artifact, e.g. README.md.")
    description: str | None = None



class Source(Strict):
    name: str = Field("default", pattern=_NAME_RE)
    uri: str = Field(description="hf://org/repo@revision, oci://host/repo:tag|@sha256:…, or dir://path")

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        parse_source_uri(v)
        return v


# ------------------------------------------------------------------------------------------------------- artifacts
class Role(str, Enum):
    weights = "weights"
    config = "config"
    tokenizer = "tokenizer"
    processor = "processor"
    code = "code"
    docs = "docs"
    data = "data"
    eval_log = "eval-log"
    other = "other"


class Artifact(Strict):
    path: RelPath = Field(description="Relative POSIX path inside the release root.")
    role: Role = Role.other
    size: int | None = Field(None, ge=0)
    sha256: str | None = Field(None, pattern=SHA256_RE)
    blake3: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="Optional extra digest, never instead of sha256.")
    source: str | None = Field(None, description="Name of the source this file comes from (default: the first).")



# ---------------------------------------------------------------------------------------------------------- claims
class ParameterClaim(Strict):
    total: Count | None = Field(None, description="Total parameter count (int or e.g. '15B').")
    tolerance: float = Field(0.0, ge=0, le=1, description="Relative tolerance on total, e.g. 0.05 for a rounded '15B'.")
    by_dtype: dict[str, Count] | None = None


class Claims(Strict):
    parameters: ParameterClaim | None = None
    tensors: int | None = Field(None, ge=0, description="Number of tensors across all safetensors weight files.")
    dtypes: list[str] | None = Field(None, description="Exact set of safetensors dtypes, e.g. [BF16].")
    architecture: str | None = Field(None, description="config.json architectures[0], e.g. LlavaForConditionalGeneration.")
    remote_code: list[RelPath] | None = Field(
        None, description="Code files the config asks to execute (auto_map / trust_remote_code); each must be an artifact."
    )


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
    name: str = Field(pattern=_NAME_RE)
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
    name: str = Field(pattern=_NAME_RE)
    metric: str
    published: list[PublishedScore] = Field(default_factory=list)
    logs: list[EvalLog] = Field(default_factory=list)
    decoding: Decoding | None = None
    scorer: str | None = None
    margin: float | None = Field(None, ge=0, description="Equivalence margin for re-runs, in score points.")
    task: str | None = Field(None, description="Harness task name when it differs from name.")


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
    name: str = Field(pattern=_NAME_RE)
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


# -------------------------------------------------------------------------------------------------------- manifest
class Manifest(Strict):
    """An assay release manifest."""

    api_version: Literal["assay/v1"] = Field(alias="apiVersion")
    kind: Literal["Release"]
    release: ReleaseInfo
    sources: list[Source] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    claims: Claims = Field(default_factory=Claims)
    data: DataSection | None = None
    evals: list[EvalClaim] = Field(default_factory=list)
    recipes: list[Recipe] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistency(self) -> "Manifest":
        seen: set[str] = set()
        for art in self.artifacts:
            if art.path in seen:
                raise ValueError(f"artifact path {art.path!r} is listed twice")
            seen.add(art.path)
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("source names must be unique")
        for art in self.artifacts:
            if art.source is not None and art.source not in names:
                raise ValueError(f"artifact {art.path!r} names unknown source {art.source!r}")
        return self

    def artifact(self, path: str) -> Artifact | None:
        for art in self.artifacts:
            if art.path == path:
                return art
        return None


def json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://assay.dev/schema/manifest-v1.json"
    return schema
