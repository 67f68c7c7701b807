"""The re-run benchmarks run end to end on the CPU: ``benchmarks/rerun_overhead.py --quick`` and the GPU device
check's CPU mode ``benchmarks/gpu_rerun_check.py --tiny --device cpu``.  Both must produce identical texts through
assay's backend and the plain loop (timings on a shared CPU are reported, not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT


def run(script: str, *args: str, tmp_path) -> dict:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return json.loads(out.read_text()) | {"stdout": proc.stdout}


def test_rerun_overhead_quick(tmp_path):
    res = run("rerun_overhead.py", "--quick", "--threads", "1", tmp_path=tmp_path)
    assert res["outputs_identical"] is True
    assert res["prompts"] == 16 and len(res["times_s"]["assay"]) == 2 and len(res["times_s"]["plain"]) == 2
    assert res["ratio"] > 0 and "overhead ratio:" in res["stdout"]


def load_gpu_check():
    """The GPU check script as a module (its sizing arithmetic, read without running it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_rerun_check", ROOT / "benchmarks" / "gpu_rerun_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_check_runs_in_tiny_cpu_mode(tmp_path):
    """Both parts of the device check on a CPU: generation through both paths, and the sharded checkpoint of the
    same model through assay init, the strict verification and the load audit (the real probe subprocess).  bf16,
    as on the GPU: the probe must find every bf16 tensor the checkpoint holds."""
    work = tmp_path / "work"
    res = run(
        "gpu_rerun_check.py",
        *("--tiny", "--device", "cpu", "--dtype", "bfloat16", "--repeat", "1", "--workdir", str(work)),
        tmp_path=tmp_path,
    )
    assert res["device"] == "cpu" and res["dtype"] == "bfloat16" and res["shape"] == "tiny"
    # the Phi-4-RV config's own values where --tiny does not scale them down
    cfg = json.loads((ROOT / "tests" / "fixtures" / "phi-4-rv" / "config.json").read_text())
    assert res["config"]["rope_theta"] == cfg["rope_theta"] == 500000
    assert res["config"]["rms_norm_eps"] == cfg["rms_norm_eps"] and res["config"]["tie_word_embeddings"] is False
    assert res["layers"] == 2 and res["layers_of"] == 2
    per_layer, outside = load_gpu_check().parameter_count(res["config"])
    assert res["parameters"] == 2 * per_layer + outside  # the sizing arithmetic counts what transformers builds

    assert [r["batch_size"] for r in res["results"]] == [1, 32]
    for r in res["results"]:
        assert r["outputs_identical"] is True
        assert r["generated_tokens"] == r["requests"] * r["max_new_tokens"]
        assert r["assay_tokens_per_s"] > 0 and r["plain_tokens_per_s"] > 0
    assert "batch 32:" in res["stdout"]

    load = res["load"]
    assert load["shards"] > 1 and load["shard_index"] is True  # a real sharded layout, with its index
    # bf16, every parameter written once; beyond that only each shard's safetensors header
    assert 0 < load["checkpoint_bytes"] - res["parameters"] * 2 < load["shards"] * 4096
    assert load["status"] == "loaded" and load["verdict"] == "pass" and load["verify_ok"] is True
    assert load["checkpoint_tensors"] == load["matched"] == load["loaded_tensors"] == 2 * 6 + 3
    assert load["tensor_statuses"] == {"same": 15}
    assert not [f for f in load["findings"] if f.startswith("error:")]
    assert load["probe_peak_rss_gib"] > 0 and load["assay_peak_rss_gib"] > 0
    assert load["init_s"] > 0 and load["verify_s"] > 0 and load["audit_s"] > 0
    assert "load audit (assay verify --load): loaded, verdict pass; 15 of 15" in res["stdout"]
    assert res["ok"] is True
    assert list(work.iterdir()) == []  # the checkpoint is removed (no --keep)


def test_gpu_check_sizing_of_the_real_shape():
    """The docstring's sizing: 40 Phi-4 layers are 14.66 B parameters, 29.3 GB in bf16, with the real config."""
    mod = load_gpu_check()
    shape = mod.shape_for(False, 40)
    assert (shape["hidden_size"], shape["num_attention_heads"], shape["num_key_value_heads"]) == (5120, 40, 10)
    assert (shape["intermediate_size"], shape["vocab_size"]) == (17920, 100352)
    per_layer, outside = mod.parameter_count(shape)
    assert round(per_layer / 1e6, 1) == 340.8 and round(outside / 1e9, 2) == 1.03
    assert round((40 * per_layer + outside) / 1e9, 2) == 14.66
    assert round((40 * per_layer + outside) * 2 / 1e9, 1) == 29.3


@pytest.mark.parametrize(
    ("layers", "message"),
    [("100000", "does not fit the free disk"), ("abc", "expected a number or auto"), ("0", "at least 1")],
)
def test_gpu_check_refuses_a_layer_count_it_cannot_run(tmp_path, layers, message):
    """Bad input: one line, exit 2, before any model is built (100000 real layers would be 68 TB)."""
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_rerun_check.py"),
            "--device",
            "cpu",
            "--layers",
            layers,
            "--only",
            "load",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr[-2000:]
    assert proc.stderr.startswith("error: --layers") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written
