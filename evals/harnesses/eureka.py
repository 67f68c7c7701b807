"""Eureka ML Insights logs: ``logs/<Pipeline>/<experiment>/<timestamp>/`` (microsoft/eureka-ml-insights ``core/``).

* ``inference_result.jsonl`` — the prompt-processing columns (``prompt``, ``prompt_hash`` = MD5 of the prompt,
  ``uid``, ``ground_truth``, …) plus ``model_output``, ``is_valid``, ``n_output_tokens``;
* ``metric_results.jsonl`` — the same rows plus one ``<Metric>_result`` column per metric (``"correct"`` /
  ``"incorrect"`` / ``"none"`` for the classic metrics);
* ``<aggregator>_<HHMMSSffffff>_on_<columns>[_grouped_by_<col>][_normalized]_report.json`` — e.g. a normalised
  ``CountAggregator`` ``{"ExactMatch_result": {"correct": 0.6, "incorrect": 0.4}}`` (rounded to 3 decimals) or an
  ``AverageAggregator`` ``{"col": mean}``; grouped: ``{col: {group: {...}}}``.

Re-scoring recomputes ExactMatch, CaseInsensitiveMatch, SubstringExistsMatch and BboxMetric (the centre of the
predicted box in the target ``[x, y, w, h]`` box) from ``model_output`` and ``ground_truth``, and the
aggregators with pandas' arithmetic (``value_counts(normalize=True).round(3)``; ``mean().round(3)``).
``prompt_hash`` is recomputed (MD5 of the prompt) and mismatches named.

Version notes: no Eureka release is pinned; the semantics follow its source (FIELD-NOTES 1.7:
eureka_ml_insights/core/eval_reporting.py, metrics/reports.py, metrics/metrics_base.py), and the fixtures are built
from those formats (tests/fixtures/evals/make_documented.py), not from a real run.  Other metrics (custom or
model-graded) are ``Unsupported``: not recomputed, never passed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ...manifests.errors import InputError
from ..audit import AuditAccumulator
from ..engine import same_number
from ..registry import EngineResult, Harness, ImportedLog, Probe, Unsupported, harness
from ..results import Finding, RescoreRow
from ..samples import Aggregate, LogHeader, Message, Sample

_REPORT_RE = re.compile(
    r"^(?P<agg>[a-z]+aggregator)_\d+(?:_on_(?P<cols>.+?))?(?:_grouped_by_(?P<group>.+?))?"
    r"(?P<norm>_normalized)?_report$"
)
_LABEL = {"correct": 1.0, "incorrect": 0.0}


def load_eureka(path: Path) -> list[EurekaLog]:
    path = Path(path)
    if path.is_file():
        path = path.parent
    runs = sorted(
        {p.parent for p in path.rglob("metric_results.jsonl")}
        | {p.parent for p in path.rglob("inference_result.jsonl")}
    )
    if not runs:
        raise InputError(f"{path}: no Eureka inference_result.jsonl / metric_results.jsonl here")
    # a pipeline's stages (inference, evaluation) are sibling folders under one run folder holding config.txt
    by_run: dict[Path, list[Path]] = defaultdict(list)
    for r in runs:
        root = next((a for a in [r, *r.parents] if (a / "config.txt").exists()), r)
        by_run[root].append(r)
    return [EurekaLog(root, dirs) for root, dirs in sorted(by_run.items())]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    return rows


def _task_name(root: Path) -> str:
    # logs/<Pipeline>/<experiment>/<timestamp>: the pipeline name
    parts = root.parts
    return parts[-3] if len(parts) >= 3 and re.match(r"^\d{4}-\d\d-\d\d", parts[-1]) else root.name


class EurekaLog(ImportedLog):
    format = "eureka"

    def __init__(self, root: Path, dirs: list[Path]) -> None:
        self.root = root
        metric_files = [d / "metric_results.jsonl" for d in dirs if (d / "metric_results.jsonl").exists()]
        inference_files = [d / "inference_result.jsonl" for d in dirs if (d / "inference_result.jsonl").exists()]
        self.rows = _jsonl(metric_files[0]) if metric_files else (_jsonl(inference_files[0]) if inference_files else [])
        self.reports: list[tuple[Path, dict[str, Any]]] = []
        for d in dirs:
            for p in sorted(d.glob("*_report.json")):
                try:
                    self.reports.append((p, json.loads(p.read_text(encoding="utf-8"))))
                except json.JSONDecodeError as exc:
                    raise InputError(f"{p}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
        task = _task_name(root)
        aggs: list[Aggregate] = []
        self.specs: list[dict[str, Any]] = []
        for p, data in self.reports:
            m = _REPORT_RE.match(p.stem)
            spec = {
                "agg": m.group("agg") if m else "?",
                "group": m.group("group") if m else None,
                "normalized": bool(m and m.group("norm")),
                "file": p.name,
            }
            self.specs.append(spec)
            for col, val in data.items() if isinstance(data, dict) else []:
                for metric, filt, v in _flatten(col, val, spec):
                    aggs.append(Aggregate(task=task, metric=metric, filter=filt, value=v, n=len(self.rows)))
        config: dict[str, Any] = {"reports": self.specs, "root": str(root)}
        header = LogHeader(
            source_format="eureka", harness="eureka-ml-insights", tasks=[task], aggregates=aggs, config=config
        )
        super().__init__(root, header)
        self.task = task
        if not metric_files:
            self.add("error", "no-samples", "no metric_results.jsonl: per-sample scores cannot be checked", task)

    def iter_samples(self, task: str) -> Iterator[Sample]:
        if task != self.task:
            return
        bad_hash = []
        for i, r in enumerate(self.rows):
            sid = str(r.get("uid", r.get("data_point_id", i)))
            prompt = r.get("prompt")
            if (
                isinstance(prompt, str)
                and isinstance(r.get("prompt_hash"), str)
                and hashlib.md5(prompt.encode("utf-8")).hexdigest() != r["prompt_hash"]
            ):
                bad_hash.append(sid)
            scores = {}
            labels = {}
            for k, v in r.items():
                if k.endswith("_result"):
                    labels[k] = v
                    scores[k] = (
                        _LABEL.get(v) if isinstance(v, str) else (float(v) if isinstance(v, (int, float)) else None)
                    )
            target = r.get("ground_truth")
            if "bbox" in r:
                target = r["bbox"]
            yield Sample(
                id=sid,
                task=task,
                input=[Message(role="user", content=str(prompt or ""))],
                prompt=prompt if isinstance(prompt, str) else None,
                target=_jsonable(target),
                output=r.get("model_output")
                if isinstance(r.get("model_output"), str)
                else json.dumps(r.get("model_output")),
                scores=scores,
                meta={
                    "is_valid": bool(r.get("is_valid", True)),
                    "labels": labels,
                    "prompt_hash": r.get("prompt_hash"),
                    "raw_output": _jsonable(r.get("model_output")),
                    **{k: _jsonable(r[k]) for k in ("category", "split", "n_output_tokens") if k in r},
                },
            )
        if bad_hash:
            self.add(
                "error",
                "hash-mismatch",
                f"prompt_hash (MD5 of the prompt) does not match in {len(bad_hash)} row(s)",
                task,
                bad_hash,
            )

    def recompute(self, sample: Sample, metric: str) -> float | None:
        valid = (sample.meta or {}).get("is_valid", True)
        name = metric[: -len("_result")]
        out, gt = sample.output, sample.target
        gt_box: Any = gt
        ans: Any = (sample.meta or {}).get("raw_output")
        if not valid:
            return None
        if name == "ExactMatch":
            return 1.0 if out == gt else 0.0
        if name == "CaseInsensitiveMatch":
            return 1.0 if str(out).lower() == str(gt).lower() else 0.0
        if name == "SubstringExistsMatch":
            return 1.0 if str(gt).lower() in str(out).lower() else 0.0
        if name == "BboxMetric":
            if not ans or not isinstance(gt_box, list):
                return None
            box = [gt_box[0], gt_box[1], gt_box[0] + gt_box[2], gt_box[1] + gt_box[3]]
            cx, cy = (ans[0] + ans[2]) / 2, (ans[1] + ans[3]) / 2
            return 1.0 if box[0] <= cx <= box[2] and box[1] <= cy <= box[3] else 0.0
        raise Unsupported(f"Eureka metric {name!r} is not re-implemented")


def _jsonable(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return str(v)


def _flatten(col: str, val: Any, spec: dict[str, Any]) -> Iterator[tuple[str, str, float | None]]:
    """(metric, filter, value) rows of one report column: metric 'col' or 'col/label'; filter the group or 'none'."""

    def num(v: Any) -> float | None:
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    if spec["agg"] == "countaggregator":
        if spec["group"]:
            for group, counts in (val or {}).items():
                for label, v in (counts or {}).items():
                    yield f"{col}/{label}", str(group), num(v)
        else:
            for label, v in (val or {}).items():
                yield f"{col}/{label}", "none", num(v)
    elif isinstance(val, dict):
        for group, v in val.items():
            yield col, str(group), num(v)
    else:
        yield col, "none", num(val)


def _round3(x: float) -> float:
    import numpy as np

    return float(np.round(x, 3))


def rescore_eureka(log: EurekaLog, audit: bool) -> EngineResult:
    """Per-sample <Metric>_result labels recomputed; CountAggregator (normalised) and AverageAggregator re-run."""
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    label = {1.0: "correct", 0.0: "incorrect", None: "none"}
    for task in log.tasks():
        samples = list(log.iter_samples(task))
        recomputed: dict[str, list[Any]] = defaultdict(list)  # column -> label per row (recomputed)
        mismatch: dict[str, list[tuple[str, Any, Any]]] = defaultdict(list)
        unsupported: dict[str, str] = {}
        for s in samples:
            labels: dict[str, Any] = (s.meta or {}).get("labels") or {}  # type: ignore[assignment]
            for col, logged in labels.items():
                try:
                    v = log.recompute(s, col)
                except Unsupported as exc:
                    unsupported[col] = str(exc)
                    recomputed[col].append(logged)
                    continue
                lab = label.get(v, v)
                recomputed[col].append(lab)
                if lab != logged:
                    mismatch[col].append((s.id, logged, lab))
                if aud is not None and v is not None:
                    aud.add(s, col, v)
        for col, mm in mismatch.items():
            ex = mm[0]
            findings.append(
                Finding.make(
                    "error",
                    "sample-score-mismatch",
                    f"{col}: {len(mm)} row(s) logged a result "
                    f"the output does not give (e.g. uid {ex[0]}: logged {ex[1]!r}, recomputed "
                    f"{ex[2]!r})",
                    task,
                    [m[0] for m in mm],
                )
            )
        for col, why in unsupported.items():
            findings.append(Finding.make("error", "unverifiable", f"{col}: {why}", task))
        groups_of: dict[str, dict[str, Any]] = {}
        for report in log.specs:  # = header.config["reports"]
            groups_of[report["file"]] = report
        for agg in log.header.aggregates:
            if agg.task != task:
                continue
            col, _, lab = agg.metric.partition("/")
            spec: dict[str, Any] | None = next(
                (sp for sp in groups_of.values() if (sp["group"] is None) == (agg.filter == "none")), None
            )
            values = recomputed.get(col)
            rec = None
            n = 0
            if values is None and samples and col in (samples[0].meta or {}):
                values = [(s.meta or {}).get(col) for s in samples]
            if values is not None:
                if agg.filter != "none" and spec and spec["group"]:
                    keys = [str((s.meta or {}).get(spec["group"])) for s in samples]
                    values = [v for v, k in zip(values, keys, strict=False) if k == agg.filter]
                n = len(values)
                if lab:  # normalised count of one label
                    present = [v for v in values if v is not None]
                    rec = _round3(sum(1 for v in present if v == lab) / len(present)) if present else None
                else:
                    nums = [float(v) for v in values if isinstance(v, (int, float))]
                    rec = _round3(sum(nums) / len(nums)) if nums else None
            if col in unsupported:
                rec = None
            if agg.value is not None and rec is not None and not same_number(agg.value, rec):
                findings.append(
                    Finding.make(
                        "error",
                        "aggregate-mismatch",
                        f"{agg.metric},{agg.filter}: reported {agg.value!r}, recomputed {rec!r} from {n} rows",
                        task,
                    )
                )
            rows.append(
                RescoreRow(task=task, metric=agg.metric, filter=agg.filter, reported=agg.value, recomputed=rec, n=n)
            )
    return EngineResult(rows, findings, aud.rows() if aud else [])


# ======================================================================================================== harness
@harness("eureka")
class EurekaHarness(Harness):
    name_rank = 4
    sniff_rank: ClassVar[Mapping[str, int]] = {".jsonl": 3}
    folder_patterns = ("inference_result.jsonl",)
    multi_file = True

    def claims_name(self, path: Path) -> bool:
        return path.name in ("inference_result.jsonl", "metric_results.jsonl") or path.name.endswith("_report.json")

    def sniff(self, probe: Probe) -> bool:
        return probe.suffix == ".jsonl" and "model_output" in probe.keys

    def load(self, path: Path) -> list[ImportedLog]:
        return list(load_eureka(path))

    def covers(self, run: ImportedLog, path: Path) -> bool:
        return isinstance(run, EurekaLog) and Path(run.root) in path.parents

    def rescore(self, log: ImportedLog, audit: bool) -> EngineResult:
        if not isinstance(log, EurekaLog):
            raise TypeError(f"not a Eureka log: {log.format}")
        return rescore_eureka(log, audit)
