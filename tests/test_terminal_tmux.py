"""The terminal as a person sees it, in a real terminal emulator: tmux, 80 x 24.

``assay verify --strict`` runs in a detached tmux session on a release large enough to take a few seconds (four
sparse 1 GiB files: holes, so nothing is written to disk).  The pane is captured every 50 ms while it runs:

* a progress bar is drawn while hashing (bytes, files), and it is gone from the screen when the command ends;
* the screen then leads with the verdict line; a failure lists the failing file, and nothing passing;
* no line is wider than the terminal (``capture-pane -J`` joins lines tmux wrapped, so a wrapped line shows);
* with ``CI`` set, the same terminal shows no progress at all.

tmux is installed by tests/run.sh (Debian's package); this test fails, never skips, without it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import ASSAY, run_assay

GIB = 1 << 30
COLUMNS, ROWS = 80, 24
# The shell's echo of the typed command holds "echo EXIT=$?" too; only the printed status, on a line of its own, ends.
FINISHED = re.compile(r"^EXIT=\d+\s*$", re.M)


def make_release(base: Path) -> Path:
    """Four sparse 1 GiB files and their manifest and lock (assay init); returns the manifest."""
    folder = base / "release"
    folder.mkdir(parents=True)
    for i in range(4):
        with open(folder / f"part-{i}.dat", "wb") as fh:
            fh.write(f"part {i}\n".encode())
            fh.truncate(GIB)
    proc = run_assay("init", str(folder), "--out", str(base / "assay"), "--json")
    assert proc.returncode == 0, proc.stderr
    return base / "assay" / "assay.yaml"


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return make_release(tmp_path_factory.mktemp("tmux"))


class Tmux:
    """One private tmux server (its own socket) with one 80 x 24 session."""

    def __init__(self, tmp: Path) -> None:
        self.socket = tmp / f"tmux-{uuid.uuid4().hex[:8]}"
        self.tmux = shutil.which("tmux")
        assert self.tmux, "tmux is not installed (tests/run.sh installs Debian's tmux package)"

    def cmd(self, *args: str) -> str:
        return subprocess.run(
            [self.tmux, "-S", str(self.socket), *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout

    def run(self, shell_command: str, env: dict[str, str]) -> None:
        self.cmd("-f", "/dev/null", "new-session", "-d", "-x", str(COLUMNS), "-y", str(ROWS), "-s", "t", "sh")
        self.cmd("set-option", "-g", "remain-on-exit", "on")
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self.cmd("send-keys", "-t", "t", f"clear; env {exports} {shell_command}; echo EXIT=$?", "Enter")

    def screen(self) -> str:
        return self.cmd("capture-pane", "-p", "-J", "-t", "t")

    def close(self) -> None:
        subprocess.run([self.tmux, "-S", str(self.socket), "kill-server"], capture_output=True, timeout=30)


def watch(tmp: Path, args: list[str], env: dict[str, str], timeout: float = 300) -> tuple[list[str], str]:
    """Run ``assay ARGS`` in tmux; every distinct screen seen while it ran, and the last one."""
    t = Tmux(tmp)
    base_env = {"TERM": "screen", "COLUMNS": str(COLUMNS), "PATH": os.environ["PATH"]}
    try:
        t.run(" ".join(shlex.quote(a) for a in [*ASSAY, *args]), {**base_env, **env})
        frames: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = t.screen()
            if not frames or frames[-1] != s:
                frames.append(s)
            if FINISHED.search(s):
                break
            time.sleep(0.05)
        last = t.screen()
        assert FINISHED.search(last), f"assay did not finish within {timeout} s; last screens:\n" + "\n---\n".join(
            frames[-3:]
        )
        return frames, last
    finally:
        t.close()


def content(screen: str) -> list[str]:
    """The screen's lines from the first output line (the shell's echo of the command is skipped) to EXIT=."""
    lines = [ln.rstrip() for ln in screen.splitlines()]
    lines = [ln for ln in lines if ln]
    start = next(i for i, ln in enumerate(lines) if ln.startswith(("PASS", "FAIL", "NOT CHECKED", "assay:")))
    end = next(i for i, ln in enumerate(lines) if ln.startswith("EXIT="))
    return lines[start : end + 1]


def test_tmux_a_passing_verify_shows_progress_then_one_verdict(release, tmp_path):
    frames, last = watch(tmp_path, ["verify", str(release), "--strict"], {"CI": ""})
    drawn = [f for f in frames if "verifying" in f]
    assert drawn, "no progress bar was drawn while hashing:\n" + "\n---\n".join(frames[-3:])
    assert any("GiB" in f and "4 files" in f for f in drawn), drawn[-1]
    shown = content(last)
    assert shown[0].startswith("PASS  ") and "4 files" in shown[0], last
    assert shown[-1] == "EXIT=0", last
    assert "verifying" not in last, "the progress bar stayed on the screen:\n" + last
    assert not [f"part-{i}.dat" for i in range(4) if f"part-{i}.dat" in last], last  # passing files are not listed
    assert len(shown) <= 5, last
    too_wide = [ln for f in frames for ln in f.splitlines() if len(ln.rstrip()) > COLUMNS]
    assert not too_wide, too_wide


def test_tmux_a_failing_verify_names_the_file_first(tmp_path):
    work = tmp_path / "tampered"  # its own sparse release (a copy would write 4 GiB of zeros to disk)
    manifest = make_release(work)
    with open(work / "release" / "part-2.dat", "r+b") as fh:
        fh.seek(GIB // 2)
        fh.write(b"tampered")
    frames, last = watch(tmp_path, ["verify", str(manifest), "--strict"], {"CI": ""})
    shown = content(last)
    assert shown[0].startswith("FAIL  "), last
    assert any("part-2.dat" in ln for ln in shown[1:]), last
    assert not [f"part-{i}.dat" for i in (0, 1, 3) if f"part-{i}.dat" in last], last
    assert shown[-1] == "EXIT=1", last
    assert not [ln for f in frames for ln in f.splitlines() if len(ln.rstrip()) > COLUMNS]


def test_tmux_ci_shows_no_progress(release, tmp_path):
    frames, last = watch(tmp_path, ["verify", str(release), "--strict"], {"CI": "true"})
    assert not [f for f in frames if "verifying" in f], frames
    assert content(last)[0].startswith("PASS  ") and content(last)[-1] == "EXIT=0", last
