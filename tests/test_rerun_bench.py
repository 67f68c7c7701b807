"""The re-run benchmarks run end to end on the CPU: ``benchmarks/rerun_overhead.py --quick`` and the GPU device
check's CPU mode ``benchmarks/gpu_rerun_check.py --tiny --device cpu``.  Both must produce identical texts through
assay's backend and the plain loop (timings on a shared CPU are reported, not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

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


def test_gpu_check_runs_in_tiny_cpu_mode(tmp_path):
    res = run("gpu_rerun_check.py", "--tiny", "--device", "cpu", "--repeat", "1", tmp_path=tmp_path)
    assert res["device"] == "cpu" and res["dtype"] == "float32" and res["shape"] == "tiny"
    assert [r["batch_size"] for r in res["results"]] == [1, 32]
    for r in res["results"]:
        assert r["outputs_identical"] is True
        assert r["generated_tokens"] == r["requests"] * r["max_new_tokens"]
        assert r["assay_tokens_per_s"] > 0 and r["plain_tokens_per_s"] > 0
    assert "batch 32:" in res["stdout"]
