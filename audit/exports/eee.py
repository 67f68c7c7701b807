"""Every Eval Ever (schema 0.3.0) aggregate logs of a release's scores.

EEE's ``source_metadata`` describes who reported the numbers and what artifact backs them, once per log, so the
scores split into at most two logs (one file each):

* ``published.json``: the publisher's numbers: ``source_type: documentation``, ``evaluator_relationship:
  first_party``, ``standard_error`` from the manifest's ``stderr``;
* ``reproduced.json`` (only with ``--report`` and a rescore/rerun step): what assay measured from per-sample logs:
  ``source_type: evaluation_run``, ``evaluator_relationship: third_party``, ``eval_library: assay``, the 95% CI.

``source_data`` is the Hub dataset given with ``--dataset NAME=org/name``, else ``other`` with the log files and their
sha256 in ``additional_details`` (EEE validation warns on ``other`` without provenance).
"""

from __future__ import annotations

import json
from typing import Any

from .common import ExportContext, Score, lower_is_better

SCHEMA_VERSION = "0.3.0"


def _source_data(ctx: ExportContext, s: Score) -> dict[str, Any]:
    ds = ctx.dataset_id(s)
    if ds:
        return {"dataset_name": s.task or s.name, "source_type": "hf_dataset", "hf_repo": ds}
    details = {f"log:{log.path}": log.sha256 or "unpinned" for log in s.claim.logs}
    out: dict[str, Any] = {"dataset_name": s.task or s.name, "source_type": "other"}
    if details:
        out["additional_details"] = details
    return out


def _generation_config(s: Score) -> dict[str, Any] | None:
    d = s.claim.decoding
    if d is None:
        return None
    args: dict[str, Any] = {}
    if d.temperature is not None:
        args["temperature"] = d.temperature
    if d.top_p is not None:
        args["top_p"] = d.top_p
    if getattr(d, "top_k", None) is not None:
        args["top_k"] = d.top_k
    if d.max_new_tokens is not None:
        args["max_tokens"] = d.max_new_tokens
    details = {
        k: str(v)
        for k, v in (
            ("seed", d.seed),
            ("repeats", d.repeats),
            ("system_prompt", d.system_prompt),
            ("chat_template_sha256", d.chat_template_sha256),
        )
        if v is not None
    }
    if getattr(d, "stop", None):
        details["stop"] = json.dumps(d.stop)
    out: dict[str, Any] = {}
    if args:
        out["generation_args"] = args
    if details:
        out["additional_details"] = details
    return out or None


def _result(ctx: ExportContext, s: Score, *, reproduced: bool) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "metric_id": s.metric,
        "metric_name": s.metric,
        "lower_is_better": lower_is_better(s.metric),
    }
    details = {
        k: (f"{v:g}" if isinstance(v, float) else str(v))
        for k, v in (
            ("scorer", s.claim.scorer),
            ("filter", getattr(s.claim, "filter", None)),
            ("scale", getattr(s.claim, "scale", None)),
        )
        if v is not None
    }
    if getattr(s.claim, "components", None):
        details["mean_of"] = ", ".join(s.claim.components)
    if details:
        metric["additional_details"] = details
    if reproduced:
        score: dict[str, Any] = {"score": s.reproduced}
        unc: dict[str, Any] = {}
        if s.has_ci:
            unc["confidence_interval"] = {"lower": s.ci_low, "upper": s.ci_high, "confidence_level": 0.95}
        if s.num_samples:
            unc["num_samples"] = s.num_samples
        if unc:
            score["uncertainty"] = unc
        details = {
            "published": f"{s.published:g}" if s.published is not None else "none",
            "audit_step": s.step or "audit",
        }
        if s.verdict:
            details["verdict"] = s.verdict
        if s.level:
            details["level"] = s.level
        score["details"] = details
    else:
        score = {"score": s.published}
        unc = {}
        if s.published_stderr is not None:
            unc["standard_error"] = {"value": s.published_stderr, "method": "published"}
        n = getattr(s.claim.published[0], "n", None) if s.claim.published else None
        if n:
            unc["num_samples"] = n
        if unc:
            score["uncertainty"] = unc
        if s.published_source:
            score["details"] = {"published_source": s.published_source}
    res: dict[str, Any] = {
        "evaluation_result_id": f"{s.name}.{s.metric}",
        "evaluation_name": s.name,
        "source_data": _source_data(ctx, s),
        "metric_config": metric,
        "score_details": score,
    }
    gen = _generation_config(s)
    if gen:
        res["generation_config"] = gen
    return res


def _model_info(ctx: ExportContext, deployment: str) -> dict[str, Any]:
    info: dict[str, Any] = {"name": ctx.name, "id": ctx.model_id()}
    if ctx.manifest.release.publisher:
        info["developer"] = ctx.manifest.release.publisher
    info["additional_details"] = {
        "deployment_type": deployment,
        "model_availability": "open_weights",
        "release_version": ctx.version,
        "release_digest": ctx.release_digest,
    }
    return info


def _log_library(scores: list[Score]) -> dict[str, str]:
    formats = {log.format for s in scores for log in s.claim.logs} - {"auto"}
    if len(formats) == 1:
        return {"name": formats.pop(), "version": "unknown"}
    return {"name": "unknown", "version": "unknown"}


def build(ctx: ExportContext) -> dict[str, dict[str, Any]]:
    """File name -> EEE aggregate log."""
    from .cyclonedx import assay_version

    scores = ctx.require_evals("eee")
    stamp = str(int(ctx.epoch))
    rel = ctx.manifest.release
    logs: dict[str, dict[str, Any]] = {}
    published = [s for s in scores if s.published is not None]
    if published:
        source: dict[str, Any] = {
            "source_name": f"{rel.name} {rel.version} release manifest",
            "source_type": "documentation",
            "source_organization_name": rel.publisher or "unknown",
            "evaluator_relationship": "first_party",
        }
        if rel.homepage:
            source["source_organization_url"] = rel.homepage
        logs["published.json"] = {
            "schema_version": SCHEMA_VERSION,
            "evaluation_id": f"published/{ctx.model_id()}/{stamp}",
            "retrieved_timestamp": stamp,
            "source_metadata": source,
            "model_info": _model_info(ctx, "unknown"),
            "eval_library": _log_library(published),
            "evaluation_results": [_result(ctx, s, reproduced=False) for s in published],
        }
    reproduced = [s for s in scores if s.verified]
    if reproduced:
        report = ctx.report
        logs["reproduced.json"] = {
            "schema_version": SCHEMA_VERSION,
            "evaluation_id": f"assay-audit/{ctx.model_id()}/{stamp}",
            "evaluation_timestamp": ctx.timestamp(),
            "retrieved_timestamp": stamp,
            "source_metadata": {
                "source_name": "assay audit",
                "source_type": "evaluation_run",
                "source_organization_name": "assay",
                "evaluator_relationship": "third_party",
                "additional_details": {"report_sha256": ctx.report_sha256 or "", "audit_verdict": report.verdict},
            },
            "model_info": _model_info(ctx, "self_deployed"),
            "eval_library": {
                "name": "assay",
                "version": assay_version(),
                "additional_details": {"generated_by": report.generated_by},
            },
            "evaluation_results": [_result(ctx, s, reproduced=True) for s in reproduced],
        }
    return logs
