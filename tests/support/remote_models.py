"""Tiny model releases for the as-loaded audit (``assay verify --load``), built in the tests, offline, in well under
a second each (hidden size 16, one layer).

* :func:`build_plain`: a stock ``LlamaForCausalLM`` folder (no remote code);
* :func:`build_remote` with ``variant``:

  - ``"clean"``: remote code that subclasses Llama and changes nothing;
  - ``"download"``: remote code whose ``__init__`` pulls another repository with no revision
    (``AutoModel.from_pretrained("some-org/other-model")``), as Phi-4-Reasoning-Vision's vision tower does; the load
    fails offline;
  - ``"download-guarded"``: the same pull, an ``urllib`` fetch and a ``snapshot_download``, each wrapped in ``try``:
    the load succeeds, the attempts must still be findings;
  - ``"elsewhere"``: remote code that, after loading, adds a module whose weights it reads from a safetensors file
    outside the release (``elsewhere=`` the path), and doubles the loaded ``lm_head.weight``;
  - ``"reinit"``: remote code that lists the checkpoint's ``vision_tower.*`` keys in
    ``_keys_to_ignore_on_load_unexpected`` and builds that module freshly initialised after loading (Phi-4-RV's
    ``Phi4ForCausalLMV`` drops its checkpoint's vision weights the same way);

* :func:`build_moe`: a tiny Mixtral saved by transformers' own ``save_pretrained``, which writes the experts in the
  checkpoint's per-expert form (``block_sparse_moe.experts.N.w1``…) that loading fuses into ``mlp.experts.gate_up_proj``
  (a weight *converter*, not a rename);
* :func:`package`: ``assay init`` (manifest and lock) of such a folder, as a publisher would package it.

Weights come from a seeded torch generator on CPU: the same bytes on every run of one torch version, which is all the
tests need (they compare a checkpoint with its own load).
"""

from __future__ import annotations

import json
from pathlib import Path

HIDDEN = 16
REPO = "some-org/other-model"

_HEAD = '''"""Remote code of a tiny test release (assay's as-loaded audit tests)."""
import torch
from transformers import AutoModel, LlamaConfig, LlamaForCausalLM


class TinyRemoteConfig(LlamaConfig):
    model_type = "tiny-remote"
'''

CODE = {
    "clean": _HEAD
    + """

class TinyRemoteForCausalLM(LlamaForCausalLM):
    config_class = TinyRemoteConfig
""",
    "download": _HEAD
    + f'''

class TinyRemoteForCausalLM(LlamaForCausalLM):
    config_class = TinyRemoteConfig

    def __init__(self, config):
        super().__init__(config)
        self.extra = AutoModel.from_pretrained("{REPO}")  # another repository, no revision
''',
    "download-guarded": _HEAD
    + f'''
import urllib.request


class TinyRemoteForCausalLM(LlamaForCausalLM):
    config_class = TinyRemoteConfig

    def __init__(self, config):
        super().__init__(config)
        try:
            AutoModel.from_pretrained("{REPO}")  # another repository, no revision
        except OSError:
            pass
        try:
            urllib.request.urlopen("http://127.0.0.1:9/weights.bin", timeout=2)
        except OSError:
            pass
        try:
            from huggingface_hub import snapshot_download

            snapshot_download("some-org/extra-data", repo_type="dataset")
        except Exception:
            pass
''',
    "reinit": _HEAD
    + """

class TinyRemoteForCausalLM(LlamaForCausalLM):
    config_class = TinyRemoteConfig
    # the checkpoint's tower weights are "unexpected" (the module does not exist yet) and silently dropped
    _keys_to_ignore_on_load_unexpected = [r"vision_tower\\..*"]

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        out = super().from_pretrained(*args, **kwargs)
        model = out[0] if isinstance(out, tuple) else out
        # built after loading, freshly initialised (as a delayed vision tower is)
        model.vision_tower = torch.nn.Linear(config_hidden(model), config_hidden(model))
        return out


def config_hidden(model):
    return model.config.hidden_size
""",
}


def _config() -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 32,
        "hidden_size": HIDDEN,
        "intermediate_size": 2 * HIDDEN,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": HIDDEN // 2,
        "max_position_embeddings": 64,
        "tie_word_embeddings": False,
        "dtype": "float32",
        "bos_token_id": 1,
        "eos_token_id": 2,
    }


def _weights(config: dict, *, extra: dict | None = None, seed: int = 0) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in config.items() if k != "architectures"}))
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    tensors.update(extra or {})
    return tensors


def _write(outdir: Path, config: dict, tensors: dict, code: str | None = None) -> Path:
    from safetensors.torch import save_file

    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file(tensors, str(outdir / "model.safetensors"), metadata={"format": "pt"})
    if code is not None:
        (outdir / "modeling_tiny.py").write_text(code)
    return outdir


def build_plain(outdir: Path | str, variant: str = "clean") -> Path:
    """A stock tiny ``LlamaForCausalLM`` (no remote code).

    ``variant="base-keys"``: its checkpoint is saved as the base model would save it (``layers.0…`` with no
    ``model.`` prefix, which transformers adds on load), has no ``lm_head.weight`` (the loader initialises one), and
    carries a stray ``vision_tower.weight`` that no module takes (the loader drops it).
    ``variant="bf16"``: bf16 weights under a config that says ``dtype: float32``, so transformers loads them widened.
    """
    import torch

    config = _config()
    tensors = _weights(config)
    if variant == "base-keys":
        tensors = {k.removeprefix("model."): v for k, v in tensors.items() if k != "lm_head.weight"}
        tensors["vision_tower.weight"] = torch.ones(HIDDEN, HIDDEN)
    elif variant == "bf16":
        tensors = {k: v.to(torch.bfloat16) for k, v in tensors.items()}
    return _write(Path(outdir), config, tensors)


ELSEWHERE = """

class TinyRemoteForCausalLM(LlamaForCausalLM):
    config_class = TinyRemoteConfig

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        from safetensors.torch import load_file

        out = super().from_pretrained(*args, **kwargs)
        model = out[0] if isinstance(out, tuple) else out
        model.adapter = torch.nn.Linear(model.config.hidden_size, model.config.hidden_size)
        model.adapter.load_state_dict(load_file(PATH))  # weights from outside the release
        with torch.no_grad():
            model.lm_head.weight.mul_(2)  # a loaded weight changed after loading
        return out
"""


def build_remote(outdir: Path | str, variant: str = "clean", *, elsewhere: Path | None = None) -> Path:
    """A tiny remote-code model (``auto_map`` → ``modeling_tiny.py``); ``variant`` as in the module docstring.

    ``elsewhere``: for ``"elsewhere"``, where to write the outside weights file the code reads.
    """
    import torch

    config = _config()
    config.update(
        model_type="tiny-remote",
        architectures=["TinyRemoteForCausalLM"],
        auto_map={
            "AutoConfig": "modeling_tiny.TinyRemoteConfig",
            "AutoModelForCausalLM": "modeling_tiny.TinyRemoteForCausalLM",
        },
    )
    extra = None
    if variant == "reinit":  # the checkpoint carries trained tower weights the code will throw away
        g = torch.Generator().manual_seed(7)
        extra = {
            "vision_tower.weight": torch.randn(HIDDEN, HIDDEN, generator=g),
            "vision_tower.bias": torch.randn(HIDDEN, generator=g),
        }
    code = CODE.get(variant)
    if variant == "elsewhere":
        from safetensors.torch import save_file

        assert elsewhere is not None, "the elsewhere variant needs the outside file's path"
        g = torch.Generator().manual_seed(11)
        save_file(
            {"weight": torch.randn(HIDDEN, HIDDEN, generator=g), "bias": torch.randn(HIDDEN, generator=g)},
            str(elsewhere),
        )
        code = _HEAD + f"\nPATH = {str(elsewhere)!r}\n" + ELSEWHERE
    return _write(Path(outdir), config, _weights(_config(), extra=extra), code)


def build_moe(outdir: Path | str) -> Path:
    """A tiny ``MixtralForCausalLM`` (2 experts) written by ``save_pretrained``."""
    import torch
    from transformers import MixtralConfig, MixtralForCausalLM

    torch.manual_seed(0)
    config = MixtralConfig(
        vocab_size=32,
        hidden_size=HIDDEN,
        intermediate_size=2 * HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=HIDDEN // 2,
        num_local_experts=2,
        num_experts_per_tok=1,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )
    MixtralForCausalLM(config).save_pretrained(outdir)
    return Path(outdir)


def package(model_dir: Path, root: Path, name: str) -> Path:
    """``assay init`` the folder ``model_dir`` with its manifest and lock in ``root``; the manifest's path."""
    from assay.audit.packaging import init_release

    res = init_release(model_dir, out=root, name=name, force=True)
    assert res.ok, res
    return root / "assay.yaml"
