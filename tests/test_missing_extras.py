"""An optional extra that is not installed: the CLI exits 2 with the ``pip install 'assay[X]'`` line, never 3.

The test extra installs every optional package, so absence is simulated: each run starts Python with
``sys.modules[name] = None`` before assay is imported, which makes ``import name`` raise ImportError exactly as it
does when the package is not installed, then calls ``assay.cli.main.main()`` as the console script would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

FIX = ROOT / "tests" / "fixtures" / "evals"

# sys.argv[1] is a comma-separated list of modules to hide; the rest are assay's arguments.
WRAPPER = (
    "import sys\n"
    "for name in sys.argv[1].split(','):\n"
    "    sys.modules[name] = None  # what an uninstalled package looks like to import\n"
    "from assay.cli.main import main\n"
    "main(sys.argv[2:])\n"
)


def assay_without(modules: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the assay CLI in a fresh interpreter in which ``modules`` (comma-separated) cannot be imported."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env.pop("ASSAY_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", WRAPPER, modules, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


def assert_missing_extra(proc: subprocess.CompletedProcess, extra: str, module: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("assay: error:")]
    assert len(lines) == 1, proc.stderr
    assert f"pip install 'assay[{extra}]'" in lines[0] and repr(module) in lines[0], lines[0]


@pytest.mark.parametrize("verb", ["verify", "lock"])
def test_blake3_flag_without_blake3(demo, verb):
    proc = assay_without("blake3", verb, str(demo), "--blake3")
    assert_missing_extra(proc, "blake3", "blake3")
    assert "--blake3" in proc.stderr


def test_blake3_without_the_flag_does_not_need_it(demo):
    """Control: hiding blake3 only matters when --blake3 asks for it (so the simulation itself is sound)."""
    proc = assay_without("blake3", "verify", str(demo), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


def test_ray_executor_without_ray(demo):
    proc = assay_without("ray", "verify", str(demo), "--executor", "ray", "--strict")
    assert_missing_extra(proc, "ray", "ray")
    assert "--executor ray" in proc.stderr


def test_vlmevalkit_xlsx_without_openpyxl(tmp_path):
    proc = assay_without("openpyxl", "rescore", "--log", str(FIX / "vlmevalkit"), "--format", "vlmevalkit", "--json")
    assert_missing_extra(proc, "evals", "openpyxl")
    assert ".xlsx" in proc.stderr


def test_vlmevalkit_xlsx_with_openpyxl_is_read():
    """Control for the test above: the same command with openpyxl importable gets past reading the .xlsx files."""
    proc = assay_without(
        "no_such_module_hidden", "rescore", "--log", str(FIX / "vlmevalkit"), "--format", "vlmevalkit", "--json"
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "pip install" not in proc.stderr


def test_inspect_numeric_matching_without_inspect_ai():
    """Re-scoring Inspect's match() on a non-float answer needs Inspect's own number parser: fail closed without it."""
    code = (
        "import sys\n"
        "sys.modules['inspect_ai'] = None\n"
        "from assay.evals.harnesses.inspect_ai import inspect_score\n"
        "from assay.manifests.errors import MissingExtra\n"
        "try:\n"
        "    inspect_score('match', {'numeric': True}, 'The answer is ½', '0.5')\n"
        "except MissingExtra as exc:\n"
        "    print('MISSING', exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("MISSING") and "pip install 'assay[evals]'" in proc.stdout, proc.stdout


def test_s3_remote_without_dvc_s3(tmp_path):
    """A DVC remote on s3:// needs the s3 extra's dvc-s3: the adapter raises MissingExtra before any network use."""
    code = (
        "import sys\n"
        "sys.modules['dvc_s3'] = None\n"
        "from pathlib import Path\n"
        "from dvc.repo import Repo\n"
        "from assay.manifests.errors import MissingExtra\n"
        "from assay.mixtures.dvc_adapter import DvcRepo, Tracked\n"
        "root = Path(sys.argv[1])\n"
        "Repo.init(str(root), no_scm=True)\n"
        "(root / '.dvc' / 'config').write_text(\"[core]\\n    no_scm = true\\n    remote = store\\n['remote \\\"store\\\"']\\n\"\n"
        '                                      "    url = s3://bucket/path\\n")\n'
        "repo = DvcRepo(root)\n"
        "try:\n"
        "    repo.open_remote(Tracked(md5='0' * 32, hash_name='md5', size=1, dvc_file='a.dvc'), None)\n"
        "except MissingExtra as exc:\n"
        "    print('MISSING', exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ, DVC_NO_ANALYTICS="1"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("MISSING")]
    assert "pip install 'assay[s3]'" in line and "remote (default)" in line, proc.stdout


# ---------------------------------------------------------------------------------------- the rebuild / rerun extras
# torch, transformers, DVC, tokenizers, pyarrow and pillow are not in the core install (pyproject.toml); the verbs that
# need them say which extra brings them.  tests/test_core_install.py runs the same verbs where they are really absent.


@pytest.mark.parametrize("hidden", ["torch", "transformers"])
def test_rerun_in_process_without_torch_or_transformers(demo, hidden):
    proc = assay_without(hidden, "rerun", str(demo), "--limit", "1")
    assert_missing_extra(proc, "rerun", hidden)
    assert "--backend transformers" in proc.stderr


def test_rerun_openai_backend_does_not_need_torch(demo):
    """Control: the HTTP backend needs neither (it gets past the extras check to its own bad-input error)."""
    proc = assay_without("torch,transformers", "rerun", str(demo), "--backend", "openai")
    assert proc.returncode == 2, proc.stderr
    assert "pip install" not in proc.stderr and "--base-url" in proc.stderr, proc.stderr


def test_rebuild_without_dvc(demo):
    assert_missing_extra(assay_without("dvc", "rebuild", str(demo)), "rebuild", "dvc")


def test_rebuild_without_torch_names_the_recipe(demo):
    """The demo's bf16 recipe is a built-in (torch) step: with DVC present, torch is the missing piece."""
    proc = assay_without("torch", "rebuild", str(demo))
    assert_missing_extra(proc, "rebuild", "torch")
    assert "recipe 'bf16'" in proc.stderr


@pytest.mark.parametrize("hidden", ["pyarrow", "tokenizers"])
def test_data_check_recount_without_its_package(demo, hidden):
    """The demo's mixture has a Parquet component and a counting tokenizer: each needs its package."""
    assert_missing_extra(assay_without(hidden, "data", "check", str(demo)), "rebuild", hidden)


def test_data_check_with_everything_runs(demo):
    """Control for the two tests above: nothing hidden, the recount runs (pass or fail, never exit 2)."""
    proc = assay_without("no_such_module_hidden", "data", "check", str(demo), "--json")
    assert proc.returncode in (0, 1), proc.stderr
    assert "pip install" not in proc.stderr


@pytest.mark.parametrize("hidden", ["torch", "transformers"])
def test_verify_load_without_torch_or_transformers(demo, hidden):
    assert_missing_extra(assay_without(hidden, "verify", str(demo), "--load"), "rerun", hidden)


def test_transformers_backend_without_torch(tmp_path):
    """A library caller that builds the backend itself gets the same MissingExtra as the CLI."""
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from assay.evals.backends import make_backend\n"
        "from assay.manifests.errors import MissingExtra\n"
        "try:\n"
        "    make_backend('transformers', model=sys.argv[1])\n"
        "except MissingExtra as exc:\n"
        "    print('MISSING', exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("MISSING") and "pip install 'assay[rerun]'" in proc.stdout, proc.stdout


def test_image_decoding_without_pillow():
    code = (
        "import sys\n"
        "sys.modules['PIL'] = None\n"
        "from assay.evals.backends import Image\n"
        "from assay.manifests.errors import MissingExtra\n"
        "try:\n"
        "    Image(data=b'\\x89PNG\\r\\n\\x1a\\n').to_pil()\n"
        "except MissingExtra as exc:\n"
        "    print('MISSING', exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("MISSING") and "pip install 'assay[rerun]'" in proc.stdout, proc.stdout
