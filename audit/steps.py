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

from pydantic import BaseModel, ConfigDict, Field

from ..manifests.errors import AssayError
from ..manifests.release import Release
from ..manifests.schema import Manifest
from ..verify.results import VerifyResult
from .model import (
    ClaimResult,
    Evidence,
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
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint for the openai backend.")
    model: str | None = Field(None, description="Model name the endpoint serves.")
    device: str = "auto"
    dtype: str | None = None
    concurrency: int = Field(8, ge=1, description="Requests in flight (openai backend).")
    timeout: float = Field(600.0, gt=0)
    retries: int = Field(4, ge=0, description="Retries of a failed request (openai backend).")
    trust_remote_code: bool = False


@dataclass
class AuditContext:
    release: Release  # read once, with the folder the audit reads (--dir, a pulled folder) applied
    out: Path
    rerun: RerunOptions = field(default_factory=RerunOptions)
    data_dir: Path | None = None
    verification: VerifyResult | None = None  # the verify step's strict result; the re-run reuses it

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


def step(name: str, *, applies: Callable[[Manifest], bool] = lambda m: True,
         options: Callable[[AuditContext], dict[str, Any]] = lambda ctx: {}) -> Callable:
    """Register an audit step (in call order: the audit runs them in the order they are registered)."""

    def register(fn: Callable[[AuditContext], StepResult]) -> Callable[[AuditContext], StepResult]:
        STEPS[name] = Step(name, fn, applies, options)
        return fn

    return register


def applies(name: str, manifest: Manifest) -> bool:
    """Whether a step has anything to check in this manifest (else it is ``not-applicable``, not ``not-checked``)."""
    return STEPS[name].applies(manifest) if name in STEPS else True


def not_checked(name: str, manifest: Manifest, reason: str) -> StepResult:
    """The result of a step that did not run: one ``not-checked`` claim for each thing it would have checked.

    Fail closed: these fail the audit.  A score declared ``attested_only`` stays ``attested`` (it is never checked).
    """
    claims: list[ClaimResult] = []

    def add(cid: str, kind: str, subject: str, verdict: Verdict = "not-checked", message: str = reason) -> None:
        claims.append(ClaimResult(id=cid, step=name, kind=kind, subject=subject, verdict=verdict, message=message))

    if name == "data" and manifest.data is not None:
        for comp in manifest.data.components:
            add(f"data:component:{comp.name}", "data", comp.name)
    elif name == "rebuild":
        for rec in manifest.recipes:
            add(f"recipe:{rec.name}", "recipe", rec.name)
    elif name == "rescore":
        for ev in manifest.evals:
            if ev.attested_only and not ev.logs:
                add(f"eval:{ev.name}", "rescore", ev.name, "attested", "declared attested-only: never checked")
            else:
                add(f"eval:{ev.name}", "rescore", ev.name)
    elif name == "rerun":
        for ev in manifest.evals:
            if ev.logs:
                add(f"rerun:{ev.name}", "rerun", ev.name)
    else:
        add(f"step:{name}", "step", name)
    return StepResult(name=name, status="not-checked", error=reason, claims=claims)


@step("verify")
def step_verify(ctx: AuditContext) -> StepResult:
    """Strict verification: every file re-hashed, headers audited, structural claims measured."""
    from ..verify.release import verify_release

    r = verify_release(ctx.release, strict=True)
    ctx.verification = r
    claims: list[ClaimResult] = []
    for f in r.files:
        claims.append(ClaimResult(
            id=f"file:{f.path}", step="verify", kind="file", subject=f.path,
            declared={"sha256": f.expected_sha256, "size": f.expected_size},
            measured={"sha256": f.sha256, "size": f.size},
            verdict="pass" if f.status == "ok" else "fail", level="sha256 (hashed now)",
            message=None if f.status == "ok" else f"{f.status}: {f.message}",
            evidence=[Evidence(kind="file", ref=f.path, sha256=f.sha256, note=f.how)]))
    for finding in r.findings:
        if finding.severity == "error":
            claims.append(ClaimResult(
                id=f"structure:{finding.check}:{finding.path or ''}", step="verify", kind="structure",
                subject=finding.path or finding.check, verdict="fail", message=finding.message,
                evidence=[Evidence(kind="check", ref=finding.check)]))
        elif finding.check == "remote-code":
            claims.append(ClaimResult(
                id=f"remote-code:{finding.path}", step="verify", kind="remote-code", subject=finding.path or "",
                verdict="pass", message=finding.message, evidence=[Evidence(kind="file", ref=finding.path or "")]))
    as_verdict: dict[str, Verdict] = {"holds": "pass", "fails": "fail", "unverifiable": "not-checked",
                                      "attested": "attested"}
    for c in r.claims:
        verdict = as_verdict[c.verdict]
        claims.append(ClaimResult(id=f"claim:{c.claim}", step="verify", kind="claim", subject=c.claim,
                                  declared=c.declared, measured=c.measured, verdict=verdict, message=c.message,
                                  evidence=[Evidence(kind="check", ref="safetensors headers / config.json")]))
    summary = StepSummary(verify=r.summary, release_digest=r.release_digest,
                          expected_release_digest=r.expected_release_digest,
                          warnings=[f"{f.check}: {f.path or ''}: {f.message}" for f in r.findings
                                    if f.severity == "warning"])
    return StepResult(name="verify", status="ok" if r.ok else "failed", summary=summary, claims=claims)


_DATA_VERDICT: dict[str, Verdict] = {"holds": "pass", "fails": "fail", "attested": "attested",
                                      "unverifiable": "inconclusive", "verified": "pass", "failed": "fail"}


@step("data", applies=lambda m: m.data is not None)
def step_data(ctx: AuditContext) -> StepResult:
    """The training mixture: component files hashed, counts recounted, weights / totals / tag shares checked."""
    from ..mixtures.check import check_data

    r = check_data(ctx.release, strict=True, data_dir=ctx.data_dir)
    claims: list[ClaimResult] = []
    for comp in r.components:
        bad = [f for f in comp.files if f.status != "ok"]
        claims.append(ClaimResult(
            id=f"data:component:{comp.name}", step="data", kind="data", subject=comp.name,
            declared={"source": comp.source, "tags": comp.tags, "weight": comp.weight,
                      **{c.field: c.declared for c in comp.counts}},
            measured={"files_ok": len(comp.files) - len(bad), "files": len(comp.files),
                      **{c.field: c.measured for c in comp.counts}},
            verdict=_DATA_VERDICT[comp.status], level="attested only" if comp.status == "attested" else "recounted",
            message=comp.reason or ("; ".join(f"{f.path}: {f.status}" for f in bad) or None),
            evidence=[Evidence(kind="file", ref=f.path, sha256=f.sha256, note=f.how) for f in comp.files]))
    chart: list[MixtureBar] = []
    shares = ctx.manifest.data.shares if ctx.manifest.data is not None else {}
    for mc in r.mixture:
        if mc.verdict == "measured":  # informational: nothing was declared
            continue
        claims.append(ClaimResult(id=f"data:{mc.check}", step="data", kind="data", subject=mc.check,
                                  declared=mc.declared, measured=mc.from_data, verdict=_DATA_VERDICT[mc.verdict],
                                  message=mc.message,
                                  evidence=[Evidence(kind="computation", ref="from declared figures",
                                                     note=str(mc.from_declaration))]))
        tag = mc.check.removeprefix("share:")
        if mc.check.startswith("share:") and tag in shares:
            chart.append(MixtureBar(name=tag, declared=shares[tag].value,
                                    measured=mc.from_data if isinstance(mc.from_data, (int, float)) else None))
    for f in r.findings:
        if f.severity == "error":
            claims.append(ClaimResult(id=f"data:{(f.where or 'data').split()[0]}", step="data", kind="data",
                                      subject=f.where or "data", verdict="fail", message=f.message))
    return StepResult(name="data", status="ok" if r.ok else "failed", claims=claims,
                      summary=StepSummary(data=r.summary, mixture=chart))


_RECIPE_VERDICT: dict[str, Verdict] = {"holds": "pass", "fails": "fail", "needs-evaluation": "inconclusive",
                                        "not-run": "error"}


@step("rebuild", applies=lambda m: bool(m.recipes))
def step_rebuild(ctx: AuditContext) -> StepResult:
    """Rebuild derived artifacts from their recipes (DVC, forced, no run cache) and compare outputs by tier."""
    from ..recipes.rebuild import rebuild_release

    r = rebuild_release(ctx.release, workdir=ctx.out / "rebuild")
    claims: list[ClaimResult] = []
    for rec in r.recipes:
        if rec.status in ("refused", "failed") or not rec.outputs:
            claims.append(ClaimResult(id=f"recipe:{rec.name}", step="rebuild", kind="recipe", subject=rec.name,
                                      verdict="fail", message=f"{rec.status}: {rec.message or ''}".strip(),
                                      evidence=[Evidence(kind="environment", ref=rec.step, note=str(rec.environment))]))
            continue
        for out in rec.outputs:
            claims.append(ClaimResult(
                id=f"recipe:{rec.name}:{out.path}", step="rebuild", kind="recipe", subject=out.path,
                declared={"tier": out.declared_tier, "sha256": out.expected_sha256},
                measured={"tier": out.reached, "sha256": out.sha256, **({"errors": out.errors} if out.errors else {})},
                verdict=_RECIPE_VERDICT[out.verdict], level=f"declared {out.declared_tier}, reached {out.reached}",
                message=out.message,
                evidence=[Evidence(kind="environment", ref=rec.step, note=str(rec.environment)),
                          Evidence(kind="file", ref=out.path, sha256=out.sha256, note=f"dvc md5 {out.dvc_md5}")]))
    return StepResult(name="rebuild", status="ok" if r.ok else "failed", claims=claims,
                      summary=StepSummary(rebuild=RebuildSummary(dvc=r.dvc, run_id=r.run_id, workdir=r.workdir,
                                                                 text=r.summary)))


# A published score with no per-sample log is not-checked (fail closed) unless the manifest declares it
# attested-only; one whose log cannot be recomputed is not-checked too.
_CLAIM_VERDICT: dict[str, Verdict] = {"matches": "pass", "derived": "pass", "mismatch": "fail",
                                      "no-log": "not-checked", "attested": "attested", "unverifiable": "not-checked"}
_LOG_VERDICT: dict[str, Verdict] = {"pass": "pass", "fail": "fail", "unverifiable": "not-checked"}


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
    claims: list[ClaimResult] = []
    chart: list[ScorePoint] = []
    audit_rows = []
    for ev in r.evals:
        for i, c in enumerate(ev.claims):
            note = c.note or (f"published {c.value} vs recomputed {c.recomputed} (harness reported {c.reported})"
                              if c.recomputed is not None else None)
            claims.append(ClaimResult(
                id=f"eval:{ev.name}" + (f"[{i}]" if len(ev.claims) > 1 else ""), step="rescore", kind="rescore",
                subject=ev.name,
                declared={"value": c.value, "metric": c.metric, "source": c.source},
                measured={"recomputed": c.recomputed, "reported": c.reported, "tolerance": c.tolerance},
                verdict=_CLAIM_VERDICT[c.status], level="L1 re-score from logs",
                message=("no per-sample log, and the score is not declared attested_only: nothing checks it"
                         if c.status == "no-log" else "declared attested-only: reported, never checked"
                         if c.status == "attested" else
                         f"{c.status}: {note}" if note else c.status),
                evidence=[Evidence(kind="log", ref=_release_relative(ctx.release, log.path), note=log.format)
                          for log in ev.logs]))
            if c.recomputed is not None:
                chart.append(ScorePoint(name=f"{ev.name} (re-scored)", published=c.value, reproduced=c.recomputed))
        for log in ev.logs:
            errors = [f for f in log.findings if f.severity == "error"]
            verdict = _LOG_VERDICT.get(getattr(log, "verdict", None) or "", "pass" if log.ok and not errors else "fail")
            if verdict == "pass" and not any(row.recomputed is not None and row.n > 0 for row in log.rows):
                verdict = "not-checked"  # nothing was recomputed from any sample: no evidence, no pass
            where = _release_relative(ctx.release, log.path)
            claims.append(ClaimResult(
                id=f"eval-log:{where}", step="rescore", kind="eval-log", subject=where,
                verdict=verdict,
                measured=[row.model_dump() for row in log.rows],
                message="; ".join(f"{f.code}: {f.message}"
                                  + (f" (samples {', '.join(f.samples[:5])})" if f.samples else "")
                                  for f in errors) or None,
                evidence=[Evidence(kind="log", ref=where, note=log.format)]))
            audit_rows += [a for a in log.audit if a.accepted_only_by_harness or a.accepted_only_by_strict]
        for f in ev.findings:
            if f.severity == "error" and not f.code.startswith("claim-"):  # claim findings are the claims above
                claims.append(ClaimResult(id=f"eval:{ev.name}:{f.code}", step="rescore", kind="rescore",
                                          subject=ev.name, verdict="fail", message=f.message))
    for f in r.findings:
        if f.severity == "error":
            claims.append(ClaimResult(id=f"evals:{f.code}", step="rescore", kind="rescore", subject=f.task or "evals",
                                      verdict="fail", message=f.message))
    return StepResult(name="rescore", status="ok" if r.ok else "failed", claims=claims,
                      summary=StepSummary(scores=chart, scorer_audit=audit_rows,
                                          warnings=[f.message for e in r.evals for f in e.findings
                                                    if f.severity == "warning"]))


_RERUN_VERDICT: dict[str, Verdict] = {"reproduced": "pass", "not-reproduced": "fail", "inconclusive": "inconclusive"}


@step("rerun", applies=lambda m: any(e.logs for e in m.evals), options=lambda ctx: ctx.rerun.model_dump())
def step_rerun(ctx: AuditContext) -> StepResult:
    """Level 2: regenerate the outputs with the released model under the pinned decoding and decide with statistics."""
    from ..evals.rerun import rerun

    o = ctx.rerun
    r = rerun(ctx.release, limit=o.limit, out=ctx.out / "rerun", backend=o.backend, base_url=o.base_url,
              model=o.model, device=o.device, dtype=o.dtype, concurrency=o.concurrency, timeout=o.timeout,
              retries=o.retries,
              trust_remote_code=o.trust_remote_code, verification=ctx.verification)
    claims: list[ClaimResult] = []
    chart: list[ScorePoint] = []
    for b in r.benchmarks:
        v = b.verdict or {}
        name = v.get("verdict")
        verdict = _RERUN_VERDICT.get(name or "", "error")
        if b.n_failed:
            verdict = "error"
        claims.append(ClaimResult(
            id=f"rerun:{b.name}", step="rerun", kind="rerun", subject=b.name,
            declared={"published": v.get("published"), "reference": v.get("reference_score"),
                      "margin": v.get("margin")},
            measured={"rerun": v.get("rerun_score"), "diff": v.get("diff"), "ci": [v.get("ci_low"), v.get("ci_high")],
                      "n": v.get("n"), "output_agreement": v.get("output_agreement")},
            verdict=verdict, level=f"L2 re-run ({b.selected_items}/{b.reference_items} items, {v.get('method')})",
            message=((v.get("reason") or "no reason recorded")
                     + (f"; {b.n_failed} requests failed" if b.n_failed else "")
                     if v else f"no verdict ({b.n_failed} requests failed)"),
            evidence=[Evidence(kind="log", ref=b.log or "", sha256=b.log_sha256, note="re-run log (assay format)"),
                      Evidence(kind="log", ref=b.reference_log or "", note="published log"),
                      Evidence(kind="environment", ref="decoding", note=str(b.decoding))]))
        if v.get("rerun_score") is not None:
            # Approximate 95% bounds of the re-run score: the paired CI of the difference, shifted onto the score.
            ref = v.get("published") if v.get("published") is not None else v.get("reference_score")
            lo = ref + v["ci_low"] if ref is not None and v.get("ci_low") is not None else None
            hi = ref + v["ci_high"] if ref is not None and v.get("ci_high") is not None else None
            chart.append(ScorePoint(name=b.name, published=ref, reproduced=v["rerun_score"], ci_low=lo, ci_high=hi,
                                    n=v.get("n")))
    grouped: dict[tuple[str, str], list[str]] = {}
    for f in r.findings:
        if f.severity == "error":  # one claim per (finding, benchmark): 40 failed requests are one finding
            grouped.setdefault((f.code, f.task or "rerun"), []).append(f.message)
    for (code, task), messages in grouped.items():
        more = f" (and {len(messages) - 1} more like it)" if len(messages) > 1 else ""
        claims.append(ClaimResult(id=f"rerun:{task}:{code}", step="rerun", kind="rerun", subject=task,
                                  verdict="fail", message=messages[0] + more))
    return StepResult(name="rerun", status="ok" if r.ok else "failed", claims=claims,
                      summary=StepSummary(scores=chart, backend=r.backend, verified=r.verified))
