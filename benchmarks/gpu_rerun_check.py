"""GPU check of ``assay rerun``'s transformers backend — the prepared script for the device machine (≤ 5 minutes).

Meant for the device check on one CUDA GPU: a **randomly initialised Phi-3-mini-shaped** ``Phi3ForCausalLM``
(hidden 3072, 32 layers, 32 heads, intermediate 8192, vocabulary 32064: 3.8 B parameters) is built from a config
directly on the GPU in **bf16** (no download, no weights file), with an offline word-level tokenizer padded to the
model's vocabulary and a plain chat template.  For batch sizes 1 and 32 it times, after a warm-up, the same greedy
prompts through

  assay   ``assay.evals.backends.transformers.TransformersBackend.generate`` (grouping, ordering, chat template,
          left padding, cutting, decoding)
  plain   a plain batched loop: ``apply_chat_template(padding=True)`` → ``model.generate`` → ``batch_decode``

on the same batches, and reports generated tokens/s for each, the ratio assay / plain (target ≤ 1.10), whether the
texts are identical, the device, dtype and peak memory.  End-of-sequence is disabled so every request generates
exactly ``max_new_tokens`` (a random model would otherwise stop at random).  TF32 is off and cuBLAS is set to be
deterministic (``CUBLAS_WORKSPACE_CONFIG=:4096:8``), so the two paths compute the same thing.

    python benchmarks/gpu_rerun_check.py --json $OUT/gpu_rerun_check.json     # on the GPU machine
    python benchmarks/gpu_rerun_check.py --tiny --device cpu                   # CPU smoke test (what CI runs)

``--tiny`` swaps in a Phi-3-shaped model with hidden 64 and 2 layers and short runs, so the whole script is
exercised on a CPU in seconds.  Exit status: 0 when both paths ran and agree (the ratio target is reported,
asserted only with ``--check``); 1 when the outputs differ or a path fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TARGET = 1.10
PHI3_MINI = dict(
    hidden_size=3072,
    intermediate_size=8192,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=32,
    vocab_size=32064,
    max_position_embeddings=4096,
    rms_norm_eps=1e-5,
    hidden_act="silu",
    tie_word_embeddings=False,
)
TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
    vocab_size=512,
    max_position_embeddings=512,
    rms_norm_eps=1e-5,
    hidden_act="silu",
    tie_word_embeddings=False,
)
WORDS = (
    "what does this chart show the number of visitors per month which bar is tallest how many bars are there "
    "in plot value blue red line above below green difference between highest and lowest read label x axis y "
    "year category largest share pie total all values table average score trend go up down sales increase"
).split()
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_tokenizer(vocab_size: int):
    """A word-level tokenizer whose vocabulary fills the model's (filler tokens ``t<i>``), built offline."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|system|>", "<|assistant|>", "<|end|>"]
    vocab = {t: i for i, t in enumerate(special)}
    for w in sorted(set(WORDS)) + list("0123456789.,?!:\n"):
        vocab.setdefault(w, len(vocab))
    while len(vocab) < vocab_size:
        vocab[f"t{len(vocab)}"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(Regex(r"[ \t]+"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tok.add_special_tokens(special)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(shape: dict, device: str, dtype):
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    cfg = Phi3Config(**shape, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    torch.manual_seed(0)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Phi3ForCausalLM(cfg)
    finally:
        torch.set_default_dtype(prev)
    model.eval()
    model.generation_config.eos_token_id = None  # a random model would stop at random: generate max_new_tokens
    model.generation_config.pad_token_id = 3
    model.generation_config.do_sample = False
    return model


def prompts(n: int):
    import random

    rng = random.Random(1234)
    out = []
    for i in range(n):
        length = rng.randint(8, 48)
        out.append(" ".join(rng.choice(WORDS) for _ in range(length)) + " ?")
    return out


def requests(texts: list[str], max_new_tokens: int):
    from assay.evals.backends import GenRequest, Message, Sampling

    s = Sampling(max_new_tokens=max_new_tokens)
    return [GenRequest(id=f"r{i:04d}", messages=(Message("user", t),), sampling=s) for i, t in enumerate(texts)]


def plain(model, tok, batches, max_new_tokens: int) -> dict[str, str]:
    import torch

    out = {}
    for batch in batches:
        convs = [[{"role": "user", "content": r.messages[0].content}] for r in batch]
        enc = tok.apply_chat_template(
            convs, add_generation_prompt=True, tokenize=True, return_dict=True, padding=True, return_tensors="pt"
        ).to(model.device)
        with torch.inference_mode():
            gen = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=3)
        rows = []
        for row in gen[:, enc["input_ids"].shape[1] :].tolist():  # text up to the tokenizer's EOS, as assay cuts it
            rows.append(row[: row.index(tok.eos_token_id)] if tok.eos_token_id in row else row)
        texts = tok.batch_decode(rows, skip_special_tokens=True)
        out.update({r.id: t for r, t in zip(batch, texts)})
    return out


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(backend, reqs, max_new_tokens: int, device: str, repeat: int) -> dict:
    from assay.evals.backends.transformers import _content_length

    order = sorted(range(len(reqs)), key=lambda i: (-_content_length(reqs[i]), reqs[i].id))
    ordered = [reqs[i] for i in order]
    batches = [ordered[k : k + backend.batch_size] for k in range(0, len(ordered), backend.batch_size)]
    model, tok = backend.model, backend.tokenizer
    # warm-up (kernels, allocator) on one batch each
    backend.generate(batches[0])
    plain(model, tok, batches[:1], max_new_tokens)
    tokens = len(reqs) * max_new_tokens
    runs: dict[str, list[float]] = {"assay": [], "plain": []}
    a_out = p_out = None
    for k in range(repeat):
        for name in ("assay", "plain") if k % 2 == 0 else ("plain", "assay"):
            sync(device)
            t0 = time.perf_counter()
            if name == "assay":
                a_out = {r.id: r.text for r in backend.generate(reqs)}
            else:
                p_out = plain(model, tok, batches, max_new_tokens)
            sync(device)
            runs[name].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in runs.items()}
    return {
        "requests": len(reqs),
        "batch_size": backend.batch_size,
        "max_new_tokens": max_new_tokens,
        "generated_tokens": tokens,
        "runs_s": runs,
        "best_s": best,
        "assay_tokens_per_s": tokens / best["assay"],
        "plain_tokens_per_s": tokens / best["plain"],
        "ratio": best["assay"] / best["plain"],
        "outputs_identical": a_out == p_out,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="a tiny Phi-3-shaped model and short runs (CPU smoke test)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when available), cuda, cpu")
    ap.add_argument("--dtype", default=None, help="default: bf16 on GPU, fp32 on CPU (assay's rule)")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per path (default 2; tiny 3)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--check", action="store_true", help=f"exit 1 when a ratio exceeds {TARGET}")
    args = ap.parse_args(argv)

    import torch

    from assay.evals.backends.transformers import TransformersBackend, resolve_device, resolve_dtype

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    shape = TINY if args.tiny else PHI3_MINI
    repeat = args.repeat or (3 if args.tiny else 2)
    plan = [(1, 4, 16), (32, 64, 16)] if args.tiny else [(1, 8, 64), (32, 64, 128)]  # (batch, requests, tokens)

    t0 = time.perf_counter()
    tok = build_tokenizer(shape["vocab_size"])
    model = build_model(shape, device, dtype)
    params = sum(p.numel() for p in model.parameters())
    build_s = time.perf_counter() - t0
    report = {
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
        "dtype": str(dtype).replace("torch.", ""),
        "shape": "tiny" if args.tiny else "phi-3-mini",
        "parameters": params,
        "build_s": build_s,
        "torch": torch.__version__,
        "target_ratio": TARGET,
        "results": [],
    }
    import transformers

    report["transformers"] = transformers.__version__
    print(
        f"{report['shape']} Phi3ForCausalLM, {params / 1e9:.3f} B parameters, {report['dtype']} on "
        f"{report['device_name']}; built in {build_s:.1f} s"
    )
    ok = True
    for bs, n, new in plan:
        backend = TransformersBackend(model, tok, batch_size=bs)
        r = measure(backend, requests(prompts(n), new), new, device, repeat)
        report["results"].append(r)
        ok &= r["outputs_identical"]
        print(
            f"batch {bs:>2}: {n} requests x {new} tokens  assay {r['assay_tokens_per_s']:9.1f} tok/s  "
            f"plain {r['plain_tokens_per_s']:9.1f} tok/s  ratio {r['ratio']:.3f} "
            f"({'PASS' if r['ratio'] <= TARGET else 'MISS'})  identical: {r['outputs_identical']}"
        )
    if device.startswith("cuda"):
        report["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        print(f"peak GPU memory {report['peak_memory_gib']:.1f} GiB")
    report["seconds"] = time.perf_counter() - t0
    report["pass"] = ok and all(r["ratio"] <= TARGET for r in report["results"])
    print(f"total {report['seconds']:.1f} s; {'PASS' if report['pass'] else 'MISS'}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not ok:
        print("error: assay and the plain loop produced different texts", file=sys.stderr)
        return 1
    return 1 if args.check and not report["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
