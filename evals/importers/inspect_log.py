"""Inspect AI logs: ``.eval`` (a ZIP whose members are zstd- or deflate-compressed JSON) and ``.json``.

``.eval`` files are ZIPs of the same JSON documents (header.json, samples/<id>_epoch_<n>.json, reductions.json);
they are read member by member with the standard library, so both formats give the same raw shapes.  Releases up
to about 0.3.60 deflate the members (no inspect_ai needed); later ones use zstd, which the standard library cannot
open before Python 3.14: then inspect_ai (the ``evals`` extra) is imported for its zstd codec.  ``.json`` logs are
plain JSON.  Attachments (``attachment://<murmur3>`` references) are resolved.  Inspect logs carry no
cryptographic hashes; assay's content hashes of input and target are computed here.

Per sample: ``EvalSample{id, epoch, input, target, choices, output.completion, scores{name: Score(value, answer)}}``;
per log: ``results.scores[{name, scorer, params, metrics{name: {value}}}]`` and ``eval.scorers`` (the scorer
functions and their options, in the same order).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...manifests.errors import InputError, require_extra
from ..results import sample_ref
from ..samples import Aggregate, ContentPart, ImageRef, LogHeader, Message, Sample
from ..scorers import inspect_value_to_float
from . import ImportedLog


def load_inspect(path: Path) -> list[InspectLog]:
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


def _zip_json(z: Any, name: str) -> Any:
    with z.open(name) as fh:
        return json.load(fh)


def _read_eval_zip(path: Path) -> dict[str, Any]:
    """The ``.eval`` archive as the ``.json`` log would hold it: header.json, then samples/*.json in the order of
    the journal summaries (else by name), then reductions.json.  Deflate members (older releases) are read by the
    standard library; zstd members (method 93) need the codec that importing inspect_ai registers (zipfile_zstd),
    or Python 3.14's own."""
    import zipfile

    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not a readable Inspect .eval archive ({exc})") from None
    with z:
        names = z.namelist()
        if any(i.compress_type == 93 for i in z.infolist()) and not hasattr(zipfile, "ZIP_ZSTANDARD"):
            # Python < 3.14: zipfile_zstd (an inspect_ai dependency) patches zipfile on import
            require_extra("zipfile_zstd", "evals", "reading zstd-compressed Inspect .eval logs")
        if "header.json" not in names:
            raise InputError(f"{path}: not an Inspect .eval log (no header.json)")
        try:
            data = _zip_json(z, "header.json")
            sample_names = [n for n in names if n.startswith("samples/") and n.endswith(".json")]
            order = {}
            if "summaries.json" in names:
                for k, summ in enumerate(_zip_json(z, "summaries.json") or []):
                    order[f"samples/{summ.get('id')}_epoch_{summ.get('epoch')}.json"] = k
            sample_names.sort(key=lambda n: (order.get(n, len(order)), n))
            data["samples"] = [_zip_json(z, n) for n in sample_names]
            if "reductions.json" in names:
                data["reductions"] = _zip_json(z, "reductions.json")
        except (json.JSONDecodeError, UnicodeDecodeError, zipfile.BadZipFile, NotImplementedError) as exc:
            raise InputError(f"{path}: not a readable Inspect .eval log ({type(exc).__name__}: {exc})") from None
    return data


def _read(path: Path) -> dict[str, Any]:
    if path.suffix == ".eval":
        data = _read_eval_zip(path)
    else:
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


def _completion(out: dict[str, Any]) -> str:
    """``output.completion`` (0.3.285) or the first choice's message text (older releases log no completion)."""
    completion = out.get("completion")
    if isinstance(completion, str):
        return completion
    choices = out.get("choices") or []
    content = (choices[0].get("message") or {}).get("content") if choices else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: Inspect's completion is the text of the text parts
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict) and c.get("type") == "text")
    return ""


class InspectLog(ImportedLog):
    format = "inspect"

    def __init__(self, path: Path) -> None:
        self.data = _read(path)
        ev = self.data.get("eval") or {}
        results = self.data.get("results") or {}
        task = ev.get("task") or "task"
        entries = results.get("scores") or []
        per_name: dict[str, int] = {}
        for sc in entries:
            per_name[str(sc.get("name"))] = per_name.get(str(sc.get("name")), 0) + 1
        aggs = []
        self.score_keys: dict[str, tuple[str, str]] = {}  # reported score key -> (score name, epoch reducer)
        for sc in entries:
            name = str(sc.get("name"))
            reducer = sc.get("reducer") or "mean"
            key = name if per_name[name] == 1 else f"{name}[{reducer}]"
            self.score_keys[key] = (name, reducer)
            for mname, m in (sc.get("metrics") or {}).items():
                v = m.get("value") if isinstance(m, dict) else None
                aggs.append(Aggregate(task=task, metric=f"{key}/{mname}", filter="none",
                                      value=float(v) if isinstance(v, (int, float)) else None,
                                      n=sc.get("scored_samples")))
        cfg = ev.get("config") or {}
        version = (ev.get("packages") or {}).get("inspect_ai")
        header = LogHeader(
            source_format="inspect", harness="inspect_ai", harness_version=version,
            model=ev.get("model"), decoding=ev.get("model_generate_config") or {}, created=ev.get("created"),
            tasks=[task], aggregates=aggs,
            config={"eval_config": cfg, "scorers": ev.get("scorers") or [], "dataset": ev.get("dataset") or {},
                    "status": self.data.get("status")},
        )
        super().__init__(path, header)
        self.task = task
        self.epochs = int(cfg.get("epochs") or 1)
        self.choice_context = {"inspect_version": version, "multiple_correct": self._multiple_correct()}
        self.header.config["score_defs"] = {k: [fn, opts] for k, (fn, opts) in self.scorer_defs().items()}
        samples = self.data.get("samples") or []
        self.errored = [self.label(str(x.get("id")), int(x.get("epoch") or 1)) for x in samples if x.get("error")]
        status = self.data.get("status")
        if status != "success":
            done = results.get("completed_samples")
            total = results.get("total_samples")
            if not isinstance(done, int):
                done = sum(1 for x in samples if not x.get("error") and x.get("scores"))
            ids = (ev.get("dataset") or {}).get("sample_ids")
            if not isinstance(total, int) and isinstance(ids, list) and ids:
                total = len(ids) * self.epochs
            of = f" of {total}" if isinstance(total, int) else (f" of {len(samples)} logged" if samples else "")
            err = (self.data.get("error") or {}).get("message")
            self.add("error", "incomplete-run", f"the run's status is {status!r}, not 'success': {done}{of} "
                     f"sample(s) completed" + (f" ({err})" if err else ""), task, self.errored)
        elif self.errored:
            self.add("warning", "errored-samples", f"{len(self.errored)} sample(s) errored (fail_on_error="
                     f"{cfg.get('fail_on_error')!r}) and are not in the reported metrics", task, self.errored)
        ds = ev.get("dataset") or {}
        total = results.get("total_samples")
        if isinstance(ds.get("samples"), int) and isinstance(total, int) and cfg.get("limit") is not None:
            self.add("warning", "subset-run", f"subset run: limit={cfg.get('limit')!r}, {total} sample(s) of "
                     f"{ds['samples']} in the dataset", task)
        self._checked = False

    def label(self, sample_id: str, epoch: int) -> str:
        """How findings name a sample: its id, with the epoch when the run has several."""
        return sample_ref(sample_id, epoch - 1, self.epochs > 1)

    def _multiple_correct(self) -> bool | None:
        """multiple_choice()'s multiple_correct from the plan; None when no multiple_choice() solver marked the
        choices (then choice() cannot be recomputed)."""
        for step in (self.data.get("plan") or {}).get("steps") or []:
            if str(step.get("solver", "")).split("/")[-1] == "multiple_choice":
                return bool((step.get("params") or {}).get("multiple_correct", False))
        return None

    def scorer_defs(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """{score key: (scorer function, its options)} for every reported score (key = name, or name[reducer]
        when one scorer is reduced several ways)."""
        ev = self.data.get("eval") or {}
        defs = ev.get("scorers") or []
        scores = (self.data.get("results") or {}).get("scores") or []
        names = list(dict.fromkeys(str(sc.get("name")) for sc in scores))
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for key, (name, _reducer) in self.score_keys.items():
            sc = next(x for x in scores if str(x.get("name")) == name)
            i = names.index(name)
            d = defs[i] if len(defs) == len(names) else None
            fn = str((d or {}).get("name") or sc.get("scorer") or name).split("/")[-1]
            m = re.fullmatch(r"(.+?)(\d+)", fn)
            if d is None and m and m.group(1) in names[:i]:
                # older releases log no eval.scorers and give the second match() the name "match1"
                # (unique_scorer_name appends a counter): the function is the base name
                fn = m.group(1)
            opts = (d or {}).get("options") or sc.get("params") or {}
            out[key] = (fn, opts)
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
                dups.append(self.label(sid, epoch))
            seen.add((sid, epoch))
            scores_raw = s.get("scores") or {}
            scores = {k: inspect_value_to_float(v.get("value")) if isinstance(v, dict) else None
                      for k, v in scores_raw.items()}
            answers = {k: v.get("answer") for k, v in scores_raw.items() if isinstance(v, dict)}
            first = next(iter(answers.values()), None)
            meta: dict[str, Any] = {"score_values": {k: v.get("value") for k, v in scores_raw.items()
                                                     if isinstance(v, dict)},
                                    "answers": answers, "metadata": s.get("metadata") or {}}
            if s.get("error"):
                meta["error"] = str((s.get("error") or {}).get("message") or s.get("error"))
            yield Sample(
                id=sid, task=task, repeat=epoch - 1, input=_messages(s.get("input")), target=s.get("target"),
                choices=s.get("choices") or None, output=_completion(s.get("output") or {}), answer=first,
                scores=scores, meta=meta,
            )
        if check:
            if dups:
                self.add("error", "duplicate-samples", f"{len(dups)} duplicated (id, epoch) sample(s)", task, dups)
            ids = (self.data.get("eval") or {}).get("dataset", {}).get("sample_ids")
            if isinstance(ids, list) and ids:
                expected = {(str(i), e) for i in ids for e in range(1, self.epochs + 1)}
                missing = [self.label(i, e) for i, e in sorted(expected - seen)]
                extra = [self.label(i, e) for i, e in sorted(seen - expected)]
                if missing:
                    self.add("error", "missing-samples", f"{len(missing)} sample(s) of the dataset have no logged "
                             "result", task, missing)
                if extra:
                    self.add("error", "extra-samples", f"{len(extra)} logged sample(s) are not in the dataset", task,
                             extra)
