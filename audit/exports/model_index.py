"""Hugging Face ``model-index`` card metadata: a YAML block to paste into a model card's front matter.

Built with huggingface_hub's own ``EvalResult`` and ``eval_results_to_model_index`` (hub-docs ``modelcard.md``).
The value of each metric is the reproduced one when an audit report gives it, else the published one; the metric's
``name`` says which.  ``verified`` is always false: on the Hub it means "computed by Hugging Face's evaluation
service" (huggingface_hub: "Automatically computed by Hugging Face, do not set"), which assay never is.
"""

from __future__ import annotations

from typing import Any

from .common import ExportContext, Score, is_url


def eval_results(ctx: ExportContext, scores: list[Score]) -> list[Any]:
    from huggingface_hub import EvalResult

    out = []
    types = [ctx.dataset_id(s) or (s.task or s.name) for s in scores]
    for s, dtype in zip(scores, types, strict=True):
        ds = ctx.dataset_id(s)
        src = s.published_source if (not s.verified and is_url(s.published_source)) else None
        # The Hub groups metrics by (task, dataset type, config, split, revision): benchmarks sharing one dataset
        # (e.g. the three ScreenSpot-v2 splits) keep their own results through the config.
        config = (s.task or s.name) if types.count(dtype) > 1 else None
        out.append(
            EvalResult(
                task_type=ctx.task_type(),
                dataset_type=dtype,
                dataset_name=s.name,
                dataset_config=config,
                metric_type=s.metric,
                metric_value=round(float(s.known_value()), 6),
                metric_name=f"{s.metric}: {s.describe()}",
                verified=False,
                source_url=src,
                source_name=f"{s.name} published score" if src else None,
            )
        )
        if ds is None:
            ctx.warnings.append(
                f"{s.name}: dataset.type is {s.task or s.name!r}, not a Hub dataset id; "
                f"pass --dataset {s.name}=ORG/NAME to link the benchmark"
            )
    return out


def build(ctx: ExportContext) -> dict[str, Any]:
    from huggingface_hub.repocard_data import eval_results_to_model_index

    scores = ctx.require_evals("model-index")
    return {"model-index": eval_results_to_model_index(ctx.model_id(), eval_results(ctx, scores))}
