"""Tiny, deterministic, offline models for tests and benchmarks of the re-run machinery.

``build_tiny_text_model(outdir)`` writes a transformers-format ``LlamaForCausalLM`` folder (config, generation
config, safetensors weights, the demo release's word-level tokenizer and a chat template).  Like the demo release's
``tests/demo/build.py`` (whose tokenizer and weight generator it reuses), every byte is a function
of the code alone: weights come from numpy's PCG64 raw stream through exactly-rounded IEEE operations, never from
torch's RNG, so the same folder is produced on every machine and the model's greedy outputs are reproducible.

``tiny_vlm_dir()`` is the bundled demo release (a Llava-style SigLIP + Llama image-text model).

The models are untrained: their outputs are noise, which is all the re-run tests need (a deterministic function of
the prompt).  Nothing here downloads anything.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from types import ModuleType

NAMESPACE = "assay/tiny-text/v1"


def tiny_vlm_dir() -> Path:
    """The bundled demo release folder (Llava-style image-text model, fp32, offline-loadable)."""
    import assay.manifests

    return Path(assay.manifests.__file__).resolve().parent / "examples" / "tiny-vlm" / "release"


@lru_cache(maxsize=1)
def demo_builder() -> ModuleType:
    """The demo release's builder, ``tests/demo/build.py``, as a module (loaded by path, as the demo-build test does)."""
    path = Path(__file__).resolve().parents[1] / "demo" / "build.py"
    spec = importlib.util.spec_from_file_location("assay_tiny_vlm_build", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def text_config_dict(
    vocab_size: int,
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    max_positions: int = 512,
) -> dict:
    """A stand-alone ``LlamaForCausalLM`` config: the demo's text decoder config, with its own architecture."""
    b = demo_builder()
    return {
        "architectures": ["LlamaForCausalLM"],
        "dtype": "float32",
        **b.llama_text_config(
            vocab_size,
            hidden=hidden,
            layers=layers,
            heads=heads,
            kv_heads=kv_heads,
            intermediate=intermediate,
            max_positions=max_positions,
        ),
    }


def build_tiny_text_model(
    outdir: Path | str,
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    std: float = 0.3,
) -> Path:
    """Write a tiny ``LlamaForCausalLM`` release into ``outdir``; return ``outdir``.

    The generation config has ``do_sample: true`` (like most instruction-tuned releases), so that servers which only
    sample when the model's generation config says so (``transformers serve``) honour a request's temperature;
    greedy decoding is requested explicitly (temperature 0).  ``std`` scales the weights: 0.3 (not the demo's 0.02)
    gives varied greedy outputs rather than one token repeated.
    """
    import numpy as np
    import torch
    from safetensors.numpy import save
    from transformers import LlamaConfig, LlamaForCausalLM

    b = demo_builder()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    tok = b.build_tokenizer()
    vocab = b.build_vocab()
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    config = text_config_dict(
        vocab_size, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, intermediate=intermediate
    )
    tok_cfg = b.tokenizer_config_dict()
    for key in ("processor_class", "image_token", "extra_special_tokens"):
        tok_cfg.pop(key, None)
    # one context length across the configs (the metadata check fails a release whose files disagree)
    tok_cfg["model_max_length"] = config["max_position_embeddings"]
    special = {k: v for k, v in b.special_tokens_map_dict().items() if k != "image_token"}
    gen = {
        "bos_token_id": vocab[b.BOS],
        "do_sample": True,
        "eos_token_id": vocab[b.EOS],
        "max_new_tokens": 32,
        "pad_token_id": vocab[b.PAD],
        "temperature": 1.0,
        "top_p": 1.0,
    }

    b._write(out / "tokenizer.json", b.tokenizer_json_bytes(tok))
    b._write(out / "tokenizer_config.json", b._json_bytes(tok_cfg))
    b._write(out / "special_tokens_map.json", b._json_bytes(special))
    b._write(out / "chat_template.jinja", b.CHAT_TEMPLATE.encode("utf-8"))
    b._write(out / "config.json", b._json_bytes(config))
    b._write(out / "generation_config.json", b._json_bytes(gen))

    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig.from_dict(config))
    tied = set(getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or {})
    tensors = {}
    for name, tensor in model.state_dict().items():
        if name in tied:
            continue
        shape = tuple(int(d) for d in tensor.shape)
        if name.endswith("norm.weight"):
            arr = np.ones(shape, dtype=np.float32)
        else:
            arr = b.approx_normal(f"{NAMESPACE}/{name}", shape, std)
        tensors[name] = np.ascontiguousarray(arr, dtype=np.dtype("<f4"))
    b._write(out / "model.safetensors", save(tensors, metadata={"format": "pt"}))
    return out
