"""`assay push` / `assay pull` through a real OCI registry: round trip, partial pulls, tampering, a server killed
mid-download and restarted (resume), and idempotent re-push."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from assay.hubs.pull import pull
from assay.hubs.push import push
from assay.manifests.yamlio import read_yaml_file

from conftest import KillAfter, run_assay
from support.registry_server import start_registry


@pytest.fixture
def registry(tmp_path):
    with start_registry(tmp_path / "storage") as reg:
        yield reg


def test_round_trip_through_the_registry(tmp_path, demo, registry):
    uri = f"oci://{registry.host}/models/tiny-vlm:0.1.0"
    proc = run_assay("push", str(demo), "--to", uri, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pushed = json.loads(proc.stdout)
    assert {f["status"] for f in pushed["files"]} == {"uploaded"}
    again = json.loads(run_assay("push", str(demo), "--to", uri, "--json").stdout)
    assert {f["status"] for f in again["files"]} == {"exists"} and again["revision"] == pushed["revision"]

    to = tmp_path / "pulled"
    proc = run_assay("pull", uri, "--to", str(to), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    lock = read_yaml_file(demo.with_name("assay.lock.yaml"))[0]
    assert out["revision"] == pushed["revision"] and out["release_digest"] == lock["release_digest"]
    verified = json.loads(run_assay("verify", str(to / "assay.yaml"), "--strict", "--json").stdout)
    assert verified["ok"] and verified["release_digest"] == lock["release_digest"]

    partial = pull(f"oci://{registry.host}/models/tiny-vlm@{pushed['revision']}", to=tmp_path / "p", only=["*.json"])
    assert partial.ok and all(f.path.endswith(".json") for f in partial.files)


def test_tampered_registry_blob_fails_the_pull(tmp_path, demo, registry):
    uri = f"oci://{registry.host}/models/tiny-vlm:0.1.0"
    assert push(demo, uri).ok
    lock = read_yaml_file(demo.with_name("assay.lock.yaml"))[0]
    sha = next(f["sha256"] for f in lock["files"] if f["path"] == "model-00001-of-00002.safetensors")
    blob = registry.blob_path(f"sha256:{sha}")
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0x40  # same size, different bytes: the registry serves it without complaint
    blob.write_bytes(bytes(data))
    to = tmp_path / "pulled"
    proc = run_assay("pull", uri, "--to", str(to))
    assert proc.returncode == 1
    assert "model-00001-of-00002.safetensors" in proc.stdout and "mismatch" in proc.stdout
    assert not (to / "model-00001-of-00002.safetensors").exists()


def test_server_killed_mid_download_then_resume(tmp_path, registry):
    # A release with one 48 MiB weights file, packaged with assay init.
    release = tmp_path / "big"
    release.mkdir()
    payload = np.random.default_rng(0).integers(0, 256, size=48 * 1024 * 1024, dtype=np.uint8).tobytes()
    (release / "weights.bin.raw").write_bytes(payload)
    (release / "config.json").write_text("{}")
    assert run_assay("init", str(release), "--name", "big").returncode == 0
    uri = f"oci://{registry.host}/models/big:1"
    assert push(release / "assay.yaml", uri).ok

    to = tmp_path / "pulled"
    first = pull(uri, to=to, workers=1, progress=KillAfter(registry.proc, 8 * 1024 * 1024))
    assert not first.ok and first.release_digest is None
    row = next(f for f in first.files if f.path == "weights.bin.raw")
    assert row.status == "failed" and "run the pull again to resume" in row.message
    assert not (to / "weights.bin.raw").exists()  # nothing unverified is put in place
    partial = to / ".assay" / "partial" / hashlib.sha256(payload).hexdigest()
    assert 0 < partial.stat().st_size < len(payload)
    kept = partial.stat().st_size

    with start_registry(registry.root) as again:  # same storage, new process (and port)
        second = pull(f"oci://{again.host}/models/big:1", to=to, workers=1)
    assert second.ok, second.files
    row = next(f for f in second.files if f.path == "weights.bin.raw")
    assert row.status == "resumed" and row.bytes_transferred == len(payload) - kept
    assert hashlib.sha256((to / "weights.bin.raw").read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert not partial.exists()
