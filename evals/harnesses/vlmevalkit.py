"""VLMEvalKit prediction and judge files (``outputs/<model>/<eval_id>/``).

Files (vlmeval/dataset/image_mcq.py ``evaluate``; vlmeval/smp/file.py):

* ``<model>_<dataset>.xlsx|tsv|json`` — the dataset's columns (``index, question, A, B, C, D, answer, category,
  l2-category, split, image…``) plus the model's ``prediction``;
* ``<model>_<dataset>_<judge>_result.xlsx|tsv|json`` — the same plus ``hit`` (0/1) and ``log``; ``<judge>`` is
  ``exact_matching`` (deterministic) or a judge model (e.g. ``gpt-4o-mini``, which extracts the option when the
  rule-based matcher cannot);
* ``<model>_<dataset>_acc.csv`` (or ``_score.csv``) — ``report_acc``: one row per ``split`` with ``Overall`` and
  one column per ``category`` / ``l2-category``, each ``np.mean(hit)`` (a fraction; VLMEvalKit reports no stderr).

Re-scoring (multiple choice): the option is extracted from ``prediction`` with VLMEvalKit's rule-based matcher
(``can_infer``: a single option letter among the last five tokens, else a unique option text contained in a short
answer; ``Z`` for refusals) and ``hit = (option == answer)``.  Rows whose hit a judge model decided (the rule
cannot extract an option) are counted as judge-scored: their logged hit is used and reported, never recomputed.
Point-in-box rows (a ``bbox`` column ``[x1, y1, x2, y2]``, ScreenSpot style) are re-scored with
:func:`assay.evals.scorers.point_in_box`.  Aggregation reproduces ``report_acc``: per split, ``Overall`` =
mean(hit); per ``category`` / ``l2-category`` (MMBench abbreviations: CP, FP-S, FP-C, LR, RR, AR), mean(hit) of
its rows.  Open-ended datasets (judged by a model) are not re-scored: ``unverifiable``.

Version notes: no VLMEvalKit release is pinned; the semantics follow its source (FIELD-NOTES 1.6:
vlmeval/dataset/image_mcq.py, utils/multiple_choice.py, utils/matching_util.py, smp/file.py), and the fixtures are
built from those formats (tests/fixtures/evals/make_documented.py), not from a real run.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
import re
import string
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ...manifests.errors import InputError, require_extra
from ..audit import AuditAccumulator
from ..engine import reported_of, same_number
from ..registry import EngineResult, Harness, ImportedLog, Probe, Unsupported, harness
from ..results import Finding, RescoreRow
from ..samples import Aggregate, ContentPart, ImageRef, LogHeader, Message, Sample, read_json
from ..scorers import point_in_box

_SUFFIXES = (".xlsx", ".tsv", ".json", ".csv")
_RESULT_RE = re.compile(r"^(?P<stem>.+?)_(?P<judge>exact_matching|[A-Za-z0-9.\-]+)_result$")


# ------------------------------------------------------------------------------------------------ file reading
def read_table(path: Path) -> list[dict[str, Any]]:
    """Rows of an .xlsx (first sheet), .tsv, .csv or .json (records, or columns) file, as dicts."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        openpyxl = require_extra("openpyxl", "evals", f"{path}: reading .xlsx")
        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises zipfile, XML and its own errors for a bad file
            raise InputError(f"{path}: not a readable .xlsx file ({exc})") from None
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(rows, [])]
        out = [dict(zip(header, r, strict=False)) for r in rows if any(v is not None for v in r)]
        wb.close()
        return out
    if suffix in (".tsv", ".csv"):
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                return list(csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ","))
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a UTF-8 text table") from None
    if suffix == ".json":
        data = read_json(path)
        if isinstance(data, dict):  # pandas to_json(orient="columns"/"list")
            cols = list(data)
            if cols and all(isinstance(data[c], dict) for c in cols):
                keys = list(data[cols[0]])
                return [{c: data[c].get(k) for c in cols} for k in keys]
            if cols and all(isinstance(data[c], list) for c in cols):
                return [dict(zip(cols, vals, strict=False)) for vals in zip(*(data[c] for c in cols), strict=False)]
        if isinstance(data, list):
            return [r for r in data if isinstance(r, dict)]
        raise InputError(f"{path}: expected a list of records or a dict of columns")
    raise InputError(f"{path}: unsupported VLMEvalKit file type")


def _isna(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() in ("", "nan"))


# --------------------------------------------------------------------------------------- VLMEvalKit matching
def _can_infer_option(answer: str, choices: dict[str, str]) -> str | bool:
    if "Failed to obtain answer via API" in answer:
        return False
    for err in (
        "Sorry, I can't help with images of people yet.",
        "I can't process this file.",
        "I'm sorry, but without the image provided",
        "Cannot determine the answer",
    ):
        if err in answer:
            return "Z"
    mod = answer
    for c in ".()[],:;!*#{}":
        mod = mod.replace(c, " ")
    splits = [x.strip() for x in mod.split()]
    count = sum(1 for c in choices if c in splits)
    if count == 1:
        for ch in choices:
            if ch in splits and splits.index(ch) > len(splits) - 5:
                return ch
    elif count == 0 and sum(1 for c in ("Z", "") if c in splits) == 1:
        return "Z"
    return False


def _can_infer_text(answer: str, choices: dict[str, str]) -> str | bool:
    answer = answer.lower()
    if len(answer) > 2 * sum(len(str(v)) for v in choices.values()):
        return False
    cands = [k for k, v in choices.items() if str(v).lower() in answer]
    return cands[0] if len(cands) == 1 else False


def can_infer(answer: Any, choices: dict[str, str]) -> str | bool:
    """vlmeval.utils.matching_util.can_infer: the option letter a prediction names, 'Z' for a refusal, else False."""
    answer = str(answer)
    opt = _can_infer_option(answer, choices)
    return opt if opt else _can_infer_text(answer, choices)


def _choices(row: dict[str, Any]) -> dict[str, str]:
    return {ch: str(row[ch]) for ch in string.ascii_uppercase if ch in row and not _isna(row[ch])}


# -------------------------------------------------------------------------------------------------- the log
def _parse_name(path: Path, model: str | None) -> tuple[str, str | None, str]:
    """(dataset, judge or None, kind) from a VLMEvalKit file name; kind ∈ prediction | result | acc."""
    stem = path.stem
    kind = "prediction"
    judge = None
    if stem.endswith(("_acc", "_score")):
        kind, stem = "acc", stem.rsplit("_", 1)[0]
    else:
        m = _RESULT_RE.match(stem)
        if m:
            kind, stem, judge = "result", m.group("stem"), m.group("judge")
    if model and stem.startswith(model + "_"):
        stem = stem[len(model) + 1 :]
    return stem, judge, kind


def load_vlmevalkit(path: Path) -> list[VLMEvalKitLog]:
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix.lower() in _SUFFIXES)
    groups: dict[tuple[Path, str], dict[str, Path]] = defaultdict(dict)
    for f in files:
        model = f.parent.parent.name if f.parent.name.startswith("T") and f.parent.parent != f.parent else f.parent.name
        dataset, judge, kind = _parse_name(f, model)
        key = (f.parent, dataset)
        if kind == "result":
            groups[key]["result"] = f
            groups[key]["judge"] = Path(judge or "")
        elif kind == "acc":
            groups[key]["acc"] = f
        else:
            groups[key].setdefault("prediction", f)
    if path.is_file():  # one file given: pick up its siblings
        (folder, dataset), g = next(iter(groups.items()))
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in _SUFFIXES and f != path:
                d, judge, kind = _parse_name(f, None)
                if d.endswith(dataset) or dataset.endswith(d):
                    if kind == "acc":
                        g.setdefault("acc", f)
                    elif kind == "result" and "result" not in g:
                        g["result"], g["judge"] = f, Path(judge or "")
    logs = []
    for (_folder, dataset), g in sorted(groups.items()):
        if "result" not in g and "prediction" not in g:
            continue
        logs.append(
            VLMEvalKitLog(
                g.get("result") or g["prediction"], dataset, g.get("acc"), str(g["judge"]) if "judge" in g else None
            )
        )
    if not logs:
        raise InputError(f"{path}: no VLMEvalKit prediction or result file here")
    return logs


class VLMEvalKitLog(ImportedLog):
    format = "vlmevalkit"

    def __init__(self, path: Path, dataset: str, acc_path: Path | None, judge: str | None) -> None:
        self.rows = read_table(path)
        if self.rows and "prediction" not in self.rows[0]:
            raise InputError(f"{path}: no 'prediction' column; not a VLMEvalKit prediction file")
        self.acc_rows = read_table(acc_path) if acc_path else []
        self.judge = judge
        aggs = []
        n_by_split: dict[str, int] = defaultdict(int)
        for r in self.rows:
            n_by_split[str(r.get("split")) if not _isna(r.get("split")) else "none"] += 1
        for r in self.acc_rows:
            split = str(r.get("split", "none") or "none")
            for k, v in r.items():
                if k in ("split", "", None) or k.startswith("Unnamed"):
                    continue
                try:
                    val = float(v)
                except (TypeError, ValueError):
                    continue
                aggs.append(
                    Aggregate(
                        task=dataset,
                        metric=str(k),
                        filter=split,
                        value=val,
                        n=n_by_split.get(split) if k == "Overall" else None,
                    )
                )
        header = LogHeader(
            source_format="vlmevalkit",
            harness="VLMEvalKit",
            tasks=[dataset],
            aggregates=aggs,
            config={"judge": judge, "prediction_file": path.name, "acc_file": acc_path.name if acc_path else None},
        )
        super().__init__(path, header)
        self.dataset = dataset
        if acc_path is None:
            self.add(
                "warning",
                "no-aggregate-file",
                "no _acc.csv / _score.csv beside the predictions: nothing reported to compare with",
                dataset,
            )
        if judge and judge != "exact_matching" and "hit" in (self.rows[0] if self.rows else {}):
            self.add(
                "info",
                "judge",
                f"options were extracted by the judge model {judge!r} where the rule-based "
                "matcher failed; those rows keep their logged hit",
                dataset,
            )
        self.judged: list[str] = []

    def iter_samples(self, task: str) -> Iterator[Sample]:
        if task != self.dataset:
            return
        seen: set[str] = set()
        dups: list[str] = []
        for r in self.rows:
            sid = str(r.get("index"))
            if sid in seen:
                dups.append(sid)
            seen.add(sid)
            choices = _choices(r)
            question = str(r.get("question") or "")
            text = question
            if choices:
                text += "\nOptions:\n" + "".join(f"{k}. {v}\n" for k, v in choices.items())
            parts: list[ContentPart] = []
            img = r.get("image")
            if isinstance(img, str) and len(img) > 64 and not _isna(img):
                try:
                    data = base64.b64decode(img, validate=True)
                    parts.append(ContentPart(type="image", image=ImageRef(sha256=hashlib.sha256(data).hexdigest())))
                except (ValueError, TypeError):
                    pass
            parts.append(ContentPart(type="text", text=text))
            target: Any = r.get("answer")
            if "bbox" in r and not _isna(r.get("bbox")):
                box = r["bbox"]
                target = json.loads(box) if isinstance(box, str) else box
            elif target is not None and not isinstance(target, str):
                target = str(target)
            scores: dict[str, float | None] = {}
            if "hit" in r and not _isna(r.get("hit")):
                scores["hit"] = float(r["hit"])
            elif "score" in r and not _isna(r.get("score")):
                scores["score"] = float(r["score"])
            yield Sample(
                id=sid,
                task=task,
                filter=str(r.get("split")) if not _isna(r.get("split")) else "none",
                input=[Message(role="user", content=parts)],
                target=target,
                choices=[choices[k] for k in choices] or None,
                output=str(r.get("prediction")),
                scores=scores,
                meta={
                    k: (v if isinstance(v, (str, int, float, bool)) or v is None else str(v))
                    for k, v in r.items()
                    if k in ("category", "l2-category", "log", "hint")
                },
            )
        if dups:
            self.add("error", "duplicate-samples", f"{len(dups)} duplicated index value(s)", task, dups)

    # hooks for the generic re-scoring engine
    def recompute(self, sample: Sample, metric: str) -> float | None:
        if isinstance(sample.target, list):
            return point_in_box(sample.output, sample.target)
        if not sample.choices:
            raise Unsupported("open-ended VLMEvalKit datasets are judged by a model (e.g. gpt-4o-mini)")
        choices = {chr(ord("A") + i): c for i, c in enumerate(sample.choices)}
        opt = can_infer(sample.output or "", dict(choices))
        if not opt:
            if self.judge and self.judge != "exact_matching":
                self.judged.append(sample.id)
                return sample.scores.get(metric)  # the judge decided: keep its logged hit
            opt = "Z"  # exact_matching: "Failed in Prefetch" → no option
        return 1.0 if opt == str(sample.target).strip() else 0.0

    def aggregate(self, task: str, metric: str, filt: str, values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None


# ------------------------------------------------------------------------------------------------------ VLMEvalKit
_MMB_ABBRS = {
    "coarse_perception": "CP",
    "finegrained_perception (instance-level)": "FP-S",
    "finegrained_perception (cross-instance)": "FP-C",
    "logic_reasoning": "LR",
    "relation_reasoning": "RR",
    "attribute_reasoning": "AR",
}


def rescore_vlmevalkit(log: VLMEvalKitLog, audit: bool) -> EngineResult:
    """report_acc semantics: per split, Overall = mean(hit); per category / l2-category, mean(hit) of its rows."""
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    for task in log.tasks():
        groups: dict[tuple[str, str], list[float]] = defaultdict(list)
        mismatch: list[tuple[str, Any, Any]] = []
        unsupported = None
        n_rows = 0
        for s in log.iter_samples(task):
            n_rows += 1
            metric = next(iter(s.scores), "hit")
            logged = s.scores.get(metric)
            try:
                v = log.recompute(s, metric)
            except Unsupported as exc:
                unsupported = str(exc)
                v = logged
            if v is None:
                continue
            if unsupported is None and logged is not None and logged != v:
                mismatch.append((s.id, logged, v))
            groups[("Overall", s.filter)].append(v)
            for col in ("category", "l2-category"):
                cat = (s.meta or {}).get(col)
                if isinstance(cat, str) and cat:
                    groups[(_MMB_ABBRS.get(cat, cat), s.filter)].append(v)
            if aud is not None:
                aud.add(s, "hit", v)
        if unsupported:
            findings.append(
                Finding.make(
                    "error", "unverifiable", f"hit: {unsupported}; aggregates use the logged per-sample hits", task
                )
            )
        if mismatch:
            ex = mismatch[0]
            findings.append(
                Finding.make(
                    "error",
                    "sample-score-mismatch",
                    f"hit: {len(mismatch)} row(s) logged a hit "
                    f"the prediction does not give (e.g. index {ex[0]}: logged {ex[1]!r}, "
                    f"recomputed {ex[2]!r})",
                    task,
                    [m[0] for m in mismatch],
                )
            )
        judged = sorted(set(log.judged))
        if judged:
            findings.append(
                Finding.make(
                    "warning",
                    "judge-scored",
                    f"{len(judged)} of {n_rows} row(s) were scored by "
                    f"the judge {log.judge!r} (no rule-based option): their logged hit is kept",
                    task,
                    judged,
                )
            )
        reported = reported_of(log, task)
        keys = list(reported) or [k for k in groups if k[0] == "Overall"]
        for metric, split in keys:
            vals = groups.get((metric, split)) or []
            if not vals and split == "none" and (metric, "none") not in groups:
                vals = [v for (m, _sp), vs in groups.items() if m == metric for v in vs]
            rec = sum(vals) / len(vals) if vals else None
            rep = reported.get((metric, split), (None, None, None))[0]
            if rep is not None and rec is not None and not same_number(rep, rec):
                findings.append(
                    Finding.make(
                        "error",
                        "aggregate-mismatch",
                        f"{metric},{split}: reported {rep!r}, recomputed {rec!r} from {len(vals)} rows",
                        task,
                    )
                )
            if rep is not None and rec is None:
                findings.append(
                    Finding.make("error", "no-samples", f"{metric},{split}: reported but no row belongs to it", task)
                )
            rows.append(RescoreRow(task=task, metric=metric, filter=split, reported=rep, recomputed=rec, n=len(vals)))
    return EngineResult(rows, findings, aud.rows() if aud else [])


# ======================================================================================================== harness
@harness("vlmevalkit")
class VLMEvalKitHarness(Harness):
    name_rank = 2
    sniff_rank: ClassVar[Mapping[str, int]] = {".json": 3}

    def claims_name(self, path: Path) -> bool:
        return path.suffix.lower() in (".xlsx", ".tsv", ".csv")

    def sniff(self, probe: Probe) -> bool:
        return probe.suffix == ".json" and "prediction" in probe.keys

    def load(self, path: Path) -> list[ImportedLog]:
        return list(load_vlmevalkit(path))

    def entry_files(self, files: list[Path]) -> list[Path]:
        return [f for f in files if not f.stem.endswith(("_acc", "_score"))]

    def rescore(self, log: ImportedLog, audit: bool) -> EngineResult:
        if not isinstance(log, VLMEvalKitLog):
            raise TypeError(f"not a VLMEvalKit log: {log.format}")
        return rescore_vlmevalkit(log, audit)
