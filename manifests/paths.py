"""Release-relative paths: validation of the strings in manifests and safe resolution on disk.

A manifest path is a POSIX relative path in normal form: no empty, ``.`` or ``..`` segments, no leading ``/``,
no backslashes, no drive letters, no NUL or control characters.  Resolution on disk additionally follows
symlinks and refuses any path whose real location lies outside the real release root.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from .errors import PathEscapeError

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPECIAL = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def check_relpath(path: str) -> str:
    """Return ``path`` unchanged if it is a safe, normalised, relative POSIX path; else raise PathEscapeError."""
    if not isinstance(path, str) or not path:
        raise PathEscapeError("empty path")
    if _CONTROL.search(path):
        raise PathEscapeError(f"path {path!r} contains a control character")
    if "\\" in path:
        raise PathEscapeError(f"path {path!r} contains a backslash; manifest paths use '/'")
    if path.startswith("/") or _DRIVE.match(path):
        raise PathEscapeError(f"path {path!r} is absolute; manifest paths are relative to the release root")
    parts = path.split("/")
    for part in parts:
        if part == "..":
            raise PathEscapeError(f"path {path!r} escapes the release root through '..'")
        if part in ("", "."):
            raise PathEscapeError(f"path {path!r} is not normalised (empty or '.' segment)")
    return path


def resolve_inside(root: Path, relpath: str) -> Path:
    """Resolve a manifest path below ``root``, refusing symlinks (at any level) that lead outside the root, and
    special files (a FIFO, a socket, a device: reading one can block forever or never end).

    Returns the real path of the target (which need not exist).
    """
    check_relpath(relpath)
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / relpath))
    if target != real_root and real_root not in target.parents:
        raise PathEscapeError(f"path {relpath!r} resolves outside the release root (symlink to {target})")
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return target  # need not exist (yet): a download target, a file reported missing
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = next((name for test, name in _SPECIAL if test(mode)), "special file")
        raise PathEscapeError(f"path {relpath!r} is a {kind}, not a regular file: reading it could block or never end")
    return target


def is_within(root: Path, path: Path) -> bool:
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    return real == real_root or real_root in real.parents
