"""Audit steps: each adapts one library check to a list of per-claim results, registered in :data:`STEPS`.

A step takes the :class:`AuditContext` (the release, loaded once, and what earlier steps found) and returns a
:class:`StepResult`; it never decides the audit's verdict.  The audit is a loop over the registry, in order; a step
that does not apply (no ``data:`` section, no recipes, no evals) is ``not-applicable``, one that did not run is
``not-checked`` (:func:`not_checked`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..manifests.errors import AssayError
from ..manifests.findings import FAILING, Need
from ..manifests.release import Release
from ..manifests.schema import Manifest
from ..verify.results import VerifyResult
from .model import (
    ClaimResult,
    MixtureBar,
    RebuildSummary,
    ScorePoint,
    StepResult,
    StepSummary,
    Verdict,
)


class RerunOptions(BaseModel):
    """How the audit's re-run step runs the model (the options of ``assay rerun`` that an audit passes through)."""

    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(None, ge=1, description="Re-run at most N items per benchmark (stratified, seeded).")
    backend: str = Field("transformers", description="transformers (in-process) or openai (a served endpoint).")
    base_url: list[str] | None = Field(
        None,
        description="OpenAI-compatible endpoint(s) for the openai backend: "
        "several make a fleet (a single string is accepted).",
    )
    model: str | None = Field(None, description="Model name the endpoint serves.")
    device: str = "auto"
    dtype: str | None = None
    concurrency: int = Field(8, ge=1, description="Requests in flight per endpoint (openai backend).")
    timeout: float = Field(600.0, gt=0)
    retries: int = Field(4, ge=0, description="Retries of a failed request (openai backend).")
    trust_remote_code: bool = False
    harness_python: str | None = Field(None, description="evals with run: the interpreter with the pinned harness.")
    install_harness: bool = Field(False, description="evals with run: create the harness's venv with pip.")

    @field_validator("base_url", mode="before")
    @classmethod
    def _one_url_is_a_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


@dataclass
class AuditContext:
    release: Release  # read once, with the folder the audit reads (--dir, a pulled folder) applied
    out: Path
    rerun: RerunOptions = field(default_factory=RerunOptions)
    data_dir: Path | None = None
    verification: VerifyResult | None = None  # the verify step's strict result; the re-run reuses it
    progress: Any = None  # the CLI's progress line (manifests.release.Progress, plus step(name)); None: quiet

    @property
    def manifest(self) -> Manifest:
        return self.release.manifest


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[AuditContext], StepResult]
    applies: Callable[[Manifest], bool]
    options: Callable[[AuditContext], dict[str, Any]]  # what, beyond the files, its result depends on


STEPS: dict[str, Step] = {}


def step(
    name: str,
    *,
    applies: Callable[[Manifest], bool] = lambda m: True,
    options: Callable[[AuditContext], dict[str, Any]] = lambda ctx: {},
) -> Callable:
    """Register an audit step (in call order: the audit runs them in the order they are registered)."""

    def register(fn: Callable[[AuditContext], StepResult]) -> Callable[[AuditContext], StepResult]:
        STEPS[name] = Step(name, fn, applies, options)
        return fn

    return register


def applies(name: str, manifest: Manifest) -> bool:
    """Whether a step has anything to check in this manifest (else it is ``not-applicable``, not ``not-checked``)."""
    return STEPS[name].applies(manifest) if name in STEPS else True


def not_checked(name: str, manifest: Manifest, reason: str, needs: list[Need] | None = None) -> StepResult:
    """The result of a step that did not run: one ``not-checked`` claim for each thing it would have checked.

    Fail closed: these fail the audit.  A score declared ``attested_only`` stays ``attested`` (it is never checked).
    ``needs``: what running the step needs (e.g. network, when the release's files are not here); a score with no
    per-sample log needs those logs, or a GPU to re-run it, whatever else.
    """
    claims: list[ClaimResult] = []
    step_needs: list[Need] = list(needs or [])

    def add(
        cid: str,
        kind: str,
        subject: str,
        verdict: Verdict = "not-checked",
        message: str = reason,
        more: list[Need] | None = None,
    ) -> None:
        claims.append(
            ClaimResult(
                id=cid,
                step=name,
                kind=kind,
                subject=subject,
                verdict=verdict,
                message=message,
                needs=more if more is not None else step_needs,
            )
        )

    if name == "data" and manifest.data is not None:
        for comp in manifest.data.components:
            add(f"data:component:{comp.name}", "data", comp.name)
    elif name == "rebuild":
        for rec in manifest.recipes:
            add(f"recipe:{rec.name}", "recipe", rec.name)
    elif name == "rescore":
        for ev in manifest.evals:
            if ev.attested_only and not ev.logs:
                add(
                    f"eval:{ev.name}",
                    "rescore",
                    ev.name,
                    "attested",
                    "declared attested-only: never checked",
                    more=["samples", "gpu"],
                )
            else:
                add(
                    f"eval:{ev.name}",
                    "rescore",
                    ev.name,
                    more=step_needs if ev.logs else [*step_needs, "samples", "gpu"],
                )
    elif name == "rerun":
        for ev in manifest.evals:
            if ev.logs:
                add(f"rerun:{ev.name}", "rerun", ev.name, more=[*step_needs, "gpu"])
            if ev.run is not None:
                add(
                    f"rerun:{ev.name}:harness" if ev.logs else f"rerun:{ev.name}",
                    "rerun",
                    ev.name,
                    more=[*step_needs, "gpu"],
                )
    else:
        add(f"step:{name}", "step", name)
    if not any(c.verdict in FAILING for c in claims):  # e.g. every score attested: the step itself did not run
        add(f"step:{name}", "step", name)
    return StepResult(name=name, status="not-checked", error=reason, claims=claims)


@step("verify")
def step_verify(ctx: AuditContext) -> StepResult:
    """Strict verification: every file re-hashed, headers audited, structural claims measured."""
    from ..verify.release import verify_release

    r = verify_release(ctx.release, strict=True, progress=ctx.progress)
    ctx.verification = r
    claims = r.to_claims()
    summary = StepSummary(
        verify=r.summary,
        release_digest=r.release_digest,
        expected_release_digest=r.expected_release_digest,
        warnings=[f"{f.code}: {f.where or ''}: {f.message}" for f in r.findings if f.severity == "warning"],
    )
    return StepResult(name="verify", status="ok" if r.ok else "failed", summary=summary, claims=claims)


def _loadable(m: Manifest) -> bool:
    """A config.json and safetensors weights: a model transformers can load (else the load step does not apply)."""
    paths = [a.path for a in m.artifacts]
    return any(p.rsplit("/", 1)[-1] == "config.json" for p in paths) and any(p.endswith(".safetensors") for p in paths)


@step("load", applies=_loadable, options=lambda ctx: {"trust_remote_code": ctx.rerun.trust_remote_code})
def step_load(ctx: AuditContext) -> StepResult:
    """The model as loaded: transformers builds it in a subprocess, offline; every tensor compared with the
    checkpoint, every file it opened and every network attempt recorded (:mod:`assay.verify.loaded`)."""
    from ..manifests.errors import MissingExtra
    from ..verify.loaded import audit_loaded

    try:
        r = audit_loaded(ctx.release, trust_remote_code=ctx.rerun.trust_remote_code, verification=ctx.verification)
    except MissingExtra as exc:
        return StepResult(
            name="load",
            status="not-checked",
            error=str(exc),
            claims=[
                ClaimResult(
                    id="loaded:model",
                    step="load",
                    kind="loaded",
                    subject="model",
                    verdict="not-checked",
                    message=str(exc),
                    needs=["extra"],
                )
            ],
        )
    as_status: dict[str, Any] = {"pass": "ok", "not-checked": "not-checked", "error": "error"}
    return StepResult(
        name="load",
        status=as_status.get(r.verdict, "failed"),
        error=r.reason,
        claims=r.to_claims(),
        summary=StepSummary(
            warnings=[f"{f.code}: {f.where or ''}: {f.message}" for f in r.findings if f.severity == "warning"]
        ),
    )


@step("data", applies=lambda m: m.data is not None)
def step_data(ctx: AuditContext) -> StepResult:
    """The training mixture: component files hashed, counts recounted, weights / totals / tag shares checked."""
    from ..mixtures.check import check_data

    r = check_data(ctx.release, strict=True, data_dir=ctx.data_dir)
    shares = ctx.manifest.data.shares if ctx.manifest.data is not None else {}
    chart = [
        MixtureBar(
            name=tag,
            declared=shares[tag].value,
            measured=mc.from_data if isinstance(mc.from_data, (int, float)) else None,
        )
        for mc in r.mixture
        if mc.verdict is not None
        and mc.check.startswith("share:")
        and (tag := mc.check.removeprefix("share:")) in shares
    ]
    return StepResult(
        name="data",
        status="ok" if r.ok else "failed",
        claims=r.to_claims(),
        summary=StepSummary(data=r.summary, mixture=chart),
    )


@step("rebuild", applies=lambda m: bool(m.recipes))
def step_rebuild(ctx: AuditContext) -> StepResult:
    """Rebuild derived artifacts from their recipes (DVC, forced, no run cache) and compare outputs by tier."""
    from ..recipes.rebuild import rebuild_release

    r = rebuild_release(ctx.release, workdir=ctx.out / "rebuild")
    return StepResult(
        name="rebuild",
        status="ok" if r.ok else "failed",
        claims=r.to_claims(),
        summary=StepSummary(rebuild=RebuildSummary(dvc=r.dvc, run_id=r.run_id, workdir=r.workdir, text=r.summary)),
    )


def _release_relative(release: Release, path: str) -> str:
    """A log's path as the release names it (claim ids and the signed report never carry this machine's paths)."""
    p = Path(path)
    try:
        roots = sorted({Path(r).resolve() for r in release.roots().values()}, key=lambda r: -len(r.parts))
    except AssayError:
        roots = []
    for root in roots:
        try:
            return p.resolve().relative_to(root).as_posix()
        except ValueError:
            continue
    return p.name


@step("rescore", applies=lambda m: bool(m.evals))
def step_rescore(ctx: AuditContext) -> StepResult:
    """Level 1: recompute every aggregate from the published per-sample logs and compare with the claims."""
    from ..evals.claims import rescore_manifest

    r = rescore_manifest(ctx.release)
    claims = r.to_claims(lambda path: _release_relative(ctx.release, path))
    chart = [
        ScorePoint(name=f"{ev.name} (re-scored)", published=c.value, reproduced=c.recomputed)
        for ev in r.evals
        for c in ev.claims
        if c.recomputed is not None
    ]
    audit_rows = [
        a
        for ev in r.evals
        for log in ev.logs
        for a in log.audit
        if a.accepted_only_by_harness or a.accepted_only_by_strict
    ]
    return StepResult(
        name="rescore",
        status="ok" if r.ok else "failed",
        claims=claims,
        summary=StepSummary(
            scores=chart,
            scorer_audit=audit_rows,
            warnings=[f.message for e in r.evals for f in e.findings if f.severity == "warning"],
        ),
    )


@step(
    "rerun",
    applies=lambda m: any(e.logs or e.run is not None for e in m.evals),
    options=lambda ctx: ctx.rerun.model_dump(),
)
def step_rerun(ctx: AuditContext) -> StepResult:
    """Level 2: regenerate the outputs with the released model under the pinned decoding and decide with statistics."""
    from ..evals.harness_run import HarnessOptions
    from ..evals.rerun import rerun

    o = ctx.rerun
    r = rerun(
        ctx.release,
        limit=o.limit,
        out=ctx.out / "rerun",
        backend=o.backend,
        base_url=o.base_url,
        model=o.model,
        device=o.device,
        dtype=o.dtype,
        concurrency=o.concurrency,
        timeout=o.timeout,
        retries=o.retries,
        trust_remote_code=o.trust_remote_code,
        verification=ctx.verification,
        harness=HarnessOptions(python=o.harness_python, install=o.install_harness),
    )
    claims = r.to_claims(lambda path: _release_relative(ctx.release, path))
    chart: list[ScorePoint] = []
    for b in r.benchmarks:
        v = b.verdict
        if v is not None and v.rerun_score is not None:
            # The re-run score's own CI over its items (how far it could move on another draw of items), not the
            # paired CI of the difference: an exact reproduction has a difference CI of [0, 0] but a score that 40
            # items pin only to within several points.
            ref = v.published if v.published is not None else v.reference_score
            lo, hi = v.score_ci_low, v.score_ci_high
            chart.append(ScorePoint(name=b.name, published=ref, reproduced=v.rerun_score, ci_low=lo, ci_high=hi, n=v.n))
    for h in r.harness_runs:  # unpaired: the CI is of the re-run's score itself
        hv = h.verdict
        if hv is not None and hv.rerun_score is not None:
            chart.append(
                ScorePoint(
                    name=h.name,
                    published=hv.published,
                    reproduced=hv.rerun_score,
                    ci_low=hv.ci_low,
                    ci_high=hv.ci_high,
                    n=hv.n,
                )
            )
    return StepResult(
        name="rerun",
        status="ok" if r.ok else "failed",
        claims=claims,
        summary=StepSummary(scores=chart, backend=r.backend, verified=r.verified),
    )
