"""The bundled tiny-vlm demo release is reproducible byte for byte from its build script and loads.

The build trains the model (tests/demo/train.py).  Builds run in fresh processes with different hash
seeds, thread counts, ATen ISA paths (AVX-512 vs the scalar default) and MKL instruction sets, so the
float64 rounding differences between those kernels are present in the two runs; the trained bytes
must still agree with each other and with the committed release.  The load check runs in a fresh
process with HF_HUB_OFFLINE=1 set before transformers is imported.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "manifests" / "examples" / "tiny-vlm"
SCRIPTS = ROOT / "tests" / "demo"  # the demo's build scripts (not shipped with the package)
BUILD = SCRIPTS / "build.py"
RELEASE = DEMO / "release"
MAX_BYTES = 5 * 1024 * 1024

EXPECTED_FILES = {
    "README.md",
    "chat_template.jinja",
    "config.json",
    "generation_config.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model.safetensors.index.json",
    "preprocessor_config.json",
    "processor_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
}


def _offline_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"})
    env.update(extra)
    return env


def _build_in_subprocess(outdir: Path, **env: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BUILD), str(outdir)],
        cwd=str(ROOT),
        env=_offline_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _load_build_module():
    spec = importlib.util.spec_from_file_location("tiny_vlm_build", BUILD)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    # Two trainings (about a minute each on a loaded 2-core machine): one in-process, one in a subprocess
    # with another hash seed, one OpenMP thread, ATen's scalar kernels and MKL held to SSE4.2.
    base = tmp_path_factory.mktemp("tiny-vlm")
    out = {"inproc": base / "inproc", "b": base / "b"}
    written = _load_build_module().build(out["inproc"])
    assert sorted(p.name for p in written) == sorted(EXPECTED_FILES)
    _build_in_subprocess(
        out["b"],
        PYTHONHASHSEED="12345",
        OMP_NUM_THREADS="1",
        ATEN_CPU_CAPABILITY="default",
        MKL_ENABLE_INSTRUCTIONS="SSE4_2",
    )
    return out


def test_builds_are_byte_identical(builds):
    ref = _digests(builds["inproc"])
    assert set(ref) == EXPECTED_FILES
    assert _digests(builds["b"]) == ref, "the build on other ISA paths differs from the in-process build"


def test_build_matches_committed_release(builds):
    committed = _digests(RELEASE)
    built = _digests(builds["inproc"])
    assert set(committed) == set(built), "release/ holds a different file set than build.py writes"
    differing = sorted(name for name in built if committed[name] != built[name])
    assert not differing, f"release/ is stale; rerun build.py: {differing}"


def test_release_is_small():
    total = sum(p.stat().st_size for p in RELEASE.rglob("*") if p.is_file())
    assert 0 < total < MAX_BYTES


def test_release_has_no_absolute_paths_or_versions():
    for path in RELEASE.iterdir():
        if path.suffix in {".json", ".md", ".jinja"}:
            text = path.read_text(encoding="utf-8")
            assert "transformers_version" not in text, path.name
            assert str(ROOT) not in text and "/tmp/" not in text, path.name
            assert text.endswith("\n") or path.suffix == ".jinja", path.name


def test_shards_and_index_are_consistent():
    index = json.loads((RELEASE / "model.safetensors.index.json").read_text())
    weight_map = index["weight_map"]
    assert list(weight_map) == sorted(weight_map)
    total = 0
    seen: dict[str, str] = {}
    for shard in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        data = (RELEASE / shard).read_bytes()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        assert header.pop("__metadata__") == {"format": "pt"}
        for name, entry in header.items():
            assert entry["dtype"] == "F32", name
            begin, end = entry["data_offsets"]
            total += end - begin
            seen[name] = shard
    assert seen == weight_map
    assert index["metadata"]["total_size"] == total
    assert "lm_head.weight" not in weight_map  # tied to model.language_model.embed_tokens.weight


LOAD_SCRIPT = r"""
import json, sys
import numpy as np
import torch
from transformers import AutoProcessor, LlavaForConditionalGeneration

folder = sys.argv[1]
processor = AutoProcessor.from_pretrained(folder)
model, info = LlavaForConditionalGeneration.from_pretrained(folder, output_loading_info=True)
model.eval()
image = (np.arange(32 * 32 * 3, dtype=np.int64) % 251).astype(np.uint8).reshape(32, 32, 3)
messages = [{"role": "user", "content": [{"type": "image"},
                                          {"type": "text", "text": "What is the value of the blue bar?"}]}]
prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
inputs = processor(images=image, text=prompt, return_tensors="pt")
with torch.no_grad():
    logits = model(**inputs).logits
    generated = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4)
ids = inputs["input_ids"][0].tolist()
print(json.dumps({
    "processor": type(processor).__name__,
    "missing": sorted(info["missing_keys"]),
    "unexpected": sorted(info["unexpected_keys"]),
    "mismatched": [list(map(str, m)) for m in info["mismatched_keys"]],
    "errors": list(info["error_msgs"]),
    "tied": model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr(),
    "prompt": prompt,
    "bos_count": ids.count(model.config.text_config.bos_token_id),
    "first_id": ids[0],
    "image_tokens": ids.count(model.config.image_token_index),
    "pixel_values": list(inputs["pixel_values"].shape),
    "input_len": len(ids),
    "logits": list(logits.shape),
    "finite": bool(torch.isfinite(logits).all()),
    "generated_len": int(generated.shape[1]),
    "vocab": model.config.text_config.vocab_size,
    "tokenizer_len": len(processor.tokenizer),
}))
"""


def test_release_loads_offline_and_runs_forward():
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(RELEASE)],
        cwd=str(ROOT),
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    config = json.loads((RELEASE / "config.json").read_text())

    assert result["processor"] == "LlavaProcessor"
    assert result["missing"] == [] and result["unexpected"] == []
    assert result["mismatched"] == [] and result["errors"] == []
    assert result["tied"] is True
    assert result["prompt"].startswith("USER: <image>\n")
    assert result["first_id"] == config["text_config"]["bos_token_id"]
    assert result["bos_count"] == 1
    assert result["image_tokens"] == config["image_seq_length"] == 16
    assert result["pixel_values"] == [1, 3, 32, 32]
    assert result["vocab"] == result["tokenizer_len"] == config["text_config"]["vocab_size"]
    assert result["logits"] == [1, result["input_len"], result["vocab"]]
    assert result["finite"] is True
    assert result["generated_len"] == result["input_len"] + 4


def test_demo_data_is_rebuilt_by_its_script(tmp_path):
    """build_data.py regenerates the committed mixture: JSONL byte for byte, Parquet row for row."""
    import pyarrow.parquet as pq

    sys.path.insert(0, str(SCRIPTS))
    try:
        import build_data
    finally:
        sys.path.remove(str(SCRIPTS))
    build_data.build_data(tmp_path)
    committed = DEMO / "data"
    for rel in ("cot/cot-00000.jsonl", "direct/direct-00000.jsonl"):
        assert (tmp_path / rel).read_bytes() == (committed / rel).read_bytes(), rel
    rel = "charts/charts-00000.parquet"
    assert pq.read_table(tmp_path / rel).to_pylist() == pq.read_table(committed / rel).to_pylist()


def _log_header(path: Path) -> dict:
    return json.loads(path.read_text().splitlines()[0])


def test_published_scores_are_the_trained_models_logs():
    """Each published score is its log's accuracy (the mean of the per-sample scores), and the model scores."""
    from assay.manifests.yamlio import read_yaml_file

    data, _ = read_yaml_file(DEMO / "assay.yaml")
    scores = {}
    for ev in data["evals"]:
        log = DEMO / "evals" / ev["logs"][0]["path"]
        lines = log.read_text().splitlines()
        samples = [json.loads(line) for line in lines[1:]]
        mean = sum(s["scores"]["accuracy"] for s in samples) / len(samples)
        (agg,) = _log_header(log)["aggregates"]
        assert agg["value"] == mean and agg["n"] == len(samples) == 40
        assert ev["published"][0]["value"] == round(100 * mean, 1)
        scores[ev["name"]] = 100 * mean
    # a trained model: text questions mostly right; chart questions rarely (a few bar counts; it cannot read a
    # value off a 32-pixel chart, and its tokenizer has no month names) but not never
    assert scores["textqa-mini"] >= 60.0
    assert 0.0 < scores["chartqa-mini"] < scores["textqa-mini"]


def test_failing_variant_overclaims_beyond_the_models_interval():
    """The failing manifest's chartqa-mini claim lies above the 95% Wilson interval of the real score plus the
    claim's margin; everything else in its evals is the honest manifest's."""
    from assay.evals.stats import wilson_ci
    from assay.manifests.yamlio import read_yaml_file

    honest, _ = read_yaml_file(DEMO / "assay.yaml")
    failing, _ = read_yaml_file(DEMO / "assay.failing.yaml")
    real, claimed = honest["evals"][0], failing["evals"][0]
    assert real["name"] == claimed["name"] == "chartqa-mini"
    n = _log_header(DEMO / "evals" / real["logs"][0]["path"])["aggregates"][0]["n"]
    k = round(real["published"][0]["value"] * n / 100)
    high = 100 * wilson_ci(k, n, 0.95)[1]
    assert claimed["published"][0]["value"] > high + claimed["margin"]
    assert failing["evals"][1:] == honest["evals"][1:]
    assert {k: v for k, v in claimed.items() if k != "published"} == {k: v for k, v in real.items() if k != "published"}
