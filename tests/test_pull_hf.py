"""`assay lock` / `assay pull` of hf:// sources against a real Hugging Face-compatible server (olah, offline, on
127.0.0.1): pinned commits, LFS sha256 from the Hub's metadata, partial pulls, content that no longer matches the
lock, and a server killed mid-download."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from assay.hubs.pull import pull
from assay.manifests.yamlio import dump_yaml, read_yaml_file

from conftest import KillAfter, model_only, run_assay
from support.olah_server import commit_hf_files, make_hf_repo, start_olah

REPO = "assay-test/tiny-vlm"


@pytest.fixture
def olah(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    # huggingface_hub reads offline mode once, at import: another test may have imported it while offline.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with start_olah(tmp_path / "mirrors") as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


@pytest.fixture
def hf_release(tmp_path, demo, olah):
    """The demo release published as an HF repo (safetensors via LFS) and a manifest whose source is hf://."""
    model_only(demo)
    files = {p.name: p.read_bytes() for p in (demo.parent / "release").iterdir()}
    commit = make_hf_repo(tmp_path / "mirrors", REPO, files)
    data, _ = read_yaml_file(demo)
    data["sources"] = [{"name": "hub", "uri": f"hf://{REPO}@main"}]
    manifest = tmp_path / "hf-release.yaml"
    manifest.write_text(dump_yaml(data))
    return manifest, commit, files


def test_lock_pins_the_commit_and_lfs_digests(tmp_path, hf_release):
    manifest, commit, files = hf_release
    proc = run_assay("lock", str(manifest), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    how = {f["path"]: f["how"] for f in out["files"]}
    assert how["model-00001-of-00002.safetensors"] == "hub"  # the LFS sha256 the Hub states
    assert how["config.json"] == "hashed"  # non-LFS: fetched, checked against the git blob id, hashed
    lock = read_yaml_file(tmp_path / "hf-release.lock.yaml")[0]
    assert lock["sources"][0]["revision"] == commit
    assert {f["path"]: f["sha256"] for f in lock["files"]} == {
        p: hashlib.sha256(b).hexdigest() for p, b in files.items()
    }


def test_pull_at_the_locked_commit_then_verify(tmp_path, hf_release):
    manifest, commit, files = hf_release
    assert run_assay("lock", str(manifest)).returncode == 0
    # The repo moves on after the lock; the pull still fetches the locked commit.
    commit_hf_files(tmp_path / "mirrors", REPO, {"config.json": b'{"changed": true}\n'})
    to = tmp_path / "pulled"
    proc = run_assay("pull", str(manifest), "--to", str(to), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["revision"] == commit
    assert (to / "config.json").read_bytes() == files["config.json"]
    assert run_assay("verify", str(to / "hf-release.yaml"), "--strict").returncode == 0

    only = pull(str(manifest), to=tmp_path / "only", only=["*.safetensors"])
    assert only.ok and sorted(f.path for f in only.files) == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]


def test_repo_content_no_longer_matching_the_lock_fails(tmp_path, hf_release):
    manifest, commit, files = hf_release
    assert run_assay("lock", str(manifest)).returncode == 0
    # Corrupt the LFS object the mirror serves (same size, different bytes), as storage corruption would.
    oid = hashlib.sha256(files["model-00002-of-00002.safetensors"]).hexdigest()
    obj = tmp_path / "mirrors" / "models" / REPO / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    data = bytearray(obj.read_bytes())
    data[1000] ^= 0xFF
    obj.write_bytes(bytes(data))
    to = tmp_path / "pulled"
    proc = run_assay("pull", str(manifest), "--to", str(to))
    assert proc.returncode == 1
    assert "model-00002-of-00002.safetensors" in proc.stdout and "mismatch" in proc.stdout
    assert not (to / "model-00002-of-00002.safetensors").exists()


def test_server_killed_mid_download_then_pull_again(tmp_path, olah, monkeypatch):
    payload = np.random.default_rng(1).integers(0, 256, size=24 * 1024 * 1024, dtype=np.uint8).tobytes()
    files = {"big.safetensors.part": payload, "config.json": b"{}\n"}
    make_hf_repo(tmp_path / "mirrors", "assay-test/big", files, lfs_patterns=("*.part",))
    manifest = tmp_path / "big.yaml"
    manifest.write_text(
        dump_yaml(
            {
                "apiVersion": "assay/v1",
                "kind": "Release",
                "release": {"name": "big", "version": "1"},
                "sources": [{"name": "hub", "uri": "hf://assay-test/big@main"}],
                "artifacts": [
                    {"path": "big.safetensors.part", "role": "other"},
                    {"path": "config.json", "role": "config"},
                ],
            }
        )
    )
    assert run_assay("lock", str(manifest)).returncode == 0
    to = tmp_path / "pulled"
    first = pull(str(manifest), to=to, workers=1, progress=KillAfter(olah.proc, 4 * 1024 * 1024))
    row = next(f for f in first.files if f.path == "big.safetensors.part")
    assert not first.ok and row.status == "failed" and "run the pull again" in row.message
    assert not (to / "big.safetensors.part").exists()

    with start_olah(tmp_path / "mirrors") as again:
        monkeypatch.setenv("HF_ENDPOINT", again.endpoint)
        second = pull(str(manifest), to=to, workers=1)
    assert second.ok, second.files
    row = next(f for f in second.files if f.path == "big.safetensors.part")
    # olah ignores Range requests, so the transfer restarts from byte 0 and the partial bytes are replaced.
    assert row.status == "downloaded" and row.bytes_transferred == len(payload)
    assert hashlib.sha256((to / "big.safetensors.part").read_bytes()).hexdigest() == hashlib.sha256(payload).hexdigest()
