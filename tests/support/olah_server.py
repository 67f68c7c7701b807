"""A real, offline Hugging Face Hub on 127.0.0.1 for tests: olah serving local git mirrors.

olah (PyPI ``olah``) runs from its own virtual environment (``<repo>/.venv-olah``, or the ``olah-cli`` named by
``$ASSAY_OLAH_CLI``) so that its server stack never touches assay's dependencies; this module only starts it as a
subprocess and writes the git repositories it serves.

Layout olah reads (olah/mirror/repos.py, olah/server_mirror.py):

* ``<mirrors-path>/<models|datasets|spaces>/<org>/<name>``: a git repository **with a working tree** (olah opens it
  with GitPython and reads LFS objects relative to the working tree);
* an LFS file is a committed pointer blob, exactly
  ``version https://git-lfs.github.com/spec/v1\\noid sha256:<hex>\\nsize <n>\\n`` (olah only looks at blobs of
  121–149 bytes that match this text), with its content at ``.git/lfs/objects/<oid[0:2]>/<oid[2:4]>/<oid>``.

The repositories are written with plain ``git`` (no git-lfs needed): the working tree holds the pointer files, as a
``GIT_LFS_SKIP_SMUDGE=1`` clone would.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # tests/support/ -> the repository
DEFAULT_OLAH_CLI = REPO_ROOT / ".venv-olah" / "bin" / "olah-cli"
SETUP_HINT = "python3 -m venv .venv-olah && .venv-olah/bin/pip install olah==0.5.4"

_TYPE_DIRS = {"model": "models", "dataset": "datasets", "space": "spaces"}
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"


class OlahError(RuntimeError):
    """olah could not be found or did not start."""


def olah_cli() -> Path:
    """The ``olah-cli`` executable to run (``$ASSAY_OLAH_CLI`` or ``<repo>/.venv-olah/bin/olah-cli``)."""
    return Path(os.environ.get("ASSAY_OLAH_CLI") or DEFAULT_OLAH_CLI)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class OlahServer:
    """A running olah process; use as a context manager or call :meth:`stop`."""

    def __init__(self, root: Path, *, cli: Path | None = None, timeout: float = 30.0) -> None:
        self.root = Path(root).resolve()
        self.cli = Path(cli) if cli is not None else olah_cli()
        self.timeout = timeout
        self.port = 0
        self.endpoint = ""
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen | None = None
        self._workdir: Path | None = None
        self._log = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> "OlahServer":
        if not (self.cli.is_file() and os.access(self.cli, os.X_OK)):
            raise OlahError(
                f"olah is not installed: {self.cli} is missing or not executable "
                f"(create it with `{SETUP_HINT}` in {REPO_ROOT}, or point $ASSAY_OLAH_CLI at an olah-cli)"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self._workdir = Path(tempfile.mkdtemp(prefix="assay-olah-"))
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probing and binding: retry on a new one
            try:
                self._launch()
                return self
            except OlahError as exc:
                last_error = str(exc)
                self._terminate()
                if "exited" not in last_error:
                    break
        self.stop()
        raise OlahError(last_error)

    def _launch(self) -> None:
        assert self._workdir is not None
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        cfg = self._workdir / "olah.toml"
        cfg.write_text(
            "[basic]\n"
            'host = "127.0.0.1"\n'
            f"port = {self.port}\n"
            f"repos-path = {_toml_str(str(self._workdir / 'cache'))}\n"
            f"mirrors-path = [{_toml_str(str(self.root))}]\n"
            'hf-scheme = "http"\n'
            'hf-netloc = "127.0.0.1:9"\n'  # never used offline; a dead local port if it ever were
            'hf-lfs-netloc = "127.0.0.1:9"\n'
            "\n[accessibility]\n"
            "offline = true\n"
        )
        env = dict(os.environ)
        env["HOME"] = str(self._workdir)  # olah keeps a database under ~/.olah
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            env.pop(var, None)
        self._log = open(self._workdir / "olah.log", "wb")
        t0 = time.monotonic()
        self._proc = subprocess.Popen(
            [str(self.cli), "-c", str(cfg)],
            cwd=self._workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = t0 + self.timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise OlahError(f"olah exited with status {code} before answering: {self.log_tail()}")
            if self._answers():
                self.startup_seconds = time.monotonic() - t0
                return
            if time.monotonic() > deadline:
                raise OlahError(
                    f"olah did not answer on {self.endpoint} within {self.timeout:.0f} s: {self.log_tail()}"
                )
            time.sleep(0.1)

    @property
    def proc(self) -> subprocess.Popen | None:
        """The olah process (tests kill it to simulate a server dying mid-transfer)."""
        return self._proc

    def _answers(self) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{self.endpoint}/api/whoami-v2", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means the server is up
        except (OSError, ValueError):
            return False

    def log_tail(self, n: int = 2000) -> str:
        if self._workdir is None:
            return ""
        try:
            text = (self._workdir / "olah.log").read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""
        return " | ".join(line for line in text.splitlines() if line.strip())[-n:]

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        self._terminate()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> "OlahServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_olah(root: Path, *, cli: Path | None = None, timeout: float = 30.0) -> OlahServer:
    """Start olah offline on a free 127.0.0.1 port, serving the mirrors under ``root``; wait until it answers."""
    return OlahServer(root, cli=cli, timeout=timeout).start()


# -- git mirrors ---------------------------------------------------------------------------------------------------


def repo_dir(root: Path, repo_id: str, repo_type: str = "model") -> Path:
    org, _, name = repo_id.partition("/")
    if not name or "/" in name:
        raise ValueError(f"repo id must be 'org/name', got {repo_id!r}")
    return Path(root) / _TYPE_DIRS[repo_type] / org / name


def _git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,  # no user filters (a global git-lfs install) or hooks interfere
        "GIT_AUTHOR_NAME": "assay test",
        "GIT_AUTHOR_EMAIL": "test@assay.invalid",
        "GIT_COMMITTER_NAME": "assay test",
        "GIT_COMMITTER_EMAIL": "test@assay.invalid",
        "LC_ALL": "C",
    }
    out = subprocess.run(["git", *args], cwd=cwd, env=env, input=input, capture_output=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout.decode().strip()


def _is_lfs(path: str, patterns: tuple[str, ...]) -> bool:
    # gitattributes semantics for the patterns used here: a pattern without '/' matches the base name at any depth.
    base = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path if "/" in p else base, p) for p in patterns)


def lfs_pointer(data: bytes) -> bytes:
    return LFS_POINTER.format(oid=hashlib.sha256(data).hexdigest(), size=len(data)).encode()


def commit_hf_files(
    root: Path,
    repo_id: str,
    files: dict[str, bytes | None],
    *,
    message: str = "update",
    lfs_patterns: tuple[str, ...] = ("*.safetensors", "*.bin"),
    repo_type: str = "model",
) -> str:
    """Commit ``files`` (path → bytes; ``None`` deletes) on ``main`` of an existing mirror; returns the commit sha."""
    path = repo_dir(root, repo_id, repo_type)
    if not (path / ".git").is_dir():
        raise FileNotFoundError(f"{path} is not a git repository (create it with make_hf_repo)")
    objects = path / ".git" / "lfs" / "objects"
    for rel, data in files.items():
        if rel.startswith("/") or ".." in rel.split("/") or rel.startswith(".git/"):
            raise ValueError(f"unsafe path {rel!r}")
        target = path / rel
        if data is None:
            _git(path, "rm", "-q", "--", rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if _is_lfs(rel, lfs_patterns):
            oid = hashlib.sha256(data).hexdigest()
            obj = objects / oid[:2] / oid[2:4] / oid
            obj.parent.mkdir(parents=True, exist_ok=True)
            obj.write_bytes(data)
            target.write_bytes(lfs_pointer(data))
        else:
            if 120 < len(data) < 150:
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    # olah 0.5.4 decodes every 121-149-byte blob as a possible LFS pointer: its tree API fails (500)
                    raise ValueError(
                        f"{rel}: olah cannot serve a non-UTF-8 plain git file of 121-149 bytes; "
                        "store it as LFS or change its size"
                    ) from None
            target.write_bytes(data)
        _git(path, "add", "--", rel)
    _git(path, "commit", "-q", "--allow-empty", "-m", message)
    return _git(path, "rev-parse", "HEAD")


def make_hf_repo(
    root: Path,
    repo_id: str,
    files: dict[str, bytes],
    lfs_patterns: tuple[str, ...] = ("*.safetensors", "*.bin"),
    *,
    repo_type: str = "model",
    message: str = "initial commit",
) -> str:
    """Create ``<root>/<models|datasets|spaces>/<org>/<name>`` as a git repo on ``main`` holding ``files``.

    Files matching ``lfs_patterns`` are stored as LFS (pointer committed, content under ``.git/lfs/objects``), the
    rest as plain git blobs; a ``.gitattributes`` naming the patterns is committed too, as on the Hub.
    Returns the commit sha.
    """
    path = repo_dir(root, repo_id, repo_type)
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    path.mkdir(parents=True)
    _git(path, "init", "-q")
    _git(path, "symbolic-ref", "HEAD", "refs/heads/main")
    attrs = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in lfs_patterns).encode()
    return commit_hf_files(
        root,
        repo_id,
        {".gitattributes": attrs, **files},
        message=message,
        lfs_patterns=lfs_patterns,
        repo_type=repo_type,
    )


def git_hash_object(data: bytes) -> str:
    """``git hash-object --stdin`` of ``data``, by git itself (an independent check of :func:`hf.git_blob_sha1`)."""
    with tempfile.TemporaryDirectory() as d:
        return _git(Path(d), "hash-object", "--stdin", input=data)
