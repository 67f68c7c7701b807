"""Verification at the scale of real releases: bounded safetensors headers and what ``assay verify`` imports.

* A valid 1,000,000-tensor header (~70 MB) is refused by assay's documented, configurable header limit
  (``ASSAY_MAX_SAFETENSORS_HEADER``, default 16 MiB) before its bytes are read, so auditing it allocates almost
  nothing; under the limit a header is audited within a memory bound proportional to its size (measured with
  tracemalloc), and the limit can be raised or lowered.
* ``assay verify --strict`` hashes before it imports rich, the Hub client or any ML stack, and never imports the
  Hub client at all (the model card's front matter is found with a copy of huggingface_hub's pattern, checked
  here against the installed one).

No timing is asserted here: the speed figures are in benchmarks/verify_speed.py.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from conftest import ROOT, run_assay

from assay.manifests.errors import InputError
from assay.verify.safetensors_audit import (
    DEFAULT_HEADER_LIMIT,
    HEADER_LIMIT_ENV,
    MAX_HEADER_SIZE,
    audit_safetensors,
    header_limit,
)

# The bound the accepted path is held to, in bytes of traced memory per header byte (module docstring of
# verify/safetensors_audit.py: "about 20-25 bytes of memory per header byte"; traced memory is below RSS).
BYTES_PER_HEADER_BYTE = 30


def write_many_tensors(path: Path, n: int) -> int:
    """A valid safetensors file of ``n`` one-element BF16 tensors; returns its header length (written by hand:
    the official writer would need every tensor in memory)."""
    parts = [f'"t{i}":{{"dtype":"BF16","shape":[1],"data_offsets":[{2 * i},{2 * i + 2}]}}' for i in range(n)]
    raw = ("{" + ",".join(parts) + "}").encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.write(b"\0" * (2 * n))
    return len(raw)


def traced_peak(fn) -> tuple[object, int]:
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def million(tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("million") / "model.safetensors"
    return path, write_many_tensors(path, 1_000_000)


def test_million_tensor_header_is_refused_by_the_limit_before_it_is_read(million, monkeypatch):
    monkeypatch.delenv(HEADER_LIMIT_ENV, raising=False)
    path, n = million
    assert 60_000_000 < n < MAX_HEADER_SIZE  # the official library's own limit would accept it
    report, peak = traced_peak(lambda: audit_safetensors(path))
    assert not report.ok and report.tensors == [] and report.header_size == n
    assert len(report.errors) == 1 and HEADER_LIMIT_ENV in report.errors[0] and "not read" in report.errors[0]
    assert f"{DEFAULT_HEADER_LIMIT:,}" in report.errors[0]
    assert peak < 1_000_000  # nothing of the 70 MB header was read or allocated


def test_million_tensor_header_through_the_cli_fails_with_one_line(million):
    path, _ = million
    proc = run_assay("inspect", str(path), "--json", env={HEADER_LIMIT_ENV: ""})
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and any(HEADER_LIMIT_ENV in e for e in doc["errors"])


def test_the_limit_is_configurable(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    n = write_many_tensors(path, 2_000)
    monkeypatch.setenv(HEADER_LIMIT_ENV, str(n - 8))
    refused = audit_safetensors(path)
    assert not refused.ok and HEADER_LIMIT_ENV in refused.errors[0]
    monkeypatch.setenv(HEADER_LIMIT_ENV, str(n))  # the limit is inclusive
    assert audit_safetensors(path).ok
    monkeypatch.delenv(HEADER_LIMIT_ENV)
    accepted = audit_safetensors(path)
    assert accepted.ok and len(accepted.tensors) == 2_000 and accepted.parameters == 2_000
    monkeypatch.setenv(HEADER_LIMIT_ENV, "10_000_000_000")  # never above the official library's limit
    assert header_limit() == MAX_HEADER_SIZE


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_a_bad_limit_is_bad_input(tmp_path, value, monkeypatch):
    path = tmp_path / "m.safetensors"
    write_many_tensors(path, 10)
    monkeypatch.setenv(HEADER_LIMIT_ENV, value)
    with pytest.raises(InputError, match=HEADER_LIMIT_ENV):
        header_limit()
    proc = run_assay("inspect", str(path), env={HEADER_LIMIT_ENV: value})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and HEADER_LIMIT_ENV in proc.stderr and "Traceback" not in proc.stderr


def test_an_accepted_header_is_audited_within_bounded_memory(tmp_path, monkeypatch):
    monkeypatch.delenv(HEADER_LIMIT_ENV, raising=False)
    path = tmp_path / "m.safetensors"
    n = write_many_tensors(path, 20_000)
    report, peak = traced_peak(lambda: audit_safetensors(path))
    assert report.ok and len(report.tensors) == 20_000
    assert peak <= BYTES_PER_HEADER_BYTE * n, f"{peak:,} B traced for a {n:,} B header"


def test_the_card_pattern_is_the_hubs():
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    from assay.verify.metadata import CARD_YAML_BLOCK, parse_card

    assert (CARD_YAML_BLOCK.pattern, CARD_YAML_BLOCK.flags) == (REGEX_YAML_BLOCK.pattern, REGEX_YAML_BLOCK.flags)
    card = parse_card("---\nlicense: mit\n---\n# Model\ntext\n")
    assert card.front_matter == {"license": "mit"} and card.error is None and "text" in card.prose


def test_verify_hashes_before_importing_rich_or_the_hub(tmp_path):
    """A real ``assay verify --strict`` of the example release; ``hash_many`` is wrapped (not replaced) to record
    which modules were loaded when hashing started."""
    script = textwrap.dedent(
        """
        import json, sys
        import assay.verify.hashing as hashing
        real, seen = hashing.hash_many, {}
        def wrapped(*a, **k):
            seen["before"] = sorted(m.split(".")[0] for m in sys.modules)
            return real(*a, **k)
        hashing.hash_many = wrapped
        from assay.cli.main import main
        try:
            main(["verify", sys.argv[1], "--strict", "--json"])
        except SystemExit as e:
            code = e.code
        sys.stderr.write(json.dumps({"code": code, "before": seen.get("before"),
                                     "after": sorted(m.split(".")[0] for m in sys.modules)}))
        """
    )
    manifest = ROOT / "manifests" / "examples" / "tiny-vlm" / "assay.yaml"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(manifest)],
        capture_output=True,
        text=True,
        env={"ASSAY_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    out = json.loads(proc.stderr.strip().splitlines()[-1])
    assert out["code"] == 0 and json.loads(proc.stdout)["summary"]["hashed"] > 0
    assert out["before"] is not None  # hashing ran through the wrapped function
    heavy = {"rich", "huggingface_hub", "httpx", "requests", "torch", "transformers", "dvc", "numpy", "safetensors"}
    assert heavy.isdisjoint(out["before"]), heavy & set(out["before"])
    assert {"huggingface_hub", "torch", "transformers", "dvc"}.isdisjoint(out["after"])
