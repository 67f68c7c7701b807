"""Start and stop a real ``transformers serve`` on 127.0.0.1 (for tests, benchmarks and local re-runs).

    with TransformersServer(model_dir, seed=0) as srv:
        backend = OpenAIBackend(srv.base_url)
        ...

The server runs in its own process group, pinned to one model folder, offline (``HF_HUB_OFFLINE=1``, no update
check), on a free loopback port; its output goes to a log file whose tail is quoted if it fails to come up.  Stopping
sends SIGTERM to the group, then SIGKILL after a grace period.  Needs ``transformers[serving]`` (fastapi, uvicorn,
openai, accelerate).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assay.evals.backends import BackendError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command() -> list[str]:
    """The ``transformers`` CLI of this interpreter's environment."""
    exe = Path(sys.executable).with_name("transformers")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("transformers")
    if found:
        return [found]
    return [sys.executable, "-c", "from transformers.cli.transformers import main; main()"]


class TransformersServer:
    """A ``transformers serve MODEL_DIR`` subprocess on 127.0.0.1; a context manager."""

    def __init__(
        self,
        model_dir: Path | str,
        *,
        port: int | None = None,
        device: str = "cpu",
        seed: int | None = 0,
        dtype: str | None = None,
        startup_timeout: float = 120.0,
        log_path: Path | str | None = None,
        extra_args: list[str] | None = None,
        threads: int | None = None,
    ) -> None:
        self.model_dir = str(model_dir)
        self.port = port or free_port()
        self.device = device
        self.seed = seed
        self.dtype = dtype
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self.threads = threads
        self._own_log = log_path is None
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="assay-serve-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [
            *serve_command(),
            "serve",
            self.model_dir,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--device",
            self.device,
        ]
        if self.seed is not None:
            cmd += ["--default-seed", str(self.seed)]
        if self.dtype:
            cmd += ["--dtype", self.dtype]
        return cmd + self.extra_args

    def start(self) -> "TransformersServer":
        import requests

        if self.proc is not None:
            return self
        env = dict(
            os.environ,
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HUB_DISABLE_UPDATE_CHECK="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            PYTHONUNBUFFERED="1",
        )
        if self.threads:
            env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.startup_timeout
        health = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.proc = None
                raise BackendError(f"transformers serve exited during start-up: {tail}")
            try:
                if requests.get(health, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.25)
        self.stop()
        raise BackendError(
            f"transformers serve did not answer /health within {self.startup_timeout:g} s: {self.log_tail()}"
        )

    def log_tail(self, lines: int = 3) -> str:
        """The last non-empty lines of the server's log (where a traceback ends with its error), one line."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        tail = [ln.strip()[:300] for ln in text.splitlines() if ln.strip() and not set(ln.strip()) <= set("^~ ")]
        return " | ".join(tail[-lines:]) + f" (log: {self.log_path})"

    def stop(self, grace: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the group this class created (start_new_session), nothing else
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=grace)

    def __enter__(self) -> "TransformersServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_log and exc[0] is None:
            self.log_path.unlink(missing_ok=True)
