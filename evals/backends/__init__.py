"""Generation backends for ``assay rerun``: one protocol, two implementations (and a fleet of the second).

* :mod:`assay.evals.backends.transformers` runs the release in-process with transformers' Auto classes (text and
  image-text-to-text models, batched with left padding, bf16 on GPU / fp32 on CPU).
* :mod:`assay.evals.backends.openai` speaks the OpenAI-compatible HTTP API of a server (vLLM, SGLang, TGI,
  ``transformers serve``): concurrent requests, retries with backoff, timeouts, images as data URLs;
  :mod:`assay.evals.backends.fleet` spreads one re-run over several such endpoints (retries elsewhere, endpoints
  marked down and re-probed, the answering endpoint recorded per item).

A backend turns :class:`GenRequest` s into :class:`GenResult` s, one result per request, in request order.  Requests
carry their own decoding settings (:class:`Sampling`), so one call may mix greedy and sampled requests.

This module is light (dataclasses only): the CLI may import it at start-up.  torch/transformers are imported only by
:mod:`.transformers`, HTTP clients only by :mod:`.openai`.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from ...manifests.errors import AssayError, InputError

Role = Literal["system", "user", "assistant"]


class BackendError(AssayError):
    """A backend could not be set up or a request failed for good (after its retries)."""

    exit_code = 2


@dataclass(frozen=True)
class Image:
    """An image given by its bytes; ``sha256`` is the reference logs use (``sha256(data)``)."""

    data: bytes
    mime: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def media_type(self) -> str:
        return self.mime or sniff_image_type(self.data)

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    def to_pil(self):
        import io

        from ...manifests.errors import require_extra

        # pillow is in the rerun extra, not the core install
        pil_image = require_extra("PIL.Image", "rerun", "decoding an image for the model")

        img = pil_image.open(io.BytesIO(self.data))
        img.load()
        return img


def sniff_image_type(data: bytes) -> str:
    """The media type of image bytes from their magic number (PNG, JPEG, GIF, WebP, BMP, TIFF)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"BM"):
        return "image/bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return "application/octet-stream"


@dataclass(frozen=True)
class Part:
    """One piece of a message's content: text, or an image."""

    type: Literal["text", "image"]
    text: str | None = None
    image: Image | None = None


@dataclass(frozen=True)
class Message:
    role: Role
    content: str | tuple[Part, ...]

    @property
    def parts(self) -> tuple[Part, ...]:
        return (Part("text", text=self.content),) if isinstance(self.content, str) else self.content

    @property
    def images(self) -> list[Image]:
        return [p.image for p in self.parts if p.type == "image" and p.image is not None]

    @property
    def text(self) -> str:
        """The text parts joined by a space (how ``transformers serve`` flattens content for text-only models)."""
        if isinstance(self.content, str):
            return self.content
        return " ".join(p.text or "" for p in self.parts if p.type == "text")


@dataclass(frozen=True)
class Sampling:
    """Decoding settings of one request.  ``temperature`` 0 (or None) is greedy; ``seed`` seeds sampled decoding;
    the output is cut before the first of the ``stop`` strings (as lm-evaluation-harness's ``until``)."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return not self.temperature


@dataclass(frozen=True)
class GenRequest:
    """One generation: chat ``messages`` (rendered with the model's chat template) or a raw ``prompt``."""

    id: str
    messages: tuple[Message, ...] = ()
    prompt: str | None = None
    sampling: Sampling = field(default_factory=Sampling)
    # raw prompts only: whether the tokenizer adds its special tokens (BOS).  None: yes, unless the prompt already
    # starts with BOS (lm-evaluation-harness 0.4's hf rule; vLLM and transformers serve add them).
    add_special_tokens: bool | None = None

    def __post_init__(self) -> None:
        if (self.prompt is None) == (not self.messages):
            raise ValueError(f"request {self.id!r}: give exactly one of messages or prompt")

    @property
    def images(self) -> list[Image]:
        return [img for m in self.messages for img in m.images]


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to (not including) the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


@dataclass
class GenResult:
    id: str
    text: str | None
    finish_reason: str | None = None  # "stop" (end of sequence / stop string), "length" (max_new_tokens)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None  # set when the request failed for good; text is then None
    attempts: int = 1
    latency_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Backend(Protocol):
    """``generate`` returns one result per request, in request order.  ``describe`` says what ran (for the log)."""

    name: str

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def base_url_list(base_url: str | Sequence[str] | None, file: str | os.PathLike | None = None) -> list[str]:
    """The endpoints of ``--base-url`` (one string or a list of them, in order) followed by those of a
    ``--base-urls`` file: one URL a line, blank lines and ``#`` comments (whole-line or trailing) ignored."""
    urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--base-urls {file}: {getattr(exc, 'strerror', None) or exc}") from None
        listed = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        listed = [u for u in listed if u]
        if not listed:
            raise InputError(f"--base-urls {file}: no URL in it (one a line, # comments)")
        urls += listed
    return [u.strip() for u in urls if u and u.strip()]


def make_backend(
    kind: str,
    *,
    model: str | None = None,
    base_url: str | Sequence[str] | None = None,
    device: str = "auto",
    dtype: str | None = None,
    batch_size: int = 8,
    trust_remote_code: bool = False,
    verified_code: Sequence[str] | None = None,
    concurrency: int = 8,
    timeout: float = 600.0,
    retries: int = 4,
) -> Backend:
    """Build a backend by name: ``transformers`` (``model`` is a local folder) or ``openai`` (``base_url``: one
    endpoint, or several, which make a :class:`~assay.evals.backends.fleet.FleetBackend`; ``concurrency`` is per
    endpoint)."""
    if kind == "transformers":
        if not model:
            raise BackendError("the transformers backend needs a local model folder")
        from ...manifests.errors import require_extra

        for module in ("torch", "transformers"):  # the rerun extra (not in the core install)
            require_extra(module, "rerun", "the transformers backend")
        from .transformers import TransformersBackend

        return TransformersBackend.from_pretrained(
            model,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            trust_remote_code=trust_remote_code,
            verified_code=verified_code,
        )
    if kind == "openai":
        urls = base_url_list(base_url)
        if not urls:
            raise BackendError("the openai backend needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        if len(urls) > 1:
            from .fleet import FleetBackend

            return FleetBackend(urls, model=model, concurrency=concurrency, timeout=timeout, retries=retries)
        from .openai import OpenAIBackend

        return OpenAIBackend(urls[0], model=model, concurrency=concurrency, timeout=timeout, retries=retries)
    raise BackendError(f"unknown backend {kind!r} (expected transformers or openai)")
