"""A real OCI registry on 127.0.0.1 for tests and benchmarks: Debian's ``docker-registry`` (CNCF Distribution 2.8).

Why a real registry rather than a mock: the behaviours assay depends on (Range answers 206, HEAD on blobs,
Docker-Content-Digest, digest checks on upload, *no* content check when serving a blob) are properties of the
server, and a mock would only restate our assumptions.  The config is written here because the packaged one enables
htpasswd auth and listens on every interface on :5000.

    with start_registry(tmp_path / "registry") as reg:
        uri = f"oci://{reg.host}/models/tiny:0.1.0"
        reg.blob_path("sha256:…")   # the stored bytes, for tamper tests
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

BINARY_ENV = "ASSAY_DOCKER_REGISTRY"  # optional override of the binary's path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary() -> str:
    found = os.environ.get(BINARY_ENV) or shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise RuntimeError(
            f"the OCI registry binary {found!r} is missing; install it with `apt-get install docker-registry` "
            f"(Debian/Ubuntu, CNCF Distribution 2.8) or point ${BINARY_ENV} at a `registry` binary"
        )
    return found


class RegistryServer:
    """A running ``docker-registry serve`` with filesystem storage under ``root`` (a context manager)."""

    def __init__(self, root: Path, port: int, proc: subprocess.Popen, log: Path) -> None:
        self.root = root
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.url = f"http://{self.host}"
        self.proc = proc
        self.log = log

    def blob_path(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (Distribution's ``registry/storage/paths.go`` layout)."""
        algo, _, hexdigest = digest.partition(":")
        if algo != "sha256" or len(hexdigest) != 64:
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.root / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> "RegistryServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RegistryServer(host={self.host!r}, root={str(self.root)!r})"


def _config(root: Path, port: int, auth: dict | None) -> str:
    # JSON is YAML: no quoting pitfalls for odd paths.  No `auth` section: anonymous pull and push on loopback only.
    import json

    cfg = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if auth:
        cfg["auth"] = auth
    return json.dumps(cfg, indent=2) + "\n"


def start_registry(root: Path, *, timeout: float = 20.0, auth: dict | None = None) -> RegistryServer:
    """Start a registry storing under ``root`` on a free loopback port; returns once ``GET /v2/`` answers.

    ``auth`` is Distribution's ``auth`` config section (e.g. ``{"silly": {"realm": …, "service": …}}``); by
    default there is none.  The port is picked free, then bound by the registry: if another process took it in
    between, the start is retried on a new port.
    """
    binary = _binary()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    cfg = (
        root.parent / f"{root.name}.registry.yml"
    )  # beside the storage, so the storage holds only the registry's files
    log = root.parent / f"{root.name}.registry.log"
    deadline = time.monotonic() + timeout
    for _attempt in range(3):
        port = _free_port()
        cfg.write_text(_config(root, port, auth))
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [binary, "serve", str(cfg)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = RegistryServer(root, port, proc, log)
        while proc.poll() is None:
            try:
                # 401 counts as up when an auth section asks for credentials.
                if requests.get(f"{server.url}/v2/", timeout=1).status_code in (200, 401):
                    return server
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(
                    f"docker-registry did not answer GET /v2/ on {server.host} within {timeout:.0f} s; log: {log}"
                )
            time.sleep(0.05)
        tail = log.read_text(errors="replace")[-2000:].strip()
        if "address already in use" not in tail:
            break
    raise RuntimeError(f"docker-registry exited with status {proc.returncode} at start: {tail}")
