"""The release manifest, schema v1 (``apiVersion: assay/v1``, ``kind: Release``).

The pydantic models *are* the schema: ``assay schema`` prints ``Manifest.model_json_schema()``.  Every model forbids
unknown keys, so a misspelt key is an error that names its line and column (see :mod:`assay.manifests.loader`).

Sections:
  release    who published what (name, version, publisher, license, homepage, model card, paper, base model)
  sources    where the bytes come from (hf://, oci://, dir://)
  artifacts  every file of the release: path, role, size, sha256
  claims     structural claims checked from the weights: parameters, tensors, dtypes, architecture
  data       the training mixture (checked by ``assay data check``)
  decodings  named decoding settings (the shipped generation_config, a README's greedy examples) evals refer to
  evals      published evaluation logs and scores (checked by ``assay rescore`` / ``assay rerun``)
  recipes    steps that rebuild derived artifacts (run by ``assay rebuild``)
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .schema_base import API_VERSION, NAME_RE, SHA256_RE, Count, RelPath, Strict, parse_count  # noqa: F401
from .schema_data import DataComponent, DataSection, Recipe  # noqa: F401
from .schema_evals import Decoding, EvalClaim
from .uris import parse_source_uri


# --------------------------------------------------------------------------------------------------------- release
class Paper(Strict):
    """The paper or technical report the release cites."""

    title: str | None = Field(None, min_length=1)
    url: str | None = Field(None, pattern=r"^https?://\S+$")
    id: str | None = Field(None, min_length=1, description="A stable identifier, e.g. 'arXiv:2603.03975' or a DOI.")
    note: str | None = Field(
        None,
        description="What the release says about its paper that does not agree, e.g. a "
        "BibTeX entry citing another id or title.",
    )

    @model_validator(mode="after")
    def _something(self) -> Paper:
        if self.title is None and self.url is None and self.id is None:
            raise ValueError("a paper needs at least one of title, url or id")
        return self


def _base_model(value: str) -> str:
    if "://" in value:  # a source URI must parse; a plain name ("org/model") is kept as written
        parse_source_uri(value)
    return value


class ReleaseInfo(Strict):
    name: str = Field(pattern=NAME_RE, description="Release name; also the stem of the lock file.")
    version: str = Field(min_length=1)
    publisher: str | None = None
    license: str | None = Field(None, description="SPDX identifier or licence name.")
    homepage: str | None = Field(None, pattern=r"^https?://\S+$")
    model_card: RelPath | None = Field(None, description="Path of the model card artifact, e.g. README.md.")
    description: str | None = None
    paper: Paper | None = None
    base_model: str | None = Field(
        None,
        min_length=1,
        description="The model this release was trained from: a source URI "
        "(hf://org/repo@revision) or a name as the publisher gives it.",
    )

    @field_validator("base_model")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        return None if v is None else _base_model(v)


class Source(Strict):
    name: str = Field("default", pattern=NAME_RE)
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
    blake3: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="Optional extra digest, never instead of sha256."
    )
    source: str | None = Field(None, description="Name of the source this file comes from (default: the first).")


# ---------------------------------------------------------------------------------------------------------- claims
class ParameterClaim(Strict):
    total: Count | None = Field(None, description="Total parameter count (int or e.g. '15B').")
    tolerance: float = Field(0.0, ge=0, le=1, description="Relative tolerance on total, e.g. 0.05 for a rounded '15B'.")
    by_dtype: dict[str, Count] | None = None


AttestableClaim = Literal["parameters.total", "parameters.by_dtype", "tensors", "dtypes", "architecture"]


class Claims(Strict):
    parameters: ParameterClaim | None = None
    tensors: int | None = Field(None, ge=0, description="Number of tensors across all safetensors weight files.")
    dtypes: list[str] | None = Field(None, description="Exact set of safetensors dtypes, e.g. [BF16].")
    architecture: str | None = Field(
        None, description="config.json architectures[0], e.g. LlavaForConditionalGeneration."
    )
    remote_code: list[RelPath] | None = Field(
        None,
        description="Code files the config asks to execute (auto_map / trust_remote_code); each must be an artifact.",
    )
    attested_only: list[AttestableClaim] = Field(
        default_factory=list,
        description="Claims declared attested only: when the release gives nothing to measure them from (e.g. pickle "
        "weights, which are never unpickled) they are reported 'attested' instead of failing as "
        "unverifiable. A claim that can be measured is always measured.",
    )


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
    # None, not an empty map, when absent: manifests written by `assay init` and other dumps stay as they were.
    decodings: dict[str, Decoding] | None = Field(
        None,
        description="Named decoding settings, each with its source (e.g. shipped: the generation_config.json; "
        "examples-greedy: the README's do_sample=False); an eval's `decoding:` may name one.",
    )
    evals: list[EvalClaim] = Field(default_factory=list)
    recipes: list[Recipe] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistency(self) -> Manifest:
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
        self._resolve_decodings()
        return self

    def _resolve_decodings(self) -> None:
        """Name each entry of ``decodings`` after its key and replace an eval's ``decoding: <name>`` by that entry."""
        decodings = self.decodings or {}
        for key, entry in decodings.items():
            if not re.fullmatch(NAME_RE, key):
                raise ValueError(f"decodings: {key!r} is not a simple name")
            if entry.name is not None and entry.name != key:
                raise ValueError(f"decodings.{key} says its name is {entry.name!r}")
            entry.name = key
        for ev in self.evals:
            ev.decoding = self._named_decoding(ev.decoding, f"eval {ev.name!r}", decodings)
            if ev.run is not None:
                ev.run.decoding = self._named_decoding(ev.run.decoding, f"eval {ev.name!r}: run", decodings)

    @staticmethod
    def _named_decoding(ref: Decoding | None, where: str, decodings: dict[str, Decoding]) -> Decoding | None:
        """Inline settings as they are; a name replaced by its entry (an unknown name is an error)."""
        if ref is None or ref.name is None:
            return ref
        named = decodings.get(ref.name)
        if named is None:
            known = ", ".join(sorted(decodings)) or "none are declared"
            raise ValueError(f"{where}: decoding {ref.name!r} is not in decodings ({known})")
        # A name alone refers to the entry; settings written beside it (a dumped manifest) must be the entry's.
        if ref.model_fields_set - {"name"} and ref.settings() != named.settings():
            raise ValueError(
                f"{where}: its decoding settings differ from decodings.{ref.name}; name the entry "
                "alone, or give the settings inline without its name"
            )
        return named

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
