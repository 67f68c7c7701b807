"""``assay data check``: the declared mixture against itself and against the data.

Steps: resolve each component's source; hash its files (the verify hashing engine and incremental state, or DVC's
API for dvc:// sources); recount documents/tokens/bytes of every readable file (local or Ray executor); compare each
component's declared figures with the recount; then run the mixture arithmetic (:mod:`.consistency`) on the
declared figures and on the measured ones.  A component whose bytes assay cannot read is *attested only*: its
declared figures enter the mixture arithmetic, labelled as such, and it is never reported verified.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from ..manifests.errors import InputError, PathEscapeError
from ..manifests.paths import resolve_inside
from ..manifests.release import Release, as_release
from ..manifests.schema_data import DataComponent, DataSection
from ..verify.release import measure_files
from .consistency import Figures, combine, evaluate, weight_checks
from .executors import Job, run_counts
from .records import RecordError, detect_format
from .recount import add_counts
from .results import (
    ComponentCheck,
    ComponentStatus,
    CountCheck,
    DataCheckResult,
    DataCheckSummary,
    DataFileCheck,
    Finding,
    MixtureCheck,
)
from .sources import resolve_component

BAD_FILE = ("mismatch", "size-mismatch", "missing", "unsafe-path", "unreadable")


def _tokenizer(loaded: Release, section: DataSection, findings: list[Finding]) -> tuple[str | None, str | None]:
    """(local path, sha256) of the counting tokenizer; its bytes must match the release's pin to be used."""
    ref = section.tokenizer
    if ref is None:
        return None, None
    from ..verify.hashing import hash_file

    art = loaded.manifest.artifact(ref)
    if art is not None:
        try:
            path = resolve_inside(loaded.roots()[ref], ref)
        except InputError as exc:
            findings.append(Finding(severity="error", code="tokenizer", where=ref, message=str(exc)))
            return None, None
        pinned = loaded.lock.file(ref) if loaded.lock else None
        expected = pinned.sha256 if pinned else art.sha256
    elif ref.startswith(("hf://", "oci://", "dir://")):
        findings.append(
            Finding(
                severity="error",
                code="tokenizer",
                where=ref,
                message="a remote tokenizer cannot be used for counting; list it as an artifact and pull it",
            )
        )
        return None, None
    else:
        path = resolve_inside(loaded.manifest_path.parent, ref)
        expected = None
    if not path.is_file():
        findings.append(Finding(severity="error", code="tokenizer", where=ref, message=f"file not found: {path}"))
        return None, None
    sha = hash_file(path).sha256
    if expected is None:
        findings.append(
            Finding(
                severity="warning",
                code="tokenizer-unpinned",
                where=ref,
                message="not a pinned artifact of the release: token counts depend on unpinned bytes",
            )
        )
    elif sha != expected:
        findings.append(
            Finding(
                severity="error",
                code="tokenizer",
                where=ref,
                message=f"sha256 {sha} != pinned {expected}: tokens are not counted with a tampered tokenizer",
            )
        )
        return None, sha
    return str(path), sha


def _local_files(
    comp: DataComponent, root: Path, strict: bool, state: Any, executor: str = "local", ray_address: str | None = None
) -> tuple[list[DataFileCheck], dict[str, Path]]:
    if not root.is_dir():
        return (
            [
                DataFileCheck(
                    path=f.path,
                    status="missing",
                    how="not-read",
                    expected_sha256=f.sha256,
                    message=f"source folder {root} does not exist",
                )
                for f in comp.files
            ],
            {},
        )
    checks = measure_files(
        [(f.path, "data", root, f.size, f.sha256) for f in comp.files],
        strict=strict,
        state=state,
        executor=executor,
        ray_address=ray_address,
    )
    out: list[DataFileCheck] = []
    readable: dict[str, Path] = {}
    for f in comp.files:
        c = checks[f.path]
        out.append(
            DataFileCheck(
                path=f.path,
                status=c.status,
                how=c.how,
                size=c.size,
                sha256=c.sha256,
                expected_sha256=c.expected_sha256,
                message=c.message,
            )
        )
        if c.status not in BAD_FILE or c.status == "mismatch":
            with contextlib.suppress(PathEscapeError):  # a path that escapes its root is not read
                readable[f.path] = resolve_inside(root, f.path)
    return out, readable


def _count_checks(comp: DataComponent, measured: dict[str, Any] | None, tokenizer_ok: bool) -> list[CountCheck]:
    out: list[CountCheck] = []
    for field in ("tokens", "documents", "bytes"):
        declared = getattr(comp, field)
        value = None if measured is None else measured.get(field)
        if value is None:
            if declared is None:
                continue
            why = "no usable tokenizer (data.tokenizer)" if field == "tokens" and not tokenizer_ok else "not measured"
            out.append(CountCheck(field=field, declared=declared, measured=None, verdict="not-checked", message=why))
        elif declared is None:
            out.append(CountCheck(field=field, declared=None, measured=value, verdict=None))
        else:
            ok = abs(value - declared) <= comp.tolerance * declared
            out.append(
                CountCheck(
                    field=field,
                    declared=declared,
                    measured=value,
                    verdict="pass" if ok else "fail",
                    message=None
                    if ok
                    else f"measured {value:,}, declared {declared:,}"
                    + (f" (tolerance {comp.tolerance:g})" if comp.tolerance else ""),
                )
            )
    return out


def _status(
    files: list[DataFileCheck], counts: list[CountCheck], measured: dict[str, Any] | None
) -> tuple[ComponentStatus, str | None]:
    """pass / fail / not-checked, with every reason (not just the first)."""
    failures = [
        f"{f.path}: {f.status}" + (f" ({f.message})" if f.message else "") for f in files if f.status in BAD_FILE
    ]
    failures += [f"{c.field} {c.message}" for c in counts if c.verdict == "fail"]
    if measured and measured.get("invalid_records"):
        failures.append(f"{measured['invalid_records']} invalid record(s): " + "; ".join(measured["errors"]))
    if failures:
        return "fail", "; ".join(failures)
    if not files:
        return "not-checked", "no files are listed for an available source"
    loose = [f"files with no sha256: {f.path}" for f in files if f.status == "unpinned"]
    loose += [f"{c.field} declared but not measurable ({c.message})" for c in counts if c.verdict == "not-checked"]
    if loose:
        return "not-checked", "; ".join(loose)
    return "pass", None


def check_data(
    release: Release | Path | str,
    *,
    strict: bool = False,
    data_dir: Path | str | None = None,
    executor: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    use_state: bool = True,
    workdir: Path | str | None = None,
) -> DataCheckResult:
    """Check the manifest's ``data:`` section.  Raises InputError (exit 2) only for bad input."""
    t0 = time.perf_counter()
    loaded = as_release(release)
    m = loaded.manifest
    if m.data is None:
        raise InputError(f"{loaded.manifest_path}: the manifest has no 'data:' section")
    section = m.data
    findings: list[Finding] = []
    tok_path, tok_sha = _tokenizer(loaded, section, findings)
    data_dir = Path(data_dir) if data_dir is not None else None

    state = None
    if use_state:
        from ..verify.state import open_state

        state = open_state()
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="assay-data-")
        workdir = tmp.name
    try:
        files_by_comp: dict[str, list[DataFileCheck]] = {}
        readable: dict[str, dict[str, Path]] = {}
        resolved = {}
        for comp in section.components:
            src = resolve_component(loaded.manifest_path, comp, data_dir)
            resolved[comp.name] = src
            if src.kind == "local":
                files_by_comp[comp.name], readable[comp.name] = _local_files(
                    comp, src.folder(), strict, state, executor, ray_address
                )
            elif src.kind == "dvc":
                from .dvc_source import dvc_files

                files_by_comp[comp.name], readable[comp.name] = dvc_files(comp, src.folder(), Path(workdir) / comp.name)
        jobs: list[Job] = []
        fmt_errors: dict[str, list[str]] = {}
        for comp in section.components:
            for f in comp.files:
                if f.path not in readable.get(comp.name, {}):
                    continue
                try:
                    fmt = detect_format(f.path, f.format)
                except RecordError as exc:
                    fmt_errors.setdefault(comp.name, []).append(str(exc))
                    continue
                jobs.append(((comp.name, f.path), str(readable[comp.name][f.path]), fmt, tok_path, comp.text_field))
        counted = run_counts(jobs, executor, workers=workers, address=ray_address)
    finally:
        if state is not None:
            state.close()
        if tmp is not None:
            tmp.cleanup()

    components: list[ComponentCheck] = []
    declared_fig: dict[str, Figures] = {}
    data_fig: dict[str, Figures] = {}
    attested: list[str] = []
    for comp in section.components:
        src = resolved[comp.name]
        weight = f"{comp.weight.value:g} {comp.weight.unit.value}" if comp.weight else None
        declared_fig[comp.name] = Figures(comp.tokens, comp.documents, comp.bytes)
        if src.kind == "attested":
            attested.append(comp.name)
            data_fig[comp.name] = declared_fig[comp.name]
            counts = [
                CountCheck(field=k, declared=getattr(comp, k), measured=None, verdict="attested")
                for k in ("tokens", "documents", "bytes")
                if getattr(comp, k) is not None
            ]
            components.append(
                ComponentCheck(
                    name=comp.name,
                    source=comp.source,
                    status="attested",
                    reason=src.reason,
                    tags=comp.tags,
                    weight=weight,
                    counts=counts,
                )
            )
            continue
        files = files_by_comp[comp.name]
        measured: dict[str, Any] | None = None
        for f in comp.files:
            part = counted.get((comp.name, f.path))
            if part is not None:
                measured = add_counts(measured, part)
        if measured is not None or comp.files:
            measured = measured or add_counts({}, {"tokens": 0 if tok_path else None})
            for msg in fmt_errors.get(comp.name, []):
                measured["invalid_records"] += 1
                measured["errors"].append(msg)
            sizes = [f.size for f in files]
            measured["bytes"] = sum(sizes) if files and all(s is not None for s in sizes) else None
            # some files unread: partial figures are not the component's
            if len(readable.get(comp.name, {})) < len(comp.files):
                measured["documents"] = measured["tokens"] = None
        counts = _count_checks(comp, measured, tok_path is not None)
        status, reason = _status(files, counts, measured)
        m_ = measured or {}
        data_fig[comp.name] = Figures(m_.get("tokens"), m_.get("documents"), m_.get("bytes"))
        components.append(
            ComponentCheck(
                name=comp.name,
                source=comp.source,
                status=status,
                reason=reason,
                tags=comp.tags,
                weight=weight,
                files=files,
                counts=counts,
                measured=measured,
            )
        )

    mixture: list[MixtureCheck]
    mixture, unit = weight_checks(section)
    if unit is not None:
        dec = evaluate(section, unit, declared_fig)
        dat = evaluate(section, unit, data_fig)
        mixture += combine(section, dec, dat, attested)
        for c in components:
            epochs = dat.epochs.get(c.name)
            c.epochs = None if epochs is None else round(epochs, 6)

    if not components:  # fail closed: a mixture with no components has nothing checked, whatever it declares
        findings.append(
            Finding(
                severity="error",
                code="no-components",
                where="data.components",
                message="the data section lists no components: nothing was checked",
            )
        )
    hashed = [f for c in components for f in c.files if f.how not in ("not-read", "state")]
    tokens = [c.measured.get("tokens") for c in components if c.measured]
    by = {
        name: sum(c.status == s for c in components)
        for name, s in (
            ("verified", "pass"),
            ("failed", "fail"),
            ("attested", "attested"),
            ("unverifiable", "not-checked"),
        )
    }
    mixture_failed = sum(x.verdict in ("fail", "not-checked") for x in mixture)
    errors = sum(f.severity == "error" for f in findings)
    summary = DataCheckSummary(
        components=len(components),
        **by,
        files_hashed=len(hashed),
        bytes_hashed=sum(f.size or 0 for f in hashed),
        documents_counted=sum((c.measured or {}).get("documents") or 0 for c in components),
        tokens_counted=sum(t for t in tokens if t is not None) if tok_path else None,
        mixture_checks_failed=mixture_failed,
        seconds=round(time.perf_counter() - t0, 4),
    )
    ok = by["failed"] == 0 and by["unverifiable"] == 0 and mixture_failed == 0 and errors == 0
    return DataCheckResult(
        manifest=str(loaded.manifest_path),
        release=f"{m.release.name} {m.release.version}",
        executor=executor,
        tokenizer=section.tokenizer,
        tokenizer_sha256=tok_sha,
        components=components,
        mixture=mixture,
        findings=findings,
        summary=summary,
        ok=ok,
    )
