"""Directory hubs, pull and push end to end: round trip, idempotence, partial pulls, tampering, resume, faults."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from assay.hubs.pull import pull
from assay.hubs.push import push
from assay.manifests.yamlio import dump_yaml, read_yaml_file
from assay.verify.release import verify_release

from conftest import run_assay


@pytest.fixture
def hub(tmp_path, demo) -> str:
    uri = f"dir://{tmp_path / 'hub'}#tiny-vlm:0.1.0"
    result = push(demo, uri, create=True)
    assert result.ok, result
    return uri


def lock_of(manifest: Path) -> dict:
    return read_yaml_file(manifest.with_name("assay.lock.yaml"))[0]


def test_push_is_idempotent_and_tags_a_content_addressed_package(tmp_path, demo, hub):
    first = {f.status for f in push(demo, hub).files}
    assert first == {"exists"}
    again = push(demo, hub)
    assert again.ok and again.bytes_transferred == 0
    root = tmp_path / "hub"
    ref = (root / "refs" / "tiny-vlm" / "0.1.0").read_text().strip()
    assert ref == again.revision
    pkg = json.loads((root / "packages" / "sha256" / ref.removeprefix("sha256:")).read_bytes())
    paths = [f["path"] for f in pkg["files"]]
    assert "assay.yaml" in paths and "assay.lock.yaml" in paths and "model-00001-of-00002.safetensors" in paths
    for f in pkg["files"]:
        blob = root / "blobs" / "sha256" / f["sha256"]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == f["sha256"]


def test_round_trip_reproduces_the_release_digest(tmp_path, demo, hub):
    to = tmp_path / "pulled"
    proc = run_assay("pull", hub, "--to", str(to), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["release_digest"] == lock_of(demo)["release_digest"]
    assert {f["status"] for f in out["files"]} == {"downloaded"}
    proc = run_assay("verify", str(to / "assay.yaml"), "--strict", "--json")
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["release_digest"] == lock_of(demo)["release_digest"]
    # Pulling again transfers nothing: the files are present and verified.
    again = pull(hub, to=to)
    assert again.ok and again.bytes_transferred == 0 and {f.status for f in again.files} == {"present"}


def test_partial_pull_by_pattern(tmp_path, hub):
    to = tmp_path / "partial"
    result = pull(hub, to=to, only=["*.json", "tokenizer*"])
    assert result.ok and result.release_digest is None
    got = sorted(p.name for p in to.iterdir() if p.is_file())
    assert "model-00001-of-00002.safetensors" not in got
    assert {"config.json", "tokenizer.json", "tokenizer_config.json", "assay.yaml", "assay.lock.yaml"} <= set(got)
    assert run_assay("pull", hub, "--to", str(tmp_path / "none"), "--only", "*.nothing").returncode == 2


def test_tampered_blob_fails_pull_and_leaves_nothing(tmp_path, demo, hub):
    sha = next(f["sha256"] for f in lock_of(demo)["files"] if f["path"] == "model-00002-of-00002.safetensors")
    blob = tmp_path / "hub" / "blobs" / "sha256" / sha
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    to = tmp_path / "pulled"
    proc = run_assay("pull", hub, "--to", str(to))
    assert proc.returncode == 1
    assert "model-00002-of-00002.safetensors" in proc.stdout and "mismatch" in proc.stdout
    assert not (to / "model-00002-of-00002.safetensors").exists()
    assert not (to / ".assay" / "partial").exists()  # the bad bytes were deleted


def test_interrupted_pull_resumes_from_the_partial_file(tmp_path, demo, hub):
    to = tmp_path / "pulled"
    src = demo.parent / "release" / "model-00002-of-00002.safetensors"
    data = src.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    partial = to / ".assay" / "partial" / sha
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[:100_000])  # what an interrupted transfer leaves behind
    result = pull(hub, to=to)
    assert result.ok
    row = next(f for f in result.files if f.path == src.name)
    assert row.status == "resumed" and row.bytes_transferred == len(data) - 100_000
    assert (to / src.name).read_bytes() == data


def test_corrupt_partial_file_is_never_accepted(tmp_path, demo, hub):
    to = tmp_path / "pulled"
    data = (demo.parent / "release" / "tokenizer.json").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    partial = to / ".assay" / "partial" / sha
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"X" * 100)
    first = pull(hub, to=to)
    row = next(f for f in first.files if f.path == "tokenizer.json")
    assert row.status == "mismatch" and not first.ok and not (to / "tokenizer.json").exists()
    assert not partial.exists()
    assert pull(hub, to=to).ok  # the retry starts clean


def test_file_size_limit_is_a_clear_error_with_nothing_left(tmp_path, hub):
    to = tmp_path / "pulled"

    def limit():  # a process that may not write files over 200 kB: writes fail with EFBIG, like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = subprocess.run(
        [sys.executable, "-m", "assay.cli", "pull", hub, "--to", str(to)],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        env=dict(os.environ, COLUMNS="200"),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot write" in proc.stdout and "File too large" in proc.stdout
    assert not (to / "model-00002-of-00002.safetensors").exists()
    partial = to / ".assay" / "partial"
    assert not partial.exists() or not any(partial.iterdir())


def test_pull_refuses_to_write_through_a_symlink_out_of_the_target(tmp_path, hub):
    to = tmp_path / "pulled"
    to.mkdir()
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (to / "config.json").symlink_to(outside)
    result = pull(hub, to=to)
    row = next(f for f in result.files if f.path == "config.json")
    assert row.status == "failed" and "outside" in row.message and not result.ok
    assert outside.read_text() == "{}"


def test_manifest_with_a_hub_source_locks_and_pulls_at_the_pinned_package(tmp_path, demo, hub):
    data, _ = read_yaml_file(demo)
    for art in data["artifacts"]:
        art.pop("source", None)  # the pushed package holds every file of the release
    data["sources"] = [{"name": "hub", "uri": hub}]
    manifest = tmp_path / "from-hub.yaml"
    manifest.write_text(dump_yaml(data))
    proc = run_assay("lock", str(manifest), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lock = read_yaml_file(tmp_path / "from-hub.lock.yaml")[0]
    assert lock["sources"][0]["revision"].startswith("sha256:")
    assert lock["release_digest"] == lock_of(demo)["release_digest"]
    to = tmp_path / "pulled"
    result = pull(str(manifest), to=to)
    assert result.ok and result.release_digest == lock["release_digest"]
    assert verify_release(to / "from-hub.yaml", strict=True).ok
    # Re-tag the hub with different content: the lock still pins the old package, so pulling it fails.
    (tmp_path / "hub" / "refs" / "tiny-vlm" / "0.1.0").write_text("sha256:" + "0" * 64 + "\n")
    proc = run_assay("lock", str(manifest))
    assert proc.returncode == 2 and "package sha256:000" in proc.stderr


def test_push_refuses_a_release_that_does_not_verify(tmp_path, demo):
    target = demo.parent / "release" / "config.json"
    target.write_bytes(target.read_bytes().replace(b"}", b" }", 1))
    proc = run_assay("push", str(demo), "--to", f"dir://{tmp_path / 'hub'}#x:1", "--create")
    assert proc.returncode == 1 and "does not verify" in proc.stdout
    assert not (tmp_path / "hub" / "refs").exists()


def test_concurrent_pushes_to_one_hub(tmp_path, demo):
    uri = f"dir://{tmp_path / 'hub'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assay.cli", "push", str(demo), "--to", f"{uri}#tiny-vlm:v{i}", "--create"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    refs = {(tmp_path / "hub" / "refs" / "tiny-vlm" / f"v{i}").read_text() for i in range(4)}
    assert len(refs) == 1  # same content, same package digest
    assert pull(f"{uri}#tiny-vlm:v3", to=tmp_path / "p").ok
