"""``assay audit``: pull → verify (strict) → data check → rebuild → rescore → rerun → report.

Every step's result is kept even when a later one fails.  Each finished step is saved as ``<out>/steps/<name>.json``
with a fingerprint of its inputs (manifest and lock bytes, the release folder's file identities, the options that
matter); an interrupted audit run again with the same ``--out`` reuses every step that finished with the same
fingerprint instead of redoing it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
import traceback
from pathlib import Path
from typing import Any

from ..manifests.errors import AssayError, InputError, MissingExtra
from ..manifests.fsio import write_atomic
from ..manifests.release import Release, load_release
from .model import (
    FAILING,
    AuditReport,
    ClaimResult,
    Counts,
    Environment,
    PullSummary,
    ReleaseRef,
    StepResult,
    StepSummary,
    Verdict,
)
from .steps import STEPS, AuditContext, RerunOptions, not_checked


def _fingerprint(ctx: AuditContext, step: str, extra: dict[str, Any]) -> str:
    h = hashlib.sha256(f"assay-audit-step-v1\n{step}\n".encode())
    h.update(ctx.release.manifest_path.read_bytes())
    if ctx.release.lock_path is not None:
        h.update(ctx.release.lock_path.read_bytes())
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    # File identities (not contents) of every artifact where it will be read: a resumed audit must notice any
    # change to the files it audits (a change of content changes mtime/ctime).
    try:
        roots = ctx.release.roots()
    except AssayError:
        roots = {}
    for path, root in sorted(roots.items()):
        try:
            st = os.stat(Path(root) / path)
            ident = f"{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}"
        except OSError:
            ident = "missing"
        h.update(f"{path}\0{ident}\n".encode())
    return "sha256:" + h.hexdigest()


def _environment() -> Environment:
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")
    except PackageNotFoundError:  # the core install: torch comes with the rebuild and rerun extras
        torch_version = None
    return Environment(
        assay=version("assay"),
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.machine()}",
        cpu_count=os.cpu_count() or 1,
        torch=torch_version,
    )


def _counts(claims: list[ClaimResult]) -> Counts:
    def n(v: str) -> int:
        return sum(c.verdict == v for c in claims)

    return Counts(
        total=len(claims),
        passed=n("pass"),
        failed=n("fail"),
        attested=n("attested"),
        inconclusive=n("inconclusive"),
        not_checked=n("not-checked"),
        errors=n("error"),
    )


def run_step(name: str, ctx: AuditContext) -> StepResult:
    """Run one step, or reuse its saved result when the inputs are unchanged; a crash becomes an 'error' result."""
    path = ctx.out / "steps" / f"{name}.json"
    fp = _fingerprint(ctx, name, STEPS[name].options(ctx))
    if path.exists():
        try:
            saved = StepResult.model_validate_json(path.read_text())
            if saved.fingerprint == fp and saved.status in ("ok", "failed", "not-applicable"):
                saved.summary.reused = True
                return saved
        except ValueError:
            pass  # an unreadable saved step is simply run again
    t0 = time.perf_counter()
    try:
        result = STEPS[name].run(ctx)
    except MissingExtra as exc:  # fail closed: the step did not run (every claim of it not-checked, needs: extra)
        result = not_checked(name, ctx.manifest, str(exc), needs=["extra"])
    except AssayError as exc:
        result = StepResult(
            name=name,
            status="error",
            error=str(exc),
            claims=[
                ClaimResult(id=f"step:{name}", step=name, kind="step", subject=name, verdict="error", message=str(exc))
            ],
        )
    except Exception as exc:  # noqa: BLE001 -- a bug in one step must not lose the others' results
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        result = StepResult(
            name=name,
            status="error",
            error=detail,
            claims=[
                ClaimResult(id=f"step:{name}", step=name, kind="step", subject=name, verdict="error", message=detail)
            ],
            summary=StepSummary(traceback=traceback.format_exc(limit=8)),
        )
    result = result.model_copy(update={"seconds": round(time.perf_counter() - t0, 3), "fingerprint": fp})
    write_atomic(path, result.model_dump_json(indent=2))
    return result


STEP_NAMES = ("pull", *STEPS)


def run_audit(
    release: Release | Path | str,
    *,
    out: Path | str,
    source: str | None = None,
    skip: set[str] | None = None,
    rerun_limit: int | None = None,
    release_dir: Path | None = None,
    key: Path | None = None,
    sign: bool = True,
    progress: Any = None,
    rerun: RerunOptions | None = None,
    data_dir: Path | None = None,
) -> AuditReport:
    """Audit a release; write report.json / report.md / report.html and a signed attestation.dsse.json.

    The manifest and lock are read once (``release`` may already be a loaded :class:`Release`), the release is
    verified once, and each step in :data:`assay.audit.steps.STEPS` runs in turn on that one release.
    ``rerun``: how the re-run step runs the model (backend, endpoint, concurrency, limit; ``rerun_limit`` is a
    shorthand for ``rerun.limit``).
    """
    t0 = time.perf_counter()
    skip = set(skip or ())
    unknown = skip - set(STEP_NAMES)
    if unknown:
        raise InputError(f"--skip: unknown step(s) {', '.join(sorted(unknown))}; steps are {', '.join(STEP_NAMES)}")
    rerun = (rerun or RerunOptions()).model_copy(update={"limit": rerun_limit} if rerun_limit is not None else {})
    if rerun.backend not in ("transformers", "openai"):
        raise InputError(f"--backend {rerun.backend}: expected transformers or openai")
    if rerun.backend == "openai" and not rerun.base_url:
        raise InputError("--backend openai needs --base-url (the OpenAI-compatible server to re-run against)")
    # bad input (a manifest that does not validate, no lock) is exit 2 before anything runs
    loaded = release if isinstance(release, Release) else load_release(release)
    # A release whose hub source has not been pulled here (no --from, --dir or pulled folder) is not refused: each
    # claim is reported not checked with what it needs (network to lock and pull, …).  A local release with no lock
    # is still bad input: locking it needs nothing.
    from ..verify.release import artifact_roots

    remote = {} if source else artifact_roots(loaded.with_root(release_dir))[1]
    if loaded.lock is None and not remote:
        raise InputError(f"{loaded.manifest_path}: no lock beside it; run 'assay lock {loaded.manifest_path}'")
    offline = (
        (
            f"not run: the release's files are not here ({', '.join(sorted(set(remote.values())))}); lock and "
            "pull them first ('assay lock', 'assay pull')"
        )
        if remote
        else None
    )
    manifest_path = loaded.manifest_path
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps: list[StepResult] = []

    if source and "pull" not in skip:
        release_dir = out / "release"
        steps.append(_pull_step(source, release_dir, progress))
    elif source:
        # The pull is a transfer, not a check: skipping it verifies the manifest's own sources instead.
        steps.append(
            StepResult(
                name="pull",
                status="not-applicable",
                error="skipped on request (--skip pull): the manifest's own sources are verified",
            )
        )
    ctx = AuditContext(
        release=loaded.with_root(release_dir), out=out, rerun=rerun, data_dir=data_dir, progress=progress
    )
    pulled_ok = not steps or steps[0].status in ("ok", "not-applicable")
    for name, st in STEPS.items():
        if not st.applies(loaded.manifest):
            steps.append(StepResult(name=name, status="not-applicable"))
        elif name in skip:
            # Fail closed: a check that did not run is never a pass, and never silently absent from the report.
            steps.append(not_checked(name, loaded.manifest, "skipped on request (--skip)"))
        elif offline and name not in ("verify", "data"):
            # verify reports each remote file and claim itself; the data check needs no release file
            steps.append(not_checked(name, loaded.manifest, offline, needs=["network"]))
        elif not pulled_ok and name == "verify":
            steps.append(StepResult(name=name, status="error", error="the pull failed; nothing to verify"))
        elif name == "rerun" and any(s.name == "verify" and s.status != "ok" for s in steps):
            # A release that does not verify is never loaded (its weights or code may not be what was published);
            # the failed files are already the findings, and every re-run it would have made is not-checked.
            steps.append(not_checked(name, loaded.manifest, "not run: the release did not verify"))
        else:
            if hasattr(progress, "step"):  # the CLI's progress line names the step that runs
                progress.step(name)
            steps.append(run_step(name, ctx))

    for s in steps:
        # Fail closed: a step that failed must fail the audit even when none of its claims says why (e.g. a data
        # section with no components, a tokenizer that does not match): the step itself becomes the claim.
        if s.status in ("failed", "error", "not-checked") and not any(c.verdict in FAILING for c in s.claims):
            as_verdict: dict[str, Verdict] = {"failed": "fail", "error": "error", "not-checked": "not-checked"}
            verdict = as_verdict[s.status]
            s.claims.append(
                ClaimResult(
                    id=f"step:{s.name}",
                    step=s.name,
                    kind="step",
                    subject=s.name,
                    verdict=verdict,
                    message=s.error or f"the {s.name} step {s.status}",
                )
            )
    claims = [c for s in steps for c in s.claims]
    verify = next((s for s in steps if s.name == "verify"), None)
    m = loaded.manifest
    from importlib.metadata import version

    report = AuditReport(
        release=ReleaseRef(
            name=m.release.name,
            version=m.release.version,
            publisher=m.release.publisher,
            license=m.release.license,
            manifest=str(manifest_path),
            manifest_sha256=loaded.manifest_sha256,
            release_digest=(verify.summary.release_digest if verify else None),
        ),
        source=source,
        generated_by=f"assay {version('assay')}",
        environment=_environment(),
        steps=steps,
        claims=claims,
        counts=_counts(claims),
        verdict=(
            "fail" if any(c.verdict in FAILING for c in claims) or any(s.status == "error" for s in steps) else "pass"
        ),
        seconds=round(time.perf_counter() - t0, 3),
    )
    from .render import write_reports

    write_reports(report, out)
    if sign:
        from .attestation import attest_report

        _, note = attest_report(report, loaded, out, key)
        if note:
            report.notes.append(note)
    return report


def _pull_step(source: str, to: Path, progress: Any) -> StepResult:
    from ..hubs.pull import pull

    t0 = time.perf_counter()
    try:
        r = pull(source, to=to, progress=progress)
    except AssayError as exc:
        return StepResult(
            name="pull",
            status="error",
            error=str(exc),
            seconds=round(time.perf_counter() - t0, 3),
            claims=[
                ClaimResult(id="step:pull", step="pull", kind="step", subject=source, verdict="error", message=str(exc))
            ],
        )
    claims = [
        ClaimResult(
            id=f"pull:{f.path}",
            step="pull",
            kind="transfer",
            subject=f.path,
            declared={"sha256": f.expected_sha256},
            measured={"sha256": f.sha256},
            verdict="pass" if f.status in ("downloaded", "resumed", "present") else "fail",
            message=f.message,
        )
        for f in r.files
        if f.status not in ("downloaded", "resumed", "present")
    ]
    return StepResult(
        name="pull",
        status="ok" if r.ok else "failed",
        seconds=r.seconds,
        claims=claims,
        summary=StepSummary(
            pull=PullSummary(
                source=r.source,
                revision=r.revision,
                to=str(r.to),
                release_digest=r.release_digest,
                bytes_transferred=r.bytes_transferred,
                files=len(r.files),
            )
        ),
    )
