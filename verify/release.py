"""``assay verify``: check every byte of a release by hash and every structural claim, from the manifest and its lock.

Nothing is reported verified that was not hashed — now, or earlier with an identical file identity recorded in the
incremental state (reported as ``how: state``; ``--strict`` re-hashes everything).
"""

from __future__ import annotations

import os
import stat as statmod
import time
from pathlib import Path

from ..manifests.errors import ManifestError, PathEscapeError
from ..manifests.findings import PASSING
from ..manifests.lock import release_digest
from ..manifests.paths import resolve_inside
from ..manifests.release import Progress, Release, Store, as_release
from ..manifests.uris import parse_source_uri
from .hashing import default_workers, hash_many
from .results import FileCheck, Finding, VerifyResult, VerifySummary
from .state import StateDB


def _expected(loaded: Release, findings: list[Finding]) -> dict[str, tuple[int | None, str | None]]:
    """Expected (size, sha256) per artifact: the lock's pin, else the manifest's declaration."""
    m, lock = loaded.manifest, loaded.lock
    out: dict[str, tuple[int | None, str | None]] = {}
    if lock is not None:
        if release_digest((f.path, f.size, f.sha256) for f in lock.files) != lock.release_digest:
            findings.append(
                Finding(
                    code="lock",
                    severity="error",
                    where=str(loaded.lock_path),
                    message="the lock's release_digest does not match its file list (the lock was edited)",
                )
            )
        if lock.manifest_sha256 != loaded.manifest_sha256:
            findings.append(
                Finding(
                    code="lock",
                    severity="warning",
                    where=str(loaded.lock_path),
                    message="the manifest changed since this lock was written; run 'assay lock' to refresh it",
                )
            )
        listed = {a.path for a in m.artifacts}
        for f in lock.files:
            if f.path not in listed:
                findings.append(
                    Finding(
                        code="lock",
                        severity="error",
                        where=f.path,
                        message="pinned in the lock but not listed in the manifest",
                    )
                )
    for art in m.artifacts:
        pinned = lock.file(art.path) if lock is not None else None
        size, sha = art.size, art.sha256
        if pinned is not None:
            if art.sha256 and art.sha256 != pinned.sha256:
                findings.append(
                    Finding(
                        code="lock",
                        severity="error",
                        where=art.path,
                        message=f"manifest sha256 {art.sha256} differs from the lock's {pinned.sha256}",
                    )
                )
            if art.size is not None and art.size != pinned.size:
                findings.append(
                    Finding(
                        code="lock",
                        severity="error",
                        where=art.path,
                        message=f"manifest size {art.size} differs from the lock's {pinned.size}",
                    )
                )
            size, sha = pinned.size, pinned.sha256
        out[art.path] = (size, sha)
    return out


def artifact_roots(loaded: Release) -> tuple[dict[str, Path], dict[str, str]]:
    """Where each artifact's bytes are on disk, and the artifacts whose source is a hub not pulled here (path -> URI).

    :meth:`Release.roots` refuses a release with any source that is not a local folder; verification instead reports
    those files as not checked (they need a network to pull), so an unpulled release is an honest non-pass, not bad
    input.  A ``dir://`` source that does not exist is still bad input (the caller refuses it).
    """
    try:
        return loaded.roots(), {}
    except ManifestError:
        pass  # some source is not a local folder: sort the artifacts one by one
    m = loaded.manifest
    sources = {s.name: s for s in m.sources}
    default = m.sources[0] if m.sources else None
    local: dict[str, Path] = {}
    remote: dict[str, str] = {}
    for art in m.artifacts:
        src = sources[art.source] if art.source else default
        if src is None:
            local[art.path] = loaded.manifest_path.parent
        elif parse_source_uri(src.uri).scheme == "dir":
            local[art.path] = loaded.source_dir(src.uri)
        else:
            remote[art.path] = src.uri
    return local, remote


def _extra_files(root: Path, listed: set[str], skip: set[Path]) -> list[str]:
    extras: list[str] = []
    real_root = Path(os.path.realpath(root))
    for dirpath, dirnames, filenames in os.walk(real_root):
        dirnames[:] = sorted(d for d in dirnames if d not in Store.IGNORED_DIRS)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(real_root).as_posix()
            if rel not in listed and full not in skip:
                extras.append(rel)
    return extras


def measure_files(
    items: list[tuple[str, str, Path, int | None, str | None]],
    *,
    strict: bool,
    state: StateDB | None = None,
    blake3: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    findings: list[Finding] | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> dict[str, FileCheck]:
    """Stat, then hash (or trust from state) each (path, role, root, expected_size, expected_sha256).

    Returns path -> FileCheck with the status decided against the expectation; records fresh digests in the state.
    """
    findings = findings if findings is not None else []
    checks: dict[str, FileCheck] = {}
    jobs: list[tuple[str, Path, int]] = []
    for path, role, root, size, sha in items:
        base = FileCheck(path=path, role=role, status="ok", how="not-read", expected_size=size, expected_sha256=sha)
        try:
            real = resolve_inside(root, path)
        except PathEscapeError as exc:
            checks[path] = base.model_copy(update={"status": "unsafe-path", "message": str(exc)})
            continue
        try:
            st = os.stat(real)
        except FileNotFoundError:
            checks[path] = base.model_copy(update={"status": "missing", "message": "file not found"})
            continue
        except OSError as exc:
            checks[path] = base.model_copy(update={"status": "unreadable", "message": exc.strerror})
            continue
        if not statmod.S_ISREG(st.st_mode):
            checks[path] = base.model_copy(update={"status": "unreadable", "message": "not a regular file"})
            continue
        if size is not None and st.st_size != size:
            checks[path] = base.model_copy(
                update={
                    "status": "size-mismatch",
                    "size": st.st_size,
                    "message": f"size {st.st_size:,} bytes, expected {size:,} "
                    f"({'truncated' if st.st_size < size else 'extended'})",
                }
            )
            continue
        if not strict and state is not None:
            hit = state.lookup(st, need_blake3=blake3)
            if hit is not None:
                checks[path] = base.model_copy(
                    update={"how": "state", "size": st.st_size, "sha256": hit[0], "blake3": hit[1]}
                )
                continue
        checks[path] = base.model_copy(update={"size": st.st_size})
        jobs.append((path, real, st.st_size))

    if progress is not None:
        progress.start(sum(j[2] for j in jobs), len(jobs))
    try:
        digests = hash_many(
            jobs,
            workers=workers,
            blake3=blake3,
            progress=progress.advance if progress else None,
            executor=executor,
            ray_address=ray_address,
        )
    finally:
        if progress is not None:
            progress.finish()

    real_paths = {key: real for key, real, _ in jobs}
    to_record = []
    for key, dig in digests.items():
        chk = checks[key]
        if isinstance(dig, OSError):
            checks[key] = chk.model_copy(update={"status": "unreadable", "message": dig.strerror or str(dig)})
            continue
        if not dig.stable:
            findings.append(
                Finding(code="hash", severity="error", where=key, message="the file changed while it was being hashed")
            )
            checks[key] = chk.model_copy(update={"status": "unreadable", "message": "changed while hashing"})
            continue
        checks[key] = chk.model_copy(
            update={"how": "hashed", "size": dig.size, "sha256": dig.sha256, "blake3": dig.blake3}
        )
        to_record.append((dig.stat_after, dig.sha256, dig.blake3, str(real_paths[key])))
    if state is not None and to_record:
        state.record_many(to_record)

    for key, chk in list(checks.items()):
        if chk.status != "ok":
            continue
        if chk.expected_sha256 is None:
            checks[key] = chk.model_copy(
                update={"status": "unpinned", "message": "no sha256 in the manifest or lock: cannot be verified"}
            )
        elif chk.sha256 != chk.expected_sha256:
            checks[key] = chk.model_copy(
                update={"status": "mismatch", "message": f"sha256 {chk.sha256} != expected {chk.expected_sha256}"}
            )
    return checks


def verify_release(
    release: Release | Path | str,
    *,
    root: Path | str | None = None,
    strict: bool = False,
    blake3: bool = False,
    workers: int | None = None,
    state_path: Path | None = None,
    use_state: bool = True,
    progress: Progress | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> VerifyResult:
    """Verify a release against its manifest and lock.  Raises InputError (exit 2) only for bad input."""
    t0 = time.perf_counter()
    loaded = as_release(release, root=root)
    m = loaded.manifest
    findings: list[Finding] = []
    expected = _expected(loaded, findings)
    roots, remote = artifact_roots(loaded)
    for r in set(roots.values()):
        if not r.is_dir():
            raise ManifestError(f"release folder {r} does not exist or is not a directory")

    state = None
    if use_state:
        from .state import open_state

        state = open_state(state_path)
        if state is None:
            findings.append(
                Finding(
                    code="state", severity="warning", message="incremental state is not writable; every file is hashed"
                )
            )
    try:
        checks = measure_files(
            [(a.path, a.role.value, roots[a.path], *expected[a.path]) for a in m.artifacts if a.path in roots],
            strict=strict,
            state=state,
            blake3=blake3,
            workers=workers,
            progress=progress,
            findings=findings,
            executor=executor,
            ray_address=ray_address,
        )
        for a in m.artifacts:
            if a.path in remote:  # not here: not checked, and never counted as verified
                size, sha = expected[a.path]
                checks[a.path] = FileCheck(
                    path=a.path,
                    role=a.role.value,
                    status="missing",
                    how="not-read",
                    expected_size=size,
                    expected_sha256=sha,
                    needs=["network"] if sha else ["network", "lock"],
                    message=f"its source {remote[a.path]} has not been pulled here; "
                    + ("pull it ('assay pull')" if sha else "lock and pull it ('assay lock', 'assay pull')"),
                )
        verified = {k: (c.sha256 if c.status == "ok" else None) for k, c in checks.items()}
        from .structure import check_structure

        structure = check_structure(m, roots, verified, state)
        findings.extend(structure.findings)
        if structure.metadata is not None:
            findings.extend(structure.metadata.findings)
        if structure.remote_code_audit is not None:  # the listing's info entries stay in the audit only
            findings.extend(f for f in structure.remote_code_audit.findings if f.severity != "info")
        claims = structure.claims
        if remote:  # what could not be measured needs the remote files; with none here, nothing was measured
            nothing_local = not roots
            claims = [
                c
                if c.verdict in PASSING
                else c.model_copy(
                    update={
                        "verdict": "not-checked" if nothing_local else c.verdict,
                        "needs": ["network"],
                        "message": (
                            f"not measured: the release's files are at {', '.join(sorted(set(remote.values())))}, "
                            "not here"
                            if nothing_local
                            else c.message
                        ),
                    }
                )
                for c in claims
            ]
    finally:
        if state is not None:
            state.close()

    files = [checks[a.path] for a in m.artifacts]
    skip = {Path(os.path.realpath(loaded.manifest_path))}
    if loaded.lock_path:
        skip.add(Path(os.path.realpath(loaded.lock_path)))
    extras: list[str] = []
    for r in sorted(set(roots.values())):
        listed = {p for p, rr in roots.items() if rr == r}
        extras.extend(_extra_files(r, listed, skip))
    for rel in extras:
        findings.append(
            Finding(
                code="extra",
                severity="warning",
                where=rel,
                message="present in the release folder but not listed in the manifest",
            )
        )

    all_ok = all(c.status == "ok" for c in files)
    # an ok file always has its size and sha256; a file without them gets no digest rather than a partial one
    triples = [(c.path, c.size, c.sha256) for c in files if c.size is not None and c.sha256 is not None]
    digest = release_digest(triples) if all_ok and len(triples) == len(files) else None
    expected_digest = loaded.lock.release_digest if loaded.lock else None
    if digest and expected_digest and digest != expected_digest:
        findings.append(
            Finding(
                code="lock",
                severity="error",
                message=f"release digest {digest} differs from the lock's {expected_digest}",
            )
        )
    errors = sum(f.severity == "error" for f in findings)
    claims_failed = sum(c.verdict not in PASSING for c in claims)
    if not files:  # fail closed: a release with no files has nothing verified, whatever its claims say
        findings.append(
            Finding(code="release", severity="error", message="the manifest lists no artifacts: nothing was verified")
        )
        errors += 1
    hashed = [c for c in files if c.how == "hashed"]
    trusted = [c for c in files if c.how == "state"]
    summary = VerifySummary(
        files=len(files),
        ok=sum(c.ok for c in files),
        failed=sum(not c.ok for c in files),
        hashed=len(hashed),
        trusted_from_state=len(trusted),
        bytes_hashed=sum(c.size or 0 for c in hashed),
        bytes_trusted=sum(c.size or 0 for c in trusted),
        errors=errors,
        warnings=sum(f.severity == "warning" for f in findings),
        claims_failed=claims_failed,
        seconds=round(time.perf_counter() - t0, 4),
    )
    return VerifyResult(
        manifest=str(loaded.manifest_path),
        root=str(next(iter(set(roots.values())), loaded.manifest_path.parent)),
        strict=strict,
        lock=str(loaded.lock_path) if loaded.lock_path else None,
        release=f"{m.release.name} {m.release.version}",
        release_digest=digest,
        expected_release_digest=expected_digest,
        files=files,
        findings=findings,
        claims=claims,
        extra_files=extras,
        summary=summary,
        ok=all_ok and errors == 0 and claims_failed == 0,
        metadata=structure.metadata,
        remote_code=structure.remote_code_audit,
    )


__all__ = ["verify_release", "measure_files", "default_workers"]
