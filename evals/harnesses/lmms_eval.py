"""lmms-eval 0.6-0.7 (LMMs-Lab's fork of lm-eval for image, video and audio tasks): ``<date>_results.json`` +
``<date>_samples_<task>.jsonl`` under ``<output_path>/<model_name_sanitized>/`` (``<date>`` is ``%Y%m%d_%H%M%S``).

Reads what 0.7.3 writes with ``--log_samples`` (lmms_eval/evaluator.py ``_process_document_results``,
loggers/evaluation_tracker.py ``save_results_samples``; the committed real run is
``tests/fixtures/evals/lmms-eval-real``):

* a samples row is ``doc_id``, ``target`` (``str(target)``), ``filtered_resps`` (the answer the filter pipeline
  produced, after lmms-eval's default reasoning-tag stripping; a plain string when the document had one request),
  ``resps`` (only when it differs from ``filtered_resps``), ``token_counts``, ``doc_hash``, ``input`` (the request's
  text) and one key per metric (``"exact_match": 1.0``).  There is **no filter name and no document** in a row, and
  no image: rows are written filter by filter, in the task config's ``filter_list`` order (``none`` when it has
  none), so a row's filter is its block; the blocks must list the same documents in the same order
  (``filter-blocks`` otherwise);
* ``results_json["task_hashes"][task]`` = sha256 of ``"sample_<i>" + doc_hash`` over the rows in file order — recomputed
  (``task-hash-mismatch``).  ``doc_hash`` is sha256 of ``json.dumps(request.doc, indent=2)``, and chat-model requests
  carry no doc (0.7.3 hashes ``null`` for every row), so it cannot be recomputed and ties no row to its document;
* ``n-samples`` (``effective`` against each filter block's size: ``missing-samples`` / ``extra-samples``, a
  ``--limit`` run: ``subset-run``);
* answers that are not the model's: a request that failed after its retries is logged as the text
  ``[LMMS_EVAL_REQUEST_FAILED after N retries] <error>`` and scored as a wrong answer, a request past the token
  budget as ``[LMMS_EVAL_BUDGET_EXCEEDED]`` (models/chat/openai.py): each is an error (``request-failed``), never a
  score.

Version notes: proven on real logs of 0.6.1 and 0.7.3 (same task, model and seed; ``generate.sh`` with
``LMMS_VERSION``).  0.6.1 writes ``filtered_resps`` as a one-element list where 0.7.3 writes the string (read alike)
and has no ``lmms_eval_version`` key.  0.7.3 records the git commit of the *working directory* as
``lmms_eval_version`` (``main@<sha>``), not its own version; the header's ``harness_version`` is left empty and the
recorded value kept in ``config``.  It exits 0 when the evaluation raised (only a missing log tells), which is why a
re-run is judged by the log it wrote.

Semantics reproduced (ported from 0.7.3, not imported): ``generate_until`` tasks scored by the config's
``metric_list`` with ``exact_match`` (lmms-eval's port of HF evaluate's: regexes_to_ignore / ignore_case /
ignore_punctuation / ignore_numbers, the answer ``.strip()``-ed first; several targets: any match); aggregation
``mean`` = sum / len, ``<metric>_stderr`` = sample stddev / √n (``mean_stderr``), ``<metric>_stderr_clt`` =
``np.std(ddof=1) / √n`` (checked as ``stderr-mismatch`` too).  Not reproduced (their rows are ``unverifiable``, a
non-pass): a custom ``process_results`` (most of lmms-eval's own benchmarks, e.g. MMMU), other metrics and
aggregations, groups, log-likelihood tasks.  Filters are not re-applied to the logs (the raw output of a filtered
row is not logged); a re-run's output is scored through the task's filter pipelines
(:meth:`LmmsEvalHarness.score_rerun`: take_first, take_first_k, regex, lowercase, uppercase, remove_whitespace, then
the reasoning tags stripped).

The runner drives ``python -m lmms_eval`` at the pinned version: in process (``llava_hf`` by default, any lmms-eval
model class via ``args.model``) or at an OpenAI-compatible endpoint (its ``openai`` chat model, which sends the
images as data URLs).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ...manifests.errors import InputError
from ..audit import AuditAccumulator
from ..engine import MetricValues, compare_rows, reported_of, same_number
from ..registry import (
    EngineResult,
    Harness,
    ImportedLog,
    Probe,
    Runner,
    RunRequest,
    Unsupported,
    harness,
    runner,
    scorer,
)
from ..results import Finding, RescoreRow
from ..samples import Aggregate, LogHeader, Sample, fast_message, read_json, sha256_text
from .lm_eval import (
    gen_target,
    lm_eval_exact_match,
    lm_eval_metric_list,
    lm_mean,
    lm_mean_stderr,
    lm_regex,
    run_flags,
)

_DATE = r"\d{8}_\d{6}"
_RESULTS_RE = re.compile(rf"^({_DATE})_results\.json$")
_SAMPLES_RE = re.compile(rf"^({_DATE})_samples_(.+)\.jsonl$")
#: row keys that are not metrics
_ROW_FIELDS = {"doc_id", "target", "filtered_resps", "resps", "token_counts", "doc_hash", "input", "input_media"}
#: what 0.7.3 logs instead of an answer when a request failed or the token budget ran out
_NOT_ANSWERS = ("[LMMS_EVAL_REQUEST_FAILED", "[LMMS_EVAL_BUDGET_EXCEEDED]")
#: lmms-eval's default --reasoning_tags (stripped from every filtered response unless set to none)
_REASONING_TAGS = (("<think>", "</think>"), ("<analysis>", "</analysis>"))


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None  # "N/A" (one item, or no stderr for this aggregation)


# ================================================================================================== reading
def load_lmms_eval(path: Path) -> list[LmmsEvalRun]:
    """Every run at ``path``: a results file (with its samples files beside it) or a folder of them."""
    path = Path(path)
    if path.is_file():
        m = _RESULTS_RE.match(path.name)
        if m:
            return [LmmsEvalRun(path, _sample_files(path.parent, m.group(1)))]
        if _SAMPLES_RE.match(path.name) or path.suffix == ".jsonl":
            raise InputError(
                f"{path}: an lmms-eval samples file is read with its <date>_results.json (pass the folder)"
            )
        data = read_json(path)  # a results file under another name
        if not (isinstance(data, dict) and "results" in data and "configs" in data):
            raise InputError(f"{path}: not an lmms-eval results file (no 'results' and 'configs')")
        return [LmmsEvalRun(path, {})]
    runs = []
    for results in sorted(path.rglob("*_results.json")):
        m = _RESULTS_RE.match(results.name)
        if m:
            runs.append(LmmsEvalRun(results, _sample_files(results.parent, m.group(1))))
    if not runs:
        raise InputError(f"{path}: no lmms-eval <date>_results.json in this folder")
    return runs


def _sample_files(folder: Path, date: str) -> dict[str, Path]:
    out = {}
    for p in sorted(folder.glob(f"{date}_samples_*.jsonl")):
        m = _SAMPLES_RE.match(p.name)
        if m and m.group(1) == date:
            out[m.group(2)] = p
    return out


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or "doc_id" not in row or "filtered_resps" not in row:
                raise InputError(f"{path}:{n}: not an lmms-eval samples row (no doc_id / filtered_resps)")
            rows.append(row)
    return rows


class LmmsEvalRun(ImportedLog):
    format = "lmms-eval"

    def __init__(self, results_path: Path, sample_files: dict[str, Path]) -> None:
        r = read_json(results_path)
        if not (isinstance(r, dict) and isinstance(r.get("results"), dict)):
            raise InputError(f"{results_path}: not an lmms-eval results file (no 'results' object)")
        self.results: dict[str, Any] = r
        self.results_path = results_path
        self.sample_files = sample_files
        configs = r.get("configs") or {}
        tasks = [t for t in r["results"] if t in configs] + [t for t in sample_files if t not in r["results"]]
        cfg = r.get("config") or {}
        header = LogHeader(
            source_format="lmms-eval",
            harness="lmms-eval",
            harness_version=None,  # 0.7.3 writes the working directory's git commit there (see the module doc)
            model=r.get("model_name") if isinstance(r.get("model_name"), str) else None,
            decoding={"gen_kwargs": cfg.get("gen_kwargs")} if cfg.get("gen_kwargs") else {},
            created=r.get("date") if isinstance(r.get("date"), str) else None,
            tasks=tasks,
            aggregates=self._aggregates(r),
            config={
                k: r[k]
                for k in (
                    "configs",
                    "config",
                    "n-samples",
                    "task_hashes",
                    "versions",
                    "n-shot",
                    "lmms_eval_version",
                    "model_name",
                    "chat_template_sha",
                    "system_instruction_sha",
                )
                if k in r
            },
        )
        super().__init__(results_path, header)
        self._samples: dict[str, list[Sample]] = {}
        for group in (g for g in r["results"] if g not in configs):
            self.add("error", "unverifiable", "a group's aggregate is not recomputed for lmms-eval logs", group)
        limit = cfg.get("limit")
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        for task, ns in (r.get("n-samples") or {}).items():
            orig, eff = ns.get("original"), ns.get("effective")
            if isinstance(orig, int) and isinstance(eff, int) and eff < orig:
                self.add(
                    "warning",
                    "subset-run",
                    f"subset run: {eff} of {orig} documents were evaluated (--limit {limit if limit else '?'})",
                    task,
                )
        for task in tasks:
            if task not in sample_files:
                self.add(
                    "error",
                    "no-samples",
                    "no <date>_samples_<task>.jsonl for this task (run with --log_samples); the aggregate cannot be "
                    "recomputed",
                    task,
                )

    @staticmethod
    def _aggregates(r: dict[str, Any]) -> list[Aggregate]:
        out = []
        nsamp = r.get("n-samples") or {}
        for task, vals in (r.get("results") or {}).items():
            if not isinstance(vals, dict):
                continue
            for key, value in vals.items():
                metric, sep, filt = key.partition(",")
                if not sep or metric.endswith(("_stderr", "_stderr_clt", "_stderr_clustered")):
                    continue
                n = (nsamp.get(task) or {}).get("effective")
                out.append(
                    Aggregate(
                        task=task,
                        metric=metric,
                        filter=filt,
                        value=_num(value),
                        stderr=_num(vals.get(f"{metric}_stderr,{filt}")),
                        n=n if isinstance(n, int) else None,
                    )
                )
        return out

    def task_config(self, task: str) -> dict[str, Any]:
        return ((self.results.get("configs") or {}).get(task)) or {}

    def filters(self, task: str) -> list[str]:
        """The task's filter names in the order lmms-eval writes their blocks."""
        flist = self.task_config(task).get("filter_list")
        if not flist:
            return ["none"]
        return [str(f.get("name")) for f in flist if isinstance(f, dict)]

    def reported_clt(self, task: str) -> dict[tuple[str, str], float | None]:
        vals = (self.results.get("results") or {}).get(task) or {}
        out = {}
        for key, value in vals.items():
            metric, sep, filt = key.partition(",")
            if sep and metric.endswith("_stderr_clt"):
                out[(metric[: -len("_stderr_clt")], filt)] = _num(value)
        return out

    def tasks(self) -> list[str]:
        return list(self.header.tasks)

    def iter_samples(self, task: str) -> Iterator[Sample]:
        if task not in self._samples:
            self._samples[task] = self._read(task)
        return iter(self._samples[task])

    # ------------------------------------------------------------------------------------------- one task
    def _read(self, task: str) -> list[Sample]:
        path = self.sample_files.get(task)
        if path is None:
            return []
        rows = _rows(path)
        filters = self.filters(task)
        cfg = self.task_config(task)
        metrics = [name for name, _kw, _agg in _metric_list(cfg)] or None
        self._check_hash(task, rows)
        if len(rows) % len(filters):
            self.add(
                "error",
                "filter-blocks",
                f"{len(rows)} rows do not split into {len(filters)} filter blocks ({', '.join(filters)})",
                task,
            )
            return []
        size = len(rows) // len(filters)
        blocks = [rows[i * size : (i + 1) * size] for i in range(len(filters))]
        ids = [[r["doc_id"] for r in b] for b in blocks]
        if any(x != ids[0] for x in ids[1:]):
            self.add(
                "error",
                "filter-blocks",
                f"the {len(filters)} filter blocks ({', '.join(filters)}) do not list the same documents in order",
                task,
            )
            return []
        self._check_counts(task, ids[0])
        samples: list[Sample] = []
        failed: list[str] = []
        for filt, block in zip(filters, blocks, strict=True):
            for row in block:
                s = self._sample(task, filt, row, metrics)
                if any(isinstance(o, str) and o.startswith(_NOT_ANSWERS) for o in (s.output, s.answer)):
                    failed.append(s.id)
                samples.append(s)
        if failed:
            uniq = list(dict.fromkeys(failed))
            self.add(
                "error",
                "request-failed",
                f"{len(uniq)} item(s) have no answer from the model (lmms-eval logged its request failure or token "
                "budget as the response and scored it as wrong)",
                task,
                uniq,
            )
        return samples

    def _check_hash(self, task: str, rows: list[dict[str, Any]]) -> None:
        reported = (self.results.get("task_hashes") or {}).get(task)
        if not reported:
            self.add("warning", "no-hashes", "the results file has no task hash for this task", task)
            return
        if not all(isinstance(r.get("doc_hash"), str) for r in rows):
            self.add(
                "error", "task-hash-mismatch", "a row has no doc_hash, so the task hash cannot be recomputed", task
            )
            return
        mine = sha256_text("".join(f"sample_{i}" + r["doc_hash"] for i, r in enumerate(rows)))
        if mine != reported:
            self.add(
                "error",
                "task-hash-mismatch",
                f"task_hashes says {reported}, the samples file's rows hash to {mine} (rows edited, added, removed "
                "or reordered)",
                task,
            )

    def _check_counts(self, task: str, ids: list[Any]) -> None:
        eff = ((self.results.get("n-samples") or {}).get(task) or {}).get("effective")
        dup = [str(d) for d, c in _counts(ids).items() if c > 1]
        if dup:
            self.add("error", "duplicate-samples", f"{len(dup)} document(s) logged more than once", task, dup)
        if isinstance(eff, int):
            if len(set(ids)) < eff:
                self.add(
                    "error",
                    "missing-samples",
                    f"n-samples says {eff} documents, the samples file has {len(set(ids))}",
                    task,
                )
            elif len(set(ids)) > eff:
                self.add(
                    "error",
                    "extra-samples",
                    f"n-samples says {eff} documents, the samples file has {len(set(ids))}",
                    task,
                )

    @staticmethod
    def _sample(task: str, filt: str, row: dict[str, Any], metrics: list[str] | None) -> Sample:
        logged = row.get("filtered_resps")
        raw = row.get("resps", logged)
        # 0.6.x logs one request's answer as a one-element list, 0.7.x as the string
        filtered = logged[0] if isinstance(logged, list) and len(logged) == 1 else logged
        output = raw if isinstance(raw, str) else (raw[0] if isinstance(raw, list) and raw else None)
        text = row.get("input")
        names = metrics if metrics is not None else [k for k in row if k not in _ROW_FIELDS]
        scores: dict[str, float | None] = {}
        for name in names:
            v = row.get(name)
            scores[name] = _num(v) if v is not None else None
        target = row.get("target")
        return Sample(
            id=str(row["doc_id"]),
            task=task,
            filter=filt,
            input=[fast_message("user", text)] if isinstance(text, str) else [],
            target=gen_target(target) if isinstance(target, str) else target,
            output=output if isinstance(output, str) else None,
            outputs=[o for o in raw if isinstance(o, str)] if isinstance(raw, list) and len(raw) > 1 else None,
            answer=filtered,
            scores=scores,
            meta={
                "doc_hash": row.get("doc_hash"),
                "token_counts": row.get("token_counts"),
                "resps_logged": "resps" in row,
            },
        )


def _counts(ids: list[Any]) -> dict[Any, int]:
    c: dict[Any, int] = defaultdict(int)
    for i in ids:
        c[i] += 1
    return c


# ============================================================================================= per-sample scoring
def _metric_list(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    try:
        return lm_eval_metric_list(cfg)
    except Unsupported:
        return []


def lmms_strip_reasoning(text: str, tags: tuple[tuple[str, str], ...] = _REASONING_TAGS) -> str:
    """lmms_eval.api.reasoning.strip_reasoning_tags (0.7.3): tag blocks removed, a lone closing tag keeps what
    follows it, the result stripped."""
    result = text
    for start_tag, end_tag in tags:
        while start_tag in result and end_tag in result:
            start = result.find(start_tag)
            end = result.find(end_tag, start)
            if start != -1 and end != -1:
                result = result[:start] + result[end + len(end_tag) :]
            else:
                break
        if end_tag in result and start_tag not in result:
            result = result.rsplit(end_tag, 1)[-1]
    return result.strip()


def lmms_apply_filter(inst: list[Any], steps: list[dict[str, Any]]) -> Any:
    """One lmms-eval 0.7.3 filter pipeline applied to one document's responses (lmms_eval/filters)."""
    out: Any = inst
    for step in steps:
        fn = step.get("function")
        kw = {k: v for k, v in step.items() if k != "function"}
        if fn == "take_first":
            out = out[0] if out else ""
        elif fn == "take_first_k":
            out = out[: kw["k"]]
        elif fn == "regex":
            out = lm_regex(
                out,
                re.compile(kw.get("regex_pattern", r"#### (\-?[0-9\.\,]+)")),
                kw.get("group_select", 0),
                kw.get("fallback", "[invalid]"),
            )
        elif fn == "lowercase":
            out = [r.lower() for r in out]
        elif fn == "uppercase":
            out = [r.upper() for r in out]
        elif fn == "remove_whitespace":  # lmms-eval drops one leading space (lm-eval strips both ends)
            out = [r[1:] if r.startswith(" ") else r for r in out]
        else:
            raise Unsupported(f"lmms-eval filter {fn!r} cannot be re-applied")
    return out


def lmms_filter_steps(cfg: dict[str, Any], filter_name: str) -> list[dict[str, Any]]:
    flist = cfg.get("filter_list")
    if not flist:
        if filter_name == "none":
            return [{"function": "take_first"}]
        raise Unsupported(f"filter {filter_name!r} is not in the task config")
    for entry in flist:
        if isinstance(entry, dict) and entry.get("name") == filter_name:
            return list(entry.get("filter") or [])
    raise Unsupported(f"filter {filter_name!r} is not in the task config")


def lmms_score(answer: Any, target: Any, cfg: dict[str, Any], metric: str) -> float:
    """One generate_until metric of a task, as 0.7.3's ConfigurableTask.process_results computes it from the
    filtered response (stripped) and the target."""
    if cfg.get("process_results"):
        raise Unsupported("the task scores with a custom process_results function")
    if cfg.get("output_type") not in ("generate_until", None):
        raise Unsupported(f"output type {cfg.get('output_type')!r}")
    if cfg.get("doc_to_choice") is not None:
        raise Unsupported("generate_until with doc_to_choice maps the target through the choices")
    kwargs = {name: kw for name, kw, _agg in _metric_list(cfg)}
    if metric != "exact_match" or metric not in kwargs:
        raise Unsupported(f"metric {metric!r} is not recomputed for lmms-eval logs")
    if isinstance(answer, list):
        if len(answer) != 1:
            raise Unsupported("several filtered responses for one document")
        answer = answer[0]
    if not isinstance(answer, str):
        raise Unsupported("a non-text filtered response")
    pred = answer.strip()
    kw = kwargs[metric]
    if isinstance(target, list):  # several targets: any match
        return 1.0 if any(lm_eval_exact_match(pred, str(g), **kw) > 0.0 for g in target) else 0.0
    return lm_eval_exact_match(pred, str(target), **kw)


def score_rerun_lmms_eval(sample: Sample, header: LogHeader) -> list[Sample]:
    """A re-run's output scored like the harness: once per filter pipeline of the task's config."""
    configs: Any = (header.config or {}).get("configs") or {}
    cfg: Any = configs.get(sample.task) if isinstance(configs, dict) else None
    if not isinstance(cfg, dict) or not cfg:
        raise InputError(f"{sample.task}: the lmms-eval log has no config for this task")
    names = [f.get("name") for f in cfg.get("filter_list") or [] if isinstance(f, dict)] or ["none"]
    out = []
    for filt in names:
        try:
            answer = lmms_apply_filter([sample.output or ""], lmms_filter_steps(cfg, str(filt)))
            if isinstance(answer, str):
                answer = lmms_strip_reasoning(answer)
            scores: dict[str, float | None] = {
                m: lmms_score(answer, sample.target, cfg, m) for m, _kw, _agg in _metric_list(cfg)
            }
        except Unsupported as exc:
            raise InputError(f"{sample.task}: {exc}") from None
        out.append(sample.model_copy(update={"filter": str(filt), "answer": answer, "scores": scores}))
    return out


@scorer("lmms-eval:exact_match")
def score_exact_match(s: Sample) -> float:
    """lmms-eval's exact_match with no options: the stripped output (or answer) equals the target."""
    pred = s.answer if isinstance(s.answer, str) else (s.output or "")
    if isinstance(s.target, list):
        return 1.0 if any(lm_eval_exact_match(pred.strip(), str(g)) > 0.0 for g in s.target) else 0.0
    return lm_eval_exact_match(pred.strip(), str(s.target))


# ==================================================================================================== engine
def lmms_stderr_clt(values: list[float]) -> float | None:
    """0.7.3's ``<metric>_stderr_clt``: ``np.std(values, ddof=1) / np.sqrt(n)``; None for fewer than 2."""
    import numpy as np

    if len(values) < 2:
        return None
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))


def rescore_lmms_eval(log: LmmsEvalRun, audit: bool) -> EngineResult:
    """Per sample: the metric recomputed from the logged answer and target; per task: the mean, its stderr and its
    CLT stderr with lmms-eval's arithmetic, against the results file."""
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    for task in log.tasks():
        cfg = log.task_config(task)
        aggs = {name: agg for name, _kw, agg in _metric_list(cfg)}
        accs: dict[tuple[str, str], MetricValues] = defaultdict(MetricValues)
        for s in log.iter_samples(task):
            for m, logged in s.scores.items():
                a = accs[(m, s.filter)]
                try:
                    v = lmms_score(s.answer, s.target, cfg, m)
                except Unsupported as exc:
                    a.unsupported = str(exc)
                    if logged is not None:
                        a.logged.append(logged)
                    else:
                        a.missing_logged += 1
                    continue
                a.values.append(v)
                if logged is not None:
                    a.logged.append(logged)
                if logged != v:
                    a.mismatch.append((s.id, logged, v))
                if aud is not None:
                    aud.add(s, m, v)

        def aggregate(metric: str, _f: str, values: list[float], _aggs: dict = aggs) -> float | None:
            if _aggs.get(metric, "mean") != "mean":
                return None
            return lm_mean(values)

        def stderr(metric: str, _f: str, values: list[float], _aggs: dict = aggs) -> float | None:
            return lm_mean_stderr(values) if _aggs.get(metric, "mean") == "mean" else None

        r, _vals = compare_rows(task, reported_of(log, task), accs, aggregate, stderr, findings)
        rows += r
        for (metric, filt), reported in log.reported_clt(task).items():
            acc = accs.get((metric, filt))
            if acc is None or acc.unsupported or aggs.get(metric, "mean") != "mean":
                continue
            mine = lmms_stderr_clt(acc.values)
            if reported is not None and mine is not None and not _close(reported, mine):
                findings.append(
                    Finding.make(
                        "error",
                        "stderr-mismatch",
                        f"{metric}_stderr_clt,{filt}: reported {reported!r}, recomputed {mine!r}",
                        task,
                    )
                )
            rows.append(
                RescoreRow(
                    task=task,
                    metric=f"{metric}_stderr_clt",
                    filter=filt,
                    reported=reported,
                    recomputed=mine,
                    n=len(acc.values),
                )
            )
    return EngineResult(rows, findings, aud.rows() if aud else [])


def _close(a: float, b: float) -> bool:
    # numpy computes the same formula; equal up to its own rounding of the sum (it is the same library here)
    return same_number(a, b) or math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


# ======================================================================================================== harness
@harness("lmms-eval")
class LmmsEvalHarness(Harness):
    name_rank = 3
    # before lm-eval's: an lmms-eval results file also has 'results' and 'configs', its rows 'doc_id' and
    # 'filtered_resps'; the signatures below are lmms-eval's own
    sniff_rank: ClassVar[Mapping[str, int]] = {".jsonl": 0, ".json": 1}
    folder_patterns = ("[0-9]*_results.json",)
    multi_file = True

    def claims_name(self, path: Path) -> bool:
        return bool(_RESULTS_RE.match(path.name) or _SAMPLES_RE.match(path.name))

    def sniff(self, probe: Probe) -> bool:
        if probe.suffix == ".jsonl":
            return {"doc_id", "filtered_resps", "doc_hash", "input"} <= probe.keys and not (
                {"filter", "prompt_hash"} & probe.keys
            )
        return probe.suffix == ".json" and {"results", "configs", "lmms_eval_version"} <= probe.keys

    def load(self, path: Path) -> list[ImportedLog]:
        return list(load_lmms_eval(path))

    def covers(self, run: ImportedLog, path: Path) -> bool:
        return isinstance(run, LmmsEvalRun) and path in {run.results_path, *run.sample_files.values()}

    def loads_alone(self, path: Path) -> bool:
        return path.suffix == ".json"

    def rescore(self, log: ImportedLog, audit: bool) -> EngineResult:
        if not isinstance(log, LmmsEvalRun):
            raise TypeError(f"not an lmms-eval run: {log.format}")
        return rescore_lmms_eval(log, audit)

    def score_rerun(self, sample: Sample, header: LogHeader) -> list[Sample] | None:
        return score_rerun_lmms_eval(sample, header)


# ------------------------------------------------------------------------------------------------- the runner
#: assay's decoding names -> lmms-eval's --gen_kwargs names (HF generate's, which its models pass on)
_GEN_KWARGS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_new_tokens": "max_new_tokens",
}


@runner("lmms-eval")
class LmmsEvalRunner(Runner):
    """``python -m lmms_eval`` with ``--log_samples``: an lmms-eval model class on the release folder in process
    (``llava_hf`` unless ``args.model`` names another, e.g. ``qwen2_5_vl``), or the ``openai`` chat model at an
    OpenAI-compatible endpoint (images sent as data URLs; ``OPENAI_API_KEY`` from ``ASSAY_OPENAI_API_KEY`` or a
    placeholder a local server ignores)."""

    package = "lmms-eval"
    log_format = "lmms-eval"

    def requirements(self, version: str) -> list[str]:
        # filelock < 4 (virtualenv, pulled in through pre-commit, requires it); decord: llava_hf imports it undeclared
        return [f"lmms-eval=={version}", "filelock==3.20.0", "decord==0.6.0"]

    def command(self, req: RunRequest) -> list[str]:
        args = dict(req.args)
        batch = str(args.pop("batch_size", 1))
        given = dict(args.pop("model_args", {}) or {})
        margs: dict[str, Any]
        if req.base_url is None:
            model = str(args.pop("model", "llava_hf"))
            margs = {"pretrained": req.model, "device_map": req.device}
        else:
            args.pop("model", None)
            model = "openai"
            margs = {"model": req.model, "base_url": req.base_url.rstrip("/"), "num_concurrent": 1, "max_retries": 3}
        # the release's model and endpoint first, then the manifest's model_args (which may override the defaults)
        margs.update({k: given[k] for k in sorted(given) if k not in ("pretrained", "model", "base_url")})
        cmd = [str(req.python), "-m", "lmms_eval", "--model", model, "--model_args"]
        cmd.append(",".join(f"{k}={v}" for k, v in margs.items()))
        if req.base_url is None:
            cmd += ["--device", req.device]
        return cmd + run_flags(req, batch, _GEN_KWARGS, args)

    def env(self, req: RunRequest) -> dict[str, str]:
        import os

        if req.base_url is None:
            return {}
        return {"OPENAI_API_KEY": os.environ.get("ASSAY_OPENAI_API_KEY", "none")}
