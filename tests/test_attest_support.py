"""Helpers shared by the attestation / signing tests (test_attest*.py, test_oms*.py); this module holds no tests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

# Runs the real `assay` entry point (assay.cli.main.main: exit codes, one-line errors).  Until main.py registers
# cli/attest_verbs.py and wires `assay verify --signature`, the harness does both on the app first; once main.py
# does it, the harness changes nothing and the tests exercise the real wiring.
_HARNESS = r"""
import sys
from pathlib import Path
from typing import List, Optional
import typer
from assay.cli import main as m
from assay.cli import attest_verbs as v
names = {c.name or c.callback.__name__ for c in m.app.registered_commands}
if "keygen" not in names:
    v.register(m.app)
verify_cmd = next(c for c in m.app.registered_commands if (c.name or c.callback.__name__) == "verify")
import inspect
if "signature" not in inspect.signature(verify_cmd.callback).parameters:
    m.app.registered_commands.remove(verify_cmd)
    _orig = verify_cmd.callback
    @m.app.command("verify")
    def verify(manifest: Path = typer.Argument(...), signature: Optional[Path] = typer.Option(None, "--signature"),
               key: Optional[Path] = typer.Option(None, "--key"), json_out: bool = typer.Option(False, "--json")):
        if signature is None:
            return _orig(manifest=manifest, dir=None, strict=False, blake3=False, workers=None, json_out=json_out)
        v.signature_verify_verb(manifest, signature, key, json_out=json_out)
m.main(sys.argv[1:])
"""


def run_assay(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", _HARNESS, *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=300
    )


def make_release(root: Path) -> Path:
    """A small release folder: weights-like binary, config, tokenizer, a nested file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text('{"architectures": ["TinyForCausalLM"]}\n')
    (root / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (root / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}}\n')
    (root / "eval").mkdir(exist_ok=True)
    (root / "eval" / "results.json").write_text('{"acc": 0.5}\n')
    return root


def file_digests(root: Path) -> list[tuple[str, str]]:
    return [
        (p.relative_to(root).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]
