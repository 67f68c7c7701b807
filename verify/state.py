"""Incremental verification state: a local SQLite database of digests keyed by file identity.

Key: (device, inode, size, mtime_ns, ctime_ns).  Any write to a file changes its mtime and ctime, and ctime cannot
be set back by users, so an unchanged key means unchanged content — except within the file system's timestamp
granularity: a file rewritten in the same clock tick keeps its timestamps.  As git does for its index ("racy
clean" entries), an entry is trusted only if the file's ctime and mtime are older than the moment the digest was
recorded by more than ``RACY_NS``; a racy entry is re-hashed and recorded again.

Structural audit results (safetensors headers, pickle scans) are cached by content sha256, so an unchanged
release re-verifies with metadata reads only.  ``--strict`` bypasses lookups (but still records).

The database lives in ``$ASSAY_STATE_DIR`` or ``$XDG_CACHE_HOME/assay`` (default ``~/.cache/assay``).  Anyone who
can write it can make assay trust a file: audits run with ``--strict``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

RACY_NS = 100_000_000  # 100 ms: above the coarse kernel clock tick (1-10 ms) with margin
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, blake3 TEXT, recorded_ns INTEGER NOT NULL, path TEXT,
    PRIMARY KEY (dev, ino, size, mtime_ns, ctime_ns)
);
CREATE TABLE IF NOT EXISTS audits (
    sha256 TEXT NOT NULL, kind TEXT NOT NULL, version TEXT NOT NULL, result TEXT NOT NULL,
    PRIMARY KEY (sha256, kind, version)
);
"""


def default_state_dir() -> Path:
    if os.environ.get("ASSAY_STATE_DIR"):
        return Path(os.environ["ASSAY_STATE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "assay"


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _best_effort(method: Callable[Concatenate[StateDB, _P], _R]) -> Callable[Concatenate[StateDB, _P], _R | None]:
    """The state is a cache: a write or read that fails (a full disk, a file-size limit, a locked or corrupt file)
    disables it for this run instead of failing the verification or transfer that was using it."""
    import functools

    @functools.wraps(method)
    def wrapper(self: StateDB, *args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        if self.disabled:
            return None
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error:
            self.disabled = True
            return None

    return wrapper


class StateDB:
    """A small wrapper around the SQLite state; safe to use from one thread at a time (the caller's)."""

    disabled = False

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else default_state_dir() / "state.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def key(st: os.stat_result) -> tuple[int, int, int, int, int]:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    @_best_effort
    def lookup(self, st: os.stat_result, *, need_blake3: bool = False) -> tuple[str, str | None] | None:
        """The recorded (sha256, blake3) for a file with exactly this identity, if trustworthy."""
        row = self._db.execute(
            "SELECT sha256, blake3, recorded_ns FROM files WHERE dev=? AND ino=? AND size=? AND mtime_ns=? AND "
            "ctime_ns=?",
            self.key(st),
        ).fetchone()
        if row is None:
            return None
        sha, b3, recorded = row
        if max(st.st_mtime_ns, st.st_ctime_ns) >= recorded - RACY_NS:
            return None  # racily clean: could have changed within the same timestamp tick
        if need_blake3 and not b3:
            return None
        return sha, b3

    @_best_effort
    def record(self, st: os.stat_result, sha256: str, blake3: str | None, path: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?)",
            (*self.key(st), sha256, blake3, time.time_ns(), path),
        )

    @_best_effort
    def record_many(self, rows: list[tuple[os.stat_result, str, str | None, str]]) -> None:
        now = time.time_ns()
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?)",
                [(*self.key(st), sha, b3, now, path) for st, sha, b3, path in rows],
            )

    @_best_effort
    def get_audit(self, sha256: str, kind: str, version: str) -> Any | None:
        row = self._db.execute(
            "SELECT result FROM audits WHERE sha256=? AND kind=? AND version=?", (sha256, kind, version)
        ).fetchone()
        return json.loads(row[0]) if row else None

    @_best_effort
    def put_audit(self, sha256: str, kind: str, version: str, result: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO audits VALUES (?,?,?,?)",
            (sha256, kind, version, json.dumps(result, sort_keys=True)),
        )


def open_state(path: Path | None = None) -> StateDB | None:
    """Open the state DB, or None (with no error) when the location is not writable: verification then re-hashes."""
    try:
        return StateDB(path)
    except (OSError, sqlite3.Error):
        return None
