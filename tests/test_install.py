"""Packaging: the assay.* namespace maps the top-level folders in both editable and normal installs."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_editable_install_maps_top_level_folders():
    for sub in ("cli", "manifests", "recipes", "verify"):
        spec = importlib.util.find_spec(f"assay.{sub}")
        assert spec is not None and Path(spec.origin).resolve() == (ROOT / sub / "__init__.py").resolve()


def test_every_subpackage_is_listed_for_normal_installs():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    for name, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            assert ".".join((name, *rel)) in listed, f"{init.parent} is not in [tool.setuptools] packages"


def test_normal_install_is_self_contained(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(
        ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache")
    )
    target = tmp_path / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for rel in (
        "assay/cli/main.py",
        "assay/verify/hashing.py",
        "assay/manifests/schema.py",
        "assay/recipes/__init__.py",
        "assay/manifests/examples/tiny-vlm/assay.yaml",
        "assay/manifests/examples/tiny-vlm/release/model-00001-of-00002.safetensors",
    ):
        assert (target / rel).is_file(), rel
    assert not (target / "assay" / "__init__.py").exists()  # 'assay' is a namespace of the mapped folders
    # Only the product ships: no demo build scripts, test servers or tiny-model builders.
    assert not list((target / "assay" / "manifests" / "examples").rglob("*.py"))
    for test_only in ("hubs/olah_server.py", "hubs/registry_server.py", "evals/serve.py", "evals/tinymodels.py"):
        assert not (target / "assay" / test_only).exists(), test_only
    env = dict(os.environ, PYTHONPATH=str(target))
    code = "import assay.verify, assay.cli.main as m; print(assay.verify.__file__); m.main(['--help'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(str(target))
    # The installed copy verifies its own bundled demo.
    manifest = target / "assay/manifests/examples/tiny-vlm/assay.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "assay.cli", "verify", str(manifest), "--strict"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
