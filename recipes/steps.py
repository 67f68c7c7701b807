"""The built-in, deterministic rebuild steps.  Each is ``step(inputs, outputs, params)`` on paths in the work dir.

Inputs and outputs come in the recipe's order.  A *checkpoint* input is a ``.safetensors`` file or a
``*.index.json`` whose shards are further inputs of the same recipe (so their hashes are checked too).

=====================  =====================================================  ==================================
step                   inputs                                                 params
=====================  =====================================================  ==================================
cast                   checkpoint                                             dtype: bf16|f16|f32 (floats only)
reshard                checkpoint                                             max_shard_size (bytes)
merge-shards           index (+ shards)                                       -
lora-merge             base checkpoint, then the PEFT adapter (last)           alpha, r (scale = alpha / r)
quantize-int8          checkpoint                                             min_numel (default 0)
pickle-to-safetensors  a pickle checkpoint (.bin/.pt/.pth/.ckpt)              -
tokenizer-build        JSONL/Parquet data files                               model: wordlevel|bpe, vocab_size, …
train                  tokenizer.json, then JSONL/Parquet data files          seed, steps, lr, dim, context, batch
=====================  =====================================================  ==================================

Element-wise steps (cast, merges, resharding, int8 quantisation with a fixed rounding rule) give the same bytes for the
same input bytes on any thread count; a LoRA merge is one small matmul per target (bit-identical across 1–2 threads on
torch 2.13 CPU, per the field notes).  Training is not bit-reproducible across thread counts or ISA paths: declare it
in the tolerance tier.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .tensors import (
    Checkpoint,
    StepError,
    load_checkpoint,
    save_file,
    save_like,
    save_sharded,
)

DTYPES = {
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "f16": "float16",
    "fp16": "float16",
    "float16": "float16",
    "f32": "float32",
    "fp32": "float32",
    "float32": "float32",
}


def _need(inputs: list[Path], n: int, step: str) -> None:
    if len(inputs) < n:
        raise StepError(f"{step} needs at least {n} input(s), got {len(inputs)}")


def cast(inputs: list[Path], outputs: list[Path], params: dict[str, Any]) -> None:
    import torch

    _need(inputs, 1, "cast")
    name = DTYPES.get(str(params.get("dtype", "")).lower())
    if name is None:
        raise StepError(f"cast: params.dtype must be one of {', '.join(sorted(DTYPES))}")
    dtype = getattr(torch, name)
    ck = load_checkpoint(inputs[0])
    out = {k: (t.to(dtype) if t.is_floating_point() else t) for k, t in ck.tensors.items()}
    save_like(out, outputs, ck)


def reshard(inputs: list[Path], outputs: list[Path], params: dict[str, Any]) -> None:
    _need(inputs, 1, "reshard")
    limit = params.get("max_shard_size")
    if not isinstance(limit, int) or limit <= 0:
        raise StepError("reshard: params.max_shard_size must be a positive number of bytes")
    if len(outputs) < 2 or not outputs[0].name.endswith(".json"):
        raise StepError("reshard: outputs are the index.json, then the shards in order")
    ck = load_checkpoint(inputs[0])
    layout: dict[str, int] = {}
    shard, used = 0, 0
    for name, t in ck.tensors.items():  # sorted names, greedy: a new shard when the next tensor would overflow
        size = t.numel() * t.element_size()
        if used and used + size > limit:
            shard, used = shard + 1, 0
        layout[name] = shard
        used += size
    if shard + 1 != len(outputs) - 1:
        raise StepError(
            f"reshard: max_shard_size {limit} gives {shard + 1} shards, the recipe declares {len(outputs) - 1}"
        )
    save_sharded(ck.tensors, outputs[0], outputs[1:], layout)


def merge_shards(inputs: list[Path], outputs: list[Path], params: dict[str, Any]) -> None:
    _need(inputs, 1, "merge-shards")
    if not inputs[0].name.endswith(".json"):
        raise StepError("merge-shards: the first input is the shard index")
    if len(outputs) != 1:
        raise StepError("merge-shards: one output .safetensors file")
    save_file(load_checkpoint(inputs[0]).tensors, outputs[0])


def lora_merge(inputs: list[Path], outputs: list[Path], params: dict[str, Any]) -> None:
    """W' = W + (alpha / r) * B @ A for every PEFT pair ``base_model.model.<m>.lora_{A,B}.weight`` -> ``<m>.weight``."""
    import torch
    from safetensors.torch import load_file

    _need(inputs, 2, "lora-merge")
    alpha, r = params.get("alpha"), params.get("r")
    if not isinstance(alpha, (int, float)) or not isinstance(r, int) or r <= 0:
        raise StepError("lora-merge: params.alpha (number) and params.r (positive int) are required")
    scale = float(alpha) / r
    ck = load_checkpoint(inputs[0])
    adapter = load_file(inputs[-1])
    merged = dict(ck.tensors)
    targets = sorted({k[: -len(".lora_A.weight")] for k in adapter if k.endswith(".lora_A.weight")})
    if not targets:
        raise StepError(f"{inputs[-1].name} (the last input): no lora_A/lora_B pairs")
    for t in targets:
        module = t.removeprefix("base_model.model.")
        name = f"{module}.weight"
        b = adapter.get(f"{t}.lora_B.weight")
        if name not in merged or b is None:
            raise StepError(f"lora-merge: {t} has no base tensor {name} or no lora_B")
        w = merged[name]
        delta = (b.to(torch.float32) @ adapter[f"{t}.lora_A.weight"].to(torch.float32)) * scale
        if delta.shape != w.shape:
            raise StepError(f"lora-merge: {name} is {tuple(w.shape)}, B@A is {tuple(delta.shape)}")
        merged[name] = (w.to(torch.float32) + delta).to(w.dtype)
    save_like(merged, outputs, ck)


def quantize_int8(inputs: list[Path], outputs: list[Path], params: dict[str, Any]) -> None:
    """Symmetric per-row int8: scale = max|row| / 127 (F32), q = round-half-even(w / scale) clamped to ±127.

    Every 2-D floating tensor with at least ``min_numel`` elements becomes ``<name>`` (I8) plus ``<name>_scale``.
    """
    import torch

    _need(inputs, 1, "quantize-int8")
    min_numel = int(params.get("min_numel", 0))
    ck = load_checkpoint(inputs[0])
    out: dict[str, Any] = {}
    layout = dict(ck.layout)
    for name, t in ck.tensors.items():
        if t.is_floating_point() and t.dim() == 2 and t.numel() >= min_numel:
            w = t.to(torch.float32)
            scale = w.abs().amax(dim=1, keepdim=True) / 127.0
            scale = torch.where(scale == 0, torch.ones_like(scale), scale)
            out[name] = torch.round(w / scale).clamp_(-127, 127).to(torch.int8)
            scale_name = f"{name}_scale"
            if scale_name in ck.tensors:
                raise StepError(f"quantize-int8: {scale_name} already exists")
            out[scale_name] = scale.squeeze(1).contiguous()
            if name in layout:
                layout[scale_name] = layout[name]
        else:
            out[name] = t
    save_like(dict(sorted(out.items())), outputs, ck, layout)


def pickle_to_safetensors(inputs: list[Path], outputs: list[Path], params: dict[str, Any]) -> None:
    """Scan the pickle first (refusing dangerous globals), then load with ``torch.load(weights_only=True)`` only."""
    import torch

    from ..verify.pickle_scan import scan_pickle_file

    _need(inputs, 1, "pickle-to-safetensors")
    report = scan_pickle_file(inputs[0])
    if not report.ok:
        raise StepError(f"{inputs[0].name}: refused by the pickle scan: {'; '.join(report.dangerous + report.errors)}")
    try:
        obj = torch.load(inputs[0], map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- weights_only refuses anything but tensors and plain containers
        raise StepError(f"{inputs[0].name}: torch.load(weights_only=True) refused it: {exc}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise StepError(f"{inputs[0].name}: not a flat state dict of tensors")
    seen: dict[tuple[int, int], str] = {}
    tensors = {}
    for k in sorted(obj):  # shared storage (tied weights) cannot be saved as is: clone each later alias
        t = obj[k]
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        tensors[k] = t.clone() if key in seen else t
        seen.setdefault(key, k)
    if len(outputs) != 1:
        raise StepError("pickle-to-safetensors: one output .safetensors file")
    save_file(tensors, outputs[0])


def _texts(paths: list[Path], text_field: str | None = None):
    from ..mixtures.records import RecordError, detect_format, extract, iter_records

    for p in paths:
        for where, rec in iter_records(p, detect_format(p.name), text_field):
            if isinstance(rec, RecordError):
                raise StepError(f"{p.name} {where}: {rec}")
            text, _ = extract(rec, text_field)
            if text:
                yield text


def tokenizer_build(inputs: list[Path], outputs: list[Path], params: dict[str, Any]) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    _need(inputs, 1, "tokenizer-build")
    kind = params.get("model", "wordlevel")
    specials = list(params.get("special_tokens", ["<unk>", "<s>", "</s>", "<pad>"]))
    vocab_size = int(params.get("vocab_size", 1000))
    min_frequency = int(params.get("min_frequency", 1))
    trainer: trainers.Trainer
    if kind == "wordlevel":
        tok = Tokenizer(models.WordLevel(unk_token=specials[0]))
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials)
    elif kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=specials[0]))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials, show_progress=False
        )
    else:
        raise StepError("tokenizer-build: params.model is wordlevel or bpe")
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(_texts(inputs, params.get("text_field")), trainer=trainer)
    if len(outputs) != 1:
        raise StepError("tokenizer-build: one output tokenizer.json")
    outputs[0].parent.mkdir(parents=True, exist_ok=True)
    outputs[0].write_text(tok.to_str(pretty=True) + "\n")


def train(inputs: list[Path], outputs: list[Path], params: dict[str, Any]) -> None:
    """A seeded tiny next-token model (embedding -> linear) trained with SGD on the data, batches drawn by a seeded
    generator from the token stream in file order."""
    import torch
    from tokenizers import Tokenizer

    _need(inputs, 2, "train")
    seed = int(params.get("seed", 0))
    steps, lr = int(params.get("steps", 20)), float(params.get("lr", 0.5))
    dim, context, batch = int(params.get("dim", 16)), int(params.get("context", 8)), int(params.get("batch", 8))
    tok = Tokenizer.from_file(str(inputs[0]))
    ids: list[int] = []
    for text in _texts(inputs[1:], params.get("text_field")):
        ids.extend(tok.encode(text, add_special_tokens=False).ids)
    if len(ids) < context + 2:
        raise StepError(f"train: {len(ids)} tokens of data is too little for context {context}")
    data = torch.tensor(ids, dtype=torch.long)
    vocab = tok.get_vocab_size()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Embedding(vocab, dim), torch.nn.Linear(dim, dim), torch.nn.Tanh(), torch.nn.Linear(dim, vocab)
    )
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - context - 1, (batch,), generator=gen)
        x = torch.stack([data[s : s + context] for s in starts])
        y = torch.stack([data[s + 1 : s + context + 1] for s in starts])
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    if len(outputs) != 1:
        raise StepError("train: one output .safetensors file")
    save_file({k: v.detach() for k, v in model.state_dict().items()}, outputs[0])


STEPS: dict[str, Callable[[list[Path], list[Path], dict[str, Any]], None]] = {
    "cast": cast,
    "reshard": reshard,
    "merge-shards": merge_shards,
    "lora-merge": lora_merge,
    "quantize-int8": quantize_int8,
    "pickle-to-safetensors": pickle_to_safetensors,
    "tokenizer-build": tokenizer_build,
    "train": train,
}

__all__ = ["STEPS", "Checkpoint", "StepError"]
