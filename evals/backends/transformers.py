"""In-process generation with transformers: text (``AutoModelForCausalLM`` + ``AutoTokenizer``) and image-text-to-text
(``AutoModelForImageTextToText`` + ``AutoProcessor``) models, batched with left padding.

* Device: ``auto`` picks CUDA when available, else CPU.  Dtype: bf16 on GPU (fp16 where the GPU lacks bf16), fp32 on
  CPU, unless given.
* Prompts: chat ``messages`` go through ``apply_chat_template(..., add_generation_prompt=True, tokenize=True)`` exactly
  as transformers (and ``transformers serve``) does: a tokenizer never adds special tokens to a rendered template, a
  processor adds them unless the rendered prompt starts with BOS.  Text-only models get each message's text parts
  joined by a space (as ``transformers serve`` does); image-text models get content parts with PIL images.  A raw
  ``prompt`` is tokenized with the tokenizer's special tokens (BOS) unless it already starts with BOS or the request
  says ``add_special_tokens`` (the rule of lm-evaluation-harness 0.4's hf backend and its ``add_bos_token``).
* Batching: requests are grouped by decoding settings, ordered longest first (by content length, so padding stays
  small and an out-of-memory error shows on the first batch; ties by request id, so the batches do not depend on
  the order the requests came in), cut into ``batch_size`` batches and left padded.
  Results come back in request order.  Greedy outputs of the same requests with the same batch size are
  reproducible; like every batched engine, a different batch composition can change a near-tie (see
  ``batch_size=1`` for batch-invariant greedy runs).
* Sampling: each batch's torch generator is seeded from (request seed, the batch's request ids), so a batch's
  samples do not depend on which batches ran before it.  Unpinned settings (top_k, repetition penalty, …) are the
  model's own ``generation_config``; :meth:`describe` records them.
* ``trust_remote_code`` is passed through only when the caller sets it; :func:`assay.evals.rerun.rerun` sets it only
  after the release's code files verified (see there).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from . import BackendError, GenRequest, GenResult, Sampling, cut_at_stop


def resolve_device(device: str | None) -> str:
    """``auto`` → ``cuda`` when available (else ``mps``, else ``cpu``); anything else is checked and returned."""
    import torch

    dev = (device or "auto").strip().lower()
    if dev == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise BackendError(f"--device {device}: CUDA is not available on this machine")
    try:
        torch.device(dev)
    except (RuntimeError, ValueError) as exc:
        raise BackendError(f"--device {device}: {exc}") from None
    return dev


def resolve_dtype(dtype: str | None, device: str):
    """bf16 on GPU (fp16 if the GPU has no bf16), fp32 on CPU; or the named dtype."""
    import torch

    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if dtype and dtype != "auto":
        if dtype not in names:
            raise BackendError(f"--dtype {dtype}: expected one of float32, bfloat16, float16")
        return names[dtype]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def is_image_text_config(config) -> bool:
    """Whether a config is for an image-text-to-text model (Auto mapping, or remote code that says so)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    auto_map = getattr(config, "auto_map", None) or {}
    if "AutoModelForImageTextToText" in auto_map:
        return True
    if "AutoModelForCausalLM" in auto_map:
        return False
    return getattr(config, "model_type", None) in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def _batch_seed(seed: int, ids: Sequence[str]) -> int:
    h = hashlib.sha256(f"assay-rerun-seed-v1\n{seed}\n".encode() + "\n".join(ids).encode("utf-8"))
    return int.from_bytes(h.digest()[:8], "little") & ((1 << 63) - 1)


class TransformersBackend:
    """Generate with a loaded model.  Build with :meth:`from_pretrained` (a folder) or pass a model and its
    tokenizer/processor (e.g. a randomly initialised model built from a config, as the GPU benchmark does)."""

    name = "transformers"

    def __init__(
        self,
        model,
        processor,
        *,
        batch_size: int = 8,
        sort_by_length: bool = True,
        model_path: str | None = None,
        dtype_rule: str | None = None,
    ) -> None:
        from transformers import PreTrainedTokenizerBase

        if batch_size < 1:
            raise BackendError("batch size must be at least 1")
        self.model = model.eval()
        self.processor = processor
        self.image_text = not isinstance(processor, PreTrainedTokenizerBase)
        tokenizer = processor if not self.image_text else getattr(processor, "tokenizer", None)
        if not isinstance(tokenizer, PreTrainedTokenizerBase):
            raise BackendError(f"{type(processor).__name__} has no tokenizer")
        self.tokenizer: PreTrainedTokenizerBase = tokenizer
        self.tokenizer.padding_side = "left"
        gen_cfg = model.generation_config
        eos = gen_cfg.eos_token_id if gen_cfg.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = set([eos] if isinstance(eos, int) else (eos or []))
        pad = gen_cfg.pad_token_id if gen_cfg.pad_token_id is not None else self.tokenizer.pad_token_id
        if pad is None:
            pad = next(iter(sorted(self.eos_ids)), 0)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token_id = pad
        self.pad_id = pad
        self.batch_size = batch_size
        self.sort_by_length = sort_by_length
        self.model_path = model_path
        self.dtype_rule = dtype_rule

    # ------------------------------------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        path: str,
        *,
        device: str = "auto",
        dtype: str | None = None,
        batch_size: int = 8,
        trust_remote_code: bool = False,
        verified_code: Sequence[str] | None = None,
        attn_implementation: str | None = None,
        sort_by_length: bool = True,
    ) -> TransformersBackend:
        """Load a model folder.  ``trust_remote_code`` also needs ``verified_code``: the code files that
        :func:`assay.evals.rerun.check_remote_code` verified (so no caller can skip the verification by accident)."""
        import sys

        import torch  # noqa: F401
        from transformers import (
            AutoConfig,
            AutoModelForCausalLM,
            AutoModelForImageTextToText,
            AutoProcessor,
            AutoTokenizer,
        )
        from transformers.utils import logging as hf_logging

        if trust_remote_code and verified_code is None:
            raise BackendError(
                "trust_remote_code needs the release's code files verified first (assay.evals.rerun.check_remote_code)"
            )
        dev = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, dev)
        if not sys.stderr.isatty():
            hf_logging.disable_progress_bar()  # no "Loading weights" bars in CI logs
        kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        try:
            config = AutoConfig.from_pretrained(path, **kw)
            image_text = is_image_text_config(config)
            model_cls = AutoModelForImageTextToText if image_text else AutoModelForCausalLM
            mkw = dict(kw, dtype=torch_dtype)
            if attn_implementation:
                mkw["attn_implementation"] = attn_implementation
            # Any: the two Auto classes return unrelated model types, and PreTrainedModel.to is wrapped by a decorator
            # whose stub only accepts another model; the backend only calls generate/to/eval on it.
            model: Any = model_cls.from_pretrained(path, **mkw)
            if image_text:
                processor = AutoProcessor.from_pretrained(path, **kw)
            else:
                processor = AutoTokenizer.from_pretrained(path, **kw)
        except (OSError, ValueError, KeyError) as exc:
            raise BackendError(f"cannot load {path} with transformers: {str(exc).splitlines()[0]}") from None
        model.to(dev)
        return cls(
            model,
            processor,
            batch_size=batch_size,
            sort_by_length=sort_by_length,
            model_path=str(path),
            dtype_rule=str(torch_dtype).replace("torch.", ""),
        )

    # ------------------------------------------------------------------------------------------------ generate
    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        cfg = self.model.generation_config
        return {
            "backend": self.name,
            "model": self.model_path,
            "architecture": type(self.model).__name__,
            "kind": "image-text-to-text" if self.image_text else "text",
            "device": str(self.model.device),
            "dtype": str(self.model.dtype).replace("torch.", ""),
            "batch_size": self.batch_size,
            "padding_side": "left",
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "unpinned_generation_config": {
                k: getattr(cfg, k, None)
                for k in ("top_k", "repetition_penalty", "min_p", "typical_p", "no_repeat_ngram_size")
            },
        }

    def close(self) -> None:
        self.model = None  # let the caller's gc free it

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        if not self.image_text:
            for r in requests:
                if r.images:
                    raise BackendError(
                        f"request {r.id!r} has images but {type(self.model).__name__} is a text-only model"
                    )
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.sampling, r.prompt is None, self._special(r)), []).append(i)
        results: list[GenResult | None] = [None] * len(requests)
        for (sampling, _chat, _special), idx in groups.items():
            if self.sort_by_length:
                # longest first; ties by id, so batches do not depend on the order requests came in
                idx = sorted(idx, key=lambda i: (-_content_length(requests[i]), requests[i].id))
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start : start + self.batch_size]
                for i, res in zip(chunk, self._run_batch([requests[i] for i in chunk], sampling), strict=True):
                    results[i] = res
        return [r for r in results if r is not None]

    def _special(self, r: GenRequest) -> bool:
        """Whether a raw prompt gets the tokenizer's special tokens: as asked, else yes unless it starts with BOS."""
        if r.prompt is None:
            return False
        if r.add_special_tokens is not None:
            return r.add_special_tokens
        bos = self.tokenizer.bos_token
        return not (bos and r.prompt.startswith(bos))

    def encode(self, batch: Sequence[GenRequest]):
        """The left-padded model inputs of one batch (all chat, or all raw prompts with one special-token rule)."""
        if batch[0].prompt is not None:
            texts = [r.prompt for r in batch]
            special = self._special(batch[0])
            if self.image_text:
                return self.processor(text=texts, padding=True, return_tensors="pt", add_special_tokens=special)
            return self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=special)
        convs = [[self._message(m) for m in r.messages] for r in batch]
        if self.image_text:
            return self.processor.apply_chat_template(
                convs,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
                processor_kwargs={"padding": True},
            )
        return self.tokenizer.apply_chat_template(
            convs, add_generation_prompt=True, tokenize=True, return_dict=True, padding=True, return_tensors="pt"
        )

    def _message(self, m) -> dict[str, Any]:
        if not self.image_text:
            return {"role": m.role, "content": m.text}
        content = []
        for p in m.parts:
            if p.type == "image":
                content.append({"type": "image", "image": p.image.to_pil()})
            else:
                content.append({"type": "text", "text": p.text or ""})
        return {"role": m.role, "content": content}

    def _run_batch(self, batch: list[GenRequest], sampling: Sampling) -> list[GenResult]:
        import torch

        t0 = time.perf_counter()
        inputs = self.encode(batch).to(self.model.device)
        gen_kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "pad_token_id": self.pad_id}
        if sampling.greedy:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            gen_kwargs.update(do_sample=True, temperature=sampling.temperature)
            if sampling.top_p is not None:
                gen_kwargs["top_p"] = sampling.top_p
            if sampling.top_k is not None:
                gen_kwargs["top_k"] = sampling.top_k
            if sampling.seed is not None:
                torch.manual_seed(_batch_seed(sampling.seed, [r.id for r in batch]))
        if sampling.stop:
            gen_kwargs["stopping_criteria"] = _stop_criteria(
                self.tokenizer, sampling.stop, inputs["input_ids"].shape[1]
            )
        if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **gen_kwargs)
        prompt_len = inputs["input_ids"].shape[1]
        new = out[:, prompt_len:].tolist()
        mask = inputs.get("attention_mask")
        prompt_tokens = mask.sum(dim=1).tolist() if mask is not None else [prompt_len] * len(batch)
        elapsed = time.perf_counter() - t0
        results = []
        for r, ids, n_prompt in zip(batch, new, prompt_tokens, strict=True):  # one row per request
            cut = next((k for k, t in enumerate(ids) if t in self.eos_ids), None)
            if cut is not None:
                kept, finish, n = ids[:cut], "stop", cut + 1
            else:
                kept, finish, n = ids, "length", len(ids)
            decoded = self.tokenizer.decode(kept, skip_special_tokens=True)
            if not isinstance(decoded, str):  # one row of ids decodes to one string (the stub allows a batch's list)
                raise BackendError(f"request {r.id!r}: the tokenizer decoded one row to {type(decoded).__name__}")
            text = decoded
            if sampling.stop:
                text, stopped = cut_at_stop(text, sampling.stop)
                finish = "stop" if stopped else finish
            results.append(
                GenResult(
                    id=r.id,
                    text=text,
                    finish_reason=finish,
                    prompt_tokens=int(n_prompt),
                    completion_tokens=n,
                    latency_s=round(elapsed, 6),
                )
            )
        return results


def _stop_criteria(tokenizer, stop: Sequence[str], prompt_len: int):
    """Stop a row once its decoded continuation contains a stop string.

    transformers' own ``stop_strings`` needs a tokenizer whose vocabulary it can "clean" (it fails on word-level
    vocabularies); decoding the tail of each row works with any tokenizer.  Only the last ``2·len + 8`` tokens are
    decoded per step, enough for the longest stop string even with byte-level pieces.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    window = 2 * max(len(s) for s in stop) + 8

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            done = []
            for row in input_ids[:, prompt_len:].tolist():
                text = tokenizer.decode(row[-window:], skip_special_tokens=True)
                done.append(any(s and s in text for s in stop))
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Stop()])


def _content_length(r: GenRequest) -> int:
    if r.prompt is not None:
        return len(r.prompt)
    return sum(len(p.text or "") + (1000 if p.type == "image" else 0) for m in r.messages for p in m.parts)
