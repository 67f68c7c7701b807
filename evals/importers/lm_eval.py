"""lm-evaluation-harness (0.4.x) logs: ``results_<ts>.json`` + ``samples_<task>_<ts>.jsonl``.

Checks made while reading (FIELD-NOTES 1.5; lm_eval/evaluator.py, loggers/evaluation_tracker.py):

* per row: ``doc_hash`` = sha256(json.dumps(doc, indent=2, ensure_ascii=False)), ``prompt_hash`` =
  sha256(arguments.gen_args_0.arg_0), ``target_hash`` = sha256(str(target)) — recomputed, mismatches named;
* per task: ``task_hashes[task]`` = sha256 of the concatenated doc/prompt/target hashes of the rows in file order;
* sample accounting: duplicated (doc_id, filter) rows, missing or extra doc ids against ``n-samples.effective``,
  and subset runs (``effective < original`` or ``config.limit``, i.e. ``--limit``).

lm-eval 0.4.0 wrote ``results.json`` and ``<model_args>_<task>.jsonl`` (one JSON array, rows without ``filter`` or
hashes, filters in blocks in ``filter_list`` order), no ``group_subtasks`` (the task tree is the order of ``results``
with aliases indented ``" " * depth + "- "``), and aggregated groups with a running mean (``legacy_groups``);
≤ 0.4.9 list every plain task in ``group_subtasks`` as ``{"<task>": []}``, which is no group.

Numbers in ``resps`` / ``filtered_resps`` are strings (``"-3.2"``, ``"True"``); multiple-choice targets are the
gold index as a string.  Everything is kept so that :mod:`assay.evals.rescore` can re-apply the task's filters and
metrics from the raw responses.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from ...manifests.errors import InputError
from ..samples import Aggregate, LogHeader, Sample, content_sha256, fast_message
from . import ImportedLog, read_json

_SAMPLES_RE = re.compile(r"^samples_(.+)_(\d{4}-\d\d-\d\dT[0-9\-]+(?:\.\d+)?)\.jsonl$")
_RESULTS_RE = re.compile(r"^results_(\d{4}-\d\d-\d\dT[0-9\-]+(?:\.\d+)?)\.json$")
_ROW_FIELDS = {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics", "doc_hash",
               "prompt_hash", "target_hash"}
_NON_METRIC_KEYS = {"alias", "name", "sample_len", "sample_count", "samples", " "}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


try:  # the C string encoder json uses with ensure_ascii=False
    from json.encoder import c_encode_basestring as _enc  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    from json.encoder import py_encode_basestring as _enc  # type: ignore[assignment]
if _enc is None:  # pragma: no cover
    from json.encoder import py_encode_basestring as _enc  # type: ignore[assignment]

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


def load_lm_eval(path: Path) -> list["LmEvalRun"]:
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
        if results_path and not isinstance(self.results.get("results"), dict):
            raise InputError(f"{results_path}: not an lm-eval results file (no 'results' object)")
        r = self.results
        cfg = r.get("config") or {}
        margs = cfg.get("model_args")
        model = r.get("model_name") or (margs.get("pretrained") if isinstance(margs, dict) else margs)
        members = _group_members(r)
        tasks = [t for t in (r.get("results") or {}) if t not in members or t in sample_files]
        tasks += [t for t in sample_files if t not in tasks]
        header = LogHeader(
            source_format="lm-eval", harness="lm-eval", harness_version=r.get("lm_eval_version"),
            model=model if isinstance(model, str) else None, model_revision=cfg.get("model_sha") or None,
            decoding={"gen_kwargs": cfg.get("gen_kwargs")} if cfg.get("gen_kwargs") else {},
            created=r.get("date") if isinstance(r.get("date"), str) else None, tasks=tasks,
            aggregates=self._aggregates(r),
            config={k: r[k] for k in ("configs", "config", "n-samples", "group_subtasks", "groups", "task_hashes",
                                      "versions", "n-shot", "chat_template_sha", "system_instruction_sha",
                                      "model_name", "git_hash") if k in r},
        )
        super().__init__(results_path or folder, header)
        self._checked: set[str] = set()
        self._members = members
        # lm-eval 0.4.0 (no version recorded, no group_subtasks): groups are running means over their subtasks
        self.legacy_groups = bool(results_path) and "group_subtasks" not in r and "lm_eval_version" not in r
        if results_path:
            self._check_counts_static()
        else:
            self.add("error", "no-results", "samples without their results_*.json: nothing reported to compare the "
                     "recomputed scores with")

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
                out.append(Aggregate(task=task, metric=metric, filter=filt, value=_num(value),
                                     stderr=_num(se), n=n if isinstance(n, int) else None))
        return out

    def _check_counts_static(self) -> None:
        r = self.results
        limit = (r.get("config") or {}).get("limit")
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        for task, ns in (r.get("n-samples") or {}).items():
            orig, eff = ns.get("original"), ns.get("effective")
            if isinstance(orig, int) and isinstance(eff, int) and eff < orig:
                self.add("warning", "subset-run", f"subset run: {eff} of {orig} documents were evaluated "
                         f"(--limit {limit if limit is not None else '?'})", task)
        for task in self.header.tasks:
            if task not in self.sample_files:
                self.add("error", "no-samples", "no samples_*.jsonl for this task (run with --log_samples); "
                         "the aggregate cannot be recomputed", task)

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
                    task_hash.update(f"{doc_h}{prompt_h}{target_h}".encode("utf-8"))
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
            self.add("error", "filter-blocks", f"the rows (which name no filter) form more blocks of documents than "
                     f"the task has filters ({', '.join(fnames)}): they cannot be assigned to filters", task)
        if unhashed:
            self.add("info", "no-hashes", f"{unhashed} row(s) carry no doc/prompt/target hashes (lm-eval 0.4.0 "
                     "wrote none): the documents were not checked against hashes", task)
        for name, bad in (("doc_hash", bad_doc), ("prompt_hash", bad_prompt), ("target_hash", bad_target)):
            if bad:
                self.add("error", "hash-mismatch", f"{name} does not match the logged content in {len(bad)} "
                         f"row(s)", task, sorted(set(bad), key=_id_key))
        logged = (self.results.get("task_hashes") or {}).get(task)
        if logged and logged != task_hash.hexdigest():
            self.add("error", "task-hash-mismatch", "task_hashes[task] in the results file does not match the "
                     "samples file (rows added, removed, reordered or edited)", task)
        if dups:
            self.add("error", "duplicate-samples", f"{len(dups)} duplicated (doc_id, filter) row(s)", task,
                     sorted(set(dups), key=_id_key))
        eff = ((self.results.get("n-samples") or {}).get(task) or {}).get("effective")
        if isinstance(eff, int):
            expected = {str(i) for i in range(eff)}
            for filt, ids in sorted(seen.items()):
                missing = sorted(expected - ids, key=_id_key)
                extra = sorted(ids - expected, key=_id_key)
                if missing:
                    self.add("error", "missing-samples", f"filter {filt}: {len(missing)} of {eff} evaluated "
                             "documents have no sample row", task, missing)
                if extra:
                    self.add("error", "extra-samples", f"filter {filt}: {len(extra)} sample row(s) beyond the "
                             f"{eff} evaluated documents", task, extra)

    def _sample(self, task: str, row: dict[str, Any], output_type: str | None, delim: str, path: Path,
                lineno: int) -> Sample:
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
        prompt_text = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
        raw_target = row.get("target")
        target_text = raw_target if isinstance(raw_target, str) else str(raw_target)
        second = arglist[0].get("arg_1") if arglist else None
        if output_type is None:
            output_type = "generate_until" if isinstance(second, dict) else (
                "multiple_choice" if len(arglist) > 1 else "loglikelihood")
        fields: dict[str, Any] = dict(
            id=str(doc_id), task=task, filter=str(row.get("filter", "none")), repeat=0, prompt=prompt_text,
            input=[fast_message("user", prompt_text)], choices=None, continuations=None,
            choice_logprobs=None, choice_greedy=None, output=None, outputs=None, answer=None, gen_kwargs=None,
        )
        doc = row.get("doc")
        if output_type == "generate_until":
            first = resps[0] if resps else []
            outs = ([o if isinstance(o, str) else json.dumps(o) for o in first] if isinstance(first, list)
                    else [str(first)])
            fields["output"] = outs[0] if outs else None
            fields["outputs"] = outs if len(outs) > 1 else None
            fields["answer"] = filtered[0] if isinstance(filtered, list) and filtered else filtered
            fields["gen_kwargs"] = second if isinstance(second, dict) else None
            fields["target"] = _gen_target(target_text)
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
                choices = [c[len(delim):] if delim and c.startswith(delim) else c for c in fields["continuations"]]
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
        meta: dict[str, Any] = {"doc": doc, "target": target_text, "doc_hash": row.get("doc_hash"),
                                "prompt_hash": row.get("prompt_hash"), "target_hash": row.get("target_hash"),
                                "prompt_sha256": _sha(prompt_text), "output_type": output_type,
                                "filtered_resps": filtered}
        if other:
            meta["metric_values"] = other
        fields["meta"] = meta
        enc = _enc(prompt_text)  # = content_sha256({"input": [{"role": "user", "content": p}], "prompt": p})
        fields["input_sha256"] = hashlib.sha256(('{"input":[{"content":' + enc + ',"role":"user"}],"prompt":' + enc
                                                 + "}").encode("utf-8")).hexdigest()
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


def _gen_target(text: str) -> Any:
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
        if isinstance(field, str) and isinstance(doc, dict) and isinstance(doc.get(field), str) \
                and doc[field] in choices:  # the field holds a choice text that happens to be digits
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
