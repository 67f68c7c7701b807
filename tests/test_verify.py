"""`assay verify`: byte-level tampering, structure, claims, incremental state, and the CLI contract."""

from __future__ import annotations

import errno
import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.manifests.loader import load_manifest
from assay.manifests.yamlio import dump_yaml, read_yaml_file
from assay.verify.release import verify_release

from conftest import artifact_files, run_assay


def release_dir(manifest: Path) -> Path:
    return manifest.parent / "release"


def artifacts(manifest: Path) -> list[str]:
    return [a.path for a in load_manifest(manifest).artifacts]


def failed(result) -> dict[str, str]:
    return {f.path: f.status for f in result.files if f.status != "ok"}


def edit_manifest(manifest: Path, fn) -> None:
    data, _ = read_yaml_file(manifest)
    fn(data)
    manifest.write_text(dump_yaml(data))


def relock(manifest: Path) -> None:
    proc = run_assay("lock", str(manifest))
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------------- the happy path
def test_demo_verifies_strict(demo):
    proc = run_assay("verify", str(demo), "--strict", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is True
    assert out["summary"]["hashed"] == len(out["files"]) and out["summary"]["trusted_from_state"] == 0
    assert all(f["status"] == "ok" and f["how"] == "hashed" for f in out["files"])
    assert out["release_digest"] == out["expected_release_digest"]
    assert {c["claim"] for c in out["claims"]} >= {"parameters.total", "tensors", "dtypes", "architecture"}
    assert all(c["verdict"] == "pass" for c in out["claims"])


def test_table_output_names_how_files_were_verified(demo):
    proc = run_assay("verify", str(demo))
    assert proc.returncode == 0
    assert proc.stdout.startswith("PASS ") and "hashed now" in proc.stdout


# ----------------------------------------------------------------------------------------------------- tampering
@pytest.mark.parametrize("where", ["first", "middle", "last", "random"])
def test_flipping_any_single_byte_of_any_artifact_fails(demo, where):
    rng = random.Random(f"flip-{where}")
    for path, target in artifact_files(demo).items():
        data = bytearray(target.read_bytes())
        pos = {"first": 0, "middle": len(data) // 2, "last": len(data) - 1, "random": rng.randrange(len(data))}[where]
        original = data[pos]
        data[pos] ^= 1 << rng.randrange(8)
        target.write_bytes(bytes(data))
        result = verify_release(demo, strict=True)
        assert not result.ok
        assert failed(result) == {path: "mismatch"}, path
        data[pos] = original
        target.write_bytes(bytes(data))
    assert verify_release(demo, strict=True).ok


def test_cli_names_the_tampered_file_and_exits_1(demo):
    target = release_dir(demo) / "model-00002-of-00002.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    proc = run_assay("verify", str(demo))
    assert proc.returncode == 1
    assert "model-00002-of-00002.safetensors" in proc.stdout and "mismatch" in proc.stdout
    assert proc.stdout.startswith("FAIL ")


@pytest.mark.parametrize("change", ["truncate", "extend", "empty"])
def test_truncated_and_extended_files_fail_without_hashing(demo, change):
    target = release_dir(demo) / "model-00001-of-00002.safetensors"
    data = target.read_bytes()
    target.write_bytes({"truncate": data[:-1], "extend": data + b"\0", "empty": b""}[change])
    result = verify_release(demo)
    check = next(f for f in result.files if f.path == target.name)
    assert check.status == "size-mismatch" and check.how == "not-read"
    assert ("truncated" if change != "extend" else "extended") in check.message
    assert not result.ok


def test_missing_file(demo):
    (release_dir(demo) / "tokenizer.json").unlink()
    result = verify_release(demo)
    assert failed(result) == {"tokenizer.json": "missing"}


def test_a_fifo_in_place_of_a_file_is_refused_and_nothing_hangs(demo):
    target = release_dir(demo) / "tokenizer.json"
    target.unlink()
    os.mkfifo(target)  # no writer: an open() for reading without O_NONBLOCK would wait forever
    proc = run_assay("verify", str(demo), "--strict", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    check = next(f for f in json.loads(proc.stdout)["files"] if f["path"] == "tokenizer.json")
    assert check["status"] == "unsafe-path" and check["how"] == "not-read", check
    assert "is a FIFO, not a regular file" in check["message"], check


def test_a_fifo_eval_log_is_bad_input_for_rescore(demo):
    log = demo.parent / "evals" / "chartqa-mini.assay.jsonl"
    log.unlink()
    os.mkfifo(log)
    proc = run_assay("rescore", str(demo), "--json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    expected = "path 'chartqa-mini.assay.jsonl' is a FIFO, not a regular file: reading it could block or never end"
    assert proc.stderr.strip().splitlines() == [f"assay: error: {expected}"], proc.stderr


def test_the_hashing_engine_refuses_a_path_swapped_for_a_fifo_after_its_stat(tmp_path):
    """The race the stat in measure_files cannot close: the job was a regular file, then the path became a FIFO.
    hash_file opens with O_NONBLOCK and checks what it opened: a clean OSError, not a hang (run in a child process
    with a timeout, so a regression fails instead of blocking the suite)."""
    fifo = tmp_path / "swapped.bin"
    os.mkfifo(fifo)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from assay.verify.hashing import hash_many\n"
        "r = hash_many([('k', Path(sys.argv[1]), 1 << 20)], workers=2)['k']\n"
        "print(type(r).__name__, r.errno, r.strerror)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(maxsplit=2) == ["OSError", str(errno.EINVAL), "not a regular file\n"], proc.stdout


def test_swapped_files_fail_both(demo):
    a, b = release_dir(demo) / "tokenizer_config.json", release_dir(demo) / "special_tokens_map.json"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    assert set(failed(verify_release(demo))) == {"tokenizer_config.json", "special_tokens_map.json"}


def test_symlink_to_outside_is_refused(demo, tmp_path):
    target = release_dir(demo) / "config.json"
    outside = tmp_path / "outside.json"
    shutil.copy(target, outside)
    target.unlink()
    target.symlink_to(outside)  # identical bytes, but outside the release root
    result = verify_release(demo)
    assert failed(result) == {"config.json": "unsafe-path"}
    assert "outside the release root" in next(f.message for f in result.files if f.path == "config.json")


def test_symlinked_parent_directory_is_refused(tmp_path):
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "w.bin").write_bytes(b"abc")
    root = tmp_path / "rel"
    root.mkdir()
    (root / "sub").symlink_to(outside / "sub")
    import hashlib

    (root / "assay.yaml").write_text(
        dump_yaml(
            {
                "apiVersion": "assay/v1",
                "kind": "Release",
                "release": {"name": "r", "version": "1"},
                "artifacts": [{"path": "sub/w.bin", "sha256": hashlib.sha256(b"abc").hexdigest(), "size": 3}],
            }
        )
    )
    result = verify_release(root / "assay.yaml")
    assert failed(result) == {"sub/w.bin": "unsafe-path"}


def test_manifest_without_hashes_is_never_verified(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "assay.yaml").write_text(
        dump_yaml(
            {
                "apiVersion": "assay/v1",
                "kind": "Release",
                "release": {"name": "r", "version": "1"},
                "artifacts": [{"path": "a.txt"}],
            }
        )
    )
    result = verify_release(tmp_path / "assay.yaml")
    assert failed(result) == {"a.txt": "unpinned"} and not result.ok
    assert result.release_digest is None


def test_edited_lock_is_detected(demo):
    lock = demo.with_name("assay.lock.yaml")
    data, _ = read_yaml_file(lock)
    # Make the lock agree with a tampered file, but leave its release digest alone.
    target = release_dir(demo) / "generation_config.json"
    target.write_bytes(target.read_bytes().replace(b"32", b"64"))
    import hashlib

    for f in data["files"]:
        if f["path"] == "generation_config.json":
            f["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    lock.write_text(dump_yaml(data))
    result = verify_release(demo, strict=True)
    assert not result.ok
    assert any(f.code == "lock" and "release_digest does not match" in f.message for f in result.findings)


def test_extra_files_are_reported(demo):
    (release_dir(demo) / "surprise.py").write_text("print('hi')\n")
    result = verify_release(demo)
    assert result.extra_files == ["surprise.py"]
    assert any(f.code == "extra" and f.where == "surprise.py" for f in result.findings)


# ----------------------------------------------------------------------------------------------- claims checking
def test_overclaimed_parameters_fail(demo):
    edit_manifest(demo, lambda d: d["claims"]["parameters"].update(total=d["claims"]["parameters"]["total"] + 1000))
    result = verify_release(demo)
    claim = next(c for c in result.claims if c.claim == "parameters.total")
    assert claim.verdict == "fail" and not result.ok


def test_parameter_tolerance(demo):
    def fuzz(d):
        d["claims"]["parameters"] = {"total": "0.12M", "tolerance": 0.01}

    edit_manifest(demo, fuzz)
    assert next(c for c in verify_release(demo).claims if c.claim == "parameters.total").verdict == "pass"


@pytest.mark.parametrize("key, value", [("dtypes", ["BF16"]), ("tensors", 1), ("architecture", "GPT2LMHeadModel")])
def test_wrong_structural_claims_fail(demo, key, value):
    edit_manifest(demo, lambda d: d["claims"].__setitem__(key, value))
    proc = run_assay("verify", str(demo), "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert next(c for c in out["claims"] if c["claim"] == key)["verdict"] == "fail"


# ------------------------------------------------------------------------------------------------ structure
def _write_safetensors(path: Path, header: dict, data: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def _package(tmp_path: Path) -> Path:
    proc = run_assay("init", str(tmp_path), "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return tmp_path / "assay.yaml"


def test_malformed_safetensors_in_release_fails_verify(tmp_path):
    _write_safetensors(
        tmp_path / "model.safetensors", {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8
    )
    manifest = _package(tmp_path)
    assert run_assay("verify", str(manifest)).returncode == 0
    # Same hashes pinned in manifest and lock, but a header the strict audit refuses (gap between tensors).
    bad = tmp_path / "bad"
    bad.mkdir()
    _write_safetensors(
        bad / "model.safetensors",
        {
            "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
        },
        b"\0" * 12,
    )
    proc = run_assay("init", str(bad), "--json")
    assert proc.returncode == 1
    assert not (bad / "assay.yaml").exists()
    assert "gap" in proc.stdout.lower()


def test_shard_index_mismatch_fails(demo):
    index = release_dir(demo) / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    name = sorted(data["weight_map"])[0]
    data["weight_map"]["ghost.weight"] = data["weight_map"][name]
    index.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    relock_result = run_assay("lock", str(demo))
    # The manifest still declares the old sha256 of the index, so locking refuses; pin the new bytes by hand.
    assert relock_result.returncode == 1 and "model.safetensors.index.json" in relock_result.stdout
    edit_manifest(demo, lambda d: [(a.pop("sha256"), a.pop("size")) for a in d["artifacts"] if a["path"] == index.name])
    relock(demo)
    result = verify_release(demo)
    assert not result.ok
    assert any(f.code == "shard-index" and "ghost.weight" in f.message for f in result.findings)


class _Boom:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_reported_and_never_executed(tmp_path):
    marker = tmp_path / "PWNED"
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _Boom(str(marker))}, protocol=4))
    _write_safetensors(
        tmp_path / "model.safetensors", {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4
    )
    proc = run_assay("init", str(tmp_path), "--json")
    assert proc.returncode == 1  # a dangerous global is a structural error: not packaged
    assert "system" in proc.stdout
    proc = run_assay("inspect", str(tmp_path / "pytorch_model.bin"), "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["ok"] is False and any("system" in e for e in out["errors"])
    time.sleep(0.2)
    assert not marker.exists()


def test_remote_code_is_listed_and_must_be_pinned(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["CustomModel"],
                "auto_map": {
                    "AutoModel": "modeling_custom.CustomModel",
                    "AutoConfig": "configuration_custom.CustomConfig",
                },
            }
        )
    )
    (tmp_path / "modeling_custom.py").write_text("class CustomModel: pass\n")
    (tmp_path / "configuration_custom.py").write_text("class CustomConfig: pass\n")
    manifest = _package(tmp_path)
    out = json.loads(run_assay("verify", str(manifest), "--json").stdout)
    assert out["ok"] is True
    rc = next(c for c in out["claims"] if c["claim"] == "remote_code")
    assert rc["measured"] == ["configuration_custom.py", "modeling_custom.py"] and rc["verdict"] == "pass"
    notes = [f for f in out["findings"] if f["code"] == "remote-code"]
    assert {f["where"] for f in notes} == {"configuration_custom.py", "modeling_custom.py"}
    assert all("trust_remote_code" in f["message"] for f in notes)
    # Dropping a code file from the manifest makes the release fail: executed code must be hashed.
    edit_manifest(
        manifest, lambda d: d.__setitem__("artifacts", [a for a in d["artifacts"] if a["path"] != "modeling_custom.py"])
    )
    relock(manifest)
    proc = run_assay("verify", str(manifest), "--json")
    assert proc.returncode == 1
    assert any("not an artifact" in f["message"] for f in json.loads(proc.stdout)["findings"])


# ------------------------------------------------------------------------------------------- incremental state
def test_incremental_state_trusts_unchanged_files_and_rehashes_changed_ones(demo):
    time.sleep(0.15)  # older than the racy-timestamp window
    first = verify_release(demo)
    assert first.summary.hashed == len(first.files)
    second = verify_release(demo)
    assert second.ok and second.summary.hashed == 0 and second.summary.trusted_from_state == len(second.files)
    assert {f.how for f in second.files} == {"state"}

    target = release_dir(demo) / "tokenizer.json"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # same bytes, new mtime
    time.sleep(0.15)
    third = verify_release(demo)
    assert {f.path for f in third.files if f.how == "hashed"} == {"tokenizer.json"} and third.ok

    # Same size, same mtime restored after an in-place edit: ctime still moves, so it is re-hashed and caught.
    data = bytearray(target.read_bytes())
    data[10] ^= 1
    st = target.stat()
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    fourth = verify_release(demo)
    assert failed(fourth) == {"tokenizer.json": "mismatch"}


def test_strict_always_rehashes(demo):
    time.sleep(0.15)
    verify_release(demo)
    strict = verify_release(demo, strict=True)
    assert strict.summary.trusted_from_state == 0 and strict.summary.hashed == len(strict.files)


def test_racy_fresh_write_is_not_trusted(demo):
    target = release_dir(demo) / "README.md"
    target.write_bytes(target.read_bytes())  # ctime = now
    verify_release(demo)
    again = verify_release(demo)  # recorded within the racy window of the write: must re-hash
    assert next(f for f in again.files if f.path == "README.md").how == "hashed"


def test_blake3_is_an_extra_digest(demo):
    result = verify_release(demo, strict=True, blake3=True)
    assert result.ok and all(f.blake3 and f.sha256 and f.blake3 != f.sha256 for f in result.files)


# ----------------------------------------------------------------------------------------------------- the CLI
def test_bad_input_exit_2_without_traceback(tmp_path):
    for args in (
        ["verify", str(tmp_path / "nope.yaml")],
        ["inspect", str(tmp_path / "nope.safetensors")],
        ["verify", str(tmp_path)],
        ["init", str(tmp_path / "missing")],
        ["lock", str(tmp_path / "x.yaml")],
    ):
        proc = run_assay(*args)
        assert proc.returncode == 2, args
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("assay: error:"), proc.stderr
        assert proc.stderr.count("\n") == 1


def test_verify_help_shows_an_example():
    for verb in ("verify", "init", "lock", "inspect", "schema"):
        proc = run_assay(verb, "--help")
        assert proc.returncode == 0 and "Example: assay " + verb in proc.stdout.replace("\n", " ")


def test_light_verbs_never_import_torch_transformers_or_dvc(demo, tmp_path):
    code = (
        "import sys, runpy\n"
        "from assay.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'dvc', 'numpy') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    import subprocess, sys

    st = release_dir(demo) / "model-00001-of-00002.safetensors"
    for args in (
        ["--help"],
        ["verify", str(demo)],
        ["inspect", str(st)],
        ["lock", str(demo)],
        ["schema"],
        ["init", str(release_dir(demo)), "--out", str(tmp_path / "o")],
    ):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        assert "HEAVY=\n" in proc.stdout, (args, proc.stdout[-300:], proc.stderr[-500:])


def test_inspect_json_contract(demo):
    proc = run_assay("inspect", str(release_dir(demo) / "model-00002-of-00002.safetensors"), "--json")
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert {"ok", "tensors", "parameters", "dtypes", "errors"} <= set(out)
    assert out["ok"] is True and out["errors"] == [] and out["dtypes"] == ["F32"] and out["tensors"] > 0
    index = run_assay("inspect", str(release_dir(demo) / "model.safetensors.index.json"), "--json")
    assert index.returncode == 0
    total = json.loads(index.stdout)["parameters"]
    assert total == load_manifest(demo).claims.parameters.total


def test_init_then_verify_roundtrip(tmp_path):
    src = Path(__file__).resolve().parents[1] / "manifests" / "examples" / "tiny-vlm" / "release"
    work = tmp_path / "model"
    shutil.copytree(src, work)
    proc = run_assay("init", str(work), "--name", "copy", "--json")
    assert proc.returncode == 0, proc.stdout
    out = json.loads(proc.stdout)
    assert out["written"] and out["claims"]["architecture"] == "LlavaForConditionalGeneration"
    roles = {f["path"]: f["role"] for f in out["files"]}
    assert roles["model-00001-of-00002.safetensors"] == "weights" and roles["tokenizer.json"] == "tokenizer"
    assert roles["README.md"] == "docs" and roles["config.json"] == "config"
    assert run_assay("verify", str(work / "assay.yaml"), "--strict").returncode == 0
    assert run_assay("init", str(work)).returncode == 2  # refuses to overwrite without --force


def test_nothing_outside_the_root_is_read_through_a_symlink(demo, tmp_path):
    """A weights file replaced by a symlink out of the release: refused, and its header is never audited."""
    target = release_dir(demo) / "model-00001-of-00002.safetensors"
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(struct.pack("<Q", 2) + b"[]")  # malformed: would produce header errors if it were read
    target.unlink()
    target.symlink_to(outside)
    result = verify_release(demo)
    assert failed(result)["model-00001-of-00002.safetensors"] == "unsafe-path"
    assert not any(f.code == "safetensors" and f.where == target.name for f in result.findings)


def test_artifacts_from_several_sources_are_all_checked(demo, tmp_path):
    """Artifacts may come from different dir:// sources; structure and claims still cover all of them."""
    second = demo.parent / "second"
    second.mkdir()
    shutil.move(str(release_dir(demo) / "config.json"), second / "config.json")

    def move(d):
        d["sources"].append({"name": "second", "uri": "dir://second"})
        next(a for a in d["artifacts"] if a["path"] == "config.json")["source"] = "second"

    edit_manifest(demo, move)
    relock(demo)
    result = verify_release(demo, strict=True)
    assert result.ok, [f.message for f in result.findings]
    assert next(c for c in result.claims if c.claim == "architecture").verdict == "pass"


def test_version_flag():
    proc = run_assay("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("assay ") and proc.stdout.strip() != "assay"
