"""GPU check of issue 12 (deliverable 3): a Phi-4-RV-shaped text backbone through assay's transformers backend and
through assay's load audit, in one run of at most 5 minutes on one H100.

The model.  ``Phi3ForCausalLM`` with the **text backbone's dimensions read from Microsoft's Phi-4-RV config**
(``tests/fixtures/phi-4-rv/config.json``: hidden 5120, intermediate 17920, 40 heads, 10 key/value heads, vocabulary
100352, RoPE theta 500000, RMS-norm eps 1e-5, untied head; Phi-4-RV's text side is a Phi-4, which is a Phi-3-style
decoder), **random bf16 weights built directly on the device** (no download, no weights file), ``--layers`` of the 40
decoder layers (default ``auto``: all 40 when the checkpoint fits the disk and the memory, fewer otherwise), an
offline word-level tokenizer padded to the model's vocabulary and a plain chat template.

Part 1, generation (``--only generate``).  For batch sizes 1 and 32 it times, after a warm-up, the same greedy prompts
through

  assay   ``assay.evals.backends.transformers.TransformersBackend.generate`` (grouping, ordering, chat template,
          left padding, cutting, decoding)
  plain   a plain batched loop: ``apply_chat_template(padding=True)`` → ``model.generate`` → ``batch_decode``

on the same batches, and reports generated tokens/s for each, the ratio assay / plain (target ≤ 1.10) and whether the
texts are identical.  End-of-sequence is disabled so every request generates exactly ``max_new_tokens`` (a random
model would otherwise stop at random).  TF32 is off and cuBLAS is set to be deterministic
(``CUBLAS_WORKSPACE_CONFIG=:4096:8``), so the two paths compute the same thing.

Part 2, the model as loaded against its checkpoint (``--only load``; issue 11's ``assay verify --load``).  The same
model is written with ``save_pretrained`` as a sharded safetensors release (``--shard-size``, default 5GB, with its
``model.safetensors.index.json``: real bytes on the device's disk, ``--workdir``), packaged with ``assay init``
(``assay.audit.packaging.init_release``, timed apart) and then checked the way ``assay verify MANIFEST --load`` checks
it: a strict verification (``assay.verify.release.verify_release``) handed to ``assay.verify.loaded.audit_loaded``,
which loads the folder in its probe subprocess (on the CPU, offline) and compares every checkpoint tensor with the
tensor transformers holds for it.  Reported: tensors compared and matched, verdict, findings, seconds per step, the
probe's peak memory (its maximum resident set) and assay's own (sampled).  The checkpoint is removed afterwards
unless ``--keep``.

Sizing (why ``auto`` means 40 layers on an H100).  A decoder layer holds 340.8 M parameters (qkv 5120 x 7680, o
5120 x 5120, gate/up 5120 x 35840, down 17920 x 5120, two norms) and the embeddings plus the untied head 1.03 B, so 40
layers are 14.66 B parameters, 29.3 GB in bf16: 37% of the H100's 80 GB (the KV cache of batch 32 adds about 1.2 GB),
so memory does not bound it, time does.  The estimate for 40 layers, in seconds: imports and the tokenizer 15; the
model built on the GPU 10; generation 85 (batch 1: 8 requests x 64 tokens = 512 decoding steps, batch 32: 2 batches x
128 steps; at about 25 ms a step for 40 layers of eager decoding, launch-bound, 19 s per timed pass, 4 timed passes
and the warm-ups); the checkpoint written 25-60 (29.3 GB, page cache first, then the disk); ``assay init`` and the
strict verification 5 each (29.3 GB hashed from the page cache on 16 cores); the load audit 55 (the probe reads and
hashes 29.3 GB on one core, and assay hashes the checkpoint once more on one core, each about 1.6 GB/s).  About 200-
240 s in all, under the 300 s bound with room for a slow disk.  ``auto`` lowers the layer count when the checkpoint
(plus 2 GiB) does not fit the free disk under ``--workdir``, or the probe's copy (plus 4 GiB; twice over on a CPU
run, where the model itself is the second copy) the available memory, and says so; an explicit ``--layers N`` that
does not fit is refused (exit 2).

    python benchmarks/gpu_rerun_check.py --json $OUT/gpu.json                   # on the GPU machine
    python benchmarks/gpu_rerun_check.py --tiny --device cpu --json /tmp/g.json  # CPU smoke test (what CI runs)
    .venv/bin/python benchmarks/gpu_rerun_check.py --wheels .whl                  # here: what the GPU machine lacks

``--tiny`` scales the same config down (hidden 64, 4 heads, 1 key/value head, vocabulary 512, 2 layers, 100 KB
shards) and shortens the runs, so that the whole script runs on a CPU in under a minute.  ``--wheels DIR`` (run
here, with network) downloads the wheels of the packages the device machine's image lacks or has too old, and
builds assay's own; benchmarks/README.md gives the device command that installs them.  Exit status: 0 when both
generation paths ran and agree and the load audit passed (the ratio target is reported, asserted only with
``--check``); 1 when the outputs differ, a path fails or the load audit did not pass; 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
PHI4RV_CONFIG = ROOT / "tests" / "fixtures" / "phi-4-rv" / "config.json"
TARGET = 1.10
GIB = 2**30
DISK_MARGIN = 2 * GIB  # free disk kept beside the checkpoint
MEMORY_MARGIN = 4 * GIB  # available memory kept beside the probe's copy of the weights (it needs 2 GiB itself)
# The text backbone's fields of the Phi-4-RV config (the vision tower and projector fields are not Phi3Config's).
TEXT_FIELDS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
    "max_position_embeddings",
    "original_max_position_embeddings",
    "rope_theta",
    "partial_rotary_factor",
    "rms_norm_eps",
    "hidden_act",
    "tie_word_embeddings",
    "sliding_window",
    "attention_dropout",
    "resid_pdrop",
    "embd_pdrop",
    "initializer_range",
)
# --tiny: the same config scaled down (GQA kept: 4 query heads share 1 key/value head, as 40 share 10)
TINY = dict(
    hidden_size=64,
    intermediate_size=224,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=1,
    vocab_size=512,
    max_position_embeddings=512,
    original_max_position_embeddings=512,
)
# What the device machine's image lacks or may have too old for assay and transformers >= 5.23, at this venv's
# versions (benchmarks/README.md, "GPU check"): pydantic and its needs (absent there), huggingface_hub >= 2.4 and the
# HTTP client it needs (httpx2, httpcore2, truststore: the image has huggingface_hub 1.33), transformers (5.17 there)
# and the versions of regex, click and h11 that those two ask for.  Checked by running the --tiny path here with
# every other package the image lacks made unimportable: only optional imports were refused.
WHEELS = (
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
    "huggingface-hub",
    "httpx2",
    "httpcore2",
    "truststore",
    "transformers",
    "regex",
    "click",
    "h11",
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
SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|system|>", "<|assistant|>", "<|end|>"]
BOS, EOS, PAD = 1, 2, 3


class BadInput(Exception):
    """A one-line error, exit 2."""


# =============================================================================================== the model
def phi4_text_config(path: Path = PHI4RV_CONFIG) -> dict:
    """The text backbone's fields of Microsoft's Phi-4-RV config.json."""
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: cannot read the Phi-4-RV config ({exc})") from None
    missing = [k for k in TEXT_FIELDS[:6] if k not in cfg]
    if missing:
        raise BadInput(f"{path}: no {', '.join(missing)}")
    return {k: cfg[k] for k in TEXT_FIELDS if k in cfg}


def shape_for(tiny: bool, layers: int) -> dict:
    shape = phi4_text_config()
    if tiny:
        shape.update(TINY)
    shape["num_hidden_layers"] = layers
    return shape


def parameter_count(shape: dict) -> tuple[int, int]:
    """(parameters per decoder layer, parameters outside the layers) of a Phi3ForCausalLM of this shape."""
    h, i, v = shape["hidden_size"], shape["intermediate_size"], shape["vocab_size"]
    head_dim = h // shape["num_attention_heads"]
    qkv = h * (h + 2 * shape["num_key_value_heads"] * head_dim)
    per_layer = qkv + h * h + h * 2 * i + i * h + 2 * h
    outside = v * h * (1 if shape.get("tie_word_embeddings") else 2) + h
    return per_layer, outside


def choose_layers(
    requested: str, full: int, shape: dict, itemsize: int, workdir: Path, want_load: bool, copies: int = 1
) -> tuple[int, str]:
    """The layer count and why: ``auto`` takes all ``full`` layers unless the checkpoint does not fit.

    ``copies``: the copies of the weights in host memory during the load audit (the probe's; on a CPU run the
    model itself is a second one).
    """
    per_layer, outside = parameter_count(shape)
    limits: list[tuple[int, str]] = []
    if want_load:
        free_disk = shutil.disk_usage(workdir).free
        limits.append(((free_disk - DISK_MARGIN - outside * itemsize) // (per_layer * itemsize), "free disk"))
        avail = available_memory()
        if avail is not None:
            fit = (avail - MEMORY_MARGIN) // copies - outside * itemsize
            limits.append((fit // (per_layer * itemsize), "free memory"))
    if requested == "auto":
        n, why = full, f"all {full} layers of the config"
        for fit, what in limits:
            if fit < n:
                n, why = int(fit), f"{int(fit)} of {full} layers: the checkpoint must fit the {what}"
        if n < 1:
            raise BadInput(f"not even one layer's checkpoint fits ({why}); free space or pass --only generate")
        return n, why
    try:
        n = int(requested)
    except ValueError:
        raise BadInput(f"--layers: expected a number or auto, got {requested!r}") from None
    if n < 1:
        raise BadInput("--layers must be at least 1")
    for fit, what in limits:
        if n > fit:
            raise BadInput(f"--layers {n}: its checkpoint does not fit the {what} (at most {max(int(fit), 0)} layers)")
    return n, f"{n} of {full} layers (--layers)"


def available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def build_tokenizer(vocab_size: int):
    """A word-level tokenizer whose vocabulary fills the model's (filler tokens ``t<i>``), built offline."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL)}
    for w in sorted(set(WORDS)) + list("0123456789.,?!:\n"):
        vocab.setdefault(w, len(vocab))
    while len(vocab) < vocab_size:
        vocab[f"t{len(vocab)}"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(Regex(r"[ \t]+"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tok.add_special_tokens(SPECIAL)
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
    """Random weights of ``dtype`` allocated and initialised on ``device`` (never a full-precision copy first).

    The token ids are the synthetic tokenizer's (Phi-4's own ids belong to its real tokenizer, not shipped here).
    """
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    cfg = Phi3Config(**shape, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD)
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
    model.generation_config.pad_token_id = PAD
    model.generation_config.do_sample = False
    return model


# =============================================================================================== part 1: generation
def prompts(n: int):
    import random

    rng = random.Random(1234)
    out = []
    for _ in range(n):
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
            gen = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=PAD)
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


def generation(model, tok, device: str, plan, repeat: int) -> list[dict]:
    from assay.evals.backends.transformers import TransformersBackend

    results = []
    for bs, n, new in plan:
        backend = TransformersBackend(model, tok, batch_size=bs)
        r = measure(backend, requests(prompts(n), new), new, device, repeat)
        results.append(r)
        print(
            f"batch {bs:>2}: {n} requests x {new} tokens  assay {r['assay_tokens_per_s']:9.1f} tok/s  "
            f"plain {r['plain_tokens_per_s']:9.1f} tok/s  ratio {r['ratio']:.3f} "
            f"({'PASS' if r['ratio'] <= TARGET else 'MISS'})  identical: {r['outputs_identical']}",
            flush=True,
        )
    return results


# =============================================================================================== part 2: load audit
class RssSampler:
    """The peak resident set of this process while the block runs, read from /proc every 20 ms (ru_maxrss cannot
    be reset, and it would report the model-building phase; hand-written: psutil is not a dependency of assay)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def load_check(model, workdir: Path, shard_size: str, keep: bool) -> dict:
    """Write ``model`` as a sharded release, package it, and run ``assay verify --load``'s library path on it."""
    from assay.audit.packaging import init_release
    from assay.verify.loaded import audit_loaded
    from assay.verify.release import verify_release

    workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-", dir=workdir))
    os.environ["ASSAY_STATE_DIR"] = str(work / "state")  # a fresh state DB: nothing is reused from an earlier run
    release = work / "release"
    out: dict = {"workdir": str(work)}
    try:
        t0 = time.perf_counter()
        model.save_pretrained(release, max_shard_size=shard_size)
        out["save_s"] = time.perf_counter() - t0
        shards = sorted(release.glob("*.safetensors"))
        out["shards"] = len(shards)
        out["shard_index"] = (release / "model.safetensors.index.json").is_file()
        out["checkpoint_bytes"] = sum(p.stat().st_size for p in shards)
        out["write_gib_per_s"] = out["checkpoint_bytes"] / GIB / out["save_s"]
        print(
            f"checkpoint: {out['shards']} shard(s), {out['checkpoint_bytes'] / GIB:.2f} GiB written in "
            f"{out['save_s']:.1f} s ({out['write_gib_per_s']:.2f} GiB/s, page cache included)",
            flush=True,
        )

        t0 = time.perf_counter()
        init = init_release(release, out=work, name="phi4rv-text-random", force=True)
        out["init_s"] = time.perf_counter() - t0
        if not init.ok:
            raise RuntimeError(f"assay init did not package the checkpoint: {init}")
        manifest = work / "assay.yaml"

        children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        with RssSampler() as sampler:
            t0 = time.perf_counter()
            vr = verify_release(manifest, strict=True)
            out["verify_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = audit_loaded(manifest, verification=vr)
            out["audit_s"] = time.perf_counter() - t0
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        codes: dict[str, int] = {}
        for f in res.findings:
            codes[f"{f.severity}:{f.code}"] = codes.get(f"{f.severity}:{f.code}", 0) + 1
        out.update(
            {
                "verify_ok": vr.ok,
                "verify_bytes_hashed": vr.summary.bytes_hashed,
                "status": res.status,
                "reason": res.reason,
                "verdict": res.verdict,
                "model_class": res.model_class,
                "weights_bytes": res.weights_bytes,
                "checkpoint_tensors": res.checkpoint_tensors,
                "loaded_tensors": res.loaded_tensors,
                "matched": res.matched,
                "tensor_statuses": _count(t.status for t in res.tensors),
                "findings": codes,
                "audit_reported_s": res.seconds,
                "load_check_s": out["verify_s"] + out["audit_s"],
                "probe_peak_rss_gib": children_after / GIB if children_after > children_before else None,
                "assay_peak_rss_gib": sampler.peak / GIB,
                "memory_available_gib": (res.memory_available or 0) / GIB,
            }
        )
        return out
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


# =============================================================================================== wheels for the device
def download_wheels(dest: Path) -> int:
    """Download (here, with network) the wheels the device image lacks, at this venv's versions, and build assay's."""
    from importlib.metadata import version

    dest.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version(name)}" for name in WHEELS]
    platforms = [f"manylinux_2_{n}_x86_64" for n in (17, 24, 27, 28, 31, 34, 35, 39)] + [
        "manylinux2014_x86_64",
        "manylinux1_x86_64",
    ]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12"]
    cmd += ["--implementation", "cp", "-d", str(dest)]
    for p in platforms:
        cmd += ["--platform", p]
    steps = [cmd + pins, [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dest), str(ROOT)]]
    for step in steps:
        print("+", " ".join(step), flush=True)
        if subprocess.run(step).returncode != 0:
            return 1
    print(f"wheels in {dest}: {', '.join(sorted(p.name for p in dest.glob('*.whl')))}")
    return 0


# =============================================================================================== main
# The modules this check exercises, as the tree names them (assay.X is the folder X: pyproject's package-dir).
CHECKED_MODULES = (
    "evals/backends/transformers.py",
    "verify/loaded.py",
    "verify/load_probe.py",
    "verify/release.py",
    "audit/packaging.py",
)


def stale_modules() -> list[str]:
    """The checked modules whose installed copy is not this tree's (a wheel built before the last edit)."""
    import assay.verify

    installed = Path(assay.verify.__file__).resolve().parent.parent
    if installed == ROOT:
        return []
    out = []
    for rel in CHECKED_MODULES:
        mine, theirs = ROOT / rel, installed / rel
        if not theirs.is_file() or (mine.is_file() and mine.read_bytes() != theirs.read_bytes()):
            out.append(rel)
    return out


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: python benchmarks/gpu_rerun_check.py --json $OUT/gpu.json",
    )
    ap.add_argument("--tiny", action="store_true", help="the config scaled down and short runs (CPU smoke test)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when available), cuda, cpu")
    ap.add_argument("--dtype", default=None, help="default: bf16 on GPU, fp32 on CPU (assay's rule)")
    ap.add_argument("--layers", default="auto", help="decoder layers (default auto: all 40 that fit, see above)")
    ap.add_argument("--only", choices=("generate", "load"), default=None, help="run one part only")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per path (default 2; tiny 3)")
    ap.add_argument("--shard-size", default=None, help="max_shard_size of the checkpoint (default 5GB; tiny 100KB)")
    ap.add_argument(
        "--workdir", type=Path, default=None, help="where the checkpoint is written (default benchmarks/out)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the checkpoint and its manifest")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--check", action="store_true", help=f"exit 1 when a ratio exceeds {TARGET}")
    ap.add_argument("--wheels", type=Path, default=None, help="download the device machine's missing wheels, then exit")
    args = ap.parse_args(argv)
    if args.wheels is not None:
        return download_wheels(args.wheels)

    t_start = time.perf_counter()
    import torch

    # every assay module the run needs, imported before the model is built: a missing package fails in seconds
    import assay.audit.packaging
    import assay.verify.loaded
    from assay.evals.backends.transformers import resolve_device, resolve_dtype

    stale = stale_modules()
    if stale:
        print(f"warning: the installed assay differs from this tree in {', '.join(stale)}", file=sys.stderr)

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    want_gen, want_load = args.only in (None, "generate"), args.only in (None, "load")
    workdir = args.workdir or ROOT / "benchmarks" / "out"
    workdir.mkdir(parents=True, exist_ok=True)
    full = phi4_text_config()["num_hidden_layers"] if not args.tiny else TINY["num_hidden_layers"]
    probe = shape_for(args.tiny, 1)
    itemsize = torch.empty((), dtype=dtype).element_size()
    layers, why = choose_layers(
        args.layers, full, probe, itemsize, workdir, want_load, copies=1 if device.startswith("cuda") else 2
    )
    shape = shape_for(args.tiny, layers)
    repeat = args.repeat or (3 if args.tiny else 2)
    plan = [(1, 4, 16), (32, 64, 16)] if args.tiny else [(1, 8, 64), (32, 64, 128)]  # (batch, requests, tokens)
    shard_size = args.shard_size or ("100KB" if args.tiny else "5GB")

    t0 = time.perf_counter()
    tok = build_tokenizer(shape["vocab_size"])
    model = build_model(shape, device, dtype)
    sync(device)
    params = sum(p.numel() for p in model.parameters())
    build_s = time.perf_counter() - t0
    import transformers

    report: dict = {
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
        "dtype": str(dtype).replace("torch.", ""),
        "shape": "tiny" if args.tiny else "phi-4-rv-text",
        "config": {k: shape[k] for k in TEXT_FIELDS if k in shape},
        "layers": layers,
        "layers_of": full,
        "layers_why": why,
        "parameters": params,
        "weights_gib": params * itemsize / GIB,
        "build_s": build_s,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "assay_from": str(Path(assay.verify.loaded.__file__).parent.parent),
        "assay_differs_from_tree": stale,
        "target_ratio": TARGET,
        "results": [],
        "load": None,
    }
    print(
        f"{report['shape']} Phi3ForCausalLM, {layers} layers ({why}), {params / 1e6:,.1f} M parameters "
        f"({report['weights_gib']:.2f} GiB), {report['dtype']} on {report['device_name']}; built in {build_s:.1f} s",
        flush=True,
    )
    ok = True
    failures: list[str] = []

    def save() -> None:  # after each part: a run stopped at its time limit keeps the figures it has
        report["seconds"] = time.perf_counter() - t_start
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")

    save()
    if want_gen:
        report["results"] = generation(model, tok, device, plan, repeat)
        if not all(r["outputs_identical"] for r in report["results"]):
            ok = False
            failures.append("assay and the plain loop produced different texts")
        if device.startswith("cuda"):
            report["generate_peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / GIB
            print(f"peak GPU memory {report['generate_peak_gpu_memory_gib']:.1f} GiB", flush=True)
        save()
    if want_load:
        try:
            load = load_check(model, workdir, shard_size, args.keep)
        except Exception as exc:  # reported as a failed part: the JSON still holds the generation figures
            load = {"verdict": "error", "error": f"{type(exc).__name__}: {exc}"}
        report["load"] = load
        if load.get("verdict") != "pass":
            ok = False
            failures.append(
                f"the load audit's verdict is {load.get('verdict')} ({load.get('reason') or load.get('error')})"
            )
        if "status" in load:
            print(
                f"load audit (assay verify --load): {load['status']}, verdict {load['verdict']}; "
                f"{load['matched']} of {load['checkpoint_tensors']} checkpoint tensors matched "
                f"({load['loaded_tensors']} loaded); init {load['init_s']:.1f} s, "
                f"strict verify {load['verify_s']:.1f} s, "
                f"load audit {load['audit_s']:.1f} s (verify + audit {load['load_check_s']:.1f} s); peak memory: "
                f"probe {load['probe_peak_rss_gib'] or 0:.2f} GiB, assay {load['assay_peak_rss_gib']:.2f} GiB",
                flush=True,
            )
    report["ok"] = ok
    report["pass"] = ok and all(r["ratio"] <= TARGET for r in report["results"])
    save()
    print(f"total {report['seconds']:.1f} s; {'PASS' if report['pass'] else 'MISS'}", flush=True)
    for f in failures:
        print(f"error: {f}", file=sys.stderr)
    if not ok:
        return 1
    return 1 if args.check and not report["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
