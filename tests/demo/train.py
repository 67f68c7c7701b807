"""Deterministic training of the demo model: ``train(config_dict, init) -> {name: float32 array}``.

The demo model learns, in a few hundred steps on one CPU thread, the two small tasks its published evals measure:

* chart questions about a generated bar chart (``build_data.chart_question`` / ``bar_chart``): how many bars, which
  month's bar is the tallest, and the value of one bar (read off its height in pixels: mostly beyond this model);
* short text questions about number words (``build_evals.text_items``): the next number, and which of two is larger.

Training examples come from the same generators as the evals but with other seeds (the question spaces are tiny, so
many questions recur; the charts' colours differ from the evals' blue).  Prompts are the chat template's rendering
(``USER: <image>\\n{question}\\nASSISTANT:``, the ``<image>`` expanded to its 16 tokens, BOS first), the loss is on
the answer's tokens and ``</s>``.

Why this is bit-identical on every machine (see build.py's docstring): the whole run is float64 on one thread with
deterministic algorithms, so ISA- and library-level differences stay at the level of float64 rounding noise; the
trained weights are then rounded to the bfloat16 grid (8 significant bits), and :func:`round_to_grid` refuses to
write a weight whose float64 value lies within ``GUARD`` grid steps of a rounding boundary, where such noise could
pick the other neighbour.  A stored weight is therefore the same on any machine whose float64 training noise stays
below ``GUARD`` steps (measured: see ``NOISE_NOTE``); a build that cannot guarantee that fails instead of writing
different bytes.
"""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

TRAIN_SEED = 20261207
STEPS = 240
BATCH_CHARTS = 24
BATCH_TEXT = 24
POOL = 1024
LR = 4e-3
WARMUP = 20
# Guard band, in units of one bfloat16 step (2**-8 of the binade): a float64 weight this close to a rounding
# boundary is refused.  1e-4 steps is a relative distance of about 4e-7 .. 8e-7 of the weight's value.
GUARD = 1e-4
GRID_BITS = 16
VISION_LR = 4.0  # the vision tower and projector learn at this multiple of LR
VISION_PREFIXES = ("model.vision_tower.", "model.multi_modal_projector.")
# "which bar is the tallest": the answer is a month name, and the tokenizer has none (its corpus has only "july"),
# so the answer is <unk>, which decodes to nothing: left out of training (the eval keeps it; the model fails it).
SKIP_KINDS = ("tallest",)
NOISE_NOTE = "max |Δw| / bf16 step between ATen ISA paths (default vs AVX-512), measured by test_demo_build"

IMAGE_TOKENS = 16
COLOURS = [(200, 30, 30), (30, 60, 200), (30, 160, 60), (240, 140, 20), (230, 200, 20)]


def _sibling(name: str):
    sys.path.insert(0, str(HERE))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(HERE))


def pixels(png: bytes) -> np.ndarray:
    """The SigLIP processor's pixel values of a 32x32 PNG (rescale by 1/255, normalise with mean = std = 0.5)."""
    from PIL import Image

    arr = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    return ((arr / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)


def chart_examples(n: int, seed: int) -> list[dict]:
    data = _sibling("build_data")
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        c = data.chart_question(rng)
        png = data.bar_chart(c["values"], COLOURS[rng.randrange(len(COLOURS))])
        if c["kind"] in SKIP_KINDS:
            continue
        out.append({"question": c["question"], "answer": c["answer"], "pixels": pixels(png)})
    return out


def text_examples(n: int, seed: int) -> list[dict]:
    evals = _sibling("build_evals")
    return [{"question": it["question"], "answer": it["target"], "pixels": None} for it in evals.text_items(n, seed)]


def encode(tok, vocab: dict[str, int], example: dict) -> tuple[list[int], list[int]]:
    """Token ids of prompt + answer + </s>, and the labels (-100 on the prompt)."""
    image = ("<image>" * IMAGE_TOKENS + "\n") if example["pixels"] is not None else ""
    prompt = tok.encode(f"USER: {image}{example['question']}\nASSISTANT:").ids
    answer = tok.encode(example["answer"], add_special_tokens=False).ids + [vocab["</s>"]]
    return prompt + answer, [-100] * len(prompt) + answer


def round_to_grid(name: str, values: np.ndarray) -> np.ndarray:
    """Round float64 values to the nearest bfloat16 value (ties to even), as float32; refuse near-ties.

    Exact operations only: frexp/ldexp and scaling by a power of two are exact, np.rint rounds half to even.
    """
    mant, exp = np.frexp(values)  # values = mant * 2**exp, 0.5 <= |mant| < 1
    scaled = mant * 256.0  # 8 significant bits: |scaled| in [128, 256)
    frac = np.abs(scaled - np.trunc(scaled))
    # An exact tie is no risk: training leaves every weight exactly on the 2**-GRID_BITS grid (``_snap_``), so a
    # weight that is a bf16 tie is that same value on every machine, and np.rint breaks it to even, exactly.
    close = (np.abs(frac - 0.5) < GUARD) & (frac != 0.5) & (values != 0)
    if close.any():
        raise AssertionError(
            f"{name}: {int(close.sum())} trained weight(s) within {GUARD:g} bf16 steps of a rounding boundary; "
            "float64 noise could round them either way on another machine: change TRAIN_SEED"
        )
    out = np.ldexp(np.rint(scaled) / 256.0, exp).astype(np.float32)
    # One sign of zero: a weight that trains to exactly 0 comes out +0.0 or -0.0 depending on the ISA path (the
    # sign of a product or of a rounded tiny value), and the two are different bytes.
    out[out == 0] = 0.0
    return out


def _snap_(p) -> float:
    """Round ``p`` in place to the grid (multiples of 2**-GRID_BITS, ties to even: exact operations only) and
    return how close the closest value came to a tie, in grid steps (0.5: on a grid point; 0: a tie)."""
    import torch

    scaled = p * float(2**GRID_BITS)
    nearest = torch.round(scaled)
    closest = 0.5 - float((scaled - nearest).abs().max())
    p.copy_(nearest / float(2**GRID_BITS))
    return closest


def _keep_float64(model) -> None:
    """Make the two Llama modules that compute in float32 whatever their input's dtype compute in float64.

    ``LlamaRMSNorm`` casts its input to float32, ``LlamaRotaryEmbedding`` builds cos/sin in float32: float32
    rounding differs between ISA paths by ~1e-7, which training would amplify.  Patched per instance (no global
    state), with the same formulas in float64.
    """
    import types

    import torch

    def rms_norm(self, hidden_states):
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))

    def rotary(self, x, position_ids):
        dim = 2 * self.inv_freq.shape[0]
        base = float(self.config.rope_parameters["rope_theta"])
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        freqs = position_ids[..., None].to(torch.float64) * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * self.attention_scaling).to(x.dtype), (emb.sin() * self.attention_scaling).to(x.dtype)

    patched = 0
    for module in model.modules():
        name = type(module).__name__
        if name == "LlamaRMSNorm":
            module.forward = types.MethodType(rms_norm, module)
            patched += 1
        elif name == "LlamaRotaryEmbedding":
            if module.rope_type != "default":
                raise AssertionError(f"rope type {module.rope_type!r}: only the default is patched")
            module.forward = types.MethodType(rotary, module)
            patched += 1
    if patched == 0:
        raise AssertionError("no Llama norm or rotary module found to keep in float64")


def train_float64(config_dict: dict, init: dict[str, np.ndarray], tokenizer, *, log=None) -> dict[str, np.ndarray]:
    """Train from ``init`` (name -> float32 array, the stored tensors); return the trained float64 tensors."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(config_dict, init, tokenizer, log)
    finally:  # the caller's settings back (the demo-build test trains in its own process)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(config_dict: dict, init: dict[str, np.ndarray], tokenizer, log) -> dict[str, np.ndarray]:
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    vocab = tokenizer.get_vocab()
    pad = vocab["<pad>"]

    config = LlavaConfig.from_dict(config_dict)
    # SDPA keeps float64 end to end; the eager paths take the softmax in float32.
    config._attn_implementation = "sdpa"
    config.text_config._attn_implementation = "sdpa"
    config.vision_config._attn_implementation = "sdpa"
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = LlavaForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    state = {k: torch.from_numpy(v.astype(np.float64)) for k, v in init.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(k != "lm_head.weight" for k in missing):
        raise AssertionError(f"init does not match the model: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.train()
    _keep_float64(model)

    charts = [encode(tokenizer, vocab, e) + (e["pixels"],) for e in chart_examples(POOL, TRAIN_SEED)]
    texts = [encode(tokenizer, vocab, e) + (None,) for e in text_examples(POOL, TRAIN_SEED + 1)]
    rng = random.Random(TRAIN_SEED)
    named = sorted(model.named_parameters())
    params = [p for _, p in named]
    vision = [p for n, p in named if n.startswith(VISION_PREFIXES)]
    others = [p for n, p in named if not n.startswith(VISION_PREFIXES)]
    margin = 0.5
    with torch.no_grad():
        for p in params:
            _snap_(p)
    groups = [{"params": others, "lr": LR}, {"params": vision, "lr": LR * VISION_LR}]
    opt = torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.0, foreach=False)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / WARMUP) * max(0.05, 1.0 - s / STEPS))
    for step in range(STEPS):
        batch = [charts[rng.randrange(POOL)] for _ in range(BATCH_CHARTS)]
        batch += [texts[rng.randrange(POOL)] for _ in range(BATCH_TEXT)]
        width = max(len(ids) for ids, _, _ in batch)
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _, _ in batch])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab, _ in batch])
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _, _ in batch])
        pix = torch.from_numpy(np.stack([p for _, _, p in batch if p is not None]))
        logits = model(input_ids=input_ids, attention_mask=mask, pixel_values=pix).logits
        # The loss in float64 (transformers' own loss casts the logits to float32).
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            for p in params:
                margin = min(margin, _snap_(p))
        if log is not None and (step % 20 == 0 or step == STEPS - 1):
            log(f"step {step:4d}  loss {loss.item():.4f}  closest rounding so far {margin:.3g} grid steps from a tie")

    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items() if k in init}


def train(config_dict: dict, init: dict[str, np.ndarray], tokenizer, *, log=None) -> dict[str, np.ndarray]:
    """Train from ``init``; return the trained tensors rounded to the bf16 grid (float32 arrays)."""
    trained = train_float64(config_dict, init, tokenizer, log=log)
    return {k: round_to_grid(k, trained[k]) for k in init}
