"""Inspect AI logs: ``.eval`` (a ZIP whose members are zstd- or deflate-compressed JSON) and ``.json``.

``.eval`` files are read with Inspect's own ``read_eval_log`` (the standard library cannot open zstd ZIP members
before Python 3.14; importing inspect_ai registers a zstd codec).  ``.json`` logs are plain JSON and are read
without inspect_ai.  Attachments (``attachment://<murmur3>`` references) are resolved.  Inspect logs carry no
cryptographic hashes; assay's content hashes of input and target are computed here.

Per sample: ``EvalSample{id, epoch, input, target, choices, output.completion, scores{name: Score(value, answer)}}``;
per log: ``results.scores[{name, scorer, params, metrics{name: {value}}}]`` and ``eval.scorers`` (the scorer
functions and their options, in the same order).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

from ...manifests.errors import InputError
from ..samples import Aggregate, ContentPart, ImageRef, LogHeader, Message, Sample
from ..scorers import inspect_value_to_float
from . import ImportedLog


def load_inspect(path: Path) -> list["InspectLog"]:
    path = Path(path)
    if path.is_dir():
        files = sorted([*path.rglob("*.eval"), *[p for p in path.rglob("*.json") if _looks_inspect(p)]])
        if not files:
            raise InputError(f"{path}: no Inspect .eval or .json log here")
        return [InspectLog(f) for f in files]
    return [InspectLog(path)]


def _looks_inspect(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b'"eval"' in head and b'"status"' in head


def _read(path: Path) -> dict[str, Any]:
    if path.suffix == ".eval":
        try:
            from inspect_ai.log import read_eval_log
        except ImportError:
            raise InputError(f"{path}: reading Inspect .eval logs needs inspect-ai (pip install inspect-ai)") from None
        try:
            log = read_eval_log(str(path), resolve_attachments=True)
        except Exception as exc:  # inspect raises many types for a broken archive
            raise InputError(f"{path}: not a readable Inspect log ({type(exc).__name__}: {exc})") from None
        return log.model_dump(mode="json", exclude={"samples": {"__all__": {"events"}}})
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or "eval" not in data:
        raise InputError(f"{path}: not an Inspect log (no 'eval' object)")
    for s in data.get("samples") or []:
        att = s.get("attachments") or {}
        if att:
            _resolve(s, att)
    return data


def _resolve(obj: Any, att: dict[str, str]) -> Any:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, str) and v.startswith("attachment://"):
                obj[k] = att.get(v[len("attachment://"):], v)
            else:
                _resolve(v, att)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            if isinstance(v, str) and v.startswith("attachment://"):
                obj[i] = att.get(v[len("attachment://"):], v)
            else:
                _resolve(v, att)
    return obj


def _image_ref(image: str) -> ImageRef:
    if image.startswith("data:"):
        head, _, b64 = image.partition(",")
        data = base64.b64decode(b64)
        media = head[5:].split(";")[0] or None
        return ImageRef(sha256=hashlib.sha256(data).hexdigest(), media_type=media)
    p = Path(image)
    if p.is_file():
        return ImageRef(sha256=hashlib.sha256(p.read_bytes()).hexdigest(), path=image)
    # a URL or a missing file: the reference itself is all the log holds
    return ImageRef(sha256=hashlib.sha256(image.encode("utf-8")).hexdigest(), path=image)


def _messages(inp: Any) -> list[Message]:
    if isinstance(inp, str):
        return [Message(role="user", content=inp)]
    out = []
    for m in inp or []:
        role = m.get("role", "user")
        if role not in ("system", "user", "assistant", "tool"):
            role = "user"
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for c in content:
                if c.get("type") == "text":
                    parts.append(ContentPart(type="text", text=c.get("text", "")))
                elif c.get("type") == "image":
                    parts.append(ContentPart(type="image", image=_image_ref(str(c.get("image", "")))))
                else:
                    parts.append(ContentPart(type="text", text=json.dumps(c, ensure_ascii=False, sort_keys=True)))
            out.append(Message(role=role, content=parts))
        else:
            out.append(Message(role=role, content=str(content or "")))
    return out


class InspectLog(ImportedLog):
    format = "inspect"

    def __init__(self, path: Path) -> None:
        self.data = _read(path)
        ev = self.data.get("eval") or {}
        results = self.data.get("results") or {}
        task = ev.get("task") or "task"
        aggs = []
        for sc in results.get("scores") or []:
            for mname, m in (sc.get("metrics") or {}).items():
                v = m.get("value") if isinstance(m, dict) else None
                aggs.append(Aggregate(task=task, metric=f"{sc.get('name')}/{mname}", filter="none",
                                      value=float(v) if isinstance(v, (int, float)) else None,
                                      n=sc.get("scored_samples")))
        cfg = ev.get("config") or {}
        header = LogHeader(
            source_format="inspect", harness="inspect_ai", harness_version=(ev.get("packages") or {}).get("inspect_ai"),
            model=ev.get("model"), decoding=ev.get("model_generate_config") or {}, created=ev.get("created"),
            tasks=[task], aggregates=aggs,
            config={"eval_config": cfg, "scorers": ev.get("scorers") or [], "dataset": ev.get("dataset") or {},
                    "status": self.data.get("status")},
        )
        super().__init__(path, header)
        self.task = task
        self.header.config["score_defs"] = {k: [fn, opts] for k, (fn, opts) in self.scorer_defs().items()}
        status = self.data.get("status")
        if status != "success":
            self.add("error", "incomplete-run", f"the run's status is {status!r}, not 'success'", task)
        ds = ev.get("dataset") or {}
        total = results.get("total_samples")
        if isinstance(ds.get("samples"), int) and isinstance(total, int) and cfg.get("limit"):
            self.add("warning", "subset-run", f"subset run: limit={cfg.get('limit')!r}, {total} sample(s) of "
                     f"{ds['samples']} in the dataset", task)
        self._checked = False

    def scorer_defs(self) -> dict[str, tuple[str, dict[str, Any]]]:
        ev = self.data.get("eval") or {}
        defs = ev.get("scorers") or []
        scores = (self.data.get("results") or {}).get("scores") or []
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for i, sc in enumerate(scores):
            name = sc.get("name")
            d = defs[i] if i < len(defs) and len(defs) == len(scores) else None
            fn = (d or {}).get("name") or sc.get("scorer") or name
            opts = (d or {}).get("options") or sc.get("params") or {}
            out[name] = (str(fn).split("/")[-1], opts)
        return out

    def iter_samples(self, task: str) -> Iterator[Sample]:
        if task != self.task:
            return
        check = not self._checked
        self._checked = True
        seen: set[tuple[str, int]] = set()
        dups = []
        for s in self.data.get("samples") or []:
            sid = str(s.get("id"))
            epoch = int(s.get("epoch") or 1)
            if (sid, epoch) in seen:
                dups.append(sid)
            seen.add((sid, epoch))
            out = s.get("output") or {}
            completion = out.get("completion")
            if completion is None:
                choices = out.get("choices") or []
                msg = (choices[0].get("message") or {}) if choices else {}
                completion = msg.get("content") if isinstance(msg.get("content"), str) else ""
            scores_raw = s.get("scores") or {}
            scores = {k: inspect_value_to_float(v.get("value")) if isinstance(v, dict) else None
                      for k, v in scores_raw.items()}
            answers = {k: v.get("answer") for k, v in scores_raw.items() if isinstance(v, dict)}
            first = next(iter(answers.values()), None)
            target = s.get("target")
            yield Sample(
                id=sid, task=task, repeat=epoch - 1, input=_messages(s.get("input")), target=target,
                choices=s.get("choices") or None, output=completion, answer=first, scores=scores,
                meta={"score_values": {k: v.get("value") for k, v in scores_raw.items() if isinstance(v, dict)},
                      "answers": answers, "metadata": s.get("metadata") or {}},
            )
        if check:
            if dups:
                self.add("error", "duplicate-samples", f"{len(dups)} duplicated (id, epoch) sample(s)", task, dups)
            ids = (self.data.get("eval") or {}).get("dataset", {}).get("sample_ids")
            epochs = ((self.data.get("eval") or {}).get("config") or {}).get("epochs") or 1
            if isinstance(ids, list) and ids:
                expected = {(str(i), e) for i in ids for e in range(1, int(epochs) + 1)}
                missing = sorted({i for i, _e in expected - seen})
                extra = sorted({i for i, _e in seen - expected})
                if missing:
                    self.add("error", "missing-samples", f"{len(missing)} sample(s) of the dataset have no logged "
                             "result", task, missing)
                if extra:
                    self.add("error", "extra-samples", f"{len(extra)} logged sample(s) are not in the dataset", task,
                             extra)
