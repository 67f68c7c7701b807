"""Shared by the benchmarks: synthetic releases of random files, page-cache warming, core count."""

from __future__ import annotations

import os
from pathlib import Path

MIB, GIB = 1 << 20, 1 << 30


def cores() -> int:
    return len(os.sched_getaffinity(0))


def make_release(folder: Path, sizes: list[int], seed: int = 0) -> list[Path]:
    """Write random files (reused when ``folder`` already holds them at the right size)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import numpy as np

        rng = np.random.default_rng(seed)
        rand = rng.bytes
    except ImportError:  # pragma: no cover
        rand = os.urandom
    paths = []
    for i, size in enumerate(sizes, 1):
        p = folder / f"shard-{i:05d}-of-{len(sizes):05d}.dat"  # .dat: role "other", so no structural audit runs
        if not (p.exists() and p.stat().st_size == size):
            with open(p, "wb") as fh:
                for off in range(0, size, 16 * MIB):
                    fh.write(rand(min(16 * MIB, size - off)))
        paths.append(p)
    return paths


def read_all(paths: list[Path]) -> None:
    """Bring every file into the page cache."""
    buf = bytearray(4 * MIB)
    for p in paths:
        with open(p, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


# ------------------------------------------------------------------------------------------- a Phi-4-RV-shaped release
# The dimensions of Phi-4-Reasoning-Vision-15B's config.json (../shared/phi-4-rv.md): a Phi-3 text backbone (fused
# qkv_proj and gate_up_proj), a SigLIP-2 so400m NaFlex vision tower with its pooling head, and a 2-layer GELU projector.
PHI4RV = {
    "hidden": 5120,
    "intermediate": 17920,
    "layers": 40,
    "heads": 40,
    "kv_heads": 10,
    "vocab": 100352,
    "vision_hidden": 1152,
    "vision_intermediate": 4304,
    "vision_layers": 27,
    "patch": 16,
    "num_patches": 256,
}
PHI4RV_PARAMETERS = 15_119_518_144  # derived from the config (../shared/phi-4-rv.md); phi4rv_tensors() must match it
SHARD_BYTES = 5 * 10**9  # transformers' save_pretrained(max_shard_size="5GB")


def phi4rv_tensors() -> list[tuple[str, list[int]]]:
    """Every tensor of the checkpoint (695), name and shape, in the order save_pretrained writes a state dict."""
    c = PHI4RV
    h, inter, vh, vi = c["hidden"], c["intermediate"], c["vision_hidden"], c["vision_intermediate"]
    kv = c["kv_heads"] * h // c["heads"]
    out: list[tuple[str, list[int]]] = [("model.embed_tokens.weight", [c["vocab"], h])]
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        out += [
            (p + "self_attn.qkv_proj.weight", [h + 2 * kv, h]),
            (p + "self_attn.o_proj.weight", [h, h]),
            (p + "mlp.gate_up_proj.weight", [2 * inter, h]),
            (p + "mlp.down_proj.weight", [h, inter]),
            (p + "input_layernorm.weight", [h]),
            (p + "post_attention_layernorm.weight", [h]),
        ]
    out.append(("model.norm.weight", [h]))
    v = "model.vision_tower.vision_tower.vision_model."
    out += [
        (v + "embeddings.patch_embedding.weight", [vh, 3 * c["patch"] ** 2]),
        (v + "embeddings.patch_embedding.bias", [vh]),
        (v + "embeddings.position_embedding.weight", [c["num_patches"], vh]),
    ]

    def linear(name: str, n_in: int, n_out: int) -> list[tuple[str, list[int]]]:
        return [(name + ".weight", [n_out, n_in]), (name + ".bias", [n_out])]

    for i in range(c["vision_layers"]):
        p = f"{v}encoder.layers.{i}."
        out += [(p + "layer_norm1.weight", [vh]), (p + "layer_norm1.bias", [vh])]
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out += linear(p + "self_attn." + proj, vh, vh)
        out += [(p + "layer_norm2.weight", [vh]), (p + "layer_norm2.bias", [vh])]
        out += linear(p + "mlp.fc1", vh, vi) + linear(p + "mlp.fc2", vi, vh)
    out += [(v + "post_layernorm.weight", [vh]), (v + "post_layernorm.bias", [vh])]
    head = v + "head."
    out += [
        (head + "probe", [1, 1, vh]),
        (head + "attention.in_proj_weight", [3 * vh, vh]),
        (head + "attention.in_proj_bias", [3 * vh]),
        *linear(head + "attention.out_proj", vh, vh),
        (head + "layernorm.weight", [vh]),
        (head + "layernorm.bias", [vh]),
        *linear(head + "mlp.fc1", vh, vi),
        *linear(head + "mlp.fc2", vi, vh),
    ]
    out += linear("model.mm_projector.0", vh, h) + linear("model.mm_projector.2", h, h)
    out.append(("lm_head.weight", [c["vocab"], h]))
    return out


def make_phi4rv(folder: Path, config: Path | None = None) -> list[Path]:
    """A sparse release with Phi-4-RV's shard and tensor layout: 7 bf16 shards of at most 5 GB, each a valid
    safetensors header (as the official writer pads it) followed by a file hole as large as the shard's tensor
    data, the shard index, and ``config`` (its config.json) when given, without its ``auto_map`` (the remote code is
    not part of a hashing benchmark).  Seconds to build, a few MB on disk.  Reused when ``folder`` already holds it."""
    import json
    import math
    import struct

    tensors = phi4rv_tensors()
    assert len(tensors) == 695 and sum(math.prod(s) for _, s in tensors) == PHI4RV_PARAMETERS
    shards: list[list[tuple[str, list[int]]]] = [[]]
    size = 0
    for name, shape in tensors:  # transformers' sharding: a tensor goes to a new shard when it would overflow
        nbytes = 2 * math.prod(shape)
        if shards[-1] and size + nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes
    folder.mkdir(parents=True, exist_ok=True)
    n = len(shards)
    weight_map, paths, total = {}, [], 0
    for i, shard in enumerate(shards, 1):
        fname = f"model-{i:05d}-of-{n:05d}.safetensors"
        header: dict = {"__metadata__": {"format": "pt"}}
        off = 0
        for name, shape in shard:
            end = off + 2 * math.prod(shape)
            header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, end]}
            off = end
            weight_map[name] = fname
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        path = folder / fname
        want = 8 + len(raw) + off
        if not (path.exists() and path.stat().st_size == want):
            with open(path, "wb") as fh:
                fh.write(struct.pack("<Q", len(raw)) + raw)
                fh.truncate(want)  # the tensor data: a hole
        paths.append(path)
        total += off
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    paths.append(index)
    if config is not None:
        cfg = json.loads(config.read_text())
        cfg.pop("auto_map", None)
        cfg.pop("tokenizer_model_max_length", None)  # its 8192 vs 32768 fails strict verify (a real finding)
        (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        paths.append(folder / "config.json")
    return paths
