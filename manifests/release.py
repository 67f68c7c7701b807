"""The release every check works on: its manifest, its lock, where each artifact's bytes live, and the local store.

A :class:`Release` is built once, by :func:`load_release`, and handed to every check (verify, structure, data,
rebuild, rescore, rerun, attest, push), so one audit parses the manifest and the lock once.  It sits at the ground
floor of the package: it imports only the schema, the lock model and path rules.

The local store's layout is defined here and nowhere else (:class:`Store`): a folder made by ``assay pull`` holds
``.assay/origin.json``; downloads stream into ``.assay/partial/``; re-run logs default to ``.assay/rerun/``; and the
folders a release walk never lists (``.git``, ``.assay``, caches).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from .errors import ManifestError
from .loader import load_manifest, load_model, lock_path_for
from .lock import Lock
from .schema import Manifest
from .uris import parse_source_uri


class Store:
    """Names of the local store, relative to a release folder."""

    DIR = ".assay"
    ORIGIN = ".assay/origin.json"  # written by 'assay pull': this folder holds every file of the release
    PARTIAL = ".assay/partial"  # resumable downloads, named by the expected sha256
    RERUN = ".assay/rerun"  # default folder of re-run logs
    IGNORED_DIRS = frozenset({".git", ".cache", ".assay", ".dvc", "__pycache__", ".huggingface"})


class Progress(Protocol):
    """What long work reports to (the CLI adapts it to a progress bar; the library never prints)."""

    def start(self, total_bytes: int, files: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...


@dataclass(frozen=True)
class Release:
    """A manifest and its lock, read and validated once.  ``root``: a folder that holds every artifact (``--dir``, a
    pulled folder), else each artifact is read from its ``dir://`` source."""

    manifest_path: Path
    manifest: Manifest
    manifest_sha256: str
    lock_path: Path | None
    lock: Lock | None
    root: Path | None = None
    _roots: dict[str, Path] | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.manifest.release.name} {self.manifest.release.version}"

    def with_root(self, root: Path | str | None) -> Release:
        """The same release read from another folder (``--dir``); ``None`` keeps the current one."""
        if root is None:
            return self
        return replace(self, root=Path(root), _roots=None)

    def locked(self) -> tuple[Lock, Path]:
        """The lock and its path, for the verbs that need one (``load_release(..., require_lock=True)``)."""
        if self.lock is None or self.lock_path is None:
            raise ManifestError(f"{self.manifest_path}: no lock beside it; run 'assay lock {self.manifest_path}'")
        return self.lock, self.lock_path

    def source_dir(self, uri: str) -> Path:
        """The local folder of a ``dir://`` source (relative paths are relative to the manifest's folder)."""
        parsed = parse_source_uri(uri)
        if parsed.scheme != "dir":
            raise ManifestError(
                f"{self.manifest_path}: source {uri} is not a local directory; pull it first ('assay pull')"
            )
        p = Path(parsed.repo)
        return p if p.is_absolute() else (self.manifest_path.parent / p)

    def roots(self) -> dict[str, Path]:
        """Where each artifact's bytes are on disk (raises ManifestError for a source that is not local).

        ``root`` for all; else the manifest's folder when ``assay pull`` made it (it holds ``.assay/origin.json``);
        else each artifact's ``dir://`` source; else the manifest's folder.
        """
        if self._roots is not None:
            return self._roots
        m = self.manifest
        override = self.root
        if override is None and (self.manifest_path.parent / Store.ORIGIN).is_file():
            override = self.manifest_path.parent
        if override is not None:
            roots = {a.path: override for a in m.artifacts}
        else:
            sources = {s.name: s for s in m.sources}
            default = m.sources[0] if m.sources else None
            roots = {}
            for art in m.artifacts:
                src = sources[art.source] if art.source else default
                roots[art.path] = self.manifest_path.parent if src is None else self.source_dir(src.uri)
        object.__setattr__(self, "_roots", roots)  # a cache of a pure function of the frozen fields
        return roots


def load_release(manifest_path: Path | str, *, root: Path | str | None = None, require_lock: bool = False) -> Release:
    """Read a manifest and, when present, the lock beside it (``X.yaml`` -> ``X.lock.yaml``)."""
    path = Path(manifest_path)
    manifest = load_manifest(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    lock_path = lock_path_for(path)
    lock = None
    if lock_path.exists():
        lock = load_model(Lock, lock_path)
    elif require_lock:
        raise ManifestError(f"{path}: no lock beside it ({lock_path.name}); run 'assay lock {path}'")
    return Release(path, manifest, sha, lock_path if lock else None, lock, Path(root) if root is not None else None)


def as_release(release: Release | Path | str, *, root: Path | str | None = None) -> Release:
    """A Release as given, or loaded from a manifest path (the path-taking public API goes through this)."""
    if isinstance(release, Release):
        return release.with_root(root)
    return load_release(release, root=root)
