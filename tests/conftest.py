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


def artifact_files(manifest: Path) -> dict[str, Path]:
    """Every artifact of a manifest and the file it is read from (artifacts may come from several dir:// sources)."""
    from assay.manifests.release import load_release

    roots = load_release(manifest).roots()
    return {path: Path(root) / path for path, root in roots.items()}


def model_only(manifest: Path) -> Path:
    """Reduce a copy of the demo to its model release: no data, evals or recipes, only the release/ source.

    For tests that build their own sections on top of the plain model release.  Re-locks the manifest.
    """
    from assay.manifests.yamlio import dump_yaml, read_yaml_file
    from assay.audit.locking import lock_release

    data, _ = read_yaml_file(manifest)
    for key in ("data", "evals", "recipes"):
        data.pop(key, None)
    data["sources"] = [s for s in data["sources"] if s["name"] == "default"]
    data["artifacts"] = [a for a in data["artifacts"] if a.get("source") in (None, "default")]
    manifest.write_text(dump_yaml(data))
    assert lock_release(manifest).ok
    return manifest


class KillAfter:
    """A progress sink that SIGKILLs a server process once enough bytes have arrived (a server dying mid-download)."""

    def __init__(self, proc, after: int) -> None:
        self.proc, self.after, self.seen = proc, after, 0

    def start(self, total: int, files: int) -> None:
        pass

    def advance(self, n: int) -> None:
        import signal

        self.seen += n
        if self.seen >= self.after and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def finish(self) -> None:
        pass
