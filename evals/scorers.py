"""Harness-neutral per-sample scorers: the strict scorers of the scorer audit and the named scorers that do not
belong to one harness.

* Strict scorers (:func:`strict_scorer_for` picks the one well defined for a sample's target): numeric equality of
  the final number, exact choice letter / index or choice text, normalised exact match of the whole output.
* ScreenSpot-style point-in-box (:func:`point_in_box`; VLMEvalKit re-scores its grounding rows with it).
* Registered named scorers (``scorer:`` in a manifest, see :data:`assay.evals.registry.SCORERS`): ``exact``,
  ``numeric``, ``choice``, ``point_in_box``.  Each harness's own named scorers (``lm-eval:exact_match``,
  ``inspect:includes`` …) are registered in its module under :mod:`assay.evals.harnesses`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from .registry import scorer
from .samples import Sample


# ----------------------------------------------------------------------------------------------------- point in box
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


# ----------------------------------------------------------------------------------------------------------- strict
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


# ---------------------------------------------------------------------------------------------------- named scorers
@scorer("exact")
def score_exact(s: Sample) -> float:
    return strict_exact(s.output, s.target)


@scorer("numeric")
def score_numeric(s: Sample) -> float:
    return strict_numeric(s.output, s.target)


@scorer("choice")
def score_choice(s: Sample) -> float:
    return strict_choice(
        s.answer if s.answer is not None else s.output, s.target, len(s.choices) if s.choices else None
    )


@scorer("point_in_box")
def score_point_in_box(s: Sample) -> float:
    return point_in_box(s.answer if s.answer is not None else s.output, s.target)
