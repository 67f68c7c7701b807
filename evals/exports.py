"""Exports of assay's own logs (:class:`assay.evals.samples.NormalisedLog`): Every Eval Ever and HF ``.eval_results``.

* :func:`write_eee` — an Every Eval Ever aggregate JSON (schema 0.3.0) plus its instance-level JSONL (rows as the
  EEE converters write them: ``sample_id, sample_hash, input{raw, reference, choices}, output{raw},
  answer_attribution, evaluation{score, is_correct}``), linked by ``detailed_evaluation_results`` with the JSONL's
  sha256 and row count.  assay's EEE importer reads it back and re-scores it (tested).
* :func:`eval_results_entries` / :func:`write_eval_results` — Hugging Face ``.eval_results/<task>.yaml`` entries
  (``dataset{id, task_id, revision}, value, date, source{url, name}, notes``; huggingface_hub ``_eval_results.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from .harnesses.eee import sample_hash
from .samples import NormalisedLog, Sample

EEE_SCHEMA = "0.3.0"
EEE_INSTANCE_SCHEMA = "0.2.1"


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _raw_input(s: Sample) -> str:
    if s.prompt is not None:
        return s.prompt
    parts = []
    for m in s.input:
        if isinstance(m.content, str):
            parts.append(m.content)
        else:
            parts.extend(
                (p.text or "") if p.type == "text" else f"<image sha256:{p.image.sha256 if p.image else ''}>"
                for p in m.content
            )
    return "\n".join(parts)


def _reference(s: Sample) -> list[Any]:
    t = s.target
    if isinstance(t, int) and s.choices and 0 <= t < len(s.choices):
        return [s.choices[t]]
    if isinstance(t, list):
        return list(t)
    return [] if t is None else [t]


def eee_instances(log: NormalisedLog, task: str, metric: str, filter: str | None = None) -> list[dict[str, Any]]:
    model = log.header.model or "unknown"
    rows = []
    for s in log.samples:
        if s.task != task or (filter is not None and s.filter != filter) or s.scores.get(metric) is None:
            continue
        raw = _raw_input(s)
        ref = _reference(s)
        score = float(s.scores[metric])  # type: ignore[arg-type]
        answers = (s.meta or {}).get("answers")
        ans = answers.get(metric) if isinstance(answers, dict) and metric in answers else s.answer
        ans = ans if ans is not None else s.output
        rows.append(
            {
                "schema_version": EEE_INSTANCE_SCHEMA,
                "evaluation_id": f"{task}/{model}",
                "model_id": model,
                "evaluation_name": task,
                "sample_id": s.id if not s.repeat else f"{s.id}#{s.repeat}",
                "sample_hash": sample_hash(raw, ref),
                "interaction_type": "single_turn",
                "input": {"raw": raw, "formatted": None, "reference": ref, "choices": s.choices},
                "output": {"raw": [s.output] if s.output is not None else [], "reasoning_trace": []},
                "messages": None,
                "answer_attribution": [
                    {
                        "turn_idx": 0,
                        "source": "output.raw",
                        "extracted_value": ans if isinstance(ans, str) or ans is None else json.dumps(ans),
                        "extraction_method": metric,
                        "is_terminal": True,
                    }
                ],
                "evaluation": {"score": score, "is_correct": score >= 1.0, "num_turns": None, "tool_calls_count": None},
                "token_usage": None,
                "performance": None,
                "error": None,
                "metadata": {
                    "assay_input_sha256": s.input_sha256,
                    "assay_target_sha256": s.target_sha256,
                    "filter": s.filter,
                },
            }
        )
    return rows


def write_eee(
    log: NormalisedLog,
    out_dir: str | Path,
    *,
    task: str,
    metric: str,
    filter: str | None = None,
    evaluation_id: str | None = None,
    retrieved_timestamp: str = "0",
) -> Path:
    """Write ``<out_dir>/<id>.json`` + ``<out_dir>/instance_level_data/<task>.jsonl``; return the aggregate's path."""
    out = Path(out_dir)
    (out / "instance_level_data").mkdir(parents=True, exist_ok=True)
    rows = eee_instances(log, task, metric, filter)
    inst = out / "instance_level_data" / f"{task}.jsonl"
    data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode("utf-8")
    inst.write_bytes(data)
    scores = [r["evaluation"]["score"] for r in rows]
    mean = _mean(scores)
    se = None
    if len(scores) > 1 and mean is not None:
        se = math.sqrt(math.fsum((x - mean) ** 2 for x in scores) / (len(scores) - 1)) / math.sqrt(len(scores))
    h = log.header
    eid = evaluation_id or f"{task}/{h.model or 'unknown'}/{hashlib.sha256(data).hexdigest()[:12]}"
    uncertainty: dict[str, Any] = {"num_samples": len(scores)}
    if se is not None:
        uncertainty["standard_error"] = {"value": se, "method": "analytic"}
    agg = {
        "schema_version": EEE_SCHEMA,
        "evaluation_id": eid,
        "retrieved_timestamp": retrieved_timestamp,
        "source_metadata": {
            "source_name": "assay",
            "source_type": "evaluation_run",
            "evaluator_relationship": "third_party",
        },
        "model_info": {
            "name": h.model or "unknown",
            "id": h.model or "unknown",
            **({"inference_engine": {"name": h.backend}} if h.backend else {}),
        },
        "eval_library": {"name": h.harness or "assay", "version": h.harness_version or "unknown"},
        "evaluation_results": [
            {
                "evaluation_name": task,
                "source_data": {"source_type": "other", "dataset_name": task},
                "metric_config": {
                    "evaluation_description": metric,
                    "lower_is_better": False,
                    "score_type": "continuous",
                    "min_score": 0.0,
                    "max_score": 1.0,
                },
                "score_details": {"score": mean, "uncertainty": uncertainty},
                **({"generation_config": {"generation_args": dict(h.decoding)}} if h.decoding else {}),
            }
        ],
        "detailed_evaluation_results": {
            "format": "jsonl",
            "file_path": f"instance_level_data/{inst.name}",
            "hash_algorithm": "sha256",
            "checksum": hashlib.sha256(data).hexdigest(),
            "total_rows": len(rows),
        },
    }
    path = out / f"{eid.replace('/', '_')}.json"
    path.write_text(json.dumps(agg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def eval_results_entries(
    log: NormalisedLog,
    *,
    task: str,
    metric: str,
    dataset_id: str,
    filter: str | None = None,
    scale: float = 100.0,
    decimals: int = 1,
    revision: str | None = None,
    source_url: str | None = None,
    source_name: str = "assay",
    date: str | None = None,
) -> list[dict[str, Any]]:
    """One ``.eval_results`` entry for (task, metric): the mean per-sample score × ``scale``, rounded."""
    values = [
        float(s.scores[metric])  # type: ignore[arg-type]
        for s in log.samples
        if s.task == task and (filter is None or s.filter == filter) and s.scores.get(metric) is not None
    ]
    mean = _mean(values)
    if mean is None:
        return []
    entry: dict[str, Any] = {"dataset": {"id": dataset_id, "task_id": task}, "value": round(mean * scale, decimals)}
    if revision:
        entry["dataset"]["revision"] = revision
    if date or log.header.created:
        entry["date"] = (date or log.header.created or "")[:10]
    entry["source"] = {"name": source_name, **({"url": source_url} if source_url else {})}
    entry["notes"] = (
        f"{metric}{',' + filter if filter else ''} over {len(values)} samples, recomputed by assay from "
        f"per-sample records (model {log.header.model or 'unknown'})"
    )
    return [entry]


def write_eval_results(entries: list[dict[str, Any]], folder: str | Path, name: str) -> Path:
    import yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
