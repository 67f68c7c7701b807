"""Atomic file writes: a temporary file in the destination folder, fsync, then rename.

Readers never see a partial file, and a crash leaves either the old or the new content.  ``mkstemp`` creates
files readable by the owner only; the final file gets the usual permissions (0666 less the umask).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def read_input(path: Path | str, what: str, error: type[Exception] | None = None) -> bytes:
    """The bytes of a file the user named, or a one-line error (``InputError`` by default) saying why not."""
    from .errors import InputError

    fail: type[Exception] = InputError if error is None else error
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise fail(f"{p}: no such {what}") from None
    except IsADirectoryError:
        raise fail(f"{p}: is a directory, not a {what}") from None
    except OSError as exc:
        raise fail(f"{p}: cannot read {what}: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_temp(folder: Path, name: str, mode: int | None = None) -> tuple[int, str]:
    """A temporary file beside the final one, with ``mode`` (default: normal permissions); returns (fd, path)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)  # created 0600: nothing leaks early
    os.fchmod(fd, mode if mode is not None else 0o666 & ~_umask())
    return fd, tmp


def write_bytes_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    fd, tmp = new_temp(path.parent, path.name, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
