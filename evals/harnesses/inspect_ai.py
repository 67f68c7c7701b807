"""Inspect AI (0.3.x): ``.eval`` logs (a ZIP whose members are zstd- or deflate-compressed JSON) and ``.json`` logs.

Reads: ``.eval`` files are ZIPs of the same JSON documents as ``.json`` logs (header.json,
samples/<id>_epoch_<n>.json, reductions.json); they are read member by member with the standard library, so both
formats give the same raw shapes.  Releases up to about 0.3.60 deflate the members (no inspect_ai needed); later
ones use zstd, which the standard library cannot open before Python 3.14: then inspect_ai (the ``evals`` extra) is
imported for its zstd codec.  Attachments (``attachment://<murmur3>`` references) are resolved.  Inspect logs carry
no cryptographic hashes; assay's content hashes of input and target are computed here.  Per sample:
``EvalSample{id, epoch, input, target, choices, output.completion, scores{name: Score(value, answer)}}``; per log:
``results.scores[{name, scorer, reducer, params, metrics{name: {value}}}]``, ``eval.scorers`` (the scorer functions
and their options, in the same order) and ``reductions`` (the per-sample reductions over the epochs).  Checks:
duplicated / missing / extra (id, epoch) samples, errored samples, incomplete runs (``status`` not ``success``:
``incomplete-run``), subset runs (``limit``).

Semantics reproduced (ported, not imported — the log's release is usually not the installed one):

* ``value_to_float`` with the default sentinels (C=1, P=0.5, I/N=0);
* scorers: ``match`` (begin / end / any / exact, ignore_case, numeric — 0.3.285's ``match_str``, and for logs of
  releases before 0.3.221 the 0.3.50–0.3.122 one, ported from 0.3.58: numeric only for ``isnumeric()`` targets, so
  ``match(numeric=True)`` accepts "11" for "1"), ``includes``, ``pattern``, ``exact`` (with ``f1``'s
  normalisation); numeric parsing uses Inspect's own unicode number parser (``inspect_ai.scorer._unicode``, the
  ``evals`` extra: without it a re-score fails closed with MissingExtra);
* ``choice()`` with the ``multiple_choice()`` solver's answer parsing, per release (:func:`inspect_choice`; see
  below);
* metrics ``accuracy`` / ``mean`` (a sequential sum of value_to_float / n), ``stderr`` (numpy std with ddof=1 /
  √n), ``std``; epochs reduced by Inspect's reducers (:func:`inspect_reduce`: mean, median, mode, max,
  at_least_k, pass_at_k), compared with the log's own ``reductions``;
* named scorers for re-runs: ``inspect:match``, ``inspect:match_numeric``, ``inspect:includes``,
  ``inspect:exact``; a re-run's output is scored by every scorer of the log (:meth:`InspectHarness.score_rerun`).

``choice()`` per release: ``choice()`` does not read the completion; the ``multiple_choice()`` solver parses
``ANSWER: …`` from it and marks the selected choices, and ``choice()`` compares the marked positions with the
target letters.  Neither the marks nor the parse are logged (only ``Score.value`` and ``Score.answer``, the selected
letters), so re-scoring re-runs both steps on the logged completion.  Both steps changed across releases; the
variants below follow the inspect_ai history of ``solver/_multiple_choice.py``, ``scorer/_choice.py`` and
``_util/answer.py``:

* ``< 0.3.94``: letters only; the first ``ANSWER:`` line; every character after it that maps to a choice is
  selected (``ANSWER: A,B`` selects A and B even on a single-answer question); answer letters ``chr(65 + i)``.
* ``0.3.94``: digits name choices past Z (``25 + n``); ``,`` and `` `` map to negative (ignored) positions.
* ``0.3.121``: a set of answers; ``multiple_correct`` decides whether several letters may be selected; a single
  answer must be exactly one allowed letter (case-sensitive: ``answer: c`` selects nothing).
* ``0.3.221``: the last ``ANSWER:`` match, upper-cased; `` and `` separates letters; the target ignores ``,``/`` ``.
* ``0.3.259``: empty tokens of a trailing comma are ignored (multiple); ``0.3.260``: also for a single answer.
* ``0.3.261``–``0.3.285`` (0.3.285's code): ``$…$`` / ``**…**`` / ``(A)`` wrappers are removed before parsing,
  an empty completion with nothing selected scores ``N`` (NOANSWER), target tokens may be multi-digit numbers.

The exact boundaries between 0.3.261 and 0.3.284 are not pinned by a log here (0.3.285's code is used for them);
a wrong guess there can only produce a mismatch finding, never a silent pass.  Written from the released code
rather than imported, because the log's release is usually not the installed one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import statistics
import string
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ...manifests.errors import InputError, require_extra
from ..audit import AuditAccumulator
from ..engine import reported_of, same_number
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
from ..results import Finding, RescoreRow, sample_ref
from ..samples import Aggregate, ContentPart, ImageRef, LogHeader, Message, Sample, read_json


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
        data = read_json(path)
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
                obj[k] = att.get(v[len("attachment://") :], v)
            else:
                _resolve(v, att)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            if isinstance(v, str) and v.startswith("attachment://"):
                obj[i] = att.get(v[len("attachment://") :], v)
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
                aggs.append(
                    Aggregate(
                        task=task,
                        metric=f"{key}/{mname}",
                        filter="none",
                        value=float(v) if isinstance(v, (int, float)) else None,
                        n=sc.get("scored_samples"),
                    )
                )
        cfg = ev.get("config") or {}
        version = (ev.get("packages") or {}).get("inspect_ai")
        header = LogHeader(
            source_format="inspect",
            harness="inspect_ai",
            harness_version=version,
            model=ev.get("model"),
            decoding=ev.get("model_generate_config") or {},
            created=ev.get("created"),
            tasks=[task],
            aggregates=aggs,
            config={
                "eval_config": cfg,
                "scorers": ev.get("scorers") or [],
                "dataset": ev.get("dataset") or {},
                "status": self.data.get("status"),
            },
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
            self.add(
                "error",
                "incomplete-run",
                f"the run's status is {status!r}, not 'success': {done}{of} "
                f"sample(s) completed" + (f" ({err})" if err else ""),
                task,
                self.errored,
            )
        elif self.errored:
            self.add(
                "warning",
                "errored-samples",
                f"{len(self.errored)} sample(s) errored (fail_on_error="
                f"{cfg.get('fail_on_error')!r}) and are not in the reported metrics",
                task,
                self.errored,
            )
        ds = ev.get("dataset") or {}
        total = results.get("total_samples")
        if isinstance(ds.get("samples"), int) and isinstance(total, int) and cfg.get("limit") is not None:
            self.add(
                "warning",
                "subset-run",
                f"subset run: limit={cfg.get('limit')!r}, {total} sample(s) of {ds['samples']} in the dataset",
                task,
            )
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
            scores = {
                k: inspect_value_to_float(v.get("value")) if isinstance(v, dict) else None
                for k, v in scores_raw.items()
            }
            answers = {k: v.get("answer") for k, v in scores_raw.items() if isinstance(v, dict)}
            first = next(iter(answers.values()), None)
            meta: dict[str, Any] = {
                "score_values": {k: v.get("value") for k, v in scores_raw.items() if isinstance(v, dict)},
                "answers": answers,
                "metadata": s.get("metadata") or {},
            }
            if s.get("error"):
                meta["error"] = str((s.get("error") or {}).get("message") or s.get("error"))
            yield Sample(
                id=sid,
                task=task,
                repeat=epoch - 1,
                input=_messages(s.get("input")),
                target=s.get("target"),
                choices=s.get("choices") or None,
                output=_completion(s.get("output") or {}),
                answer=first,
                scores=scores,
                meta=meta,
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
                    self.add(
                        "error",
                        "missing-samples",
                        f"{len(missing)} sample(s) of the dataset have no logged result",
                        task,
                        missing,
                    )
                if extra:
                    self.add(
                        "error", "extra-samples", f"{len(extra)} logged sample(s) are not in the dataset", task, extra
                    )


# ============================================================================================= per-sample scoring
CORRECT, INCORRECT, PARTIAL, NOANSWER = "C", "I", "P", "N"


def _is_finite_number(s: str) -> bool:
    try:
        return math.isfinite(float(s))
    except ValueError:
        return False


def inspect_value_to_float(value: Any) -> float:
    """inspect_ai.scorer.value_to_float() with the default sentinels."""
    if value == CORRECT:
        return 1.0
    if value == PARTIAL:
        return 0.5
    if value in (INCORRECT, NOANSWER):
        return 0.0
    if isinstance(value, (int, float, bool)):
        return float(value)
    if isinstance(value, str):
        v = value.lower()
        if v in ("yes", "true"):
            return 1.0
        if v in ("no", "false"):
            return 0.0
        if _is_finite_number(v):
            return float(v)
    return 0.0


def _located(value: str, target: str, location: str) -> bool:
    """match()'s final test, shared by every release's port: where the target must stand in the answer."""
    if location == "begin":
        return value.startswith(target)
    if location == "end":
        return value.endswith(target)
    if location == "exact":
        return value == target
    return target in value


def _strip_punctuation(s: str) -> str:
    return s.strip(string.whitespace + string.punctuation)


def _strip_numeric_punctuation(s: str) -> str:
    s = re.sub(r"\\([$,£,€*_])", r"\1", s)
    stripped = re.sub(r"[$,£,€,*,_]", "", s)
    return re.sub(r"\.(?=\s|$|\D)", "", stripped)


_NUM_TRIM = "!?:;()[]{}'\"`"


def _unicode_number(s: str) -> float:
    """Inspect's own parser (unicode minus, fractions, CJK numerals, separators).  Without it a re-score could
    disagree with Inspect on any string float() rejects, so a missing ``evals`` extra fails closed."""
    parser = require_extra("inspect_ai.scorer._unicode", "evals", "re-scoring Inspect's numeric matching")
    return parser.unicode_number_to_float(s)


def _parse_number(s: str, *, trim: bool = True) -> float | None:
    cleaned = s.strip(_NUM_TRIM) if trim else s
    for parse in (float, _unicode_number):
        try:
            num = parse(cleaned)
        except (ValueError, TypeError, OverflowError):
            continue
        if math.isfinite(num):
            return num
    return None


def _normalize_number(number: str, precision: int = 5, *, trim: bool = True) -> str:
    num = _parse_number(number, trim=trim)
    return number if num is None else format(num, f".{precision}g")


def inspect_match_str(
    value: str,
    target: str,
    location: str = "end",
    ignore_case: bool = True,
    ignore_punctuation: bool = True,
    numeric: bool = False,
) -> tuple[str, bool]:
    """inspect_ai.scorer._common.match_str (0.3.285)."""
    v, t = value.strip(), target.strip()
    answer = v
    if ignore_case:
        v, t = v.casefold(), t.casefold()
    if numeric:
        t = _strip_numeric_punctuation(t)
    if numeric and _parse_number(t) is not None:
        v = _strip_numeric_punctuation(v)
        t = _normalize_number(t)
        words = re.split(r"\s+", v)
        if location == "begin":
            v = next((_normalize_number(w) for w in words if _parse_number(w) is not None), "")
        elif location == "end":
            v = next((_normalize_number(w) for w in reversed(words) if _parse_number(w) is not None), "")
        elif location == "exact":
            v = _normalize_number(v, trim=False)
        else:
            for w in words:
                if _parse_number(w) is not None and _normalize_number(w) == t:
                    return _normalize_number(w), True
            return answer, False
        return v, v == t
    if ignore_punctuation:
        v, t = _strip_punctuation(v), _strip_punctuation(t)
    return answer, _located(v, t, location)


def _legacy_str_to_float(s: str) -> float:
    """inspect_ai._util.text.str_to_float before 0.3.123 (superscript exponents: "5²" = 25)."""
    if not s:
        raise ValueError("Input string is empty.")
    sup = "⁰¹²³⁴⁵⁶⁷⁸⁹"
    idx = next((i for i, ch in enumerate(s) if ch in sup), len(s))
    base = float(s[:idx]) if s[:idx] else 1.0
    exp = int(s[idx:].translate(str.maketrans(sup, "0123456789"))) if idx < len(s) else 1
    return base**exp


def inspect_match_str_legacy(
    value: str,
    target: str,
    location: str = "end",
    ignore_case: bool = True,
    ignore_punctuation: bool = True,
    numeric: bool = False,
) -> tuple[str, bool]:
    """inspect_ai.scorer._common.match_str of 0.3.50–0.3.122 (ported from 0.3.58): numeric only for targets that
    are ``isnumeric()``, the number nearest the location normalised to 5 significant digits, then the same
    begin / end / exact / any string comparison as text — so ``match(numeric=True)`` accepts "11" for "1"."""
    v, t = value.strip(), target.strip()
    answer = v
    if ignore_case:
        v, t = v.casefold(), t.casefold()

    def normalize(number: str) -> str:
        return format(_legacy_str_to_float(number), ".5g") if number.replace(".", "").isnumeric() else number

    def strip_numeric(x: str) -> str:
        return re.sub(r"\.(?=\s|$|\D)", "", re.sub(r"[$,£,€]", "", x))

    if numeric and t.isnumeric():
        v, t = strip_numeric(v), normalize(strip_numeric(t))
        words = re.split(r"\s+", v)
        if location in ("begin", "end"):
            ordered = words if location == "begin" else list(reversed(words))
            v = normalize(next((w for w in ordered if w.replace(".", "").isnumeric()), ordered[0]))
        elif location == "exact":
            v = normalize(v)
        answer = v
    elif ignore_punctuation:
        v, t = _strip_punctuation(v), _strip_punctuation(t)
    return answer, _located(v, t, location)


def _legacy_match(context: dict[str, Any] | None) -> bool:
    """match() of the log's release is the pre-0.3.221 one (numeric false positives not yet fixed).  The port is
    exact for 0.3.50–0.3.122 (checked on real 0.3.58 logs); releases before 0.3.50 (numeric for any target) and
    0.3.123–0.3.220 (other number parsing) get the nearest port, so a wrong guess there shows as a mismatch,
    never as a silent pass."""
    return parse_version((context or {}).get("inspect_version")) < (0, 3, 221)


def _targets(target: Any) -> list[str]:
    if target is None:
        return []
    if isinstance(target, list):
        return [str(t) for t in target]
    return [str(target)]


def _inspect_normalize_token(token: str) -> str:
    token = token.casefold()
    if not _is_finite_number(token):
        stripped = _strip_punctuation(token)
        token = stripped if _is_finite_number(stripped) else "".join(ch for ch in token if ch not in string.punctuation)
    if _is_finite_number(token):
        token = str(float(token))
    token = re.sub(r"\b(a|an|the)\b", " ", token, flags=re.UNICODE)
    return " ".join(token.split())


def _inspect_normalize(text: str) -> str:
    tokens = [_inspect_normalize_token(tok) for tok in re.split(" |-", text)]
    return " ".join(t for t in tokens if t.strip()).strip()


def inspect_score(
    scorer: str,
    options: dict[str, Any],
    output: str,
    target: Any,
    *,
    choices: list[Any] | None = None,
    context: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """Recompute an Inspect built-in scorer: (value, answer) as the scorer would log them.  ``choice()`` needs the
    sample's ``choices`` and ``context`` {"inspect_version", "multiple_correct"} (None: the solver that marked the
    choices is not ``multiple_choice()``, so they cannot be re-marked)."""
    if scorer in ("choice", "inspect_ai/choice"):
        ctx = context or {}
        if not choices:
            raise Unsupported("choice() needs the sample's choices, and none are logged")
        if ctx.get("multiple_correct") is None:
            raise Unsupported(
                "choice() scored choices marked by a solver other than multiple_choice(); the marks are not logged"
            )
        try:
            return inspect_choice(output, target, choices, bool(ctx["multiple_correct"]), ctx.get("inspect_version"))
        except ValueError as exc:
            raise Unsupported(f"choice(): {exc}") from None
    targets = _targets(target)
    if scorer in ("match", "inspect_ai/match"):
        loc = options.get("location", "end")
        ic = options.get("ignore_case", True)
        num = options.get("numeric", False)
        answer = None
        match_str = inspect_match_str_legacy if _legacy_match(context) else inspect_match_str
        for t in targets:
            try:
                answer, ok = match_str(output, t, location=loc, ignore_case=ic, numeric=num)
            except (ValueError, OverflowError) as exc:  # that release's scorer raised: the sample errored
                raise Unsupported(f"match(): {exc}") from None
            if ok:
                return CORRECT, answer
        return INCORRECT, answer
    if scorer in ("includes", "inspect_ai/includes"):
        ic = options.get("ignore_case", True)
        for t in targets:
            v, tt = (output.casefold(), t.casefold()) if ic else (output, t)
            if tt in v:
                return CORRECT, v
        return INCORRECT, (output.casefold() if ic else output) if targets else None
    if scorer in ("pattern", "inspect_ai/pattern"):
        ic = options.get("ignore_case", True)
        match_all = options.get("match_all", False)
        m = re.search(options["pattern"], output, re.IGNORECASE if ic else 0)
        if not m:
            return INCORRECT, None
        groups = m.groups() or (m.group(0),)
        tl = [t.lower() for t in targets] if ic else targets

        def hit(x: str) -> bool:
            return (x.lower() if ic else x) in tl

        if match_all:
            strs = [g for g in groups if isinstance(g, str)]
            found = None if not strs or not all(hit(g) for g in strs) else ",".join(targets)
            return (CORRECT if found else INCORRECT), found
        found = next((g for g in groups if isinstance(g, str) and hit(g)), None)
        answer = groups[0] if found is None and len(groups) == 1 else found
        return (CORRECT if found else INCORRECT), answer
    if scorer in ("exact", "inspect_ai/exact"):
        a = _inspect_normalize(output)
        ok = any(_inspect_normalize(t) and _inspect_normalize(t) == a for t in targets)
        return (CORRECT if ok else INCORRECT), output
    raise Unsupported(f"Inspect scorer {scorer!r} (model-graded or custom) cannot be recomputed offline")


# ========================================================================================================= choice()
# multiple_choice() + choice() per Inspect release: see the module docstring.


def parse_version(v: str | None) -> tuple[int, ...]:
    """'0.3.58' -> (0, 3, 58); unknown or unparsable -> a version after every known one."""
    if not v:
        return (999,)
    nums = re.findall(r"\d+", v.split("+")[0].split(".dev")[0])
    return tuple(int(n) for n in nums[:3]) if nums else (999,)


def _answer_character(index: int, ver: tuple[int, ...]) -> str:
    if ver < (0, 3, 94) or index < 26:
        return chr(ord("A") + index)
    return str(index - 25)


def _answer_index(char: str, ver: tuple[int, ...]) -> int | None:
    """The choice position a letter (or number) names; None where that release raised ValueError."""
    if ver < (0, 3, 94):
        return ord(char.upper()) - ord("A")
    if len(char) == 1 and (char.isalpha() or (ver < (0, 3, 221) and char in (",", " "))):
        return ord(char.upper()) - ord("A")
    if char.isnumeric():
        if ver >= (0, 3, 261) and int(char) == 0:
            return None
        return 25 + int(char)
    return None


def _strip_wrappers(completion: str) -> str:
    completion = re.sub(r"\x24\s*([A-Za-z\d][A-Za-z\d ,]*?)\s*\x24", r"\1", completion)
    completion = re.sub(r"\*\*\s*([A-Za-z\d][A-Za-z\d ,]*?)\s*\*\*", r"\1", completion)
    return re.sub(r"(?i)(^|[:,])(\s*)\(([A-Za-z\d])\)(?=\s*(?:,|\.|\n|\Z))", r"\1\2\3", completion)


def _selected_legacy(completion: str, n: int, ver: tuple[int, ...]) -> list[int]:
    """Releases before 0.3.121: a regex match, then every character of group 1 marks a position."""
    letters = "[A-Za-z ,]" if ver < (0, 3, 94) else r"[A-Za-z\d ,]"
    m = re.search(rf"(?i)^ANSWER\s*:\s*({letters}+)\s*(?:$|\n)", completion, flags=re.MULTILINE)
    if m is None:
        m = re.search(rf"(?i)ANSWER\s*:\s*({letters}+)(?:[^\w]|\n|$)", completion)
    if m is None or not m.group(1):
        return []
    marked = {_answer_index(ch, ver) for ch in m.group(1)}
    return [i for i in range(n) if i in marked]


def _parse_set(completion: str, n: int, multiple_correct: bool, ver: tuple[int, ...]) -> set[str]:
    """``parse_answers`` from 0.3.121 on."""
    if ver >= (0, 3, 261):
        completion = _strip_wrappers(completion)
    if ver >= (0, 3, 221):
        matches = re.findall(r"(?i)^ANSWER\s*:\s*([A-Za-z\d ,]+)\s*(?:$|\n|\.)", completion, flags=re.MULTILINE)
        if not matches:
            matches = re.findall(r"(?i)ANSWER\s*:\s*([A-Za-z\d ,]+)(?:[^\w]|\n|$|\.)", completion)
        if not matches:
            return set()
        matched = matches[-1].strip().rstrip(".").upper()
    else:
        m = re.search(r"(?i)^ANSWER\s*:\s*([A-Za-z\d ,]+)\s*(?:$|\n|\.)", completion, flags=re.MULTILINE)
        if m is None:
            m = re.search(r"(?i)ANSWER\s*:\s*([A-Za-z\d ,]+)(?:[^\w]|\n|$|\.)", completion)
        if m is None:
            return set()
        matched = m.group(1).strip().rstrip(".")
    allowed = {_answer_character(i, ver) for i in range(n)}
    if multiple_correct:
        matched = matched.replace(" AND ", ",") if ver >= (0, 3, 221) else matched.replace(" and ", "")
        matched = matched.replace(" ", "")
        parts = matched.split(",")
        split_comma = {x for x in parts if x} if ver >= (0, 3, 259) else set(parts)
        if split_comma.issubset(allowed):
            return split_comma
        split_nothing = set(matched)
        if split_nothing.issubset(allowed):
            return split_nothing
        return set()
    if ver >= (0, 3, 260):
        tokens = [t for t in matched.split(",") if t]
        return {tokens[0]} if len(tokens) == 1 and tokens[0] in allowed else set()
    return {matched} if matched in allowed else set()


def selected_positions(completion: str, n_choices: int, multiple_correct: bool, version: str | None) -> list[int]:
    """The choice positions ``multiple_choice()`` of that release marks for this completion, ascending."""
    ver = parse_version(version)
    if ver < (0, 3, 121):
        return _selected_legacy(completion, n_choices, ver)
    marked = set()
    for letter in _parse_set(completion, n_choices, multiple_correct, ver):
        idx = _answer_index(letter, ver)
        if idx is not None:
            marked.add(idx)
    return [i for i in range(n_choices) if i in marked]


def target_positions(target: Any, n_choices: int, version: str | None) -> list[int]:
    """The positions ``choice()`` of that release reads from the target (a letter, or a list of letters)."""
    ver = parse_version(version)
    values = [str(t) for t in target] if isinstance(target, list) else [str(target)]
    if ver >= (0, 3, 261):
        answers: list[str] = []
        for value in values:
            for token in value.replace(",", " ").split():
                answers += [token] if token.isnumeric() else list(token)
        out = []
        for a in answers:
            idx = _answer_index(a, ver)
            if idx is None or idx >= n_choices:
                raise ValueError(f"target {a!r} names no choice of {n_choices}")
            out.append(idx)
        return out
    text = "".join(values)  # Target.text
    chars = [c for c in text if not (ver >= (0, 3, 221) and c in (",", " "))]
    out = []
    for c in chars:
        idx = _answer_index(c, ver)
        if idx is None:
            raise ValueError(f"target character {c!r} names no choice")
        out.append(idx)
    return out


def inspect_choice(
    completion: str, target: Any, choices: list[Any], multiple_correct: bool, version: str | None
) -> tuple[str, str]:
    """(Score.value, Score.answer) of ``multiple_choice()`` + ``choice()`` in the given Inspect release."""
    ver = parse_version(version)
    n = len(choices)
    selected = selected_positions(completion, n, multiple_correct, version)
    answer = ", ".join(_answer_character(i, ver) for i in selected)
    if selected == sorted(target_positions(target, n, version)):
        return CORRECT, answer
    if not selected and ver >= (0, 3, 261) and not (completion or "").strip():
        return NOANSWER, ""
    return INCORRECT, answer


_STRICT_ANSWER = re.compile(r"ANSWER: ([A-Z](?:, ?[A-Z])*)")


def strict_choice_answer(completion: str, target: Any, n_choices: int) -> float:
    """The audit's strict reading of a multiple-choice completion: its last non-empty line is exactly the format the
    prompt asked for, ``ANSWER: A`` or ``ANSWER: A, C`` (upper-case letters, nothing else), naming exactly the
    target's choices.  Inspect's parser also accepts ``answer: c``, an answer inside a sentence, and more."""
    lines = [ln.strip() for ln in (completion or "").splitlines() if ln.strip()]
    m = _STRICT_ANSWER.fullmatch(lines[-1]) if lines else None
    if m is None:
        return 0.0
    got = sorted(ord(c) - ord("A") for c in m.group(1).replace(",", "").replace(" ", ""))
    if any(i >= n_choices for i in got) or len(set(got)) != len(got):
        return 0.0
    values = [str(t) for t in target] if isinstance(target, list) else [str(target)]
    want = sorted(ord(c) - ord("A") for v in values for c in v if c.isalpha() and c.isupper())
    return 1.0 if got == want else 0.0


# ==================================================================================================== aggregation
def inspect_accuracy(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    total = 0.0
    for v in values:
        total += v
    return total / float(len(values))


def inspect_stderr(values: Sequence[float]) -> float:
    import numpy as np

    n = len(values)
    if n - 1 < 1:
        return 0.0
    return float(np.std(values, ddof=1) / np.sqrt(n))


def inspect_std(values: Sequence[float]) -> float:
    import numpy as np

    if len(values) - 1 < 1:
        return 0.0
    return float(np.std(values, ddof=1))


def inspect_reduce_mean(values: Sequence[float]) -> float:
    return float(statistics.mean(values))


def inspect_reduce(reducer: str, raw: Sequence[object], to_float: Callable[[object], float]) -> object:
    """One sample's epochs reduced by an Inspect score reducer, for scalar values (``scorer/_reducer/reducer.py``):
    ``mean``, ``median``, ``mode``, ``max``, ``at_least_<k>``, ``pass_at_<k>``.  Unscored (NaN) epochs are left
    out, as Inspect does.  Returns the reduced value (raw for mode / max, as Inspect logs it); KeyError for a
    reducer not ported here."""
    import numpy as np

    vals = [v for v in raw if not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return float("nan")
    floats = [to_float(v) for v in vals]
    if reducer == "mean":
        return float(statistics.mean(floats))
    if reducer == "median":
        return float(statistics.median(floats))
    if reducer == "mode":
        return Counter(vals).most_common(1)[0][0]
    if reducer == "max":
        return max(vals, key=to_float)
    m = re.fullmatch(r"(at_least|pass_at)_(\d+)", reducer)
    if m and m.group(1) == "at_least":
        return 1 if sum(1 for v in floats if v >= 1.0) >= int(m.group(2)) else 0
    if m:
        k, total = int(m.group(2)), len(floats)
        correct = sum(1 for v in floats if v >= 1.0)
        if total < k:
            return float("nan")
        if total - correct < k:
            return 1.0
        return 1.0 - float(np.prod(1.0 - k / np.arange(total - correct + 1, total + 1)).item())
    raise KeyError(reducer)


INSPECT_METRICS = {"accuracy": inspect_accuracy, "mean": inspect_accuracy, "stderr": inspect_stderr, "std": inspect_std}


# ====================================================================================================== re-scoring
def _same_value(a: Any, b: Any) -> bool:
    """Logged and recomputed Score values agree (1 and 1.0 are the same value; "N" and "I" are not)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def _strict_choice_format(s: Sample) -> float:
    return strict_choice_answer(s.output or "", s.target, len(s.choices or []))


_choice_format = ("choice-format", _strict_choice_format)


def _inspect_reductions(log: InspectLog, task: str, name: str, reducer: str, reduced: dict[str, Any]) -> list[Finding]:
    """The log's own per-sample reductions (``reductions``: one value per sample and reducer) against the
    recomputed ones; a sample the log reduced differently is a ``reduction-mismatch``."""
    bad: list[tuple[str, Any, Any]] = []
    for entry in log.data.get("reductions") or []:
        if str(entry.get("scorer")) != name or (entry.get("reducer") or "mean") != reducer:
            continue
        for smp in entry.get("samples") or []:
            sid = str(smp.get("sample_id"))
            if sid not in reduced:
                continue
            mine, theirs = inspect_value_to_float(reduced[sid]), inspect_value_to_float(smp.get("value"))
            if not (mine == theirs or (math.isnan(mine) and math.isnan(theirs))):
                bad.append((sid, smp.get("value"), reduced[sid]))
    if not bad:
        return []
    ex = bad[0]
    return [
        Finding.make(
            "error",
            "reduction-mismatch",
            f"{name}[{reducer}]: {len(bad)} sample(s) whose logged "
            f"reduction over the epochs differs from the recomputed one (e.g. sample {ex[0]}: logged "
            f"{ex[1]!r}, recomputed {ex[2]!r})",
            task,
            [b[0] for b in bad],
        )
    ]


def rescore_inspect(log: InspectLog, audit: bool) -> EngineResult:
    """Per sample and epoch: the Score value recomputed from the output (choice() re-parses the answer as the
    log's Inspect release did); per sample: the epochs reduced by each reported reducer; per reported score:
    Inspect's metrics over the reduced values."""
    rows: list[RescoreRow] = []
    findings: list[Finding] = []
    aud = AuditAccumulator() if audit else None
    score_defs: dict[str, tuple[str, dict]] = log.scorer_defs()  # score key -> (scorer function, options)
    score_keys: dict[str, tuple[str, str]] = dict(log.score_keys)  # score key -> (score name, reducer)
    by_name = {name: score_defs[key] for key, (name, _r) in score_keys.items()}
    default_reducer = ((log.data.get("eval") or {}).get("config") or {}).get("epochs_reducer") or ["mean"]
    for task in log.tasks():
        # score name -> sample id -> [(epoch, value)]: recomputed and logged Score values
        recomputed: dict[str, dict[str, list[tuple[int, Any]]]] = defaultdict(lambda: defaultdict(list))
        logged: dict[str, dict[str, list[tuple[int, Any]]]] = defaultdict(lambda: defaultdict(list))
        mismatch: dict[str, list[tuple[str, Any, Any]]] = defaultdict(list)
        answer_mismatch: dict[str, list[tuple[str, Any, Any]]] = defaultdict(list)
        unsupported: dict[str, str] = {}
        for s in log.iter_samples(task):
            label = log.label(s.id, s.repeat + 1)
            values: Any = (s.meta or {}).get("score_values") or {}  # {score name: logged Score.value}
            answers: Any = (s.meta or {}).get("answers") or {}  # {score name: logged Score.answer}
            for name in s.scores:
                raw_logged = values.get(name)
                logged[name][s.id].append((s.repeat, raw_logged))
                if name in unsupported:
                    continue
                scorer, options = by_name.get(name, (name, {}))
                try:
                    value, answer = inspect_score(
                        scorer, options, s.output or "", s.target, choices=s.choices, context=log.choice_context
                    )
                except Unsupported as exc:
                    unsupported[name] = str(exc)
                    continue
                recomputed[name][s.id].append((s.repeat, value))
                if not _same_value(raw_logged, value):
                    mismatch[name].append((label, raw_logged, value))
                elif scorer == "choice" and answers.get(name) != answer:
                    answer_mismatch[name].append((label, answers.get(name), answer))
                if aud is not None:
                    aud.add(
                        s, name, inspect_value_to_float(value), _choice_format if scorer == "choice" else None, label
                    )
        for name, mm in mismatch.items():
            ex = mm[0]
            findings.append(
                Finding.make(
                    "error",
                    "sample-score-mismatch",
                    f"{name}: {len(mm)} sample(s) logged a "
                    f"score the output does not give (e.g. sample {ex[0]}: logged {ex[1]!r}, "
                    f"recomputed {ex[2]!r})",
                    task,
                    [m[0] for m in mm],
                )
            )
        for name, mm in answer_mismatch.items():
            ex = mm[0]
            findings.append(
                Finding.make(
                    "error",
                    "answer-mismatch",
                    f"{name}: {len(mm)} sample(s) logged an answer "
                    f"the output does not give (e.g. sample {ex[0]}: logged {ex[1]!r}, parsed "
                    f"{ex[2]!r})",
                    task,
                    [m[0] for m in mm],
                )
            )
        for name, reason in unsupported.items():
            findings.append(Finding.make("error", "unverifiable", f"{name}: {reason}", task))
        reported = reported_of(log, task)
        rep_by_key: dict[str, dict[str, float | None]] = defaultdict(dict)
        for (m, _f), (val, _se, _n) in reported.items():
            key, _, metric = m.partition("/")
            rep_by_key[key][metric] = val
        keys = dict(score_keys)
        for name in list(recomputed) + list(unsupported):  # scored but not reported (e.g. a cancelled run)
            if not any(n == name for n, _r in keys.values()):
                keys[name] = (name, str(default_reducer[0]))
        for key, (name, reducer) in keys.items():
            metrics = rep_by_key.get(key) or {"accuracy": None, "stderr": None}
            reduced: list[float] | None = None
            why = unsupported.get(name)
            if why is None:
                try:
                    red = {
                        sid: inspect_reduce(
                            reducer, [v for _e, v in sorted(vals, key=lambda x: x[0])], inspect_value_to_float
                        )
                        for sid, vals in recomputed.get(name, {}).items()
                    }
                    reduced = [
                        f for f in (inspect_value_to_float(r) for r in red.values()) if not math.isnan(f)
                    ]  # unscored samples are not in the metrics
                    findings += _inspect_reductions(log, task, name, reducer, red)
                except KeyError:
                    why = f"epoch reducer {reducer!r} is not ported"
                    findings.append(Finding.make("error", "unverifiable", f"{key}: {why}", task))
            for metric, rep in metrics.items():
                fn = INSPECT_METRICS.get(metric)
                rec = fn(reduced) if fn is not None and reduced else None
                if fn is None:
                    findings.append(
                        Finding.make("error", "unverifiable", f"{key}/{metric}: metric not implemented", task)
                    )
                if rep is not None and rec is not None and not same_number(rep, rec):
                    findings.append(
                        Finding.make(
                            "error",
                            "aggregate-mismatch",
                            f"{key}/{metric}: reported {rep!r}, recomputed {rec!r} from {len(reduced or [])} samples",
                            task,
                        )
                    )
                if why is not None and rep is not None and metric in ("accuracy", "mean") and logged.get(name):
                    try:
                        lg = [
                            inspect_value_to_float(
                                inspect_reduce(
                                    reducer, [v for _e, v in sorted(vals, key=lambda x: x[0])], inspect_value_to_float
                                )
                            )
                            for vals in logged[name].values()
                        ]
                    except (KeyError, TypeError):
                        lg = []
                    if lg and not same_number(rep, INSPECT_METRICS[metric](lg)):
                        findings.append(
                            Finding.make(
                                "error",
                                "aggregate-mismatch",
                                f"{key}/{metric}: reported "
                                f"{rep!r} but the logged per-sample scores give "
                                f"{INSPECT_METRICS[metric](lg)!r}",
                                task,
                            )
                        )
                rows.append(
                    RescoreRow(
                        task=task,
                        metric=f"{key}/{metric}",
                        filter="none",
                        reported=rep,
                        recomputed=rec,
                        n=len(reduced or []),
                    )
                )
    return EngineResult(rows, findings, aud.rows() if aud else [])


# ================================================================================================ re-run scoring
def score_rerun_inspect(sample: Sample, header: LogHeader) -> Sample:
    """A re-run's output scored by every scorer of the log (its functions and options, ``score_defs``)."""
    defs: Any = (header.config or {}).get("score_defs") or {}  # {score key: [scorer function, options]}
    names = list(sample.scores) or list(defs)
    scores: dict[str, float | None] = {}
    answers: dict[str, Any] = {}
    for name in names:
        fn, options = defs.get(name, [name, {}])
        try:
            value, ans = inspect_score(str(fn).split("/")[-1], options or {}, sample.output or "", sample.target)
        except Unsupported as exc:
            raise InputError(f"{sample.task}: {exc}; declare `scorer:` in the manifest") from None
        scores[name] = inspect_value_to_float(value)
        answers[name] = ans
    meta = dict(sample.meta or {})
    meta["answers"] = answers
    return sample.model_copy(update={"scores": scores, "answer": next(iter(answers.values()), None), "meta": meta})


# ================================================================================================== named scorers
@scorer("inspect:match")
def score_match(s: Sample) -> float:
    return inspect_value_to_float(inspect_score("match", {}, s.output or "", s.target)[0])


@scorer("inspect:match_numeric")
def score_match_numeric(s: Sample) -> float:
    return inspect_value_to_float(inspect_score("match", {"numeric": True}, s.output or "", s.target)[0])


@scorer("inspect:includes")
def score_includes(s: Sample) -> float:
    return inspect_value_to_float(inspect_score("includes", {}, s.output or "", s.target)[0])


@scorer("inspect:exact")
def score_exact(s: Sample) -> float:
    return inspect_value_to_float(inspect_score("exact", {}, s.output or "", s.target)[0])


# ======================================================================================================== harness
@harness("inspect")
class InspectHarness(Harness):
    name_rank = 1
    sniff_rank: ClassVar[Mapping[str, int]] = {".json": 1}
    folder_patterns = ("*.eval",)

    def claims_name(self, path: Path) -> bool:
        return path.suffix.lower() == ".eval"

    def sniff(self, probe: Probe) -> bool:
        return probe.suffix == ".json" and {"eval", "status"} <= probe.keys

    def load(self, path: Path) -> list[ImportedLog]:
        return list(load_inspect(path))

    def rescore(self, log: ImportedLog, audit: bool) -> EngineResult:
        if not isinstance(log, InspectLog):
            raise TypeError(f"not an Inspect log: {log.format}")
        return rescore_inspect(log, audit)

    def score_rerun(self, sample: Sample, header: LogHeader) -> list[Sample] | None:
        return [score_rerun_inspect(sample, header)]


# ------------------------------------------------------------------------------------------------- the runner
@runner("inspect")
class InspectRunner(Runner):
    """``python -m inspect_ai eval <task file>[@task]`` writing a JSON log: the ``hf/local`` provider on the release
    folder (in process; greedy unless the decoding samples, since the provider samples by default), or
    ``openai-api/assay/<model>`` at an OpenAI-compatible endpoint (``ASSAY_BASE_URL``; ``ASSAY_API_KEY`` from
    ``ASSAY_OPENAI_API_KEY`` or a placeholder a local server ignores)."""

    package = "inspect_ai"
    log_format = "inspect"

    def command(self, req: RunRequest) -> list[str]:
        args = dict(req.args)
        cmd = [
            str(req.python),
            "-m",
            "inspect_ai",
            "eval",
            req.task,
            "--log-dir",
            str(req.out_dir),
            "--log-format",
            "json",
            "--display",
            "none",
            "--seed",
            str(req.seed),
        ]
        d = req.decoding
        if req.base_url is None:
            cmd += ["--model", "hf/local", "-M", f"model_path={req.model}", "-M", f"device={req.device}"]
            if not d.get("temperature"):  # greedy (assay's default); the provider samples unless told not to
                cmd += ["-M", "do_sample=false"]
        else:
            cmd += ["--model", f"openai-api/assay/{req.model}"]
        for key, value in sorted(dict(args.pop("model_args", {}) or {}).items()):
            cmd += ["-M", f"{key}={value}"]
        flags = {
            "temperature": "--temperature",
            "top_p": "--top-p",
            "top_k": "--top-k",
            "max_new_tokens": "--max-tokens",
        }
        for key, flag in flags.items():
            if d.get(key) is not None and not (key == "temperature" and req.base_url is None and not d[key]):
                cmd += [flag, str(d[key])]
        if d.get("system_prompt"):
            cmd += ["--system-message", str(d["system_prompt"])]
        if req.limit is not None:
            cmd += ["--limit", str(req.limit)]
        return cmd + option_flags(args, dashes=True)  # any further `inspect eval` option, spelled as its flag

    def env(self, req: RunRequest) -> dict[str, str]:
        import os

        if req.base_url is None:
            return {}
        return {"ASSAY_BASE_URL": req.base_url, "ASSAY_API_KEY": os.environ.get("ASSAY_OPENAI_API_KEY", "none")}
