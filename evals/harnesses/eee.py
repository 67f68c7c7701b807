"""Every Eval Ever (evaleval/every_eval_ever, schema 0.2.x–0.3.0): an aggregate JSON + an instance-level JSONL.

* aggregate: ``schema_version, evaluation_id, source_metadata, model_info, eval_library, evaluation_results[
  {evaluation_result_id, evaluation_name, source_data, metric_config{metric_name, evaluation_description, …},
  score_details{score, uncertainty{standard_error{value, method}, num_samples, …}}}], detailed_evaluation_results{
  format, file_path, hash_algorithm, checksum, total_rows}``;
* instance rows: ``evaluation_name, evaluation_result_id, sample_id, sample_hash, input{raw, reference[], choices},
  output{raw[]}, answer_attribution[{extracted_value, extraction_method, is_terminal}], evaluation{score,
  is_correct}, metadata``.

Row semantics (every_eval_ever 0.3.0 converters): one row per (sample, aggregate result it contributed to), joined to
the aggregate by ``evaluation_result_id`` — the lm-eval converter writes one row per metric of a document (``acc``
and ``acc_norm`` of one multiple-choice question are two rows with one ``sample_id``), the Inspect converter one
per (sample, epoch, scorer metric), the HELM converter one per (request state, core metric).  Rows are therefore
grouped by (``evaluation_name``, ``sample_id``) into one sample whose scores are keyed by result; several rows of one
(sample, result) are legitimate only when they differ by Inspect epoch (or HELM request); anything else is a
duplicate.

``sample_hash`` recipes, all sha256 hex of UTF-8 text (every_eval_ever 0.3.0, each checked; the one that matched
is reported):

* ``eee-canonical`` — ``json.dumps({"raw", "reference": list}, sort_keys=True, separators=(",", ":"))``
  (adapters/openeval ``sample_hash``, adapters/bountybench and adapters/wild ``_sample_hash``; the conversion skill's
  templates/instance_sidecar.py: "ONE recipe — every adapter MUST match");
* ``eee-lm-eval`` — ``json.dumps({"raw": prompt, "reference": target}, sort_keys=True)``, default separators, the
  target as a string (= ``input.reference[0]``) (converters/lm_eval/instance_level_adapter.py);
* ``eee-inspect`` — ``raw + "".join(reference)`` (converters/inspect/instance_level_adapter.py, ``sha256_string``);
* ``eee-helm`` — ``raw + reference[0]`` (``""`` with no reference) (converters/helm/instance_level_adapter.py).

Re-scoring per converter (what its rows keep):

* lm-eval multiple choice: the extracted value is the arg-max-log-likelihood choice text and the reference the
  gold index (or text), so ``acc`` is recomputed; ``acc_norm`` and other log-likelihood metrics need per-choice
  log-likelihoods the rows do not keep → not recomputed.  Generation: ``exact_match`` of the filtered response.
* Inspect: ``answer_attribution`` is empty; ``output.raw[0]`` is the scorer's ``answer`` (else its explanation),
  so ``choice`` (selected letters vs target letters), ``match``, ``includes`` and ``exact`` are recomputed (with
  the scorers' default options: EEE keeps no scorer parameters); model-graded or custom scorers are not.
* others (HELM ``exact_match``, assay's own export, hand-written files): the terminal ``extracted_value`` equals a
  reference, or is a choice letter whose choice is a reference.

Aggregation uses the converted harness's arithmetic (lm-eval ``mean`` / ``mean_stderr``, Inspect ``accuracy`` /
``stderr``, else a plain mean; imported from the lm_eval and inspect_ai modules).  Each result's claim is compared
whole (:func:`rescore_eee`): the score, ``num_samples`` against the samples recomputed,
and the standard error with the converted harness's formula.  Fail closed: an aggregate whose instance file is
missing (or that has no ``detailed_evaluation_results``) is a ``not-recomputed`` error; a result whose rows cannot
be recomputed is left ``recomputed=None`` (the engine names it ``unverifiable``, the generic fail-closed rule
``not-recomputed``), never passed on its logged scores.  Per-sample metrics the aggregate does not report are not
re-scored (an info finding names them).
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ...manifests.errors import InputError
from ..engine import rescore_generic, same_number
from ..metrics import plain_mean
from ..registry import EngineResult, Harness, ImportedLog, Probe, Unsupported, harness
from ..results import Finding, RescoreRow
from ..samples import Aggregate, LogHeader, Message, Sample, read_json
from .inspect_ai import inspect_accuracy, inspect_score, inspect_stderr, inspect_value_to_float
from .lm_eval import lm_mean, lm_mean_stderr


def load_eee(path: Path) -> list[EEELog]:
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


# ------------------------------------------------------------------------------------------------- sample_hash
def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hash_canonical(raw: Any, reference: Any) -> str | None:
    return _sha(json.dumps({"raw": raw, "reference": reference}, sort_keys=True, separators=(",", ":")))


def _hash_lm_eval(raw: Any, reference: Any) -> str | None:
    if not (isinstance(reference, list) and len(reference) == 1):
        return None
    return _sha(json.dumps({"raw": raw, "reference": reference[0]}, sort_keys=True))


def _hash_inspect(raw: Any, reference: Any) -> str | None:
    if not isinstance(raw, str) or not isinstance(reference, list) or not all(isinstance(r, str) for r in reference):
        return None
    return _sha(raw + "".join(reference))


def _hash_helm(raw: Any, reference: Any) -> str | None:
    if not isinstance(raw, str) or not isinstance(reference, list) or (reference and not isinstance(reference[0], str)):
        return None
    return _sha(raw + (reference[0] if reference else ""))


#: name → (recipe, where every_eval_ever 0.3.0 computes it)
HASH_RECIPES: dict[str, tuple[Callable[[Any, Any], str | None], str]] = {
    "eee-canonical": (
        _hash_canonical,
        ("canonical compact JSON (adapters/openeval; the conversion skill's instance_sidecar.py)"),
    ),
    "eee-lm-eval": (_hash_lm_eval, "lm-eval converter (JSON with default separators, reference = the target string)"),
    "eee-inspect": (_hash_inspect, "Inspect converter (raw + ''.join(reference))"),
    "eee-helm": (_hash_helm, "HELM converter (raw + first reference)"),
}


def sample_hash(raw: Any, reference: Any) -> str:
    """EEE's canonical ``sample_hash`` (what assay's own exports write)."""
    return _hash_canonical(raw, reference)  # type: ignore[return-value]


def matching_recipes(value: Any, raw: Any, reference: Any) -> list[str]:
    """The names of the EEE recipes whose hash of (raw, reference) is ``value`` (several can coincide: the Inspect
    and HELM recipes agree on one reference)."""
    return [name for name, (fn, _where) in HASH_RECIPES.items() if fn(raw, reference) == value]


# ------------------------------------------------------------------------------------------------ row semantics
def _origin(row: dict[str, Any], default: str) -> str:
    """Which EEE converter wrote a row: read off the metadata each one writes, else the aggregate's source."""
    md: dict[str, Any] = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}  # type: ignore[assignment]
    if "lm_eval_metrics" in md:
        return "lm-eval"
    if "epoch" in md and "stop_reason" in md and not row.get("answer_attribution"):
        return "inspect"
    return default


def _source_origin(data: dict[str, Any]) -> str:
    src = str((data.get("source_metadata") or {}).get("source_name") or "")
    lib = str((data.get("eval_library") or {}).get("name") or "")
    if src == "lm-evaluation-harness":
        return "lm-eval"
    if src == "inspect_ai":
        return "inspect"
    if src == "HELM" or lib == "helm":
        return "helm"
    return "generic"


def _variant(row: dict[str, Any], origin: str) -> Any:
    """What legitimately tells apart several rows of one (sample, result): the Inspect epoch, the HELM request."""
    md: dict[str, Any] = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}  # type: ignore[assignment]
    if origin == "inspect":
        return md.get("epoch")
    if origin == "helm":
        return (row.get("input") or {}).get("raw")
    return None


def _terminal_answer(row: dict[str, Any]) -> Any:
    attrs = row.get("answer_attribution") or []
    return next(
        (a.get("extracted_value") for a in reversed(attrs) if isinstance(a, dict) and a.get("is_terminal", True)), None
    )


def _first_output(row: dict[str, Any]) -> str | None:
    raw = (row.get("output") or {}).get("raw")
    out = raw[0] if isinstance(raw, list) and raw else raw
    return out if isinstance(out, str) else None


def _references(row: dict[str, Any]) -> list[str]:
    ref = (row.get("input") or {}).get("reference")
    if ref is None:
        return []
    return [str(r) for r in ref] if isinstance(ref, list) else [str(ref)]


def _lm_eval_gold(row: dict[str, Any]) -> str | None:
    """The gold choice text of an lm-eval multiple-choice row: its reference is the gold index (or the text)."""
    choices = [str(c) for c in (row.get("input") or {}).get("choices") or []]
    refs = _references(row)
    if len(refs) != 1:
        return None
    gold = refs[0].strip()
    if gold.isdigit():
        return choices[int(gold)] if int(gold) < len(choices) else None
    return gold if gold in choices else None


def _lm_eval_row(row: dict[str, Any], metric: str) -> float:
    name = metric.split(":", 1)[0]
    choices = (row.get("input") or {}).get("choices")
    answer = _terminal_answer(row)
    refs = _references(row)
    if answer is None or len(refs) != 1:
        raise Unsupported("lm-eval rows need one extracted value and one reference")
    if choices:
        if name != "acc":
            raise Unsupported(f"{name} needs each choice's log-likelihood; EEE rows keep only the arg-max choice")
        gold_text = _lm_eval_gold(row)
        if gold_text is None:
            raise Unsupported(f"the reference {refs[0]!r} is neither a choice index nor a choice")
        return 1.0 if str(answer) == gold_text else 0.0
    if name != "exact_match":
        raise Unsupported(f"lm-eval generation metric {name!r} is not recomputed from EEE rows")
    # lm-eval's exact_match with its defaults: the task's ignore_case / ignore_punctuation / regexes_to_ignore
    # are not in EEE files (a task that set them shows up as a mismatch, never as a pass).
    return 1.0 if str(answer) == refs[0] else 0.0


def _choice_positions(letters: str) -> list[int] | None:
    """inspect_ai's answer_index over a ', '-joined answer or a target: A→0 …, 1→26 …; None if not such a list."""
    out = []
    for token in letters.replace(",", " ").split():
        parts = [token] if token.isnumeric() else list(token)
        for ch in parts:
            if len(ch) == 1 and ch.isalpha() and ch.isascii():
                out.append(ord(ch.upper()) - ord("A"))
            elif ch.isnumeric() and int(ch) > 0:
                out.append(25 + int(ch))
            else:
                return None
    return out


def _inspect_row(row: dict[str, Any], metric: str) -> float:
    scorer, _, mname = metric.partition(":")
    if not mname:
        raise Unsupported(f"result {metric!r} names no scorer (expected SCORER:METRIC)")
    if mname not in ("accuracy", "mean"):
        raise Unsupported(f"{mname} is not a mean of per-sample values")
    output = _first_output(row)
    if output is None:
        raise Unsupported("the row has no output.raw (multi-turn or agentic rows keep messages only)")
    refs = _references(row)
    if scorer == "choice":
        # EEE writes the choice scorer's `answer` (the selected letters, ', '-joined) or, when the model selected
        # nothing, the explanation (the completion): no letter list means no selection, which choice() scores I.
        chosen = _choice_positions(output) if output.strip() else None
        target = sorted(p for r in refs for p in (_choice_positions(r) or []))
        if not target:
            raise Unsupported("the reference holds no choice letter")
        return 1.0 if chosen is not None and sorted(chosen) == target else 0.0
    if scorer in ("match", "includes", "exact"):
        value, _answer = inspect_score(scorer, {}, output, refs)
        return inspect_value_to_float(value)
    raise Unsupported(f"Inspect scorer {scorer!r} (model-graded or custom) cannot be recomputed from EEE rows")


def _generic_row(row: dict[str, Any], metric: str) -> float:
    answer = _terminal_answer(row)
    if answer is None:
        raise Unsupported("rows carry no extracted answer (answer_attribution)")
    refs = [r.strip() for r in _references(row)]
    ans = str(answer).strip()
    if ans in refs:
        return 1.0
    choices = (row.get("input") or {}).get("choices")
    if choices and len(ans) == 1 and ans.isalpha():
        k = ord(ans.upper()) - ord("A")
        if 0 <= k < len(choices) and str(choices[k]).strip() in refs:
            return 1.0
    return 0.0


def _helm_row(row: dict[str, Any], metric: str) -> float:
    name = metric.split(":", 1)[0]
    if name != "exact_match":
        raise Unsupported(f"HELM metric {name!r} is not recomputed from EEE rows")
    return _generic_row(row, metric)


_ROW_SCORERS: dict[str, Callable[[dict[str, Any], str], float]] = {
    "lm-eval": _lm_eval_row,
    "inspect": _inspect_row,
    "helm": _helm_row,
    "generic": _generic_row,
}


def _reduce(values: list[float]) -> float:
    """Several rows of one (sample, result) — Inspect epochs — reduce by the mean (Inspect's default reducer)."""
    return values[0] if len(values) == 1 else float(statistics.mean(values))


# ---------------------------------------------------------------------------------------------------------- log
class EEELog(ImportedLog):
    format = "eee"

    def __init__(self, path: Path | None, instances: Path | None = None) -> None:
        self.data: dict[str, Any] = read_json(path) if path else {}
        if path and not (isinstance(self.data, dict) and isinstance(self.data.get("evaluation_results"), list)):
            raise InputError(f"{path}: not an Every Eval Ever aggregate (no evaluation_results list)")
        det = self.data.get("detailed_evaluation_results") or {}
        if instances is None and det.get("file_path") and path is not None:
            # file_path is datastore-relative (data/<benchmark>/<developer>/<model>/<uuid>_samples.jsonl): look for
            # it beside the aggregate, never outside the aggregate's folder
            root = path.parent.resolve()
            cand = [path.parent / str(det["file_path"]), path.parent / Path(str(det["file_path"])).name]
            instances = next((c for c in cand if c.resolve().is_relative_to(root) and c.is_file()), None)
        self.instances_path = instances
        self.rows: list[dict[str, Any]] = []
        if instances is not None:
            for lineno, line in enumerate(instances.read_bytes().splitlines(), 1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{instances}:{lineno}: not valid JSON ({exc.msg})") from None
                    if not isinstance(row, dict):
                        raise InputError(f"{instances}:{lineno}: an instance row is not a JSON object")
                    self.rows.append(row)
        self.source_origin = _source_origin(self.data)
        aggs: list[Aggregate] = []
        names: list[str] = []
        self.results_of: dict[str, list[str]] = {}  # evaluation_name -> result keys
        for res in self.data.get("evaluation_results") or []:
            name = res.get("evaluation_name") or (res.get("source_data") or {}).get("dataset_name") or "eval"
            mc = res.get("metric_config") or {}
            key = str(
                res.get("evaluation_result_id")
                or mc.get("metric_id")
                or mc.get("metric_name")
                or mc.get("evaluation_description")
                or "score"
            )
            sd = res.get("score_details") or {}
            unc = sd.get("uncertainty") or {}
            se = (unc.get("standard_error") or {}).get("value") if isinstance(unc.get("standard_error"), dict) else None
            score = sd.get("score")
            n = unc.get("num_samples")
            aggs.append(
                Aggregate(
                    task=name,
                    metric=key,
                    filter="none",
                    value=float(score) if isinstance(score, (int, float)) else None,
                    stderr=float(se) if isinstance(se, (int, float)) else None,
                    n=n if isinstance(n, int) else None,
                )
            )
            if name not in names:
                names.append(name)
            self.results_of.setdefault(name, []).append(key)
        for r in self.rows:
            n = r.get("evaluation_name")
            if n and n not in names:
                names.append(n)
        if not names and self.rows:
            names = ["eval"]
        self.hash_recipes: dict[str, int] = {}
        mi = self.data.get("model_info") or {}
        lib = self.data.get("eval_library") or {}
        harness = lib.get("name") or (self.data.get("source_metadata") or {}).get("source_name")
        header = LogHeader(
            source_format="eee",
            harness=harness,
            harness_version=lib.get("version"),
            model=mi.get("id") or mi.get("name"),
            tasks=names,
            aggregates=aggs,
            config={"schema_version": self.data.get("schema_version"), "evaluation_id": self.data.get("evaluation_id")},
        )
        super().__init__(path or instances, header)  # type: ignore[arg-type]
        if path is not None and det:
            if self.instances_path is None:
                self.add(
                    "error",
                    "not-recomputed",
                    f"instance file {det.get('file_path')!r} not found beside the "
                    "aggregate: no score can be recomputed",
                )
            else:
                algo = det.get("hash_algorithm") or "sha256"
                if det.get("checksum") and algo in hashlib.algorithms_available:
                    actual = hashlib.new(algo, self.instances_path.read_bytes()).hexdigest()
                    if actual != det["checksum"]:
                        self.add(
                            "error",
                            "hash-mismatch",
                            f"the instance file's {algo} {actual} differs from the "
                            f"aggregate's checksum {det['checksum']}",
                        )
                if isinstance(det.get("total_rows"), int) and det["total_rows"] != len(self.rows):
                    self.add(
                        "error",
                        "missing-samples" if len(self.rows) < det["total_rows"] else "extra-samples",
                        f"the instance file has {len(self.rows)} rows, the aggregate says {det['total_rows']}",
                    )
        elif path is not None and not det:
            self.add(
                "error",
                "not-recomputed",
                "no detailed_evaluation_results: the scores have no per-sample records to recompute them from",
            )
        self._group()

    # ------------------------------------------------------------------------------------------- grouping
    def _row_metric(self, row: dict[str, Any], task: str) -> str:
        rid = row.get("evaluation_result_id")
        if rid:
            return str(rid)
        keys = self.results_of.get(task) or []
        return keys[0] if len(keys) == 1 else "score"

    def _group(self) -> None:
        """Rows → {task: {sample_id: {result: [row index]}}}; sample_hash recipes, duplicates, unlinked rows."""
        single = len(self.header.tasks) == 1
        self._groups: dict[str, dict[str, dict[str, list[int]]]] = {}
        self._origin_of: dict[str, str] = {}
        self._recomputed: dict[tuple[str, str], dict[str, float]] = {}
        seen: dict[tuple, int] = {}
        dups: dict[str, list[str]] = {}
        bad: dict[str, list[str]] = {}
        unlinked: dict[str, int] = {}
        unclaimed: dict[str, dict[str, int]] = {}
        recipes: dict[str, dict[str, int]] = {}
        for i, r in enumerate(self.rows):
            task = r.get("evaluation_name") if not single else self.header.tasks[0]
            task = str(task or self.header.tasks[0])
            sid = str(r.get("sample_id", i))
            metric = self._row_metric(r, task)
            if not r.get("evaluation_result_id") and len(self.results_of.get(task) or []) > 1:
                unlinked[task] = unlinked.get(task, 0) + 1
            origin = _origin(r, self.source_origin)
            self._origin_of.setdefault(task, origin)
            key = (task, sid, metric, json.dumps(_variant(r, origin), sort_keys=True))
            if self.data and metric not in (self.results_of.get(task) or []) and r.get("evaluation_result_id"):
                # a per-sample metric the aggregate does not report (lm-eval logs acc_norm beside acc): no claim
                # rests on it, so it is not re-scored
                unclaimed.setdefault(task, {})[metric] = unclaimed.setdefault(task, {}).get(metric, 0) + 1
                metric = ""
            self._groups.setdefault(task, {}).setdefault(sid, {}).setdefault(metric, []).append(i)
            if key in seen:
                dups.setdefault(task, []).append(sid)
            seen[key] = i
            inp = r.get("input") or {}
            if r.get("sample_hash"):
                found = matching_recipes(r["sample_hash"], inp.get("raw"), inp.get("reference"))
                if not found:
                    bad.setdefault(task, []).append(sid)
                else:
                    label = " = ".join(found)
                    recipes.setdefault(task, {})[label] = recipes.setdefault(task, {}).get(label, 0) + 1
                    self.hash_recipes[label] = self.hash_recipes.get(label, 0) + 1
        for task, counts in recipes.items():
            for label, n in counts.items():
                where = "; ".join(HASH_RECIPES[x][1] for x in label.split(" = "))
                self.add(
                    "info",
                    "sample-hash-recipe",
                    f"sample_hash of {n} row(s) matches EEE recipe {label} ({where})",
                    task,
                )
        if self.hash_recipes:
            self.header.config = {**(self.header.config or {}), "sample_hash_recipes": dict(self.hash_recipes)}
        for task, ids in bad.items():
            self.add(
                "error",
                "hash-mismatch",
                f"sample_hash does not match input.raw/reference under any EEE recipe "
                f"({', '.join(HASH_RECIPES)}) in {len(ids)} row(s)",
                task,
                ids,
            )
        for task, ids in dups.items():
            self.add(
                "error",
                "duplicate-samples",
                f"{len(ids)} duplicated row(s): the same sample_id, result (and epoch) more than once",
                task,
                ids,
            )
        for task, counts in unclaimed.items():
            self.add(
                "info",
                "unreported-results",
                f"{sum(counts.values())} row(s) carry results the aggregate does "
                f"not report ({', '.join(sorted(counts))}): no claim rests on them, not re-scored",
                task,
            )
        for task, n in unlinked.items():
            self.add(
                "error",
                "unlinked-rows",
                f"{n} row(s) name no evaluation_result_id while the evaluation has "
                f"{len(self.results_of[task])} results: they cannot be attributed",
                task,
            )

    # ------------------------------------------------------------------------------------------- samples
    def iter_samples(self, task: str) -> Iterator[Sample]:
        for sid, by_metric in (self._groups.get(task) or {}).items():
            first = self.rows[next(iter(by_metric.values()))[0]]
            inp = first.get("input") or {}
            ref = inp.get("reference")
            scores: dict[str, float | None] = {}
            for metric, idx in by_metric.items():
                if not metric:
                    continue
                vals = [(self.rows[i].get("evaluation") or {}).get("score") for i in idx]
                nums = [float(v) for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
                # Inspect epochs with a reducer repeat the reduced score on every epoch's row; without one each
                # row has its epoch's score, reduced here by the mean.
                scores[metric] = (nums[0] if len(set(nums)) == 1 else _reduce(nums)) if len(nums) == len(vals) else None
            answer = _terminal_answer(first)
            output = _first_output(first)
            origin = _origin(first, self.source_origin)
            target: Any = ref if isinstance(ref, (list, str)) or ref is None else str(ref)
            if origin == "lm-eval" and inp.get("choices") and answer is not None:
                # the reference is the gold index; the strict-scorer audit compares choice texts
                gold = _lm_eval_gold(first)
                target, output = ([gold] if gold is not None else target), str(answer)
            elif origin == "inspect" and isinstance(ref, list) and len(ref) == 1:
                target = ref[0]  # Inspect's own target shape: one letter / text
            yield Sample(
                id=sid,
                task=task,
                input=[Message(role="user", content=str(inp.get("raw") or ""))],
                target=target,
                choices=inp.get("choices") or None,
                output=output,
                answer=answer if answer is not None else None,
                scores=scores,
                meta={
                    "rows": sum(len(v) for v in by_metric.values()),
                    "origin": origin,
                    "is_correct": (first.get("evaluation") or {}).get("is_correct"),
                    "sample_hash": first.get("sample_hash"),
                },
            )

    def recompute(self, sample: Sample, metric: str) -> float | None:
        idx = ((self._groups.get(sample.task) or {}).get(sample.id) or {}).get(metric) or []
        if not idx:
            raise Unsupported(f"no row of sample {sample.id} belongs to {metric}")
        values = []
        for i in idx:
            row = self.rows[i]
            origin = _origin(row, self.source_origin)
            try:
                values.append(_ROW_SCORERS[origin](row, metric))
            except Unsupported as exc:  # the engine names it; the result is left unrecomputed (None)
                raise Unsupported(f"{metric}: {exc}") from None
        value = _reduce(values)
        self._recomputed.setdefault((sample.task, metric), {})[sample.id] = value
        return value

    def recomputed_values(self, task: str, metric: str) -> list[float]:
        """The per-sample values :meth:`recompute` produced for one result, in sample order."""
        return list((self._recomputed.get((task, metric)) or {}).values())

    def stderr(self, task: str, metric: str, values: list[float]) -> float | None:
        """The standard error with the converted harness's own formula (lm-eval ``mean_stderr``, Inspect
        ``stderr()``); None where the converter is not known."""
        if len(values) < 2:
            return None
        origin = self._origin_of.get(task, self.source_origin)
        if origin == "inspect" and metric.partition(":")[2] in ("accuracy", "mean"):
            return inspect_stderr(values)
        if origin == "lm-eval":
            return lm_mean_stderr(values)
        return None

    def aggregate(self, task: str, metric: str, filt: str, values: list[float]) -> float | None:
        if not values:
            return None
        origin = self._origin_of.get(task, self.source_origin)
        if origin == "inspect":
            return inspect_accuracy(values)
        if origin == "lm-eval":
            return lm_mean(values)
        return plain_mean(values)


def rescore_eee(log: EEELog, audit: bool) -> EngineResult:
    """The per-sample re-score of :func:`assay.evals.engine.rescore_generic` (rows re-scored by
    :meth:`EEELog.recompute`, grouped per sample), then the rest of each result's claim: ``uncertainty.num_samples``
    against the samples recomputed and ``standard_error`` against the converted harness's formula
    (:meth:`EEELog.stderr`)."""
    res = rescore_generic(log, audit)
    rows, findings = res.rows, res.findings
    claims = {(a.task, a.metric): a for a in log.header.aggregates}
    extra: list[RescoreRow] = []
    for row in rows:
        agg = claims.get((row.task, row.metric))
        if agg is None or row.recomputed is None:
            continue
        if agg.n is not None and agg.n != row.n:
            findings.append(
                Finding.make(
                    "error",
                    "sample-count-mismatch",
                    f"{row.metric}: the aggregate says {agg.n} samples, the instance rows hold {row.n}",
                    row.task,
                )
            )
        se = log.stderr(row.task, row.metric, log.recomputed_values(row.task, row.metric))
        if se is None:
            if agg.stderr is not None:
                findings.append(
                    Finding.make(
                        "info",
                        "stderr-not-recomputed",
                        f"{row.metric}: the reported standard "
                        "error is not recomputed (no known formula for this converter)",
                        row.task,
                    )
                )
            continue
        if agg.stderr is not None and not same_number(agg.stderr, se):
            findings.append(
                Finding.make(
                    "error",
                    "stderr-mismatch",
                    f"{row.metric}_stderr: reported {agg.stderr!r}, recomputed {se!r}",
                    row.task,
                )
            )
        extra.append(
            RescoreRow(
                task=row.task,
                metric=f"{row.metric}_stderr",
                filter=row.filter,
                reported=agg.stderr,
                recomputed=se,
                n=row.n,
            )
        )
    return EngineResult(rows + extra, findings, res.audit)


# ======================================================================================================== harness
@harness("eee")
class EEEHarness(Harness):
    sniff_rank: ClassVar[Mapping[str, int]] = {".json": 0, ".jsonl": 2}

    def sniff(self, probe: Probe) -> bool:
        if probe.suffix == ".jsonl":
            return {"sample_id", "evaluation"} <= probe.keys
        return probe.suffix == ".json" and {"schema_version", "evaluation_results"} <= probe.keys

    def load(self, path: Path) -> list[ImportedLog]:
        return list(load_eee(path))

    def entry_files(self, files: list[Path]) -> list[Path]:
        return [f for f in files if f.suffix.lower() == ".json"]

    def rescore(self, log: ImportedLog, audit: bool) -> EngineResult:
        if not isinstance(log, EEELog):
            raise TypeError(f"not an Every Eval Ever log: {log.format}")
        return rescore_eee(log, audit)
