"""``assay rerun`` on the command line, with the scorer the manifest names (``lm-eval:exact_match`` from
assay.evals.scorers, the same code ``assay rescore`` runs): JSON and table output, exit codes, subsets, bad input,
and a start-up that imports neither torch nor transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import run_assay
from rerun_helpers import file_sha256, make_release, publish, reference_samples, write_published

LOG = "evals/charts.assay.jsonl"
CLAIM = SimpleNamespace(name="charts", scorer="lm-eval:exact_match", metric="exact_match", filter=None)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    from assay.evals.backends import Sampling
    from assay.evals.backends.transformers import TransformersBackend
    from assay.evals.scoring import score_rerun_sample
    from support.tinymodels import build_tiny_text_model

    root = tmp_path_factory.mktemp("cli-release")
    model_dir = build_tiny_text_model(root / "model")
    backend = TransformersBackend.from_pretrained(str(model_dir), device="cpu", batch_size=4)
    samples = publish(
        reference_samples(),
        backend,
        sampling=Sampling(max_new_tokens=10),
        whole_output=True,
        scorer=lambda s, _claim: score_rerun_sample(s, CLAIM),
    )
    assert sum(s.scores["exact_match"] for s in samples) == 6  # the harness scorer accepts exactly the 6 targets
    sha = write_published(root / "release" / LOG, samples)
    return make_release(
        root,
        model_dir,
        [
            {
                "name": "charts",
                "metric": "exact_match",
                "published": [{"value": 50.0, "source": "model card"}],
                "logs": [{"path": LOG, "sha256": sha, "format": "assay"}],
                "scorer": "lm-eval:exact_match",
                "decoding": {
                    "temperature": 0.0,
                    "max_new_tokens": 10,
                    "chat_template_sha256": file_sha256(model_dir / "chat_template.jinja"),
                },
                "margin": 1.0,
            }
        ],
    )


ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def test_cli_rerun_json_reproduces(release, tmp_path):
    proc = run_assay(
        "rerun", str(release), "--device", "cpu", "--batch-size", "4", "--json", "--out", str(tmp_path / "out"), env=ENV
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["ok"] is True and res["verified"] is True
    (b,) = res["benchmarks"]
    assert b["scorer"] == "lm-eval:exact_match" and b["verdict"]["verdict"] == "pass"
    assert b["verdict"]["rerun_score"] == 50.0 and b["verdict"]["output_agreement"] == 1.0
    assert os.path.isfile(b["log"]) and b["log"].startswith(str(tmp_path / "out"))


def test_cli_rerun_table_with_a_subset(release, tmp_path):
    proc = run_assay(
        "rerun", str(release), "--device", "cpu", "--limit", "5", "--seed", "3", "--out", str(tmp_path / "out"), env=ENV
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "charts" in proc.stdout and "5/12" in proc.stdout and "stratified by meta.subject" in proc.stdout
    assert "re-run log" in proc.stdout


def test_cli_rerun_bad_input(release, tmp_path):
    for args, msg in (
        (["--backend", "vllm"], "expected transformers or openai"),
        (["-b", "nope"], "no evals entry named nope"),
        (["--backend", "openai"], "needs --base-url"),
    ):
        proc = run_assay("rerun", str(release), *args, "--out", str(tmp_path / "o"), env=ENV)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("assay: error:") and msg in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_startup_imports_no_torch():
    code = (
        "import sys, assay.cli.main as m\n"
        "try:\n    m.main(['rerun', '--help'])\nexcept SystemExit:\n    pass\n"
        "bad = [k for k in ('torch', 'transformers', 'requests', 'numpy') if k in sys.modules]\n"
        "print('HEAVY', bad)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout[-500:] + proc.stderr
