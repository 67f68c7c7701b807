"""lm-evaluation-harness (0.4.0 – 0.4.13): ``results_<ts>.json`` + ``samples_<task>_<ts>.jsonl``.

Reads (lm_eval/evaluator.py, loggers/evaluation_tracker.py; FIELD-NOTES 1.5) — checks made while reading:

* per row: ``doc_hash`` = sha256(json.dumps(doc, indent=2, ensure_ascii=False)), ``prompt_hash`` =
  sha256(arguments.gen_args_0.arg_0), ``target_hash`` = sha256(str(target)) — recomputed, mismatches named;
* per task: ``task_hashes[task]`` = sha256 of the concatenated doc/prompt/target hashes of the rows in file order;
* sample accounting: duplicated (doc_id, filter) rows, missing or extra doc ids against ``n-samples.effective``,
  and subset runs (``effective < original`` or ``config.limit``, i.e. ``--limit``).

Version notes: lm-eval 0.4.0 wrote ``results.json`` and ``<model_args>_<task>.jsonl`` (one JSON array, rows
without ``filter`` or hashes, filters in blocks in ``filter_list`` order), no ``group_subtasks`` (the task tree is
the order of ``results`` with aliases indented ``" " * depth + "- "``), and aggregated groups with a running mean
(``legacy_groups``, :func:`lm_group_v040`); ≤ 0.4.9 list every plain task in ``group_subtasks`` as
``{"<task>": []}``, which is no group.  Numbers in ``resps`` / ``filtered_resps`` are strings (``"-3.2"``,
``"True"``); multiple-choice targets are the gold index as a string.

Semantics reproduced (ported from 0.4.13, not imported, so re-scoring needs neither lm-eval nor its dependencies
and runs at millions of samples per minute; the tests check each port against logs the real harness wrote):

* filter pipelines (``FilterEnsemble``): take_first, take_first_k, regex, remove_whitespace, lowercase, uppercase,
  map, majority_vote, multi_choice_regex; a custom filter is :class:`Unsupported`;
* ``exact_match`` (HF evaluate semantics with regexes_to_ignore / ignore_case / ignore_punctuation /
  ignore_numbers), multiple-choice acc / acc_norm / acc_bytes / exact_match, loglikelihood acc;
* aggregation (lm_eval/api/metrics.py): ``mean`` = sum(arr) / len(arr); ``mean_stderr`` = sample_stddev / √n with
  Bessel's correction; ``bootstrap_stderr`` for median / perplexity (0.4.0–0.4.13); groups:
  ``aggregate_subtask_metrics`` (size-weighted or plain mean), ``pooled_sample_stderr`` /
  ``unweighted_mean_stderr``, and 0.4.0's running mean;
* named scorers for re-runs: ``lm-eval:exact_match``, ``lm-eval:acc``, ``lm-eval:acc_norm``; a re-run's output is
  scored by every filter pipeline and metric of the task config (:meth:`LmEvalHarness.score_rerun`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
import string
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
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
    option_flags,
    runner,
    scorer,
)
from ..results import Finding, RescoreRow
from ..samples import Aggregate, LogHeader, Sample, content_sha256, fast_message, read_json

_SAMPLES_RE = re.compile(r"^samples_(.+)_(\d{4}-\d\d-\d\dT[0-9\-]+(?:\.\d+)?)\.jsonl$")
_RESULTS_RE = re.compile(r"^results_(\d{4}-\d\d-\d\dT[0-9\-]+(?:\.\d+)?)\.json$")
_ROW_FIELDS = {
    "doc_id",
    "doc",
    "target",
    "arguments",
    "resps",
    "filtered_resps",
    "filter",
    "metrics",
    "doc_hash",
    "prompt_hash",
    "target_hash",
}
_NON_METRIC_KEYS = {"alias", "name", "sample_len", "sample_count", "samples", " "}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


try:  # the C string encoder json uses with ensure_ascii=False
    from json.encoder import c_encode_basestring as _enc  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    from json.encoder import py_encode_basestring as _enc
if _enc is None:  # pragma: no cover
    from json.encoder import py_encode_basestring as _enc

_FLOAT_REPR = float.__repr__


def _indent2(o: object, level: int = 0) -> str | None:
    """``json.dumps(o, indent=2, ensure_ascii=False)`` for plain JSON values (str keys), several times faster than
    the json module (which falls back to its pure-Python encoder whenever ``indent`` is set); None when ``o`` holds
    anything else (the caller then uses json.dumps)."""
    if isinstance(o, str):
        return _enc(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        if o != o or o in (float("inf"), float("-inf")):
            return None
        return _FLOAT_REPR(o)
    pad = "\n" + "  " * (level + 1)
    if isinstance(o, dict):
        if not o:
            return "{}"
        parts = []
        for k, v in o.items():
            if not isinstance(k, str):
                return None
            inner = _indent2(v, level + 1)
            if inner is None:
                return None
            parts.append(pad + _enc(k) + ": " + inner)
        return "{" + ",".join(parts) + "\n" + "  " * level + "}"
    if isinstance(o, list):
        if not o:
            return "[]"
        parts = []
        for v in o:
            inner = _indent2(v, level + 1)
            if inner is None:
                return None
            parts.append(pad + inner)
        return "[" + ",".join(parts) + "\n" + "  " * level + "]"
    return None


def doc_text(doc: object) -> str:
    """The text lm-eval hashes for doc_hash: json.dumps(doc, indent=2, ensure_ascii=False)."""
    fast = _indent2(doc)
    return fast if fast is not None else json.dumps(doc, indent=2, ensure_ascii=False)


def load_lm_eval(path: Path) -> list[LmEvalRun]:
    path = Path(path)
    runs: list[LmEvalRun] = []
    if path.is_file():
        folder = path.parent
        m = _RESULTS_RE.match(path.name)
        if m:
            return [LmEvalRun(folder, path, _sample_files(folder, m.group(1)))]
        s = _SAMPLES_RE.match(path.name)
        if s:
            results = folder / f"results_{s.group(2)}.json"
            return [LmEvalRun(folder, results if results.exists() else None, {s.group(1): path})]
        if path.suffix == ".json":  # a results file under another name (lm-eval 0.4.0: results.json)
            return [LmEvalRun(folder, path, _legacy_sample_files(folder, path))]
        legacy = folder / "results.json"
        if path.suffix == ".jsonl" and legacy.is_file():  # lm-eval 0.4.0: <model_args>_<task>.jsonl
            mine = {t: f for t, f in _legacy_sample_files(folder, legacy).items() if f == path}
            if mine:
                return [LmEvalRun(folder, legacy, mine)]
        raise InputError(f"{path}: not an lm-eval results_*.json or samples_*.jsonl file")
    seen_ts: set[tuple[Path, str]] = set()
    for res in sorted(path.rglob("results_*.json")):
        m = _RESULTS_RE.match(res.name)
        if not m:
            continue
        seen_ts.add((res.parent, m.group(1)))
        runs.append(LmEvalRun(res.parent, res, _sample_files(res.parent, m.group(1))))
    for res in sorted(path.rglob("results.json")):  # lm-eval 0.4.0
        runs.append(LmEvalRun(res.parent, res, _legacy_sample_files(res.parent, res)))
    orphans: dict[tuple[Path, str], dict[str, Path]] = defaultdict(dict)
    for f in sorted(path.rglob("samples_*.jsonl")):
        s = _SAMPLES_RE.match(f.name)
        if s and (f.parent, s.group(2)) not in seen_ts:
            orphans[(f.parent, s.group(2))][s.group(1)] = f
    for (folder, _ts), files in sorted(orphans.items()):
        runs.append(LmEvalRun(folder, None, files))
    if not runs:
        raise InputError(f"{path}: no lm-eval results_*.json or samples_*.jsonl here")
    return runs


def _sample_files(folder: Path, ts: str) -> dict[str, Path]:
    out = {}
    for f in sorted(folder.glob(f"samples_*_{ts}.jsonl")):
        s = _SAMPLES_RE.match(f.name)
        if s and s.group(2) == ts:
            out[s.group(1)] = f
    return out


def _legacy_sample_files(folder: Path, results_path: Path) -> dict[str, Path]:
    """lm-eval 0.4.0's samples files beside ``results.json``: ``<model_args with / and = as __>_<task>.jsonl``, the
    task being the longest task name of the results file that ends the file name."""
    try:
        r = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(r, dict):
        return {}
    names = sorted({*(r.get("configs") or {}), *(r.get("results") or {})}, key=len, reverse=True)
    out: dict[str, Path] = {}
    for f in sorted(folder.glob("*.jsonl")):
        if _SAMPLES_RE.match(f.name):
            continue
        task = next((t for t in names if f.name.endswith(f"_{t}.jsonl")), None)
        if task is not None and task not in out:
            out[task] = f
    return out


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or index, row) of a samples file: JSON lines, or one JSON array (lm-eval 0.4.0)."""
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip()
    if head.startswith(b"["):
        try:
            rows = json.loads(path.read_bytes())
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc.msg})") from None
        if not isinstance(rows, list):
            raise InputError(f"{path}: not an lm-eval samples file")
        yield from enumerate(rows, 1)
        return
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


class LmEvalRun(ImportedLog):
    format = "lm-eval"

    def __init__(self, folder: Path, results_path: Path | None, sample_files: dict[str, Path]) -> None:
        self.results_path = results_path
        self.sample_files = sample_files
        self.results: dict[str, Any] = read_json(results_path) if results_path else {}
        if results_path and not (isinstance(self.results, dict) and isinstance(self.results.get("results"), dict)):
            raise InputError(f"{results_path}: not an lm-eval results file (no 'results' object)")
        r = self.results
        cfg = r.get("config") or {}
        margs = cfg.get("model_args")
        model = r.get("model_name") or (margs.get("pretrained") if isinstance(margs, dict) else margs)
        members = _group_members(r)
        tasks = [t for t in (r.get("results") or {}) if t not in members or t in sample_files]
        tasks += [t for t in sample_files if t not in tasks]
        header = LogHeader(
            source_format="lm-eval",
            harness="lm-eval",
            harness_version=r.get("lm_eval_version"),
            model=model if isinstance(model, str) else None,
            model_revision=cfg.get("model_sha") or None,
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
                    "group_subtasks",
                    "groups",
                    "task_hashes",
                    "versions",
                    "n-shot",
                    "chat_template_sha",
                    "system_instruction_sha",
                    "model_name",
                    "git_hash",
                )
                if k in r
            },
        )
        super().__init__(results_path or folder, header)
        self._checked: set[str] = set()
        self._members = members
        # lm-eval 0.4.0 (no version recorded, no group_subtasks): groups are running means over their subtasks
        self.legacy_groups = bool(results_path) and "group_subtasks" not in r and "lm_eval_version" not in r
        if results_path:
            self._check_counts_static()
        else:
            self.add(
                "error",
                "no-results",
                "samples without their results_*.json: nothing reported to compare the recomputed scores with",
            )

    def group_members(self) -> dict[str, list[str]]:
        """{group: [subtask, ...]} of the groups this run reports (see :func:`_group_members`)."""
        return self._members

    # ---------------------------------------------------------------------------------------------- header
    @staticmethod
    def _aggregates(r: dict[str, Any]) -> list[Aggregate]:
        out = []
        nsamp = r.get("n-samples") or {}
        for task, vals in (r.get("results") or {}).items():
            if not isinstance(vals, dict):
                continue
            for key, value in vals.items():
                if key in _NON_METRIC_KEYS or "," not in key:
                    continue
                metric, _, filt = key.partition(",")
                if metric.endswith("_stderr"):
                    continue
                se = vals.get(f"{metric}_stderr,{filt}")
                n = (nsamp.get(task) or {}).get("effective")
                if n is None and isinstance(vals.get("sample_count"), dict):
                    n = vals["sample_count"].get(key)
                out.append(
                    Aggregate(
                        task=task,
                        metric=metric,
                        filter=filt,
                        value=_num(value),
                        stderr=_num(se),
                        n=n if isinstance(n, int) else None,
                    )
                )
        return out

    def _check_counts_static(self) -> None:
        r = self.results
        limit = (r.get("config") or {}).get("limit")
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        for task, ns in (r.get("n-samples") or {}).items():
            orig, eff = ns.get("original"), ns.get("effective")
            if isinstance(orig, int) and isinstance(eff, int) and eff < orig:
                self.add(
                    "warning",
                    "subset-run",
                    f"subset run: {eff} of {orig} documents were evaluated "
                    f"(--limit {limit if limit is not None else '?'})",
                    task,
                )
        for task in self.header.tasks:
            if task not in self.sample_files:
                self.add(
                    "error",
                    "no-samples",
                    "no samples_*.jsonl for this task (run with --log_samples); the aggregate cannot be recomputed",
                    task,
                )

    # --------------------------------------------------------------------------------------------- samples
    def task_config(self, task: str) -> dict[str, Any]:
        return ((self.results.get("configs") or {}).get(task)) or {}

    def tasks(self) -> list[str]:
        return list(self.header.tasks)

    def iter_samples(self, task: str) -> Iterator[Sample]:
        path = self.sample_files.get(task)
        if path is None:
            return
        check = task not in self._checked
        self._checked.add(task)
        cfg = self.task_config(task)
        output_type = cfg.get("output_type")
        delim = cfg.get("target_delimiter", " ")
        if not isinstance(delim, str):
            delim = " "
        bad_doc, bad_prompt, bad_target = [], [], []
        task_hash = hashlib.sha256()
        seen: dict[str, set[str]] = defaultdict(set)
        dups: list[str] = []
        unhashed = 0
        # lm-eval 0.4.0 rows name no filter: they come in one block of documents per filter, in filter_list order
        fnames = [str(f.get("name")) for f in (cfg.get("filter_list") or []) if isinstance(f, dict)] or ["none"]
        block, prev_id, blocks_ok = 0, None, True
        for lineno, row in _rows(path):
            if not isinstance(row, dict):
                raise InputError(f"{path}:{lineno}: not an lm-eval sample row")
            if "filter" not in row:
                doc_id = row.get("doc_id")
                if prev_id is not None and isinstance(doc_id, int) and isinstance(prev_id, int) and doc_id <= prev_id:
                    block += 1
                prev_id = doc_id
                if block >= len(fnames):
                    blocks_ok = False
                row = dict(row, filter=fnames[min(block, len(fnames) - 1)])
            sample = self._sample(task, row, output_type, delim, path, lineno)
            if check:
                doc_h, prompt_h, target_h = row.get("doc_hash"), row.get("prompt_hash"), row.get("target_hash")
                if doc_h is None and prompt_h is None and target_h is None:
                    unhashed += 1
                else:
                    task_hash.update(f"{doc_h}{prompt_h}{target_h}".encode())
                    doc_c = _sha(doc_text(row.get("doc")))
                    if doc_h != doc_c:
                        bad_doc.append(sample.id)
                    if prompt_h != sample.meta.get("prompt_sha256"):
                        bad_prompt.append(sample.id)
                    if target_h != _sha(str(row.get("target"))):
                        bad_target.append(sample.id)
                ids = seen[sample.filter]
                if sample.id in ids:
                    dups.append(sample.id)
                ids.add(sample.id)
            yield sample
        if not check:
            return
        if not blocks_ok:
            self.add(
                "error",
                "filter-blocks",
                f"the rows (which name no filter) form more blocks of documents than "
                f"the task has filters ({', '.join(fnames)}): they cannot be assigned to filters",
                task,
            )
        if unhashed:
            self.add(
                "info",
                "no-hashes",
                f"{unhashed} row(s) carry no doc/prompt/target hashes (lm-eval 0.4.0 "
                "wrote none): the documents were not checked against hashes",
                task,
            )
        for name, bad in (("doc_hash", bad_doc), ("prompt_hash", bad_prompt), ("target_hash", bad_target)):
            if bad:
                self.add(
                    "error",
                    "hash-mismatch",
                    f"{name} does not match the logged content in {len(bad)} row(s)",
                    task,
                    sorted(set(bad), key=_id_key),
                )
        logged = (self.results.get("task_hashes") or {}).get(task)
        if logged and logged != task_hash.hexdigest():
            self.add(
                "error",
                "task-hash-mismatch",
                "task_hashes[task] in the results file does not match the "
                "samples file (rows added, removed, reordered or edited)",
                task,
            )
        if dups:
            self.add(
                "error",
                "duplicate-samples",
                f"{len(dups)} duplicated (doc_id, filter) row(s)",
                task,
                sorted(set(dups), key=_id_key),
            )
        eff = ((self.results.get("n-samples") or {}).get(task) or {}).get("effective")
        if isinstance(eff, int):
            expected = {str(i) for i in range(eff)}
            for filt, ids in sorted(seen.items()):
                missing = sorted(expected - ids, key=_id_key)
                extra = sorted(ids - expected, key=_id_key)
                if missing:
                    self.add(
                        "error",
                        "missing-samples",
                        f"filter {filt}: {len(missing)} of {eff} evaluated documents have no sample row",
                        task,
                        missing,
                    )
                if extra:
                    self.add(
                        "error",
                        "extra-samples",
                        f"filter {filt}: {len(extra)} sample row(s) beyond the {eff} evaluated documents",
                        task,
                        extra,
                    )

    def _sample(
        self, task: str, row: dict[str, Any], output_type: str | None, delim: str, path: Path, lineno: int
    ) -> Sample:
        try:
            doc_id = row["doc_id"]
            args = row.get("arguments") or {}
            arglist = [args[f"gen_args_{i}"] for i in range(len(args))] if isinstance(args, dict) else list(args)
            arglist = [a if isinstance(a, dict) else {f"arg_{j}": v for j, v in enumerate(a)} for a in arglist]
            resps = row.get("resps") or []
            filtered = row.get("filtered_resps")
        except (KeyError, TypeError) as exc:
            raise InputError(f"{path}:{lineno}: not an lm-eval sample row ({exc})") from None
        prompt = arglist[0].get("arg_0") if arglist else None
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            # an API chat model's JsonChatStr (a NamedTuple, logged as a one-element list): lm-eval hashes its string
            prompt = prompt[0]
        prompt_text = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
        raw_target = row.get("target")
        target_text = raw_target if isinstance(raw_target, str) else str(raw_target)
        second = arglist[0].get("arg_1") if arglist else None
        if output_type is None:
            output_type = (
                "generate_until"
                if isinstance(second, dict)
                else ("multiple_choice" if len(arglist) > 1 else "loglikelihood")
            )
        fields: dict[str, Any] = {
            "id": str(doc_id),
            "task": task,
            "filter": str(row.get("filter", "none")),
            "repeat": 0,
            "prompt": prompt_text,
            "input": [fast_message("user", prompt_text)],
            "choices": None,
            "continuations": None,
            "choice_logprobs": None,
            "choice_greedy": None,
            "output": None,
            "outputs": None,
            "answer": None,
            "gen_kwargs": None,
        }
        doc = row.get("doc")
        if output_type == "generate_until":
            first = resps[0] if resps else []
            outs = (
                [o if isinstance(o, str) else json.dumps(o) for o in first] if isinstance(first, list) else [str(first)]
            )
            fields["output"] = outs[0] if outs else None
            fields["outputs"] = outs if len(outs) > 1 else None
            fields["answer"] = filtered[0] if isinstance(filtered, list) and filtered else filtered
            fields["gen_kwargs"] = second if isinstance(second, dict) else None
            fields["target"] = gen_target(target_text)
        else:
            lls: list[float] = []
            greedy: list[bool] = []
            for r in resps:
                pair = r[0] if isinstance(r, list) and r and isinstance(r[0], list) else r
                if isinstance(pair, list):
                    lls.append(float(pair[0]))
                    greedy.append(len(pair) > 1 and str(pair[1]) == "True")
                else:
                    lls.append(float(pair))
            conts = [a.get("arg_1") for a in arglist]
            fields["continuations"] = [c for c in conts if isinstance(c, str)] or None
            fields["choice_logprobs"] = lls
            fields["choice_greedy"] = greedy or None
            if output_type == "multiple_choice" and fields["continuations"]:
                choices = [c[len(delim) :] if delim and c.startswith(delim) else c for c in fields["continuations"]]
                fields["choices"] = choices
                fields["target"] = _mc_gold(target_text, choices, doc, self.task_config(task))
                if lls:
                    fields["answer"] = max(range(len(lls)), key=lambda i: (lls[i], -i))
            else:
                fields["target"] = target_text
        scores: dict[str, float | None] = {}
        other: dict[str, Any] = {}
        names = row.get("metrics")
        if names is None:  # lm-eval 0.4.0 lists no metrics: every key that is not a row field is one
            names = [k for k in row if k not in _ROW_FIELDS]
        for m in names or []:
            v = row.get(m)
            n = _num(v)
            if n is not None:
                scores[m] = n
            else:
                other[m] = v
        fields["scores"] = scores
        meta: dict[str, Any] = {
            "doc": doc,
            "target": target_text,
            "doc_hash": row.get("doc_hash"),
            "prompt_hash": row.get("prompt_hash"),
            "target_hash": row.get("target_hash"),
            "prompt_sha256": _sha(prompt_text),
            "output_type": output_type,
            "filtered_resps": filtered,
        }
        if other:
            meta["metric_values"] = other
        fields["meta"] = meta
        enc = _enc(prompt_text)  # = content_sha256({"input": [{"role": "user", "content": p}], "prompt": p})
        fields["input_sha256"] = hashlib.sha256(
            ('{"input":[{"content":' + enc + ',"role":"user"}],"prompt":' + enc + "}").encode("utf-8")
        ).hexdigest()
        fields["target_sha256"] = content_sha256(fields["target"])
        return Sample.fast(fields)


def _group_members(r: dict[str, Any]) -> dict[str, list[str]]:
    """The groups of a results file and their direct subtasks.  lm-eval ≤ 0.4.9 writes ``group_subtasks`` with an
    entry for every task, ``{"<plain task>": []}`` included: a name is a group only if it lists subtasks, or is in
    ``groups`` (a group whose subtasks are not named: its score cannot be recomputed, never skipped).  lm-eval 0.4.0
    writes no ``group_subtasks``: the tree is read from the order and alias indentation of ``results``."""
    subtasks = r.get("group_subtasks")
    if subtasks is None and "lm_eval_version" not in r:
        subtasks = _alias_tree(r.get("results") or {})
    subtasks = subtasks or {}
    out = {g: [str(t) for t in ts] for g, ts in subtasks.items() if isinstance(ts, list) and ts}
    for g in r.get("groups") or {}:
        out.setdefault(g, [])
    return out


def _alias_tree(results: dict[str, Any]) -> dict[str, list[str]]:
    """lm-eval 0.4.0 writes ``results`` in the order of a depth-first walk of the task tree, the alias of a task at
    depth d > 0 being ``" " * d + "- " + name``: {parent: [children]} read back from that."""
    out: dict[str, list[str]] = defaultdict(list)
    stack: list[tuple[int, str]] = []
    for name, vals in results.items():
        alias = vals.get("alias") if isinstance(vals, dict) else None
        m = re.match(r"( +)- ", alias) if isinstance(alias, str) else None
        depth = len(m.group(1)) if m else 0
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            out[stack[-1][1]].append(name)
        stack.append((depth, name))
    return dict(out)


def _id_key(x: str) -> tuple[int, Any]:
    return (0, int(x)) if x.lstrip("-").isdigit() else (1, x)


def gen_target(text: str) -> Any:
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        try:
            v = ast.literal_eval(t)
        except (ValueError, SyntaxError):
            return text
        if isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v):
            return v
    return text


def _mc_gold(text: str, choices: list[str], doc: Any, cfg: dict[str, Any]) -> Any:
    """The gold index as lm-eval's multiple_choice process_results computes it from the logged str(target)."""
    t = text.strip()
    if re.fullmatch(r"-?\d+", t):
        field = cfg.get("doc_to_target")
        if (
            isinstance(field, str)
            and isinstance(doc, dict)
            and isinstance(doc.get(field), str)
            and doc[field] in choices
        ):  # the field holds a choice text that happens to be digits
            return choices.index(doc[field])
        return int(t)
    if t.startswith("[") and t.endswith("]"):
        try:
            v = ast.literal_eval(t)
        except (ValueError, SyntaxError):
            v = None
        if isinstance(v, list):
            return [x if isinstance(x, int) else (choices.index(x) if x in choices else -100) for x in v]
    if text in choices:
        return choices.index(text)
    return text


# ============================================================================================= per-sample scoring
def lm_regex(inst: Any, regex: re.Pattern[str], group_select: int, fallback: str) -> list[Any]:
    out = []
    for resp in inst:
        if not isinstance(resp, str):
            resp = ""
        match: Any = regex.findall(resp)
        if match:
            match = match[group_select]
            if isinstance(match, tuple):
                match = [m for m in match if m]
                match = match[0] if match else fallback
            match = match.strip()
        else:
            match = fallback
        out.append(match)
    return out


_PUNCT_TBL: dict[int, None] | None = None


def _unicode_punct_table() -> dict[int, None]:
    global _PUNCT_TBL
    if _PUNCT_TBL is None:
        _PUNCT_TBL = dict.fromkeys(i for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P"))
    return _PUNCT_TBL


def _lm_multi_choice_regex(inst: Any, doc: Any, kw: dict[str, Any]) -> list[Any]:
    regex = re.compile(kw.get("regex_pattern", r"#### (\-?[0-9\.\,]+)"))
    group_select = kw.get("group_select", 0)
    fallback = kw.get("fallback", "[invalid]")
    ignore_case = kw.get("ignore_case", False)
    ignore_punct = kw.get("ignore_punctuation", False)
    to_ignore = kw.get("regexes_to_ignore")

    def find_match(rx: re.Pattern[str], resp: Any, convert: dict[str, str] | None = None) -> Any:
        convert = convert or {}
        if not isinstance(resp, str):
            resp = ""
        match: Any = rx.findall(resp)
        if match:
            match = match[group_select]
            if isinstance(match, tuple):
                non_empty = [m for m in match if m]
                if not non_empty:
                    return ""
                match = non_empty[0]
            match = match.strip()
            if match and match in convert:
                match = convert[match]
        return match

    def ignores(st: str) -> str:
        if to_ignore is not None:
            for s in to_ignore:
                st = re.sub(s, "", st)
        if ignore_case:
            st = st.lower()
        if ignore_punct:
            st = st.translate(_unicode_punct_table())
        return st

    if not isinstance(doc, dict) or "choices" not in doc:
        raise Unsupported("multi_choice_regex needs doc['choices'] in the logged doc")
    fallback_regexes, choice_to_alpha, wp_regexes, wp_to_target = [], {}, [], {}
    alpha = "A"
    for c in doc["choices"]:
        m = ignores(c.strip())
        fallback_regexes.append(re.escape(m))
        choice_to_alpha[m] = f"({alpha})"
        wp_regexes.append(alpha)
        wp_to_target[alpha] = f"({alpha})"
        alpha = chr(ord(alpha) + 1)
    fb = re.compile("|".join(sorted(fallback_regexes, key=len, reverse=True)))
    wp = re.compile(rf":[\s]*({'|'.join(wp_regexes)})")
    out = []
    for resp in inst:
        match = find_match(regex, resp)
        if not match:
            match = find_match(fb, ignores(resp), choice_to_alpha)
            if not match:
                match = find_match(wp, resp, wp_to_target)
        if not match:
            match = fallback
        out.append(match)
    return out


def lm_eval_apply_filter(inst: Any, steps: Sequence[dict[str, Any]], doc: Any = None) -> Any:
    """Apply one lm-eval filter pipeline to one instance's responses, exactly as FilterEnsemble does."""
    for step in steps:
        fn = step.get("function")
        kw = {k: v for k, v in step.items() if k != "function"}
        if fn == "take_first":
            inst = inst[0]
        elif fn == "take_first_k":
            inst = inst[: kw["k"]]
        elif fn == "majority_vote":
            inst = [Counter(inst).most_common(1)[0][0]]
        elif fn == "regex":
            inst = lm_regex(
                inst,
                re.compile(kw.get("regex_pattern", r"#### (\-?[0-9\.\,]+)")),
                kw.get("group_select", 0),
                kw.get("fallback", "[invalid]"),
            )
        elif fn == "remove_whitespace":
            inst = [r.strip() for r in inst]
        elif fn == "lowercase":
            inst = [r.lower() for r in inst]
        elif fn == "uppercase":
            inst = [r.upper() for r in inst]
        elif fn == "map":
            mapping = kw.get("mapping_dict") or {}
            inst = [mapping.get(r, kw.get("default_value")) for r in inst]
        elif fn == "multi_choice_regex":
            inst = _lm_multi_choice_regex(inst, doc, kw)
        else:
            raise Unsupported(f"lm-eval filter {fn!r} (custom code) cannot be re-applied")
    return inst


def lm_eval_filter_steps(cfg: dict[str, Any], filter_name: str) -> list[dict[str, Any]]:
    flist = cfg.get("filter_list")
    if not flist:
        if filter_name == "none":
            return [{"function": "take_first"}]
        raise Unsupported(f"filter {filter_name!r} is not in the task config")
    for entry in flist:
        if entry.get("name") == filter_name:
            return list(entry.get("filter") or [])
    raise Unsupported(f"filter {filter_name!r} is not in the task config")


_PUNCT_TRANS = str.maketrans("", "", string.punctuation)
_DIGIT_TRANS = str.maketrans("", "", string.digits)


def lm_eval_exact_match(
    prediction: str,
    reference: str,
    *,
    regexes_to_ignore: list[str] | None = None,
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
    ignore_numbers: bool = False,
    **_: Any,
) -> float:
    """lm_eval.api.metrics.exact_match_hf_evaluate for one prediction."""
    p, r = prediction, reference
    if regexes_to_ignore is not None:
        for s in regexes_to_ignore:
            p = re.sub(s, "", p)
            r = re.sub(s, "", r)
    if ignore_case:
        p, r = p.lower(), r.lower()
    if ignore_punctuation:
        p, r = p.translate(_PUNCT_TRANS), r.translate(_PUNCT_TRANS)
    if ignore_numbers:
        p, r = p.translate(_DIGIT_TRANS), r.translate(_DIGIT_TRANS)
    # numpy's unicode arrays drop trailing NULs; nothing else differs from str ==
    return 1.0 if p.rstrip("\x00") == r.rstrip("\x00") else 0.0


_METRIC_OPTION_KEYS = {"metric", "aggregation", "higher_is_better", "hf_evaluate"}


def lm_eval_metric_list(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(metric, kwargs, aggregation) from a task config's metric_list (defaults as lm-eval fills them)."""
    out = []
    for m in cfg.get("metric_list") or []:
        name = m.get("metric")
        if not isinstance(name, str):
            raise Unsupported(f"metric {name!r} (a function) cannot be recomputed")
        agg = m.get("aggregation")
        if agg is None:
            agg = {
                "perplexity": "perplexity",
                "word_perplexity": "weighted_perplexity",
                "byte_perplexity": "weighted_perplexity",
                "bits_per_byte": "bits_per_byte",
                "f1": "f1",
                "mcc": "matthews_corrcoef",
                "bleu": "bleu",
                "chrf": "chrf",
                "ter": "ter",
                "brier_score": "brier_score",
            }.get(name, "mean")
        out.append((name, {k: v for k, v in m.items() if k not in _METRIC_OPTION_KEYS}, str(agg)))
    return out


def _div(a: float, b: float) -> float:
    if b == 0.0:
        return math.nan if a == 0.0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


def _argmax(xs: Sequence[float]) -> int:
    """numpy.argmax: the first maximum; the first NaN wins."""
    idx = 0
    for i, x in enumerate(xs):
        if math.isnan(x):
            return i
        if x > xs[idx]:
            idx = i
    return idx


def lm_eval_score(sample: Sample, cfg: dict[str, Any], metrics: list[str]) -> tuple[dict[str, float | None], Any]:
    """Recompute one lm-eval sample's metrics from its raw responses: ({metric: value}, re-filtered answer)."""
    if isinstance(cfg.get("process_results"), str) or cfg.get("process_results"):
        raise Unsupported("the task uses a custom process_results function")
    otype = (sample.meta or {}).get("output_type") or cfg.get("output_type")
    if otype == "generate_until":
        inst = list(sample.outputs) if sample.outputs else ([sample.output] if sample.output is not None else [])
        answer = lm_eval_apply_filter(inst, lm_eval_filter_steps(cfg, sample.filter), (sample.meta or {}).get("doc"))
        if cfg.get("doc_to_choice") is not None:
            raise Unsupported("generate_until with doc_to_choice maps the target through the choices")
        gold: Any = sample.target
        result = answer
        kwargs = {name: kw for name, kw, _agg in lm_eval_metric_list(cfg)}
        out: dict[str, float | None] = {}
        for name in metrics:
            if name != "exact_match":  # not ported (bleu, rouge, custom): None, so only this metric is unverified
                out[name] = None
                continue
            kw = kwargs.get(name, {})
            if isinstance(gold, list):  # multiple targets: any match
                out[name] = 1.0 if any(lm_eval_exact_match(str(result), str(g), **kw) > 0.0 for g in gold) else 0.0
            else:
                if not isinstance(result, str):
                    raise Unsupported("a non-text filtered response")
                out[name] = lm_eval_exact_match(result, str(gold), **kw)
        return out, answer
    lls = list(sample.choice_logprobs or [])
    greedy = list(sample.choice_greedy or [])
    if otype == "loglikelihood":
        out = {}
        for name in metrics:
            if name == "acc":
                out[name] = float(int(bool(greedy[0]))) if greedy else None
            elif name == "perplexity":
                out[name] = lls[0]
            else:
                out[name] = None
        return out, None
    if otype != "multiple_choice":
        raise Unsupported(f"output type {otype!r}")
    choices = list(sample.choices or [])
    if "acc_mutual_info" in metrics:
        raise Unsupported("acc_mutual_info")
    if len(lls) != len(choices):
        raise Unsupported("log-likelihoods and choices differ in number")
    pred = _argmax(lls)
    pred_norm = _argmax([_div(ll, float(len(c))) for ll, c in zip(lls, choices, strict=False)])
    pred_byte = _argmax([_div(ll, float(len(c.encode("utf-8")))) for ll, c in zip(lls, choices, strict=False)])
    gold = sample.target
    if isinstance(gold, list):
        gold = [g if isinstance(g, int) and g < len(choices) else -100 for g in gold]
        acc = 1.0 if pred in gold else 0.0
        acc_norm = 1.0 if pred_norm in gold else 0.0
        acc_bytes = 1.0 if pred_byte in gold else 0.0
        em = float(int(any(greedy[i] if i != -100 else 0 for i in gold)))
    else:
        if isinstance(gold, str):
            gold = choices.index(gold) if gold in choices else -100
        elif not isinstance(gold, int) or gold >= len(choices):
            gold = -100
        acc = 1.0 if pred == gold else 0.0
        acc_norm = 1.0 if pred_norm == gold else 0.0
        acc_bytes = 1.0 if pred_byte == gold else 0.0
        em = float(int(greedy[gold])) if gold != -100 and greedy else 0.0
    table = {"acc": acc, "acc_norm": acc_norm, "acc_bytes": acc_bytes, "exact_match": em}
    out = {}
    for name in metrics:
        out[name] = table.get(name)  # None: a metric not ported here (the caller reports it as not recomputed)
    return out, pred


# ==================================================================================================== aggregation
def lm_mean(arr: Sequence[float]) -> float:
    return sum(arr) / len(arr)


def lm_sample_stddev(arr: Sequence[float]) -> float:
    mu = lm_mean(arr)
    return math.sqrt(sum([(x - mu) ** 2 for x in arr]) / (len(arr) - 1))


def lm_mean_stderr(arr: Sequence[float]) -> float | None:
    if len(arr) < 2:
        return None
    return lm_sample_stddev(arr) / math.sqrt(len(arr))


def lm_aggregate_subtasks(values: Sequence[float], sizes: Sequence[int], weight_by_size: bool = True) -> float:
    if not weight_by_size:
        sizes = [1] * len(sizes)
    return sum([v * s for v, s in zip(values, sizes, strict=False)]) / sum(sizes)


def lm_pooled_stderr(stderrs: Sequence[float], sizes: Sequence[int]) -> float:
    var = sum([(n - 1) * se**2 * n for n, se in zip(sizes, stderrs, strict=False)]) / (sum(sizes) - len(sizes))
    return math.sqrt(var / sum(sizes))


def lm_unweighted_mean_stderr(stderrs: Sequence[float]) -> float:
    return math.sqrt(sum([se**2 for se in stderrs])) / len(stderrs)


def lm_group_v040(parts: Sequence[tuple[float, int, float | None]]) -> tuple[float, float | None]:
    """lm-eval 0.4.0's group aggregation (``evaluator.evaluate``) over (value, size, stderr) of the subtasks in order:
    a running size-weighted mean, and a running combination of the squared stderrs whose correction term uses the
    already-updated mean; the group stderr is its square root."""
    mean, total, se0 = parts[0]
    var = se0**2 if se0 is not None else None
    for value, size, se in parts[1:]:
        mean = (mean * total + value * size) / (total + size)
        if var is not None and se is not None:
            var = ((total - 1) * var + (size - 1) * se**2) / (total + size - 1) + total * size / (
                (total + size) * (total + size - 1)
            ) * (mean - value) ** 2
        else:
            var = None
        total += size
    return mean, (math.sqrt(var) if var is not None else None)


def lm_perplexity(lls: Sequence[float]) -> float:
    return math.exp(-lm_mean(lls))


def lm_bootstrap_stderr(name: str, values: Sequence[float], iters: int) -> float | None:
    """lm-eval's ``bootstrap_stderr`` (0.4.0–0.4.13) for the aggregations ported here (``median``, ``perplexity``):
    ``iters // min(1000, iters)`` chunks, chunk ``i`` drawn with ``random.Random(i).choices(values, k=n)``, the
    stderr being the Bessel sample stddev of all replicates.  Ported (not imported) so re-scoring needs no lm-eval;
    its chunks are seeded by index, so the result does not depend on its worker pool.  None where not ported."""
    import random

    if name not in ("median", "perplexity") or iters <= 0 or len(values) < 2:
        return None
    chunk = min(1000, iters)
    xs = list(values)
    reps: list[float] = []
    for i in range(iters // chunk):
        rnd = random.Random(i)
        for _ in range(chunk):
            reps.append(lm_aggregate(name, rnd.choices(xs, k=len(xs))))  # type: ignore[arg-type]
    return lm_sample_stddev(reps)


def lm_aggregate(name: str, values: Sequence[float]) -> float | None:
    """An lm-eval aggregation over per-sample values; None where it is not implemented."""
    if not values:
        return None
    if name == "mean":
        return lm_mean(values)
    if name == "median":
        return float(sorted(values)[len(values) // 2])
    if name == "perplexity":
        return lm_perplexity(values)
    return None


# ====================================================================================================== re-scoring
def rescore_lm_eval(log: LmEvalRun, audit: bool) -> EngineResult:
    """Per sample: the task's filters re-applied to the raw responses and its metrics recomputed; per task: the
    aggregates and stderrs with lm-eval's arithmetic; per group: the subtask aggregation of the log's release."""
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    task_values: dict[str, dict[tuple[str, str], tuple]] = {}
    groups = set(log.group_members())  # ≤ 0.4.9 lists every plain task as {task: []}: not a group
    for task in log.tasks():
        if task in groups and task not in log.sample_files:
            continue
        cfg = log.task_config(task)
        try:
            aggs = {name: agg for name, _kw, agg in lm_eval_metric_list(cfg)}
        except Unsupported as exc:
            aggs = {}
            findings.append(Finding.make("error", "unverifiable", str(exc), task))
        accs: dict[tuple[str, str], MetricValues] = defaultdict(MetricValues)
        answer_mismatch: dict[str, list[str]] = defaultdict(list)
        for s in log.iter_samples(task):
            metric_values: Any = (s.meta or {}).get("metric_values") or {}  # {metric: non-numeric value}
            names = list(s.scores) + list(metric_values.keys())
            try:
                rec, answer = lm_eval_score(s, cfg, names)
            except Unsupported as exc:
                for m in names:
                    a = accs[(m, s.filter)]
                    a.unsupported = str(exc)
                    if s.scores.get(m) is not None:
                        a.logged.append(s.scores[m])  # type: ignore[arg-type]
                    else:
                        a.missing_logged += 1
                continue
            if (s.meta or {}).get("output_type") == "generate_until" and answer != s.answer:
                answer_mismatch[s.filter].append(s.id)
            for m in names:
                a = accs[(m, s.filter)]
                v = rec.get(m)
                logged = s.scores.get(m)
                if v is None:
                    a.unsupported = a.unsupported or f"metric {m}"
                    continue
                a.values.append(v)
                if logged is not None:
                    a.logged.append(logged)
                if logged != v:
                    a.mismatch.append((s.id, logged, v))
                if aud is not None and (s.meta or {}).get("output_type") == "generate_until":
                    aud.add(s, m, v)
        for filt, ids in answer_mismatch.items():
            findings.append(
                Finding.make(
                    "error",
                    "answer-mismatch",
                    f"filter {filt}: {len(ids)} logged filtered "
                    "response(s) differ from re-applying the filter to the raw response",
                    task,
                    ids,
                )
            )

        def aggregate(metric: str, _f: str, values: list[float], _aggs: dict = aggs) -> float | None:
            return lm_aggregate(_aggs.get(metric, "mean"), values)

        def stderr(metric: str, _f: str, values: list[float], _aggs: dict = aggs) -> float | None:
            iters = (log.results.get("config") or {}).get("bootstrap_iters", 100000)
            if not isinstance(iters, int) or iters <= 0:
                return None
            if _aggs.get(metric, "mean") != "mean":  # lm-eval bootstraps these; None where not ported
                return lm_bootstrap_stderr(_aggs[metric], values, iters)
            return lm_mean_stderr(values)

        r, vals = compare_rows(task, reported_of(log, task), accs, aggregate, stderr, findings)
        rows += r
        task_values[task] = vals
    rows += _lm_eval_groups(log, task_values, findings)
    return EngineResult(rows, findings, aud.rows() if aud else [])


def _leaves(group: str, subtasks: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for t in subtasks.get(group, []):
        if t in subtasks:
            sub = _leaves(t, subtasks)
            if not sub:  # a subgroup whose subtasks are not named: the group cannot be recomputed
                return []
            out += sub
        else:
            out.append(t)
    return out


def _legacy_group(
    group: str, key: tuple[str, str], subtasks: dict[str, list[str]], task_values: dict
) -> tuple[float, int, float | None] | None:
    """(value, size, stderr) of a group as lm-eval 0.4.0 computed it; None when a member's value is missing."""
    parts = []
    for t in subtasks.get(group, []):
        p = _legacy_group(t, key, subtasks, task_values) if t in subtasks else task_values.get(t, {}).get(key)
        if p is None or p[0] is None:
            return None
        parts.append((p[0], p[1], p[2]))
    if not parts:
        return None
    value, se = lm_group_v040(parts)
    return value, sum(p[1] for p in parts), se


def _lm_eval_groups(log: LmEvalRun, task_values: dict, findings: list[Finding]) -> list[RescoreRow]:
    rows = []
    subtasks = log.group_members()
    for group in subtasks:
        leaves = _leaves(group, subtasks)
        for agg in log.header.aggregates:
            if agg.task != group:
                continue
            key = (agg.metric, agg.filter)
            parts = [task_values.get(t, {}).get(key) for t in leaves]
            legacy = _legacy_group(group, key, subtasks, task_values) if log.legacy_groups else None
            if not leaves or any(p is None or p[0] is None for p in parts) or (log.legacy_groups and legacy is None):
                findings.append(
                    Finding.make(
                        "error",
                        "unverifiable",
                        f"{agg.metric},{agg.filter}: a subtask value is missing, the group score cannot be recomputed",
                        group,
                    )
                )
                rows.append(
                    RescoreRow(
                        task=group, metric=agg.metric, filter=agg.filter, reported=agg.value, recomputed=None, n=0
                    )
                )
                if agg.stderr is not None:
                    rows.append(
                        RescoreRow(
                            task=group,
                            metric=f"{agg.metric}_stderr",
                            filter=agg.filter,
                            reported=agg.stderr,
                            recomputed=None,
                            n=0,
                        )
                    )
                continue
            if legacy is not None:  # lm-eval 0.4.0: running mean over the direct subtasks in order
                rec, n, se = legacy
                if agg.value is not None and not same_number(agg.value, rec):
                    findings.append(
                        Finding.make(
                            "error",
                            "aggregate-mismatch",
                            f"{agg.metric},{agg.filter}: "
                            f"reported {agg.value!r}, recomputed {rec!r} (lm-eval 0.4.0 running "
                            f"mean of {', '.join(subtasks[group])})",
                            group,
                        )
                    )
                rows.append(
                    RescoreRow(
                        task=group, metric=agg.metric, filter=agg.filter, reported=agg.value, recomputed=rec, n=n
                    )
                )
                if agg.stderr is not None:
                    if se is not None and not same_number(agg.stderr, se):
                        findings.append(
                            Finding.make(
                                "error",
                                "stderr-mismatch",
                                f"{agg.metric}_stderr,{agg.filter}: reported {agg.stderr!r}, recomputed {se!r}",
                                group,
                            )
                        )
                    rows.append(
                        RescoreRow(
                            task=group,
                            metric=f"{agg.metric}_stderr",
                            filter=agg.filter,
                            reported=agg.stderr,
                            recomputed=se,
                            n=n,
                        )
                    )
                continue
            vals = [p[0] for p in parts]
            sizes = [p[1] for p in parts]
            weighted = lm_aggregate_subtasks(vals, sizes, True)
            plain = lm_aggregate_subtasks(vals, sizes, False)
            unweighted = same_number(agg.value, plain) and not same_number(agg.value, weighted)
            rec, weight = (plain, False) if unweighted else (weighted, True)
            if agg.value is not None and not same_number(agg.value, rec):
                findings.append(
                    Finding.make(
                        "error",
                        "aggregate-mismatch",
                        f"{agg.metric},{agg.filter}: reported "
                        f"{agg.value!r}, recomputed {rec!r} (size-weighted mean of "
                        f"{', '.join(leaves)})",
                        group,
                    )
                )
            n = sum(sizes)
            rows.append(
                RescoreRow(task=group, metric=agg.metric, filter=agg.filter, reported=agg.value, recomputed=rec, n=n)
            )
            ses = [p[2] for p in parts]
            if agg.stderr is not None:
                se = None
                if all(s is not None for s in ses):
                    se = lm_pooled_stderr(ses, sizes) if weight else lm_unweighted_mean_stderr(ses)
                if se is not None and not same_number(agg.stderr, se):
                    findings.append(
                        Finding.make(
                            "error",
                            "stderr-mismatch",
                            f"{agg.metric}_stderr,{agg.filter}: reported {agg.stderr!r}, recomputed {se!r}",
                            group,
                        )
                    )
                rows.append(
                    RescoreRow(
                        task=group,
                        metric=f"{agg.metric}_stderr",
                        filter=agg.filter,
                        reported=agg.stderr,
                        recomputed=se,
                        n=n,
                    )
                )
    return rows


# ================================================================================================ re-run scoring
def score_rerun_lm_eval(sample: Sample, header: LogHeader) -> list[Sample]:
    """A re-run's output scored by every filter pipeline and every metric of the task config (one sample per
    filter), exactly as :func:`rescore_lm_eval` scores the logged responses."""
    configs: Any = (header.config or {}).get("configs") or {}
    cfg: dict[str, Any] = configs.get(sample.task) or {}
    if not cfg:
        raise InputError(f"{sample.task}: the lm-eval log has no task config; declare `scorer:` in the manifest")
    names = [name for name, _kw, _agg in lm_eval_metric_list(cfg)]
    flist = cfg.get("filter_list") or [{"name": "none"}]
    out = []
    for entry in flist:
        filt = entry.get("name", "none")
        s = sample.model_copy(update={"filter": filt})
        try:
            lm_eval_filter_steps(cfg, filt)
            scores, answer = lm_eval_score(s, cfg, names)
        except Unsupported as exc:
            raise InputError(
                f"{sample.task}: the harness scorer cannot be applied by assay ({exc}); declare "
                "`scorer:` in the manifest"
            ) from None
        out.append(s.model_copy(update={"scores": scores, "answer": answer}))
    return out


# ================================================================================================== named scorers
def _loglik_acc(s: Sample) -> float:
    if not s.choice_logprobs or not isinstance(s.target, int):
        return 0.0
    return 1.0 if _argmax(s.choice_logprobs) == s.target else 0.0


def _loglik_acc_norm(s: Sample) -> float:
    if not s.choice_logprobs or not s.choices or not isinstance(s.target, int):
        return 0.0
    norm = [_div(ll, float(len(c))) for ll, c in zip(s.choice_logprobs, s.choices, strict=False)]
    return 1.0 if _argmax(norm) == s.target else 0.0


@scorer("lm-eval:exact_match")
def score_exact_match(s: Sample) -> float:
    """lm-eval's ``exact_match`` with its defaults against every target: 1.0 when any matches."""
    return max(
        lm_eval_exact_match(s.output or "", str(t)) for t in (s.target if isinstance(s.target, list) else [s.target])
    )


scorer("lm-eval:acc")(_loglik_acc)
scorer("lm-eval:acc_norm")(_loglik_acc_norm)


# ======================================================================================================== harness
@harness("lm-eval")
class LmEvalHarness(Harness):
    name_rank = 3
    sniff_rank: ClassVar[Mapping[str, int]] = {".jsonl": 1, ".json": 2}
    folder_patterns = ("results_*.json",)
    multi_file = True

    def claims_name(self, path: Path) -> bool:
        name, suffix = path.name, path.suffix.lower()
        return (name.startswith("results_") and suffix == ".json") or (
            name.startswith("samples_") and suffix == ".jsonl"
        )

    def sniff(self, probe: Probe) -> bool:
        if probe.suffix == ".jsonl":
            return {"doc_id", "filtered_resps"} <= probe.keys
        return probe.suffix == ".json" and {"results", "configs"} <= probe.keys

    def load(self, path: Path) -> list[ImportedLog]:
        return list(load_lm_eval(path))

    def covers(self, run: ImportedLog, path: Path) -> bool:
        return isinstance(run, LmEvalRun) and path in {run.results_path, *run.sample_files.values()}

    def loads_alone(self, path: Path) -> bool:
        return path.suffix == ".json"

    def rescore(self, log: ImportedLog, audit: bool) -> EngineResult:
        if not isinstance(log, LmEvalRun):
            raise TypeError(f"not an lm-eval run: {log.format}")
        return rescore_lm_eval(log, audit)

    def score_rerun(self, sample: Sample, header: LogHeader) -> list[Sample] | None:
        return score_rerun_lm_eval(sample, header)


# ------------------------------------------------------------------------------------------------- the runner
def run_flags(req: RunRequest, batch: str, gen_names: dict[str, str], args: dict[str, Any]) -> list[str]:
    """The command-line flags lm-eval and its fork lmms-eval share: task, sample logging and output, batch size, the
    four seeds (the few-shot one last), include path, few-shot count, limit, decoding as ``--gen_kwargs`` (assay's
    names mapped through ``gen_names``), the system prompt, then any further option spelled as its flag
    (:func:`~assay.evals.registry.option_flags`)."""
    cmd = ["--tasks", req.task, "--log_samples", "--output_path", str(req.out_dir), "--batch_size", batch]
    fewshot = req.fewshot_seed if req.fewshot_seed is not None else req.seed
    cmd += ["--seed", f"{req.seed},{req.seed},{req.seed},{fewshot}"]
    if req.include_path is not None:
        cmd += ["--include_path", str(req.include_path)]
    if req.num_fewshot is not None:
        cmd += ["--num_fewshot", str(req.num_fewshot)]
    if req.limit is not None:
        cmd += ["--limit", str(req.limit)]
    gen = {gen_names[k]: v for k, v in req.decoding.items() if k in gen_names and v is not None}
    if gen:
        cmd += ["--gen_kwargs", ",".join(f"{k}={v}" for k, v in sorted(gen.items()))]
    if req.decoding.get("system_prompt"):
        cmd += ["--system_instruction", str(req.decoding["system_prompt"])]
    return cmd + option_flags(args)


#: assay's decoding names -> lm-eval's gen_kwargs (HF generate's names, which lm-eval passes through)
_GEN_KWARGS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "max_new_tokens": "max_gen_toks",
    "do_sample": "do_sample",
}


@runner("lm-eval")
class LmEvalRunner(Runner):
    """``python -m lm_eval run`` with ``--log_samples``: the ``hf`` model on the release folder (in process), or
    ``local-chat-completions`` at an OpenAI-compatible endpoint (chat template applied by the server; lm-eval's API
    models cannot score log-likelihoods over chat completions, so such a run needs a ``generate_until`` task)."""

    package = "lm-eval"
    log_format = "lm-eval"

    def requirements(self, version: str) -> list[str]:
        return [f"lm-eval[hf,api]=={version}"]

    def command(self, req: RunRequest) -> list[str]:
        args = dict(req.args)
        batch = str(args.pop("batch_size", 1))
        if req.base_url is None:
            margs = f"pretrained={req.model}" + "".join(
                f",{k}={v}" for k, v in sorted(dict(args.pop("model_args", {}) or {}).items())
            )
            cmd = [
                str(req.python),
                "-m",
                "lm_eval",
                "run",
                "--model",
                "hf",
                "--model_args",
                margs,
                "--device",
                req.device,
            ]
        else:
            margs = (
                f"model={req.model},base_url={req.base_url.rstrip('/')}/chat/completions,num_concurrent=1,"
                "max_retries=3,tokenized_requests=False"
            )
            margs += "".join(f",{k}={v}" for k, v in sorted(dict(args.pop("model_args", {}) or {}).items()))
            cmd = [
                str(req.python),
                "-m",
                "lm_eval",
                "run",
                "--model",
                "local-chat-completions",
                "--model_args",
                margs,
                "--apply_chat_template",
            ]
        return cmd + run_flags(req, batch, _GEN_KWARGS, args)
