"""Every Eval Ever (evaleval/every_eval_ever, schema 0.2.x–0.3.0): an aggregate JSON + an instance-level JSONL.

* aggregate: ``schema_version, evaluation_id, source_metadata, model_info, eval_library, evaluation_results[
  {evaluation_name, source_data, metric_config{evaluation_description, …}, score_details{score, uncertainty{
  standard_error{value, method}, num_samples, …}}, generation_config}], detailed_evaluation_results{format, file_path,
  hash_algorithm, checksum, total_rows}``;
* instance rows: ``sample_id, sample_hash, evaluation_name, input{raw, reference[], choices}, output{raw[]},
  answer_attribution[{extracted_value, extraction_method, …}], evaluation{score, is_correct}``.

Checks: the instance file's checksum and row count against ``detailed_evaluation_results``; each ``sample_hash`` =
sha256(json.dumps({"raw", "reference"}, sort_keys=True)) (converters/lm_eval/instance_level_adapter.py);
``evaluation.score`` recomputed from the extracted answer (equal to a reference, or a choice letter whose choice
is a reference); each result's score = the mean of its rows' scores.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

from ...manifests.errors import InputError
from ..samples import Aggregate, LogHeader, Message, Sample
from ..scorers import Unsupported
from . import ImportedLog, read_json


def load_eee(path: Path) -> list["EEELog"]:
    path = Path(path)
    if path.is_dir():
        files = [p for p in sorted(path.rglob("*.json")) if _is_aggregate(p)]
        if not files:
            raise InputError(f"{path}: no Every Eval Ever aggregate JSON here")
        return [EEELog(f) for f in files]
    if path.suffix == ".jsonl":
        return [EEELog(None, instances=path)]
    return [EEELog(path)]


def _is_aggregate(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b'"schema_version"' in head and b'"evaluation_results"' in head


def sample_hash(raw: Any, reference: Any) -> str:
    return hashlib.sha256(json.dumps({"raw": raw, "reference": reference}, sort_keys=True).encode("utf-8")).hexdigest()


class EEELog(ImportedLog):
    format = "eee"

    def __init__(self, path: Path | None, instances: Path | None = None) -> None:
        self.data: dict[str, Any] = read_json(path) if path else {}
        if path and not isinstance(self.data.get("evaluation_results"), list):
            raise InputError(f"{path}: not an Every Eval Ever aggregate (no evaluation_results list)")
        det = self.data.get("detailed_evaluation_results") or {}
        if instances is None and det.get("file_path") and path is not None:
            cand = [path.parent / det["file_path"], path.parent / Path(det["file_path"]).name]
            instances = next((c for c in cand if c.exists()), None)
            if instances is None:
                self.instances_path = None
        self.instances_path = instances
        self.rows: list[dict[str, Any]] = []
        if instances is not None:
            raw = instances.read_bytes()
            for lineno, line in enumerate(raw.splitlines(), 1):
                if line.strip():
                    try:
                        self.rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{instances}:{lineno}: not valid JSON ({exc.msg})") from None
        aggs = []
        names = []
        self.metric_of: dict[str, str] = {}
        for res in self.data.get("evaluation_results") or []:
            name = res.get("evaluation_name") or (res.get("source_data") or {}).get("dataset_name") or "eval"
            mc = res.get("metric_config") or {}
            metric = mc.get("metric_id") or mc.get("metric_name") or mc.get("evaluation_description") or "score"
            sd = res.get("score_details") or {}
            unc = sd.get("uncertainty") or {}
            se = (unc.get("standard_error") or {}).get("value") if isinstance(unc.get("standard_error"), dict) else None
            score = sd.get("score")
            aggs.append(Aggregate(task=name, metric=str(metric), filter="none",
                                  value=float(score) if isinstance(score, (int, float)) else None,
                                  stderr=float(se) if isinstance(se, (int, float)) else None,
                                  n=unc.get("num_samples")))
            names.append(name)
            self.metric_of[name] = str(metric)
        for r in self.rows:
            n = r.get("evaluation_name")
            if n and n not in names:
                names.append(n)
        if not names and self.rows:
            names = ["eval"]
        mi = self.data.get("model_info") or {}
        lib = self.data.get("eval_library") or {}
        harness = lib.get("name") or (self.data.get("source_metadata") or {}).get("source_name")
        header = LogHeader(source_format="eee", harness=harness, harness_version=lib.get("version"),
                           model=mi.get("id") or mi.get("name"),
                           tasks=names, aggregates=aggs,
                           config={"schema_version": self.data.get("schema_version"),
                                   "evaluation_id": self.data.get("evaluation_id")})
        super().__init__(path or instances, header)  # type: ignore[arg-type]
        if path is not None and det:
            if self.instances_path is None:
                self.add("error", "no-samples",
                         f"instance file {det.get('file_path')!r} not found beside the aggregate")
            else:
                algo = det.get("hash_algorithm") or "sha256"
                if det.get("checksum") and algo in hashlib.algorithms_available:
                    actual = hashlib.new(algo, self.instances_path.read_bytes()).hexdigest()
                    if actual != det["checksum"]:
                        self.add("error", "hash-mismatch", f"the instance file's {algo} {actual} differs from the "
                                 f"aggregate's checksum {det['checksum']}")
                if isinstance(det.get("total_rows"), int) and det["total_rows"] != len(self.rows):
                    self.add("error", "missing-samples" if len(self.rows) < det["total_rows"] else "extra-samples",
                             f"the instance file has {len(self.rows)} rows, the aggregate says {det['total_rows']}")
        elif path is not None and not det:
            self.add("error", "no-samples", "no detailed_evaluation_results: the score has no per-sample records")

    def iter_samples(self, task: str) -> Iterator[Sample]:
        single = len(self.header.tasks) == 1
        bad, seen, dups = [], set(), []
        for i, r in enumerate(self.rows):
            if not single and r.get("evaluation_name", task) != task:
                continue
            inp = r.get("input") or {}
            sid = str(r.get("sample_id", i))
            if sid in seen:
                dups.append(sid)
            seen.add(sid)
            if r.get("sample_hash") and r["sample_hash"] != sample_hash(inp.get("raw"), inp.get("reference")):
                bad.append(sid)
            out_raw = (r.get("output") or {}).get("raw")
            output = out_raw[0] if isinstance(out_raw, list) and out_raw else out_raw
            attrs = r.get("answer_attribution") or []
            answer = next((a.get("extracted_value") for a in reversed(attrs) if a.get("is_terminal", True)), None)
            ev = r.get("evaluation") or {}
            ref = inp.get("reference")
            score = ev.get("score")
            yield Sample(id=sid, task=task, input=[Message(role="user", content=str(inp.get("raw") or ""))],
                         target=ref if isinstance(ref, (list, str)) or ref is None else str(ref),
                         choices=inp.get("choices") or None, output=output if isinstance(output, str) else None,
                         answer=answer,
                         scores={self.metric_of.get(task, "score"):
                                 float(score) if isinstance(score, (int, float)) else None},
                         meta={"is_correct": ev.get("is_correct"), "sample_hash": r.get("sample_hash")})
        if bad:
            self.add("error", "hash-mismatch", f"sample_hash does not match input.raw/reference in {len(bad)} row(s)",
                     task, bad)
        if dups:
            self.add("error", "duplicate-samples", f"{len(dups)} duplicated sample_id(s)", task, dups)

    def recompute(self, sample: Sample, metric: str) -> float | None:
        if sample.answer is None:
            raise Unsupported("rows carry no extracted answer (answer_attribution)")
        refs = sample.target if isinstance(sample.target, list) else [sample.target]
        refs = [str(x).strip() for x in refs]
        ans = str(sample.answer).strip()
        if ans in refs:
            return 1.0
        if sample.choices and len(ans) == 1 and ans.isalpha():
            k = ord(ans.upper()) - ord("A")
            if 0 <= k < len(sample.choices) and str(sample.choices[k]).strip() in refs:
                return 1.0
        return 0.0

    def aggregate(self, task: str, metric: str, filt: str, values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None
