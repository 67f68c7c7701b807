"""Inspect AI's ``choice()`` scorer with the ``multiple_choice()`` solver's answer parsing, per Inspect release.

``choice()`` does not read the completion: the ``multiple_choice()`` solver parses ``ANSWER: …`` from it and marks
the selected choices, and ``choice()`` compares the marked positions with the target letters.  Neither the marks
nor the parse are logged (only ``Score.value`` and ``Score.answer``, the selected letters), so re-scoring re-runs
both steps on the logged completion.  Both steps changed across releases; the variants below follow the
inspect_ai history of ``solver/_multiple_choice.py``, ``scorer/_choice.py`` and ``_util/answer.py``:

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

import re
from typing import Any

CORRECT, INCORRECT, NOANSWER = "C", "I", "N"


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


def inspect_choice(completion: str, target: Any, choices: list[Any], multiple_correct: bool,
                   version: str | None) -> tuple[str, str]:
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
