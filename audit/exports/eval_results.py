"""Hugging Face ``.eval_results/<benchmark>.yaml`` files (the Hub's newer evaluation-results format).

Each file is a YAML list of entries ``{dataset{id, task_id, revision?}, value, date?, source{url, name?}?, notes?}``
built with huggingface_hub's ``EvalResultEntry`` / ``eval_result_entries_to_yaml``.  ``dataset.id`` must be a Hub
dataset (``--dataset NAME=org/name``); without one the benchmark's name stands in and a warning says so.
``verifyToken`` is the Hub's signature and is never set.
"""

from __future__ import annotations

from typing import Any

from .common import ExportContext, is_url, safe_file_stem


def build(ctx: ExportContext) -> dict[str, list[dict[str, Any]]]:
    """File name (``<benchmark>.yaml``) -> entries."""
    from huggingface_hub import EvalResultEntry, eval_result_entries_to_yaml

    files: dict[str, list[dict[str, Any]]] = {}
    for s in ctx.require_evals("eval-results"):
        ds = ctx.dataset_id(s)
        if ds is None:
            ctx.warnings.append(
                f"{s.name}: dataset.id is {s.task or s.name!r}, not a Hub dataset id; "
                f"pass --dataset {s.name}=ORG/NAME so the Hub links the benchmark"
            )
        src = s.published_source if (not s.verified and is_url(s.published_source)) else None
        entry = EvalResultEntry(
            dataset_id=ds or (s.task or s.name),
            task_id=s.task or s.name,
            value=round(float(s.known_value()), 6),
            source_url=src,
            source_name=f"{s.name} published score" if src else None,
            notes=f"{s.metric}: {s.describe()}",
        )
        name = f"{safe_file_stem(s.name)}.yaml"
        files.setdefault(name, []).extend(eval_result_entries_to_yaml([entry]))
    return files
