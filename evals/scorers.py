"""Per-sample scorers: each harness's own semantics (ported, version noted), strict scorers for the audit, and
the named scorers that ``assay rerun`` applies (``SCORERS``).

Harness semantics are ports, not imports, so that re-scoring needs neither the harness nor its dependencies and
runs at millions of samples per minute; the tests check each port against logs the real harness wrote.

* lm-evaluation-harness 0.4.13: filter pipelines (take_first, take_first_k, regex, remove_whitespace, lowercase,
  uppercase, map, majority_vote, multi_choice_regex), ``exact_match`` (HF evaluate semantics with
  regexes_to_ignore / ignore_case / ignore_punctuation / ignore_numbers), multiple-choice acc / acc_norm /
  acc_bytes / exact_match, loglikelihood acc.
* Inspect AI 0.3.x: ``match`` (begin/end/any/exact, ignore_case, numeric), ``includes``, ``pattern``, ``exact``,
  ``f1``; ``value_to_float``.
* ScreenSpot-style point-in-box.
* Strict scorers: numeric equality, exact choice letter / index, normalised exact match.
"""

from __future__ import annotations

import math
import re
import string
import sys
import unicodedata
from collections import Counter
from typing import Any, Callable, Sequence

from .samples import Sample


class Unsupported(Exception):
    """The harness semantics needed here are not implemented (custom code, model-graded scorers, corpus metrics)."""


# =============================================================================================== lm-evaluation-harness
def _lm_regex(inst: Any, regex: re.Pattern[str], group_select: int, fallback: str) -> list[Any]:
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
            inst = _lm_regex(inst, re.compile(kw.get("regex_pattern", r"#### (\-?[0-9\.\,]+)")),
                             kw.get("group_select", 0), kw.get("fallback", "[invalid]"))
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


def lm_eval_exact_match(prediction: str, reference: str, *, regexes_to_ignore: list[str] | None = None,
                        ignore_case: bool = False, ignore_punctuation: bool = False,
                        ignore_numbers: bool = False, **_: Any) -> float:
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
            agg = {"perplexity": "perplexity", "word_perplexity": "weighted_perplexity",
                   "byte_perplexity": "weighted_perplexity", "bits_per_byte": "bits_per_byte",
                   "f1": "f1", "mcc": "matthews_corrcoef", "bleu": "bleu", "chrf": "chrf", "ter": "ter",
                   "brier_score": "brier_score"}.get(name, "mean")
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
        gold = sample.target
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
    pred_norm = _argmax([_div(ll, float(len(c))) for ll, c in zip(lls, choices)])
    pred_byte = _argmax([_div(ll, float(len(c.encode("utf-8")))) for ll, c in zip(lls, choices)])
    gold: Any = sample.target
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


# ========================================================================================================= Inspect AI
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
    if value == INCORRECT or value == NOANSWER:
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
    from ..manifests.errors import require_extra

    return require_extra("inspect_ai.scorer._unicode", "evals", "re-scoring Inspect's numeric matching").unicode_number_to_float(s)


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


def inspect_match_str(value: str, target: str, location: str = "end", ignore_case: bool = True,
                      ignore_punctuation: bool = True, numeric: bool = False) -> tuple[str, bool]:
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
    if location == "begin":
        return answer, v.startswith(t)
    if location == "end":
        return answer, v.endswith(t)
    if location == "exact":
        return answer, v == t
    return answer, t in v


def _legacy_str_to_float(s: str) -> float:
    """inspect_ai._util.text.str_to_float before 0.3.123 (superscript exponents: "5²" = 25)."""
    if not s:
        raise ValueError("Input string is empty.")
    sup = "⁰¹²³⁴⁵⁶⁷⁸⁹"
    idx = next((i for i, ch in enumerate(s) if ch in sup), len(s))
    base = float(s[:idx]) if s[:idx] else 1.0
    exp = int(s[idx:].translate(str.maketrans(sup, "0123456789"))) if idx < len(s) else 1
    return base ** exp


def inspect_match_str_legacy(value: str, target: str, location: str = "end", ignore_case: bool = True,
                             ignore_punctuation: bool = True, numeric: bool = False) -> tuple[str, bool]:
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
    if location == "begin":
        return answer, v.startswith(t)
    if location == "end":
        return answer, v.endswith(t)
    if location == "exact":
        return answer, v == t
    return answer, t in v


def _legacy_match(context: dict[str, Any] | None) -> bool:
    """match() of the log's release is the pre-0.3.221 one (numeric false positives not yet fixed).  The port is
    exact for 0.3.50–0.3.122 (checked on real 0.3.58 logs); releases before 0.3.50 (numeric for any target) and
    0.3.123–0.3.220 (other number parsing) get the nearest port, so a wrong guess there shows as a mismatch,
    never as a silent pass."""
    from .inspect_choice import parse_version

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


def inspect_score(scorer: str, options: dict[str, Any], output: str, target: Any, *,
                  choices: list[Any] | None = None, context: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Recompute an Inspect built-in scorer: (value, answer) as the scorer would log them.  ``choice()`` needs the
    sample's ``choices`` and ``context`` {"inspect_version", "multiple_correct"} (None: the solver that marked the
    choices is not ``multiple_choice()``, so they cannot be re-marked)."""
    if scorer in ("choice", "inspect_ai/choice"):
        from .inspect_choice import inspect_choice

        ctx = context or {}
        if not choices:
            raise Unsupported("choice() needs the sample's choices, and none are logged")
        if ctx.get("multiple_correct") is None:
            raise Unsupported("choice() scored choices marked by a solver other than multiple_choice(); the marks "
                              "are not logged")
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


# ===================================================================================================== point in box
def _point(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        try:
            return float(value[0]), float(value[1])
        except (TypeError, ValueError):
            return None
    if isinstance(value, str):
        nums = re.findall(r"-?\d+(?:\.\d+)?", value)
        if len(nums) >= 2:
            return float(nums[0]), float(nums[1])
    return None


def point_in_box(answer: Any, box: Any) -> float:
    """ScreenSpot: 1.0 when the predicted point (x, y) lies in the target box [x1, y1, x2, y2] (edges included)."""
    p = _point(answer)
    if p is None or not isinstance(box, (list, tuple)) or len(box) != 4:
        return 0.0
    x1, y1, x2, y2 = (float(v) for v in box)
    return 1.0 if x1 <= p[0] <= x2 and y1 <= p[1] <= y2 else 0.0


# ========================================================================================================= strict
_NUMBER_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def parse_number_strict(text: Any) -> float | None:
    """A single number and nothing else (thousands separators, a trailing period and $ / % allowed)."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    if not isinstance(text, str):
        return None
    t = text.strip().rstrip(".").replace(",", "").lstrip("$").rstrip("%").strip()
    if not _NUMBER_RE.match(t):
        return None
    v = float(t)
    return v if math.isfinite(v) else None


def _final_number(text: str) -> float | None:
    """The answer of a free-text output for numeric comparison: the whole output if it is one number, else the
    number after a final 'answer is' / '=' / 'Answer:' marker, else None (ambiguous)."""
    whole = parse_number_strict(text)
    if whole is not None:
        return whole
    m = re.search(r"(?:answer(?: is)?|=)\s*:?\s*\$?(-?[\d,]*\.?\d+)\s*\.?\s*$", text.strip(), re.IGNORECASE)
    if m:
        return parse_number_strict(m.group(1))
    return None


def strict_numeric(output: str | None, target: Any) -> float:
    """Numeric equality of the final number with a numeric target; never a substring or suffix match."""
    targets = target if isinstance(target, list) else [target]
    got = _final_number(output or "") if isinstance(output, str) else parse_number_strict(output)
    if got is None:
        return 0.0
    for t in targets:
        tv = parse_number_strict(t)
        if tv is not None and math.isclose(got, tv, rel_tol=0.0, abs_tol=1e-9 * max(1.0, abs(tv))):
            return 1.0
    return 0.0


_ASCII_PUNCT = {i: None for i in range(128) if unicodedata.category(chr(i)).startswith("P")}


def normalise_text(text: str) -> str:
    if text.isascii():  # the common case, 10x faster; same result as below for ASCII
        return " ".join(text.lower().translate(_ASCII_PUNCT).split())
    t = unicodedata.normalize("NFKC", text).casefold()
    t = "".join(ch for ch in t if not unicodedata.category(ch).startswith("P"))
    return " ".join(t.split())


def strict_exact(output: str | None, target: Any) -> float:
    """Normalised exact match: NFKC, casefold, punctuation removed, whitespace collapsed, whole string equal."""
    if output is None:
        return 0.0
    o = normalise_text(str(output))
    return 1.0 if any(o == normalise_text(str(t)) for t in (target if isinstance(target, list) else [target])) else 0.0


_LETTER_RE = re.compile(r"^\(?([A-Z])\)?[.:)]?$")


def strict_choice(answer: Any, target: Any, n_choices: int | None = None) -> float:
    """The answer is exactly one choice letter (A, (B), C.) or index equal to the target letter / index."""
    def to_index(v: Any) -> int | None:
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            return v
        if isinstance(v, str):
            s = v.strip()
            m = _LETTER_RE.match(s)
            if m:
                return ord(m.group(1)) - ord("A")
            if s.isdigit():
                return int(s)
        return None

    a, t = to_index(answer), to_index(target)
    if a is None or t is None or (n_choices is not None and not 0 <= a < n_choices):
        return 0.0
    return 1.0 if a == t else 0.0


def strict_choice_text(output: Any, target: Any, choices: list[str]) -> float:
    """The output is exactly one choice letter, or exactly one choice's text, and that choice is a target."""
    targets = target if isinstance(target, list) else [target]
    if not isinstance(output, str):
        return 0.0
    o = output.strip()
    m = _LETTER_RE.match(o)
    if m:
        k = ord(m.group(1)) - ord("A")
        return 1.0 if 0 <= k < len(choices) and choices[k] in targets else 0.0
    hits = [c for c in choices if normalise_text(c) == normalise_text(o)]
    return 1.0 if len(hits) == 1 and hits[0] in targets else 0.0


def strict_scorer_for(sample: Sample) -> tuple[str, Callable[[Sample], float]] | None:
    """The strict scorer that is well defined for this sample's target, or None."""
    target = sample.target
    if sample.choice_logprobs is not None:
        return None  # log-likelihood scoring has no text answer to be lenient about
    if isinstance(target, dict):
        return None
    if isinstance(target, list) and len(target) == 4 and all(isinstance(v, (int, float)) for v in target):
        return None
    targets = target if isinstance(target, list) else [target]
    if targets and all(parse_number_strict(t) is not None for t in targets):
        return "numeric", lambda s: strict_numeric(s.output, s.target)
    if targets and all(isinstance(t, str) and _LETTER_RE.match(t.strip()) for t in targets) and sample.choices:
        return "choice", lambda s: strict_choice(s.output, s.target, len(s.choices or []))
    if sample.choices and targets and all(isinstance(t, str) and t in sample.choices for t in targets):
        return "choice", lambda s: strict_choice_text(s.output, s.target, s.choices or [])
    if targets and all(isinstance(t, str) for t in targets):
        return "exact", lambda s: strict_exact(s.output, s.target)
    return None


# ========================================================================================= named scorers for re-runs
def _loglik_acc(s: Sample) -> float:
    if not s.choice_logprobs or not isinstance(s.target, int):
        return 0.0
    return 1.0 if _argmax(s.choice_logprobs) == s.target else 0.0


def _loglik_acc_norm(s: Sample) -> float:
    if not s.choice_logprobs or not s.choices or not isinstance(s.target, int):
        return 0.0
    return 1.0 if _argmax([_div(ll, float(len(c))) for ll, c in zip(s.choice_logprobs, s.choices)]) == s.target else 0.0


SCORERS: dict[str, Callable[[Sample], float]] = {
    # strict, well-defined scorers
    "exact": lambda s: strict_exact(s.output, s.target),
    "numeric": lambda s: strict_numeric(s.output, s.target),
    "choice": lambda s: strict_choice(s.answer if s.answer is not None else s.output, s.target,
                                      len(s.choices) if s.choices else None),
    "point_in_box": lambda s: point_in_box(s.answer if s.answer is not None else s.output, s.target),
    # harness semantics
    "lm-eval:exact_match": lambda s: max(lm_eval_exact_match(s.output or "", str(t))
                                         for t in (s.target if isinstance(s.target, list) else [s.target])),
    "lm-eval:acc": _loglik_acc,
    "lm-eval:acc_norm": _loglik_acc_norm,
    "inspect:match": lambda s: inspect_value_to_float(inspect_score("match", {}, s.output or "", s.target)[0]),
    "inspect:match_numeric": lambda s: inspect_value_to_float(
        inspect_score("match", {"numeric": True}, s.output or "", s.target)[0]),
    "inspect:includes": lambda s: inspect_value_to_float(inspect_score("includes", {}, s.output or "", s.target)[0]),
    "inspect:exact": lambda s: inspect_value_to_float(inspect_score("exact", {}, s.output or "", s.target)[0]),
}


def score_sample(scorer: str, sample: Sample) -> float:
    """Score one sample with a named scorer (``SCORERS``); InputError for an unknown name."""
    fn = SCORERS.get(scorer)
    if fn is None:
        from ..manifests.errors import InputError

        raise InputError(f"unknown scorer {scorer!r} (one of: {', '.join(sorted(SCORERS))})")
    return fn(sample)
