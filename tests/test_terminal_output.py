"""What a person sees in the terminal: one verdict line first, then only what did not pass (every file with
``--files``), nothing wider than the terminal, and progress bars only for a person at a terminal.

Every run is the real ``assay`` command on a private copy of the bundled demo release.  The progress tests give the
command's stderr a real pseudo-terminal (``pty.openpty``), as a terminal would, and read back what was drawn there.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ASSAY, run_assay

NARROW = {"COLUMNS": "80"}


def lines(text: str) -> list[str]:
    return text.splitlines()


def too_wide(text: str, columns: int = 80) -> list[str]:
    return [ln for ln in lines(text) if len(ln) > columns]


def files_of(manifest: Path) -> list[str]:
    proc = run_assay("verify", str(manifest), "--json")
    return [f["path"] for f in json.loads(proc.stdout)["files"]]


def tamper(manifest: Path, name: str) -> None:
    target = manifest.parent / "release" / name
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))


# ------------------------------------------------------------------------------------------------ summary first
def test_a_passing_verify_is_one_verdict_line_and_no_file_list(demo):
    files = files_of(demo)
    proc = run_assay("verify", str(demo), "--strict", env=NARROW)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = lines(proc.stdout)[0]
    assert first.startswith("PASS  ") and f"{len(files)} files" in first, first
    # no passing file is listed: the demo's files all pass
    assert not [f for f in files if f in proc.stdout], proc.stdout
    assert len(lines(proc.stdout)) <= 4, proc.stdout  # verdict, how the files were verified, the digest
    assert not too_wide(proc.stdout)


def test_files_lists_every_file_and_every_claim(demo):
    files = files_of(demo)
    proc = run_assay("verify", str(demo), "--files", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines(proc.stdout)[0].startswith("PASS  ")
    assert all(f in proc.stdout for f in files), [f for f in files if f not in proc.stdout]
    for claim in ("parameters.total", "tensors", "dtypes", "architecture"):
        assert claim in proc.stdout


def test_files_at_80_columns_shortens_paths_in_the_middle_and_never_wraps(demo):
    files = files_of(demo)
    proc = run_assay("verify", str(demo), "--files", env=NARROW)
    assert proc.returncode == 0
    assert not too_wide(proc.stdout), too_wide(proc.stdout)
    # one row per file: a path too long for its column is cut in the middle, keeping its head and its extension
    images = [f for f in files if f.startswith("images/")]
    assert images, "the demo has images with long names"
    rows = [ln.split()[0] for ln in lines(proc.stdout) if ln.startswith("images/")]
    assert len(rows) == len(images), proc.stdout
    assert all("…" in r and r.endswith(".png") and len(r) < len(images[0]) for r in rows), rows


def test_a_failing_verify_names_the_failing_file_first_and_only_it(demo):
    files = files_of(demo)
    tamper(demo, "model-00002-of-00002.safetensors")
    proc = run_assay("verify", str(demo), env=NARROW)
    assert proc.returncode == 1
    out = lines(proc.stdout)
    assert out[0].startswith("FAIL  ") and f"1 of {len(files)} files fail" in out[0], out[0]
    assert "model-00002-of-00002.safetensors" in proc.stdout and "mismatch" in proc.stdout
    others = [f for f in files if f != "model-00002-of-00002.safetensors" and f in proc.stdout]
    assert others == [], others  # the passing files are not listed
    assert not too_wide(proc.stdout), too_wide(proc.stdout)
    # --files lists them all, the failing one marked
    full = run_assay("verify", str(demo), "--files", env={"COLUMNS": "200"})
    assert full.returncode == 1 and lines(full.stdout)[0].startswith("FAIL  ")
    assert all(f in full.stdout for f in files)


def test_json_is_the_whole_result_whatever_the_flags(demo):
    plain = json.loads(run_assay("verify", str(demo), "--json").stdout)
    with_files = json.loads(run_assay("verify", str(demo), "--json", "--files", "--quiet").stdout)
    assert len(plain["files"]) == len(with_files["files"]) > 50
    assert plain["release_digest"] == with_files["release_digest"]


def test_a_failing_audit_puts_the_verdict_then_the_findings_first(demo, tmp_path):
    """The failing variant's audit (load and rebuild skipped to keep it short): the verdict, then every claim that
    failed or was not checked, before anything else, and nothing wider than 80 columns."""
    failing = demo.parent / "assay.failing.yaml"
    proc = run_assay(
        "audit", str(failing), "--out", str(tmp_path / "out"), "--skip", "load", "--skip", "rebuild", env=NARROW
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    out = lines(proc.stdout)
    assert out[0].startswith("FAIL  "), out[0]
    failing_ids = [c["id"] for c in report["claims"] if c["verdict"] in ("fail", "error")]
    assert failing_ids
    # each failing claim is named, and before the not-checked and attested ones
    first_mentions = {cid: next(i for i, ln in enumerate(out) if cid[:60] in ln) for cid in failing_ids}
    not_checked = [i for i, ln in enumerate(out) if ln.lstrip().startswith("NOT CHECKED")]
    assert not_checked and max(first_mentions.values()) < min(not_checked), proc.stdout
    passing_files = [c["subject"] for c in report["claims"] if c["kind"] == "file" and c["verdict"] == "pass"]
    assert passing_files and not [f for f in passing_files if f"file:{f}" in proc.stdout]
    assert not too_wide(proc.stdout), too_wide(proc.stdout)
    # where the report is: the path whole (on its own line when it does not fit beside the label)
    assert out[-1].endswith("/out/report.html") and (out[-1].startswith("report: ") or out[-2] == "report:")


# ----------------------------------------------------------------------------------------------------- progress
def run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, bytes]:
    """Run assay with stderr on a pseudo-terminal (stdout piped): exit code, stdout, and every byte drawn on the
    terminal."""
    leader, follower = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k != "CI"}
    full_env.update(env)
    proc = subprocess.Popen([*ASSAY, *args], stdout=subprocess.PIPE, stderr=follower, env=full_env)
    os.close(follower)
    drawn = bytearray()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the follower closed: the process is gone
                break
            if not chunk:
                break
            drawn += chunk
        elif proc.poll() is not None:
            break
    stdout = proc.communicate(timeout=60)[0].decode()
    os.close(leader)
    return proc.returncode, stdout, bytes(drawn)


def test_progress_is_drawn_on_a_terminal(demo):
    code, stdout, drawn = run_on_a_terminal(["verify", str(demo), "--strict"], {"TERM": "xterm"})
    assert code == 0 and stdout.startswith("PASS  ")
    assert b"verifying" in drawn and b"54 files" in drawn, drawn[-400:]


@pytest.mark.parametrize(
    "how", [("env", {"CI": "true"}, []), ("flag", {}, ["--quiet"]), ("flag", {}, ["-q"])], ids=["CI", "quiet", "q"]
)
def test_progress_is_quiet_in_ci_and_with_quiet(demo, how):
    _, env, flags = how
    code, stdout, drawn = run_on_a_terminal(["verify", str(demo), "--strict", *flags], {"TERM": "xterm", **env})
    assert code == 0 and stdout.startswith("PASS  ")
    assert drawn == b"", drawn[-400:]


def test_progress_is_absent_when_stderr_is_not_a_terminal(demo):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.run([*ASSAY, "verify", str(demo), "--strict"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_rebuild_shows_its_phases_on_a_terminal_and_nothing_in_ci(demo):
    """assay rebuild runs DVC in one subprocess: the line names each phase (staging, dvc repro, checking)."""
    code, stdout, drawn = run_on_a_terminal(["rebuild", str(demo)], {"TERM": "xterm"})
    assert code == 0 and stdout.startswith("PASS  "), stdout
    assert b"rebuilding" in drawn and b"dvc repro" in drawn, drawn[-400:]
    code, stdout, drawn = run_on_a_terminal(["rebuild", str(demo)], {"TERM": "xterm", "CI": "true"})
    assert code == 0 and stdout.startswith("PASS  ") and drawn == b"", drawn[-400:]
