"""A local Phi-4-Reasoning-Vision-15B release folder with the real configs and remote code and weights of the exact
shape, as sparse files: :func:`build_phi4rv_release`.

The configs, chat template and remote code are Microsoft's own (``tests/fixtures/phi-4-rv/``, copied from the GitHub
repository; README there).  The weights are 7 safetensors shards plus ``model.safetensors.index.json``, laid out as
transformers' ``save_pretrained`` lays out this model's ``state_dict``: each shard has a valid safetensors header
naming its tensors (dtype BF16, exact shapes, contiguous offsets) followed by a *hole*: the file is extended with
``truncate`` to its full size, so ~30 GB of weights take almost no disk and every header-only check (tensor count,
parameters, dtypes, shard index) sees exactly what it would see on the real release.  The tensor values are zeros;
nothing here is for loading the model.

Names and shapes are derived from ``config.json``, ``preprocessor_config.json`` and ``modeling_phi4_visionr.py``:

* text backbone (``Phi4ForCausalLMV`` is transformers' ``Phi3ForCausalLM`` layout): ``model.embed_tokens``, per
  layer the fused ``self_attn.qkv_proj`` ((heads + 2·kv_heads)·head_dim rows) and ``o_proj``, the fused
  ``mlp.gate_up_proj`` (2·intermediate rows) and ``down_proj``, two RMSNorms; ``model.norm``; an untied ``lm_head``;
* vision tower (``Siglip2VisionTower`` wraps ``Siglip2VisionModel`` as ``model.vision_tower.vision_tower``):
  ``vision_model.embeddings`` (a linear patch embedding over 3·patch² inputs, 256 learned positions: transformers'
  ``Siglip2VisionConfig`` default), 27 encoder layers (q/k/v/out projections, two LayerNorms, a 2-layer MLP, all
  with biases), ``post_layernorm`` and the attention-pooling ``head`` (probe, ``nn.MultiheadAttention``, LayerNorm,
  MLP) — the checkpoint carries the head (vLLM's port maps ``…vision_model.head.`` away explicitly);
* projector ``mlp2x_gelu`` (``build_vision_projector``): ``model.mm_projector.0`` (mm_hidden → hidden) and ``.2``
  (hidden → hidden), with biases.

This gives 15,119,518,144 parameters in 695 tensors, the figures in ``shared/phi-4-rv.md``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "phi-4-rv"
# The release's own files, copied unchanged from the fixtures.
RELEASE_FILES = (
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "chat_template.jinja",
    "modeling_phi4_visionr.py",
    "processing_phi4_visionr.py",
)
DTYPE = "BF16"
DTYPE_BYTES = 2
MAX_SHARD_SIZE = "5GB"  # transformers' save_pretrained default
SIGLIP2_NUM_PATCHES = 256  # transformers' Siglip2VisionConfig default (config.json's vision_config does not set it)


@dataclass(frozen=True)
class Phi4RVRelease:
    root: Path
    shards: list[str]
    tensors: int
    parameters: int
    data_bytes: int


def phi4rv_tensors(config: dict, preprocessor: dict) -> dict[str, list[int]]:
    """Every tensor of the checkpoint and its shape, in ``state_dict`` order."""
    h, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = h // heads
    out: dict[str, list[int]] = {"model.embed_tokens.weight": [vocab, h]}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out[p + "self_attn.o_proj.weight"] = [h, h]
        out[p + "self_attn.qkv_proj.weight"] = [(heads + 2 * kv) * head_dim, h]
        out[p + "mlp.gate_up_proj.weight"] = [2 * inter, h]
        out[p + "mlp.down_proj.weight"] = [h, inter]
        out[p + "input_layernorm.weight"] = [h]
        out[p + "post_attention_layernorm.weight"] = [h]
    out["model.norm.weight"] = [h]

    vc = config["vision_config"]
    vh, vinter = vc["hidden_size"], vc["intermediate_size"]
    patch = preprocessor["patch_size"]
    v = "model.vision_tower.vision_tower.vision_model."
    out[v + "embeddings.patch_embedding.weight"] = [vh, 3 * patch * patch]
    out[v + "embeddings.patch_embedding.bias"] = [vh]
    out[v + "embeddings.position_embedding.weight"] = [SIGLIP2_NUM_PATCHES, vh]

    def mlp(prefix: str) -> None:
        out[prefix + "fc1.weight"] = [vinter, vh]
        out[prefix + "fc1.bias"] = [vinter]
        out[prefix + "fc2.weight"] = [vh, vinter]
        out[prefix + "fc2.bias"] = [vh]

    def norm(prefix: str) -> None:
        out[prefix + "weight"] = [vh]
        out[prefix + "bias"] = [vh]

    for i in range(vc["num_hidden_layers"]):
        p = f"{v}encoder.layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            out[f"{p}self_attn.{proj}.weight"] = [vh, vh]
            out[f"{p}self_attn.{proj}.bias"] = [vh]
        norm(p + "layer_norm1.")
        mlp(p + "mlp.")
        norm(p + "layer_norm2.")
    norm(v + "post_layernorm.")
    out[v + "head.probe"] = [1, 1, vh]
    out[v + "head.attention.in_proj_weight"] = [3 * vh, vh]
    out[v + "head.attention.in_proj_bias"] = [3 * vh]
    out[v + "head.attention.out_proj.weight"] = [vh, vh]
    out[v + "head.attention.out_proj.bias"] = [vh]
    norm(v + "head.layernorm.")
    mlp(v + "head.mlp.")

    assert config["mm_projector_type"] == "mlp2x_gelu", config["mm_projector_type"]
    out["model.mm_projector.0.weight"] = [h, config["mm_hidden_size"]]
    out["model.mm_projector.0.bias"] = [h]
    out["model.mm_projector.2.weight"] = [h, h]
    out["model.mm_projector.2.bias"] = [h]
    out["lm_head.weight"] = [vocab, h]
    return out


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _write_sparse_shard(path: Path, tensors: dict[str, list[int]]) -> int:
    """A safetensors file whose header is real and whose data section is a hole; returns the file size.

    Written by hand because safetensors' writers need the tensors' bytes in memory (5 GB per shard here).
    """
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors.items():
        size = _numel(shape) * DTYPE_BYTES
        header[name] = {"dtype": DTYPE, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads the header with spaces to a multiple of 8 bytes
    total = 8 + len(raw) + offset
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        f.truncate(total)
    return total


def build_phi4rv_release(dest: Path) -> Phi4RVRelease:
    """Write the release folder at ``dest`` (created): real configs and code, sparse weights of the exact shape."""
    from huggingface_hub import split_state_dict_into_shards_factory

    dest.mkdir(parents=True, exist_ok=True)
    for name in RELEASE_FILES:
        shutil.copyfile(FIXTURES / name, dest / name)
    config = json.loads((FIXTURES / "config.json").read_text())
    preprocessor = json.loads((FIXTURES / "preprocessor_config.json").read_text())
    shapes = phi4rv_tensors(config, preprocessor)
    # The shard split transformers' save_pretrained makes (it calls huggingface_hub's splitter the same way).
    split = split_state_dict_into_shards_factory(
        shapes,
        get_storage_size=lambda shape: _numel(shape) * DTYPE_BYTES,
        filename_pattern="model{suffix}.safetensors",
        max_shard_size=MAX_SHARD_SIZE,
    )
    data_bytes = 0
    for shard, names in split.filename_to_tensors.items():
        _write_sparse_shard(dest / shard, {n: shapes[n] for n in names})
        data_bytes += sum(_numel(shapes[n]) * DTYPE_BYTES for n in names)
    index = {"metadata": {"total_size": data_bytes}, "weight_map": dict(sorted(split.tensor_to_filename.items()))}
    (dest / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return Phi4RVRelease(
        root=dest,
        shards=sorted(split.filename_to_tensors),
        tensors=len(shapes),
        parameters=sum(_numel(s) for s in shapes.values()),
        data_bytes=data_bytes,
    )
