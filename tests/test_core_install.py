"""The core install (``pip install assay``, no extras) runs the hash, structure and attestation verbs without torch.

Runs the real CLI in ``.venv-core``: a virtual environment that has assay installed (editable) with its core
dependencies only, built by ``tests/run.sh`` (or point ``ASSAY_TEST_CORE_PYTHON`` at another such interpreter).
Nothing is simulated: torch, transformers, DVC, tokenizers, pyarrow and pillow are really absent there.  The
verbs that need them exit 2 with the one-line ``pip install 'assay[X]'`` message, and the audit marks the steps
that need them ``not-checked`` with ``needs: extra`` (fail closed: the audit does not pass).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import DEMO, ROOT

# Not in the core install: each belongs to an extra (pyproject.toml).
HEAVY = ("torch", "transformers", "dvc", "tokenizers", "pyarrow", "PIL", "safetensors")


@pytest.fixture(scope="module")
def core_python() -> Path:
    given = os.environ.get("ASSAY_TEST_CORE_PYTHON")
    py = Path(given) if given else ROOT / ".venv-core" / "bin" / "python"
    if not py.exists():
        pytest.fail(
            f"no core-install interpreter at {py}: build it with `bash tests/run.sh` (its .venv-core step: "
            "python3 -m venv .venv-core && .venv-core/bin/pip install -e .), or set ASSAY_TEST_CORE_PYTHON"
        )
    return py


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A private copy of the demo release, shared by this module's tests (they only read it, or write beside it)."""
    root = tmp_path_factory.mktemp("core")
    shutil.copytree(DEMO, root / "tiny-vlm", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def core(py: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``assay ARGS`` in the core venv (its own interpreter, none of this test process's packages)."""
    full = dict(os.environ, DVC_NO_ANALYTICS="1", COLUMNS="200")
    full.pop("ASSAY_DEBUG", None)
    full.pop("PYTHONPATH", None)
    full.update(env or {})
    return subprocess.run(
        [str(py), "-m", "assay.cli", *args], capture_output=True, text=True, cwd=cwd, env=full, timeout=300
    )


def assert_missing_extra(proc: subprocess.CompletedProcess, extra: str, module: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("assay: error:")]
    assert len(lines) == 1, proc.stderr
    assert f"pip install 'assay[{extra}]'" in lines[0] and repr(module) in lines[0], lines[0]


def test_core_venv_lacks_the_heavy_packages(core_python):
    proc = subprocess.run([str(core_python), "-c", "import torch"], capture_output=True, text=True)
    assert proc.returncode != 0 and "No module named 'torch'" in proc.stderr, proc.stderr
    code = (
        "import importlib.util, sys\n"
        "print([m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None])\n"
        "import assay.cli.main\n"
    )
    proc = subprocess.run([str(core_python), "-c", code, *HEAVY], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_every_module_imports_without_the_extras(core_python):
    """Heavy imports are lazy (inside the verb or step that needs them): every module of the package imports in the
    core install, and importing all of them loads none of the extras' packages."""
    code = (
        "import importlib, pkgutil, sys\n"
        "names, bad = [], []\n"
        "for pkg in ('cli', 'manifests', 'recipes', 'verify', 'hubs', 'mixtures', 'evals', 'audit', 'attest'):\n"
        "    top = importlib.import_module('assay.' + pkg)\n"
        "    for info in pkgutil.walk_packages(top.__path__, top.__name__ + '.'):\n"
        "        if info.name.endswith('__main__'):\n"
        "            continue\n"
        "        names.append(info.name)\n"
        "        try:\n"
        "            importlib.import_module(info.name)\n"
        "        except BaseException as exc:\n"
        "            bad.append(f'{info.name}: {exc!r}')\n"
        "heavy = sorted({k.split('.')[0] for k in sys.modules} & set(sys.argv[1:]))\n"
        "print(len(names), bad, heavy)\n"
    )
    proc = subprocess.run([str(core_python), "-c", code, *HEAVY], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    count, rest = proc.stdout.split(" ", 1)
    assert int(count) > 100, proc.stdout  # the walk really reached the modules
    assert rest.strip() == "[] []", proc.stdout


def test_core_venv_pip_check_is_clean(core_python):
    proc = subprocess.run(
        [str(core_python), "-m", "pip", "check", "--disable-pip-version-check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No broken requirements found" in proc.stdout, proc.stdout


def test_verify_strict(core_python, work):
    proc = core(core_python, "verify", "tiny-vlm/assay.yaml", "--strict", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["ok"] is True and out["summary"]["failed"] == 0 and out["summary"]["hashed"] > 0, out["summary"]


def test_lock_writes_the_committed_lock_again(core_python, tmp_path):
    shutil.copytree(DEMO, tmp_path / "tiny-vlm", ignore=shutil.ignore_patterns("__pycache__"))
    lock = tmp_path / "tiny-vlm" / "assay.lock.yaml"
    lock.unlink()
    proc = core(core_python, "lock", "tiny-vlm/assay.yaml", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert lock.read_text() == (DEMO / "assay.lock.yaml").read_text()


def test_verify_refuses_a_changed_byte(core_python, tmp_path):
    """Control: the core install's verify really hashes (a flipped byte fails, exit 1)."""
    shutil.copytree(DEMO, tmp_path / "tiny-vlm", ignore=shutil.ignore_patterns("__pycache__"))
    shard = tmp_path / "tiny-vlm" / "release" / "model-00002-of-00002.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    proc = core(core_python, "verify", "tiny-vlm/assay.yaml", "--strict", "--json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["ok"] is False


def test_inspect_init_diff_schema(core_python, work, tmp_path):
    proc = core(core_python, "inspect", "tiny-vlm/release/model-00001-of-00002.safetensors", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)  # the header as read
    folder = tmp_path / "model"
    shutil.copytree(work / "tiny-vlm" / "release", folder)
    proc = core(core_python, "init", str(folder), "--publisher", "Example Lab", "--license", "apache-2.0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (folder / "assay.yaml").is_file()
    proc = core(core_python, "diff", "tiny-vlm/assay.yaml", "tiny-vlm/assay.failing.yaml", "--json", cwd=work)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert json.loads(proc.stdout)
    proc = core(core_python, "schema", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["$schema"].startswith("https://json-schema.org/")


def test_export_cyclonedx(core_python, work):
    proc = core(core_python, "export", "tiny-vlm/assay.yaml", "--format", "cyclonedx", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["bomFormat"] == "CycloneDX"


def test_rescore_needs_no_model(core_python, work):
    proc = core(core_python, "rescore", "tiny-vlm/assay.yaml", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["ok"] is True


def test_keygen_sign_and_verify_the_signature(core_python, work, tmp_path):
    keys = tmp_path / "keys"
    proc = core(core_python, "keygen", "--out", str(keys), "--type", "ecdsa-p256", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    release = tmp_path / "release"
    shutil.copytree(work / "tiny-vlm" / "release", release)
    proc = core(core_python, "sign", str(release), "--key", str(keys / "assay.key"), cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (release / "model.sig").is_file()
    proc = core(
        core_python,
        "verify",
        str(release),
        "--signature",
        str(release / "model.sig"),
        "--key",
        str(keys / "assay.pub"),
        "--json",
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize(
    ("args", "extra", "module"),
    [
        (("rerun", "tiny-vlm/assay.yaml"), "rerun", "torch"),
        (("rebuild", "tiny-vlm/assay.yaml"), "rebuild", "dvc"),
        (("data", "check", "tiny-vlm/assay.yaml"), "rebuild", "pyarrow"),
        (("verify", "tiny-vlm/assay.yaml", "--load"), "rerun", "torch"),  # torch is checked before transformers
    ],
)
def test_verbs_that_need_an_extra_say_which(core_python, work, args, extra, module):
    assert_missing_extra(core(core_python, *args, cwd=work), extra, module)


def test_audit_marks_the_steps_that_need_extras_not_checked(core_python, work, tmp_path):
    """Fail closed: the load, data, rebuild and rerun steps did not run, so the audit does not pass (exit 1), and
    each of their claims is not-checked with needs: extra; the core steps ran.  Its attestation is authentic."""
    out = tmp_path / "audit-out"
    keys = tmp_path / "keys"
    env = {"ASSAY_KEY_DIR": str(keys)}
    proc = core(core_python, "audit", "tiny-vlm/assay.yaml", "--out", str(out), "--json", cwd=work, env=env)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    report = json.loads((out / "report.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["verify"]["status"] == "ok" and steps["rescore"]["status"] == "ok", steps.keys()
    for name, module in (("load", "torch"), ("data", "pyarrow"), ("rebuild", "dvc"), ("rerun", "torch")):
        step = steps[name]
        assert step["status"] == "not-checked", (name, step["status"], step.get("error"))
        assert repr(module) in step["error"] and "pip install 'assay[" in step["error"], step["error"]
        assert step["claims"], name
        for claim in step["claims"]:
            assert claim["verdict"] in ("not-checked", "attested"), claim
            assert "extra" in claim["needs"], claim
    assert report["counts"]["not_checked"] > 0 and report["counts"]["passed"] > 0, report["counts"]
    proc = core(
        core_python,
        "attest",
        "verify",
        str(out / "attestation.dsse.json"),
        "--manifest",
        "tiny-vlm/assay.yaml",
        "--key",
        str(keys / "assay.pub"),
        cwd=work,
        env=env,
    )
    # Authentic (the signature checks out in the core install), and it records the failed audit: exit 1.
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "the attestation is authentic" in proc.stdout and "[audit-failed]" in proc.stdout, proc.stdout
    assert "signature    ok" in proc.stdout, proc.stdout


def test_push_and_pull_through_a_directory_hub(core_python, work, tmp_path):
    """The hub verbs in the core install: push the demo to a dir:// hub, pull it back, verify what was pulled."""
    hub = f"dir://{tmp_path / 'hub'}#tiny-vlm:0.1.0"
    proc = core(core_python, "push", "tiny-vlm/assay.yaml", "--to", hub, "--create", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    pulled = tmp_path / "pulled"
    proc = core(core_python, "pull", hub, "--to", str(pulled), "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = core(core_python, "verify", str(pulled / "assay.yaml"), "--strict", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["ok"] is True
