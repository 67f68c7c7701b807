"""The normalised per-sample model: the on-disk format of assay's own evaluation logs.

Every importer (lm-eval, Inspect, VLMEvalKit, Eureka, Every Eval Ever) turns a harness log into a
:class:`NormalisedLog`; ``assay rerun`` writes its outputs as one; the statistics compare two of them sample by
sample.  The model is deliberately small and stable:

* :class:`Sample` — one scored item (one document × one filter × one repeat): id, input messages (images by
  sha256), the exact prompt when the harness fed raw text, target, raw output(s), extracted answer, per-sample
  scores, and content hashes of input and target.
* :class:`LogHeader` — who produced the log (harness, model, backend, decoding settings) and the aggregates the
  producer reported.
* :class:`Aggregate` — one reported or recomputed score: task, metric, filter, value, stderr, n.

On disk (``*.assay.jsonl``): the first line is the header (``{"format": "assay-eval-log/v1", …}``), every further
line one sample.  JSON Lines so that logs of millions of samples stream; UTF-8, no NaN.

Content hashes (:func:`content_sha256`) are sha256 of the canonical JSON (sorted keys, no whitespace, UTF-8,
``ensure_ascii=False``) of the value: ``input_sha256`` of ``{"input": messages, "prompt": prompt}`` and
``target_sha256`` of the target.  Two samples with the same ``(task, id, filter)`` are the same item only if their
``input_sha256`` agree — this is how a re-run is paired with a published log.  Harness-native hashes (lm-eval's
``doc_hash``/``prompt_hash``/``target_hash``) are kept in ``meta`` and checked by the importers.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

LOG_FORMAT: Final = "assay-eval-log/v1"
LOG_SUFFIX = ".assay.jsonl"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# ------------------------------------------------------------------------------------------------------- hashing
def canonical_json(value: Any) -> str:
    """The canonical JSON text that content hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------------------ messages
class ImageRef(_Model):
    """An image by content: the sha256 of its bytes (as stored, e.g. the PNG/JPEG file), never the bytes."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    media_type: str | None = Field(None, description="e.g. image/png")
    path: str | None = Field(None, description="Where the bytes can be found, relative to the log (optional).")


class ContentPart(_Model):
    type: Literal["text", "image"]
    text: str | None = None
    image: ImageRef | None = None

    @model_validator(mode="after")
    def _one(self) -> ContentPart:
        if self.type == "text" and (self.text is None or self.image is not None):
            raise ValueError("a text part has 'text' and no 'image'")
        if self.type == "image" and (self.image is None or self.text is not None):
            raise ValueError("an image part has 'image' and no 'text'")
        return self


class Message(_Model):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ContentPart]


# -------------------------------------------------------------------------------------------------------- sample
class Sample(_Model):
    """One scored item.  Field meanings are harness-neutral; see the module docstring."""

    id: str = Field(description="Item id within the task (lm-eval doc_id, Inspect sample id, VLMEvalKit index…).")
    task: str
    filter: str = Field(
        "none", description="Answer-extraction pipeline the answer and scores belong to (lm-eval filter)."
    )
    repeat: int = Field(0, ge=0, description="Repeat / epoch index, 0-based (Inspect epoch − 1).")
    input: list[Message] = Field(default_factory=list)
    prompt: str | None = Field(
        None,
        description="The exact text fed to a completion model (no chat template applied "
        "on re-run); None when the input messages are the prompt.",
    )
    target: JsonValue = Field(
        None,
        description="Gold answer: text, list of texts, choice index (int), list of "
        "indices, or a structure such as a bounding box.",
    )
    choices: list[str] | None = Field(None, description="Answer options as shown (multiple choice).")
    continuations: list[str] | None = Field(
        None,
        description="Exact strings whose log-likelihood was scored, one "
        "per choice (lm-eval's arg_1, target delimiter "
        "included).",
    )
    choice_logprobs: list[float] | None = Field(None, description="Log-likelihood of each continuation.")
    choice_greedy: list[bool] | None = Field(None, description="Whether each continuation was the greedy decode.")
    output: str | None = Field(None, description="Raw model output (the first when several were drawn).")
    outputs: list[str] | None = Field(
        None, description="All raw outputs when the harness drew several for this item in one record (lm-eval repeats)."
    )
    answer: JsonValue = Field(None, description="Extracted answer after the filter / parser (text, index, point…).")
    scores: dict[str, float | None] = Field(
        default_factory=dict, description="Per-sample metric values as logged (or as assay computed them)."
    )
    input_sha256: str = Field("", description="content_sha256({'input': input, 'prompt': prompt}); filled when empty.")
    target_sha256: str = Field("", description="content_sha256(target); filled when empty.")
    gen_kwargs: dict[str, JsonValue] | None = Field(None, description="Per-item generation settings as logged.")
    meta: dict[str, JsonValue] = Field(
        default_factory=dict, description="Harness-specific extras (native hashes, doc…)."
    )

    @model_validator(mode="after")
    def _hashes(self) -> Sample:
        if not self.input_sha256:
            self.input_sha256 = self.computed_input_sha256()
        if not self.target_sha256:
            self.target_sha256 = content_sha256(self.target)
        return self

    def computed_input_sha256(self) -> str:
        return content_sha256(
            {"input": [m.model_dump(mode="json", exclude_none=True) for m in self.input], "prompt": self.prompt}
        )

    def hash_errors(self) -> list[str]:
        """Stored content hashes that do not match the content (a tampered or hand-edited log)."""
        errs = []
        if self.input_sha256 != self.computed_input_sha256():
            errs.append("input_sha256")
        if self.target_sha256 != content_sha256(self.target):
            errs.append("target_sha256")
        return errs

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.task, self.filter, self.id, self.repeat)

    @classmethod
    def fast(cls, fields: dict[str, Any]) -> Sample:
        """Build without validation from a dict holding every field (importers' hot path; hashes must be set)."""
        return _fast(cls, fields)


def _fast(cls: type[BaseModel], fields: dict[str, Any]) -> Any:
    # what pydantic's model_construct does, minus its per-field default handling (all fields are given)
    m = cls.__new__(cls)
    object.__setattr__(m, "__dict__", fields)
    object.__setattr__(m, "__pydantic_fields_set__", set(fields))
    object.__setattr__(m, "__pydantic_extra__", None)
    object.__setattr__(m, "__pydantic_private__", None)
    return m


def fast_message(role: str, content: str) -> Message:
    return _fast(Message, {"role": role, "content": content})


class Aggregate(_Model):
    task: str
    metric: str
    filter: str = "none"
    value: float | None
    stderr: float | None = None
    n: int | None = None


class LogHeader(_Model):
    format: Literal["assay-eval-log/v1"] = LOG_FORMAT
    source_format: str = Field(
        "assay",
        description="'assay' for assay's own re-runs; else the harness format the "
        "log was converted from (lm-eval, inspect, vlmevalkit, eureka, eee).",
    )
    harness: str | None = Field(None, description="Producer, e.g. 'assay rerun', 'lm-eval', 'inspect_ai'.")
    harness_version: str | None = None
    model: str | None = None
    model_revision: str | None = Field(None, description="Commit / release digest of the weights.")
    backend: str | None = Field(None, description="transformers | openai | vllm … (re-runs).")
    decoding: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="temperature, top_p, max_new_tokens, seed, repeats, system_prompt, chat_template_sha256.",
    )
    created: str | None = Field(None, description="ISO 8601 time the log was written.")
    tasks: list[str] = Field(default_factory=list)
    aggregates: list[Aggregate] = Field(default_factory=list, description="Scores the producer reported.")
    config: dict[str, JsonValue] = Field(
        default_factory=dict, description="Run settings (batch size, device, dtype, harness task configs …)."
    )


class NormalisedLog(_Model):
    """A whole log in memory: header + samples (+ where it came from, for messages)."""

    header: LogHeader = Field(default_factory=LogHeader)
    samples: list[Sample] = Field(default_factory=list)
    source: str | None = Field(None, description="Path of the file or folder it was read from.")

    def tasks(self) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.header.tasks:
            seen.setdefault(t, None)
        for s in self.samples:
            seen.setdefault(s.task, None)
        return list(seen)

    def by_task(self, task: str, filter: str | None = None) -> list[Sample]:
        return [s for s in self.samples if s.task == task and (filter is None or s.filter == filter)]


# ------------------------------------------------------------------------------------------------------ file I/O
def write_log(path: str | Path, header: LogHeader, samples: Iterable[Sample]) -> str:
    """Write an assay log (JSON Lines, header first) atomically; return the file's sha256."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    h = hashlib.sha256()
    with open(tmp, "wb") as fh:
        for line in _lines(header, samples):
            data = line.encode("utf-8")
            h.update(data)
            fh.write(data)
    os.replace(tmp, path)
    return h.hexdigest()


def _lines(header: LogHeader, samples: Iterable[Sample]) -> Iterator[str]:
    yield header.model_dump_json(exclude_none=False) + "\n"
    for s in samples:
        yield s.model_dump_json() + "\n"


def iter_log(path: str | Path) -> tuple[LogHeader, Iterator[Sample]]:
    """Read the header now and the samples lazily (for logs that do not fit in memory)."""
    from ..manifests.errors import InputError

    path = Path(path)
    fh = open(path, "rb")  # noqa: SIM115 - stays open for the lazy sample generator below, which closes it
    first = fh.readline()
    try:
        header = LogHeader.model_validate_json(first)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError (bad JSON too)
        fh.close()
        raise InputError(f"{path}:1: not an assay eval log header ({_first_error(exc)})") from None

    def gen() -> Iterator[Sample]:
        with fh:
            for lineno, line in enumerate(fh, 2):
                if not line.strip():
                    continue
                try:
                    yield Sample.model_validate_json(line)
                except ValueError as exc:
                    raise InputError(f"{path}:{lineno}: bad sample ({_first_error(exc)})") from None

    return header, gen()


def read_log(path: str | Path) -> NormalisedLog:
    header, samples = iter_log(path)
    return NormalisedLog(header=header, samples=list(samples), source=str(path))


def is_assay_log(path: str | Path) -> bool:
    try:
        with open(path, "rb") as fh:
            first = fh.read(256)
    except OSError:
        return False
    return first.lstrip().startswith(b'{"format":"assay-eval-log/') or b'"format":"assay-eval-log/' in first


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            e = found[0]
            loc = ".".join(str(p) for p in e.get("loc", ()))
            return f"{loc}: {e.get('msg')}" if loc else str(e.get("msg"))
    return str(exc).splitlines()[0]


def read_json(path: Path) -> Any:
    """A JSON file; InputError (with line and column) when it is not valid JSON or not text."""
    from ..manifests.errors import InputError

    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:  # a binary file (e.g. an Inspect .eval archive read with --format eee)
        raise InputError(f"{path}: not a JSON text file") from None
