#!/usr/bin/env python3
"""Deterministic builder of assay's bundled tiny vision-language demo release.

Usage::

    python tests/demo/build.py OUTDIR     # the committed copy: OUTDIR = manifests/examples/tiny-vlm/release

or, from Python, ``build(Path(OUTDIR)) -> list[Path]``.

It writes a transformers-format, Llava-style model folder: a SigLIP vision tower, a two-layer
MLP projector and a small Llama decoder, with an offline-built word-level tokenizer and a SigLIP
image processor.  The weights are trained (train.py beside this file, a few hundred AdamW steps on
one CPU thread) on generated chart and number-word questions, so the published evals score above
zero: the model is a toy, but its scores are real.

Every byte written is a function of this file and train.py alone (for fixed library versions), the
same across runs, processes, machines, thread counts and CPU ISA paths:

* the initial weights use no torch RNG and no torch arithmetic: parameter names and shapes come
  from the model built on the meta device; values come from the raw 64-bit output of numpy's
  PCG64 bit generator (a stream numpy guarantees not to change), seeded from sha256 of the tensor
  name, and are mapped to floats with exactly-rounded IEEE operations only;
* training is float64 end to end on one thread (the two Llama modules that compute in float32
  whatever their input are patched to float64, the loss is taken in float64), and after every
  optimizer step each weight is rounded to a fixed grid (multiples of 2**-16, ties to even, exact
  operations).  Chosen over the alternatives because it makes the trajectory itself exact: every
  step starts from the same grid weights on every machine, so float64 rounding differences between
  ISA paths (measured: gradients differ by <= 2e-15 between ATen's default and AVX-512 kernels)
  cannot accumulate; they could only matter where a weight's update lands within ~1e-10 of a grid
  step of a tie, and the training log prints how close the run came (about 1e-8 steps).  Training
  at full precision and rounding only at the end does not work: Adam amplifies those differences
  into a 0.4% median weight difference within 240 steps.  A closed-form fit cannot train the
  vision tower.  Torch's float32 paths differ by ~1e-7 between ISAs, which is why float64;
* JSON is written with sorted keys, two-space indent, a trailing newline and no version,
  timestamp or path;
* safetensors shards carry exactly one metadata key (``{"format": "pt"}``): with two or more,
  safetensors 0.8 writes them in Rust HashMap order, which changes per process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------------------------
# Fixed inputs
# --------------------------------------------------------------------------------------------

SEED_NAMESPACE = "assay/tiny-vlm/v1"
INIT_STD = 0.02

IMAGE_SIZE = 32
PATCH_SIZE = 8
NUM_IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2  # SigLIP has no CLS token: 16, all kept

# Special tokens, in id order. Llama convention for the first three.
UNK, BOS, EOS, PAD, IMAGE = "<unk>", "<s>", "</s>", "<pad>", "<image>"
SPECIAL_TOKENS = [UNK, BOS, EOS, PAD, IMAGE]
SPACE = "\u2581"  # the Metaspace marker "▁"
DIGITS = list("0123456789")
PUNCTUATION = list(".,?!:;%()-'\"/+=$*#&[]")

# The word vocabulary is every distinct lower-cased word of this fixed corpus.
CORPUS = """
What does this chart show? The chart shows the number of visitors per month for one year.
Which bar is the tallest? The tallest bar is the one for July, with about eighty thousand.
How many bars are there in the plot? There are twelve bars, one for each month.
What is the value of the blue bar? The blue bar has a value of 42, or forty two percent.
Is the red line above or below the green line? The red line stays above the green line until
the last point, where both lines meet at the same value.
What is the difference between the highest and the lowest value? The difference is 37.5 units.
Read the label on the x axis. The x axis shows the year, from 2010 to 2020.
Read the label on the y axis. The y axis shows revenue in millions of dollars.
Which category has the largest share in the pie chart? Category A has the largest share, half
of the whole pie, while category B and category C share the rest equally.
What is the total of all values in the table? The total is 1250, the sum of five rows.
What is the average score? The mean score is 7.25 and the median is 7.
Does the trend go up or down? The trend goes up at first, then goes down after the peak in the
third quarter, and then stays flat.
How much did sales increase from the first to the second quarter? Sales increased by ten percent.
Is the number shown in the legend larger than the number in the title? No, it is smaller.
Count the points in the scatter plot. I count nine points, two of them are outliers.
What colour is the smallest slice? The smallest slice is yellow and shows only three percent.
Compare the two groups. The left group is higher than the right group in every column.
What is the ratio of men to women in the survey? The ratio is about three to two.
Which line has the steepest slope? The orange line has the steepest slope near the end.
Answer with a single word or number. Yes. No. Zero. One. Two. Three. Four. Five. Six. Seven.
Eight. Nine. Ten. Hundred. Thousand. Million. Billion. Minimum. Maximum. Range. Percentage.
Describe the image. The image is a bar chart with a grid, a title, two axes and a legend.
Please answer the question about the figure and explain your reasoning step by step.
Per day, per week, per hour: each unit on the axis is marked with a small tick and a number.
The table lists price, cost, profit and loss for each product in the first and second half.
Round the answer to two decimal places. The answer is approximately 3.14 or close to it.
User: look at the image. Assistant: the image shows a histogram of ages between 20 and 60.
"""

# No bos_token here: the tokenizer's post-processor adds <s> when the processor tokenizes.
# Newlines are jinja string literals because transformers renders with trim_blocks=True.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: {% elif message['role'] == 'assistant' %}ASSISTANT: "
    "{% else %}SYSTEM: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>{{ '\\n' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

README = """\
---
license: apache-2.0
library_name: transformers
pipeline_tag: image-text-to-text
tags:
- llava
- siglip
- llama
- tiny
- demo
---

# tiny-vlm (assay demo)

A tiny vision-language model in the Llava layout (SigLIP vision tower + Llama decoder), made to
exercise assay, the toolkit that audits open model releases, end to end.  It is trained, in
seconds on one CPU thread, on generated questions: how many bars a small bar chart has, the value
of one bar, and short questions about number words (the next number, which of two is larger).
It answers those, often; it is useless for anything else.  Its tokenizer has no month names, so
it cannot answer "which bar is the tallest" (the answer is a month).

- Vision tower: SigLIP, 32x32 images, 8x8 patches (16 image tokens), hidden 32, 2 layers, 2 heads.
- Projector: 2-layer MLP (GELU), 32 -> 64 -> 64.
- Language model: Llama, hidden 64, 2 layers, 4 query / 2 key-value heads, intermediate 128;
  the output head is tied to the input embeddings.
- Tokenizer: word-level, lower-cased, built offline from a fixed corpus about charts, numbers
  and questions; special tokens `<s>`, `</s>`, `<pad>`, `<unk>` and `<image>`.
- Weights: float32 (every value a multiple of 2^-16), two safetensors shards (1: vision tower +
  projector, 2: language model).
- Training: AdamW, float64, one thread, weights rounded to the 2^-16 grid after every step, so
  every machine computes the same bytes.

Every file is regenerated byte for byte by `build.py` (assay's `tests/demo/`):

```
python tests/demo/build.py manifests/examples/tiny-vlm/release
```

## Usage

```python
from transformers import AutoProcessor, LlavaForConditionalGeneration

processor = AutoProcessor.from_pretrained("path/to/release")
model = LlavaForConditionalGeneration.from_pretrained("path/to/release")
```

## License

Apache-2.0.
"""

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _json_bytes(obj, *, sort_keys: bool = True) -> bytes:
    text = json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _write(path: Path, data: bytes) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path


def corpus_words() -> list[str]:
    return sorted(set(re.findall(r"[a-z]+", CORPUS.lower())))


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------


def build_vocab() -> dict[str, int]:
    tokens = SPECIAL_TOKENS + [SPACE] + DIGITS + PUNCTUATION + [SPACE + w for w in corpus_words()]
    if len(set(tokens)) != len(tokens):
        raise AssertionError("duplicate token in the vocabulary")
    return {tok: i for i, tok in enumerate(tokens)}


def build_tokenizer():
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    vocab = build_vocab()
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="always", split=True),
            pre_tokenizers.Punctuation(behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=SPACE, prepend_scheme="always", split=True)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A",
        pair=f"{BOS} $A {BOS} $B",
        special_tokens=[(BOS, vocab[BOS])],
    )
    return tok


def tokenizer_json_bytes(tok) -> bytes:
    # Re-dump through Python's json: a canonical layout, key order as tokenizers emits it (the
    # vocabulary in id order), independent of the library's pretty-printer.
    return _json_bytes(json.loads(tok.to_str()), sort_keys=False)


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------


def llama_text_config(
    vocab_size: int,
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    max_positions: int = 256,
) -> dict:
    """The Llama decoder's config (the demo's text model; also the tiny text model of the re-run tests)."""
    vocab = build_vocab()
    return {
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": vocab[BOS],
        "eos_token_id": vocab[EOS],
        "head_dim": hidden // heads,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "initializer_range": INIT_STD,
        "intermediate_size": intermediate,
        "max_position_embeddings": max_positions,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads,
        "pad_token_id": vocab[PAD],
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-06,
        "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
        "tie_word_embeddings": True,
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def model_config_dict(vocab_size: int) -> dict:
    vocab = build_vocab()
    return {
        "architectures": ["LlavaForConditionalGeneration"],
        "dtype": "float32",
        "image_seq_length": NUM_IMAGE_TOKENS,
        "image_token_index": vocab[IMAGE],
        "model_type": "llava",
        "multimodal_projector_bias": True,
        "projector_hidden_act": "gelu",
        "text_config": llama_text_config(vocab_size),
        "tie_word_embeddings": True,
        "vision_config": {
            "attention_dropout": 0.0,
            "hidden_act": "gelu_pytorch_tanh",
            "hidden_size": 32,
            "image_size": IMAGE_SIZE,
            "intermediate_size": 64,
            "layer_norm_eps": 1e-06,
            "model_type": "siglip_vision_model",
            "num_attention_heads": 2,
            "num_channels": 3,
            "num_hidden_layers": 2,
            "patch_size": PATCH_SIZE,
            "vision_use_head": False,
        },
        "vision_feature_layer": -1,
        "vision_feature_select_strategy": "full",
    }


def generation_config_dict() -> dict:
    vocab = build_vocab()
    return {
        "bos_token_id": vocab[BOS],
        "do_sample": False,
        "eos_token_id": vocab[EOS],
        "max_new_tokens": 32,
        "pad_token_id": vocab[PAD],
    }


def tokenizer_config_dict() -> dict:
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": BOS,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": EOS,
        "extra_special_tokens": {"image_token": IMAGE},
        "image_token": IMAGE,
        "model_max_length": 256,
        "pad_token": PAD,
        "padding_side": "left",
        "processor_class": "LlavaProcessor",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": UNK,
    }


def special_tokens_map_dict() -> dict:
    return {
        "bos_token": BOS,
        "eos_token": EOS,
        "image_token": IMAGE,
        "pad_token": PAD,
        "unk_token": UNK,
    }


def preprocessor_config_dict() -> dict:
    return {
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "SiglipImageProcessor",
        "image_std": [0.5, 0.5, 0.5],
        "processor_class": "LlavaProcessor",
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    }


def processor_config_dict() -> dict:
    # SigLIP has no CLS token and the model keeps every patch ("full"), so LlavaProcessor expands
    # each <image> into (32 // 8) ** 2 + 0 = 16 tokens, matching image_seq_length.
    return {
        "image_token": IMAGE,
        "num_additional_image_tokens": 0,
        "patch_size": PATCH_SIZE,
        "processor_class": "LlavaProcessor",
        "vision_feature_select_strategy": "full",
    }


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def tensor_seed(name: str) -> int:
    digest = hashlib.sha256(f"{SEED_NAMESPACE}/{name}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def _uniform01(name: str, count: int) -> np.ndarray:
    """`count` float64 values in [0, 1) from PCG64's raw, version-stable 64-bit stream."""
    raw = np.random.PCG64(tensor_seed(name)).random_raw(count)
    return (raw >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)  # * 2**-53


def approx_normal(name: str, shape: tuple[int, ...], std: float = INIT_STD) -> np.ndarray:
    """Irwin-Hall approximation of N(0, std^2): (sum of 12 uniforms - 6) * std.

    Only exactly-rounded IEEE operations, done one element-wise step at a time (no reductions,
    no libm), so the result is bit-identical on every machine.
    """
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    u = _uniform01(name, 12 * n).reshape(12, n)
    acc = u[0].copy()
    for k in range(1, 12):
        acc = acc + u[k]
    values = (acc - 6.0) * std
    return values.astype(np.float32).reshape(shape)


def parameter_specs(config_dict: dict) -> tuple[list[tuple[str, tuple[int, ...], str]], set[str]]:
    """(name, shape, kind) for every tensor to store, in state-dict order, and the tied names.

    kind is "ones" for normalisation weights, "zeros" for biases, "normal" otherwise.
    """
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    config = LlavaConfig.from_dict(config_dict)
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)

    norm_weights = set()
    for mod_name, module in model.named_modules():
        cls = type(module).__name__
        if isinstance(module, torch.nn.LayerNorm) or cls.endswith("RMSNorm") or cls.endswith("LayerNorm"):
            norm_weights.add(f"{mod_name}.weight" if mod_name else "weight")

    tied = getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or {}
    tied_names = set(tied)  # keys are the tied (not stored) parameters, e.g. lm_head.weight

    specs = []
    for name, tensor in model.state_dict().items():
        if name in tied_names:
            continue
        if tensor.dtype != torch.float32:
            raise AssertionError(f"{name}: unexpected dtype {tensor.dtype}")
        if name in norm_weights:
            kind = "ones"
        elif name.endswith(".bias"):
            kind = "zeros"
        else:
            kind = "normal"
        specs.append((name, tuple(int(d) for d in tensor.shape), kind))
    return specs, tied_names


def make_tensor(name: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
    if kind == "ones":
        arr = np.ones(shape, dtype=np.float32)
    elif kind == "zeros":
        arr = np.zeros(shape, dtype=np.float32)
    else:
        arr = approx_normal(name, shape)
    return np.ascontiguousarray(arr, dtype=np.dtype("<f4"))


def shard_plan(specs) -> list[list[tuple[str, tuple[int, ...], str]]]:
    """Two shards, state-dict order kept: 1 = vision tower + projector, 2 = language model."""
    vision_prefixes = ("model.vision_tower.", "model.multi_modal_projector.")
    first = [spec for spec in specs if spec[0].startswith(vision_prefixes)]
    second = [spec for spec in specs if not spec[0].startswith(vision_prefixes)]
    if not first or not second:
        raise AssertionError("shard plan produced an empty shard")
    return [first, second]


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------

SHARD_NAMES = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]


def _sibling(name: str):
    """A module beside this file (the demo's scripts are loaded by path, not installed)."""
    here = str(Path(__file__).resolve().parent)
    sys.path.insert(0, here)
    try:
        return __import__(name)
    finally:
        sys.path.remove(here)


def build(outdir: Path, *, log=None) -> list[Path]:
    """Write the release into `outdir` (created if missing); return the written paths, sorted."""
    from safetensors.numpy import save

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    tok = build_tokenizer()
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    written.append(_write(outdir / "tokenizer.json", tokenizer_json_bytes(tok)))
    written.append(_write(outdir / "tokenizer_config.json", _json_bytes(tokenizer_config_dict())))
    written.append(_write(outdir / "special_tokens_map.json", _json_bytes(special_tokens_map_dict())))
    written.append(_write(outdir / "chat_template.jinja", CHAT_TEMPLATE.encode("utf-8")))
    written.append(_write(outdir / "preprocessor_config.json", _json_bytes(preprocessor_config_dict())))
    written.append(_write(outdir / "processor_config.json", _json_bytes(processor_config_dict())))

    config = model_config_dict(vocab_size)
    written.append(_write(outdir / "config.json", _json_bytes(config)))
    written.append(_write(outdir / "generation_config.json", _json_bytes(generation_config_dict())))

    specs, _tied = parameter_specs(config)
    init = {name: make_tensor(name, shape, kind) for name, shape, kind in specs}
    trained = _sibling("train").train(config, init, tok, log=log)
    weight_map: dict[str, str] = {}
    total_size = 0
    for shard_name, shard_specs in zip(SHARD_NAMES, shard_plan(specs)):
        tensors = {}
        for name, _shape, _kind in shard_specs:
            arr = np.ascontiguousarray(trained[name], dtype=np.dtype("<f4"))
            tensors[name] = arr
            weight_map[name] = shard_name
            total_size += arr.nbytes
        # safetensors.numpy.save is save_file's in-memory twin (same bytes); writing them
        # ourselves keeps the usual file mode (save_file creates 0600 files).
        written.append(_write(outdir / shard_name, save(tensors, metadata={"format": "pt"})))

    index = {
        "metadata": {"total_size": total_size},
        "weight_map": dict(sorted(weight_map.items())),
    }
    written.append(_write(outdir / "model.safetensors.index.json", _json_bytes(index)))
    written.append(_write(outdir / "README.md", README.encode("utf-8")))
    return sorted(written, key=lambda p: p.name)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {Path(argv[0]).name} OUTDIR", file=sys.stderr)
        return 2
    for path in build(Path(argv[1]), log=lambda line: print(line, file=sys.stderr)):
        print(f"{path.stat().st_size:>9}  {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
