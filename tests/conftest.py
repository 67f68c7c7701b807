"""Shared fixtures.  Tests run against real files, real subprocesses of the installed `assay` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "manifests" / "examples" / "tiny-vlm"
ASSAY = [sys.executable, "-m", "assay.cli"]


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    """Every test gets its own incremental-state database and signing-key folder."""
    monkeypatch.setenv("ASSAY_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("ASSAY_KEY_DIR", str(tmp_path_factory.mktemp("keys")))


@pytest.fixture
def demo(tmp_path) -> Path:
    """A private copy of the bundled demo release (manifest, lock and files); returns the manifest path."""
    dst = tmp_path / "tiny-vlm"
    shutil.copytree(DEMO, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst / "assay.yaml"


def run_assay(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([*ASSAY, *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=300)
