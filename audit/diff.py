"""``assay diff A B``: what changed between two releases — files, claims, published scores, sources, digests.

Each side is a manifest (its lock beside it is used when present), a lock file, or a hub URI whose package carries
``assay.yaml`` + ``assay.lock.yaml`` (only those two files are fetched).  File identity comes from the lock when
there is one (exact sha256 and size), else from what the manifest declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from ..manifests.errors import InputError
from ..manifests.loader import load_manifest, load_model, lock_path_for
from ..manifests.lock import Lock
from ..manifests.schema import Manifest


class FileChange(BaseModel):
    path: str
    change: Literal["added", "removed", "modified", "renamed"]
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class ValueChange(BaseModel):
    key: str
    before: Any
    after: Any


class DiffResult(BaseModel):
    a: str
    b: str
    release_a: str | None
    release_b: str | None
    release_digest_a: str | None
    release_digest_b: str | None
    identical: bool
    files: list[FileChange]
    claims: list[ValueChange]
    scores: list[ValueChange]
    sources: list[ValueChange]
    release: list[ValueChange]


@dataclass
class _Side:
    """One side of a diff: a manifest (with its lock when there is one) or a bare lock."""

    label: str
    manifest: Manifest | None
    lock: Lock | None

    def release(self) -> str:
        if self.manifest is not None:
            return f"{self.manifest.release.name} {self.manifest.release.version}"
        if self.lock is not None:
            return f"{self.lock.release.name} {self.lock.release.version}"
        return self.label


def _load_side(ref: str) -> _Side:
    if "://" in ref:
        return _load_uri(ref)
    path = Path(ref)
    if not path.is_file():
        raise InputError(f"{ref}: no such manifest or lock file")
    text = path.read_text(encoding="utf-8", errors="replace")
    if "\nkind: Lock" in f"\n{text}":
        return _Side(ref, None, load_model(Lock, path))
    manifest = load_manifest(path)
    lock_path = lock_path_for(path)
    return _Side(ref, manifest, load_model(Lock, lock_path) if lock_path.exists() else None)


def _load_uri(uri: str) -> _Side:
    import tempfile

    from ..hubs.base import LOCK_NAME, MANIFEST_NAME, HubError
    from ..hubs.pull import read_small
    from ..hubs.select import hub_for
    from ..manifests.uris import parse_source_uri

    parsed = parse_source_uri(uri)
    hub = hub_for(parsed)
    resolved = hub.resolve(parsed)
    with tempfile.TemporaryDirectory(prefix="assay-diff-") as tmp:
        for name in (MANIFEST_NAME, LOCK_NAME):
            remote = resolved.file(name)
            if remote is None:
                raise HubError(f"{uri}: not an assay package (no {name} at its root)")
            (Path(tmp) / name).write_bytes(read_small(hub, resolved, remote))
        return _Side(
            f"{uri} ({resolved.revision})",
            load_manifest(Path(tmp) / MANIFEST_NAME),
            load_model(Lock, Path(tmp) / LOCK_NAME),
        )


def _files(side: _Side) -> dict[str, dict[str, Any]]:
    if side.lock is not None:
        return {f.path: {"size": f.size, "sha256": f.sha256} for f in side.lock.files}
    if side.manifest is None:  # a side is a manifest, a lock or both
        return {}
    return {a.path: {"size": a.size, "sha256": a.sha256} for a in side.manifest.artifacts}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _changes(a: dict[str, Any], b: dict[str, Any]) -> list[ValueChange]:
    return [
        ValueChange(key=k, before=a.get(k), after=b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
    ]


def _scores(side: _Side) -> dict[str, Any]:
    if side.manifest is None:
        return {}
    out = {}
    for ev in side.manifest.evals:
        for i, pub in enumerate(ev.published):
            out[f"{ev.name}.{ev.metric}" + (f"[{i}]" if len(ev.published) > 1 else "")] = pub.value
    return out


def diff_releases(a_ref: str, b_ref: str) -> DiffResult:
    a, b = _load_side(a_ref), _load_side(b_ref)
    fa, fb = _files(a), _files(b)
    files: list[FileChange] = []
    removed = {p: v for p, v in fa.items() if p not in fb}
    added = {p: v for p, v in fb.items() if p not in fa}
    for path, after in list(added.items()):  # same bytes under a new name
        twin = next((p for p, v in removed.items() if v["sha256"] and v == after), None)
        if twin is not None:
            files.append(
                FileChange(path=path, change="renamed", before={"path": twin, **removed.pop(twin)}, after=after)
            )
            added.pop(path)
    files += [FileChange(path=p, change="removed", before=v) for p, v in removed.items()]
    files += [FileChange(path=p, change="added", after=v) for p, v in added.items()]
    files += [
        FileChange(path=p, change="modified", before=fa[p], after=fb[p]) for p in fa if p in fb and fa[p] != fb[p]
    ]
    files.sort(key=lambda c: c.path)

    def dump(side: _Side, attr: str) -> dict[str, Any]:
        if not both:
            return {}
        return _flatten(getattr(side.manifest, attr).model_dump(mode="json", exclude_none=True))

    # Manifest-level sections are compared only when both sides have a manifest (a bare lock has none).
    both = a.manifest is not None and b.manifest is not None
    sources_a: dict[str, Any] = {}
    sources_b: dict[str, Any] = {}
    if a.manifest is not None and b.manifest is not None:
        sources_a = {s.name: s.uri for s in a.manifest.sources}
        sources_b = {s.name: s.uri for s in b.manifest.sources}
    if a.lock and b.lock:
        sources_a.update({f"{s.name}@revision": s.revision for s in a.lock.sources})
        sources_b.update({f"{s.name}@revision": s.revision for s in b.lock.sources})
    claims = _changes(dump(a, "claims"), dump(b, "claims"))
    scores = _changes(_scores(a), _scores(b)) if both else []
    release = _changes(dump(a, "release"), dump(b, "release"))
    sources = _changes(sources_a, sources_b)

    da = a.lock.release_digest if a.lock else None
    db = b.lock.release_digest if b.lock else None
    identical = not (files or claims or scores or release or sources) and da == db
    return DiffResult(
        a=a.label,
        b=b.label,
        release_a=a.release(),
        release_b=b.release(),
        release_digest_a=da,
        release_digest_b=db,
        identical=identical,
        files=files,
        claims=claims,
        scores=scores,
        sources=sources,
        release=release,
    )
