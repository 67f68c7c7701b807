"""Release-metadata consistency: do a release's own metadata files, its model card and its manifest agree?

One job: cross-check what the release *says about itself* in several places, and with what was measured from its
weights (the parameter count and dtypes that :mod:`assay.verify.structure` already computed; nothing is
recomputed here).  Sources read, all optional:

* ``config.json``, ``generation_config.json``, ``tokenizer_config.json`` (+ ``tokenizer.json`` and
  ``special_tokens_map.json`` to turn token strings into ids), ``preprocessor_config.json``,
  ``processor_config.json`` / ``processing_config.json``, ``image_processor_config.json``, ``chat_template.json``;
* the model card (``release.model_card``, default ``README.md``): its YAML front matter (pyyaml ``safe_load``), its
  ``model-index`` and its prose (outside fenced code blocks);
* the manifest: the release name, ``claims.parameters`` and every ``evals[].published`` score with its source.

Six kinds of disagreement are looked for; each finding quotes both sides as ``file:key = value``::

    context-length   max_position_embeddings, max_sequence_length, tokenizer_model_max_length, the tokenizer's
                     model_max_length (not the ~1e30 "unset" sentinel) and the card's stated length ("16K tokens")
    dtype            torch_dtype / dtype (also nested *_config) against the weights' dtypes
    parameters       "15B parameters" / "Parameters: 5B–15B" in the card, the manifest's claim, size hints in names
    published-scores a model-index score against the manifest's other published scores for the same benchmark
                     (names matched leniently; a declared mean of components is recomputed)
    image-tokens     max_num_patches against num_image_tokens / image_seq_length / the card's "visual tokens"
    special-tokens   bos/eos/pad ids across config.json, generation_config.json and the tokenizer files

Severity is deliberate: a disagreement is an ``error`` (it fails verify) unless it is plausibly benign; every
``warning`` below says in a comment why it is benign.  Unreadable metadata is an ``error`` finding, never an
exception: nothing here raises on odd input.

Fail closed: :meth:`MetadataResult.claims` gives a ``pass`` row for a kind only when at least one comparison was
actually made; a statement that needs the weights when none were measured is ``not-checked`` (needs ``weights``);
a kind nobody stated twice gives no row at all (there was nothing to cross-check, so nothing passes).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from ..manifests.findings import ClaimResult, Evidence, Finding, Need, Severity
from ..manifests.schema import Manifest

Kind = Literal["context-length", "dtype", "parameters", "published-scores", "image-tokens", "special-tokens", "files"]
KINDS: tuple[Kind, ...] = (
    "files",
    "context-length",
    "dtype",
    "parameters",
    "published-scores",
    "image-tokens",
    "special-tokens",
)
CODES: dict[str, Kind] = {
    "metadata-unreadable": "files",
    "context-length-mismatch": "context-length",
    "dtype-mismatch": "dtype",
    "parameter-count-mismatch": "parameters",
    "published-score-mismatch": "published-scores",
    "published-score-undeclared": "published-scores",
    "image-token-budget-mismatch": "image-tokens",
    "special-token-mismatch": "special-tokens",
}

# Files read, by name at the release root (tokenizer.json only to resolve special-token strings to ids).
CONFIG = "config.json"
GENERATION = "generation_config.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
TOKENIZER = "tokenizer.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
PROCESSOR_FILES = (
    "preprocessor_config.json",
    "processor_config.json",
    "processing_config.json",
    "image_processor_config.json",
)
METADATA_FILES = (CONFIG, GENERATION, TOKENIZER_CONFIG, SPECIAL_TOKENS_MAP, "chat_template.json", *PROCESSOR_FILES)
MAX_JSON_BYTES = 64 * 2**20  # a tokenizer.json is a few MB; anything far larger is not metadata
# transformers writes int(1e30) as "no limit" in tokenizer_config.json; anything this large is that sentinel.
UNSET_LENGTH = 10**18

_K = {"": 1, "k": 1024, "m": 1024**2}
_DECIMAL_K = {"": 1, "k": 1000, "m": 1000**2}


# ------------------------------------------------------------------------------------------------------- results
class Statement(BaseModel):
    """One thing the release states: where (``file:key``), as written, and its value normalised for comparison."""

    file: str
    key: str
    shown: str = Field(description="The value as written (JSON for files, the phrase's number for prose).")
    value: Any = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.key}"

    def quote(self) -> str:
        return f"{self.where} = {self.shown}"


class KindReport(BaseModel):
    kind: Kind
    statements: list[str] = Field(default_factory=list, description="Every statement found, quoted.")
    compared: int = Field(0, description="Comparisons actually made (0: nothing was cross-checked).")
    needs: list[Need] = Field(default_factory=list)
    why_not: str | None = None


class MetadataResult(BaseModel):
    """What :func:`check_metadata` read, compared and found."""

    files: list[str] = Field(default_factory=list, description="Metadata files read.")
    card: str | None = Field(None, description="The model card read, if any.")
    kinds: dict[str, KindReport] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.is_error for f in self.findings)

    def to_claims(self) -> list[ClaimResult]:
        """Report rows (step ``verify``, kind ``metadata``): a ``fail`` row per error finding, else ``pass`` for a
        kind with at least one comparison, ``not-checked`` for one whose statements needed something absent."""
        out: list[ClaimResult] = []
        seen: dict[str, int] = {}

        def row_id(base: str) -> str:
            seen[base] = seen.get(base, 0) + 1
            return base if seen[base] == 1 else f"{base}#{seen[base]}"

        evidence = [Evidence(kind="file", ref=name) for name in [*self.files, *([self.card] if self.card else [])]]
        for kind in KINDS:
            rep = self.kinds.get(kind) or KindReport(kind=kind)
            errors = [f for f in self.findings if f.is_error and CODES.get(f.code) == kind]
            for f in errors:
                out.append(
                    ClaimResult(
                        id=row_id(f"metadata:{kind}:{f.where or ''}"),
                        step="verify",
                        kind="metadata",
                        subject=f.where or kind,
                        declared=rep.statements or None,
                        verdict="fail",
                        level="cross-check",
                        message=f"{f.code}: {f.message}",
                        evidence=evidence,
                    )
                )
            if errors:
                continue
            if rep.compared:
                out.append(
                    ClaimResult(
                        id=row_id(f"metadata:{kind}"),
                        step="verify",
                        kind="metadata",
                        subject=kind,
                        declared=rep.statements,
                        verdict="pass",
                        level="cross-check",
                        message=f"{rep.compared} comparison(s), all consistent",
                        evidence=evidence,
                    )
                )
            elif rep.needs:
                out.append(
                    ClaimResult(
                        id=row_id(f"metadata:{kind}"),
                        step="verify",
                        kind="metadata",
                        subject=kind,
                        declared=rep.statements,
                        verdict="not-checked",
                        level="cross-check",
                        message=rep.why_not,
                        needs=list(rep.needs),
                        evidence=evidence,
                    )
                )
        return out


class _Run:
    """Mutable state of one check: the reports per kind and the findings, in the order they were made."""

    def __init__(self) -> None:
        self.kinds: dict[str, KindReport] = {k: KindReport(kind=k) for k in KINDS}
        self.findings: list[Finding] = []

    def state(self, kind: Kind, statements: Iterable[Statement]) -> None:
        for s in statements:
            q = s.quote()
            if q not in self.kinds[kind].statements:
                self.kinds[kind].statements.append(q)

    def compared(self, kind: Kind, n: int = 1) -> None:
        self.kinds[kind].compared += n

    def need(self, kind: Kind, need: Need, why: str) -> None:
        rep = self.kinds[kind]
        if need not in rep.needs:
            rep.needs.append(need)
        rep.why_not = why

    def find(self, severity: Severity, code: str, message: str, where: str | None) -> None:
        self.findings.append(Finding.make(severity, code, message, where))

    def mismatch(
        self, severity: Severity, code: str, a: Statement, b: Statement, why: str, subject: Statement | None = None
    ) -> None:
        """A disagreement quoting both sides; it is about ``b`` (the side compared with a reference) by default."""
        self.find(severity, code, f"{a.quote()} vs {b.quote()}: {why}", (subject or b).where)


# ------------------------------------------------------------------------------------------------------ reading
def _render(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _as_int(value: Any) -> int | None:
    """An integer as JSON/YAML may write it (int, integral float, digit string); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,30}\s*", value):
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str):
        try:
            f = float(value.strip().rstrip("%"))
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def read_json(name: str, path: Path, run: _Run) -> dict[str, Any] | None:
    """A metadata file as a dict, or None with an error finding (unreadable, not JSON, not an object)."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            run.find("error", "metadata-unreadable", f"{name}: larger than {MAX_JSON_BYTES:,} bytes; not read", name)
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        run.find("error", "metadata-unreadable", f"{name}: not readable JSON ({reason})", name)
        return None
    if not isinstance(data, dict):
        run.find(
            "error",
            "metadata-unreadable",
            f"{name}: the top level is a JSON {type(data).__name__}, not an object",
            name,
        )
        return None
    return data


class Card(BaseModel):
    """A model card split into its YAML front matter and its prose."""

    front_matter: dict[str, Any] = Field(default_factory=dict)
    prose: str = ""
    error: str | None = None


# huggingface_hub.repocard.REGEX_YAML_BLOCK, copied: importing repocard imports the whole Hub client (hf_api, httpx,
# asyncio: about 0.25 s of CPU), which every `assay verify` of a release with a model card paid after hashing.
# tests/test_verify_scale.py checks that the copy equals the installed huggingface_hub's pattern and flags.
CARD_YAML_BLOCK = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")
_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.MULTILINE | re.DOTALL)


def parse_card(text: str) -> Card:
    """Front matter and prose (fenced code blocks removed).  Never raises: a bad front matter is ``Card.error``.

    The front-matter block is found with huggingface_hub's own pattern (``repocard.REGEX_YAML_BLOCK``, copied as
    :data:`CARD_YAML_BLOCK`), so what counts as the card's metadata is what the Hub reads; it is loaded with
    ``yaml.safe_load``, as the Hub does.  ``RepoCard`` itself is not used: it raises on a bad block and then gives
    neither the error nor the prose.
    """
    text = text.lstrip("\ufeff")
    front: dict[str, Any] = {}
    error = None
    body = text
    match = CARD_YAML_BLOCK.search(text)
    if match:
        body = text[match.end() :]
        try:
            loaded = yaml.safe_load(match.group(2))
        except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
            # ValueError/TypeError/OverflowError: pyyaml's constructors raise them on odd scalars (dates, ints)
            error = f"front matter is not valid YAML ({str(exc).splitlines()[0] if str(exc) else repr(exc)})"
        else:
            if isinstance(loaded, dict):
                front = {str(k): v for k, v in loaded.items()}
            elif loaded is not None:
                error = f"front matter is a YAML {type(loaded).__name__}, not a mapping"
    elif re.match(r"\s*---[ \t]*(?:\r\n|\r|\n)", text):
        error = "the front matter opened by '---' is never closed"
    return Card(front_matter=front, prose=_FENCE.sub("", body), error=error)


def _phrase(m: re.Match[str]) -> str:
    """The card's phrase as a quoted key, markdown emphasis removed: ``"Context Length: 16,384 tokens"``."""
    return json.dumps(re.sub(r"[*_`]+", "", m.group(0)).strip(" \t>|-"), ensure_ascii=False)


def _walk(data: Mapping[str, Any], prefix: str = "", depth: int = 2) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for a dict and its nested dicts (``text_config.max_position_embeddings``)."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        yield path, value
        if isinstance(value, dict) and depth > 0:
            yield from _walk(value, f"{path}.", depth - 1)


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


# ------------------------------------------------------------------------------------------------ context length
CONTEXT_KEYS = {
    "max_position_embeddings",
    "max_sequence_length",
    "max_seq_len",
    "max_seq_length",
    "seq_length",
    "n_positions",
    "n_ctx",
    "model_max_length",
    "tokenizer_model_max_length",
}
# Not context lengths: original_max_position_embeddings is the pre-scaling length that rope_scaling extends.
CARD_CONTEXT_KEYS = {
    "context_length",
    "context_window",
    "context_size",
    "max_context_length",
    "context_len",
    "max_position_embeddings",
    "max_sequence_length",
    "sequence_length",
}
_NUM = r"(\d{1,3}(?:[,\u202f\u2009_]\d{3})+|\d+(?:\.\d+)?)[ \t]*([kKmM])?(?![A-Za-z0-9])"
_CTX_AFTER = re.compile(
    r"\b(?:context|sequence)[ \t]*(?:length|window|size|len)\b[^\n\d]{0,40}?" + _NUM + r"(?:[ \t-]*tokens?)?",
    re.IGNORECASE,
)
_CTX_BEFORE = re.compile(
    _NUM + r"(?:[ \t-]*tokens?)?[ \t-]+(?:of[ \t]+)?context(?:[ \t-]*(?:length|window))?\b", re.IGNORECASE
)


def _tokens(number: str, suffix: str | None) -> tuple[int, bool] | None:
    """A token count from a phrase ("16,384", "16K" = 16384, "1M"); the flag says a K/M suffix was used."""
    try:
        base = float(re.sub(r"[,\u202f\u2009_]", "", number))
    except ValueError:
        return None
    s = (suffix or "").lower()
    if not math.isfinite(base) or base > 1e15:
        return None
    return round(base * _K[s]), bool(s)


def _length_agrees(a: Statement, b: Statement) -> bool:
    """Equal, or equal once a "16K"/"1M" phrase is read with a decimal K (16,000) instead of 1024."""
    (n, decimal), (m, other_decimal) = a.value, b.value
    return n == m or (decimal is not None and decimal == m) or (other_decimal is not None and other_decimal == n)


def _ctx(file: str, key: str, shown: str, n: int, decimal: int | None = None) -> Statement:
    # value: (n, the same phrase read with decimal K or None); compared by _length_agrees
    return Statement(file=file, key=key, shown=shown, value=(n, decimal))


def _card_lengths(card_name: str, card: Card) -> list[Statement]:
    out: list[Statement] = []
    for key, value in _walk(card.front_matter):
        if (
            key.startswith("model-index")
            or _leaf(key).lower().replace("-", "_").replace(" ", "_") not in CARD_CONTEXT_KEYS
        ):
            continue
        n = _as_int(value)
        if n is not None and 0 < n < UNSET_LENGTH:
            out.append(_ctx(card_name, key, _render(value), n))
        elif (
            isinstance(value, str)
            and (m := re.fullmatch(r"\s*" + _NUM + r"(?:[ \t-]*tokens?)?\s*", value))
            and (st := _from_phrase(card_name, key, m)) is not None
        ):
            out.append(st)
    for rx in (_CTX_AFTER, _CTX_BEFORE):
        for m in rx.finditer(card.prose):
            st = _from_phrase(card_name, _phrase(m), m)
            if st is not None and st.value[0] >= 256:  # "context length of 2 documents" is not a context length
                out.append(st)
    unique: dict[str, Statement] = {}
    for s in out:
        unique.setdefault(s.key, s)
    return list(unique.values())


def _from_phrase(file: str, key: str, m: re.Match[str]) -> Statement | None:
    got = _tokens(m.group(1), m.group(2))
    if got is None:
        return None
    n, suffixed = got
    decimal = round(float(re.sub(r"[,\u202f\u2009_]", "", m.group(1))) * _DECIMAL_K[(m.group(2) or "").lower()])
    return _ctx(file, key, str(n), n, decimal if suffixed else None)


def _config_lengths(name: str, data: Mapping[str, Any]) -> list[Statement]:
    out = []
    for key, value in _walk(data):
        if _leaf(key) not in CONTEXT_KEYS:
            continue
        n = _as_int(value)
        if n is None or n <= 0 or n >= UNSET_LENGTH:  # null, odd types and the "unset" sentinel say nothing
            continue
        out.append(_ctx(name, key, _render(value), n))
    return out


def _rope_factor(config: Mapping[str, Any] | None) -> float | None:
    scaling = config.get("rope_scaling") if config else None
    factor = _as_float(scaling.get("factor")) if isinstance(scaling, dict) else None
    return factor if factor and factor > 1 else None


def check_context(run: _Run, jsons: Mapping[str, dict[str, Any]], card_name: str | None, card: Card | None) -> None:
    stated: list[Statement] = []
    for name in (CONFIG, TOKENIZER_CONFIG, GENERATION, *PROCESSOR_FILES):
        if name in jsons and name != GENERATION:  # generation max_length is an output budget, not a context length
            stated.extend(_config_lengths(name, jsons[name]))
    if card is not None and card_name is not None:
        stated.extend(_card_lengths(card_name, card))
    run.state("context-length", stated)
    if len(stated) < 2:
        return
    ref = next((s for s in stated if s.file == CONFIG and _leaf(s.key) == "max_position_embeddings"), stated[0])
    factor = _rope_factor(jsons.get(CONFIG))
    for other in stated:
        if other is ref:
            continue
        run.compared("context-length")
        if _length_agrees(ref, other):
            continue
        if factor and other.file != CONFIG and other.value[0] == round(ref.value[0] * factor):
            continue  # the length rope_scaling extends max_position_embeddings to: the same statement
        if other.file == card_name and "sequence" in other.key.lower() and other.value[0] < ref.value[0]:
            # Benign: "sequence length" in a card's prose is often the training length, shorter than the context.
            run.mismatch(
                "warning",
                "context-length-mismatch",
                ref,
                other,
                "the card's 'sequence length' is shorter; it may be a training length, not the context",
            )
            continue
        run.mismatch(
            "error",
            "context-length-mismatch",
            ref,
            other,
            "the release states different context lengths; a user cannot tell which one the model supports "
            "(inputs may be truncated or positions exceed what the model was trained on)",
        )


# ---------------------------------------------------------------------------------------------------------- dtype
TORCH_TO_SAFETENSORS = {
    "float32": "F32",
    "float": "F32",
    "float16": "F16",
    "half": "F16",
    "bfloat16": "BF16",
    "float64": "F64",
    "double": "F64",
    "int8": "I8",
    "uint8": "U8",
    "int16": "I16",
    "int32": "I32",
    "int64": "I64",
    "bool": "BOOL",
    "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2",
}
_WIDTH = {"F64": 64, "F32": 32, "BF16": 16, "F16": 16, "F8_E4M3": 8, "F8_E5M2": 8}


def _dtype_statements(name: str, data: Mapping[str, Any]) -> list[Statement]:
    out = []
    for key, value in _walk(data, depth=1):
        if _leaf(key) in ("torch_dtype", "dtype") and isinstance(value, str) and value != "auto":
            norm = TORCH_TO_SAFETENSORS.get(value.removeprefix("torch."))
            out.append(Statement(file=name, key=key, shown=_render(value), value=norm or value))
    return out


def check_dtype(run: _Run, config: Mapping[str, Any] | None, measured: Mapping[str, int] | None) -> None:
    if config is None:
        return
    stated = _dtype_statements(CONFIG, config)
    run.state("dtype", stated)
    by_level: dict[str, list[Statement]] = {}
    for s in stated:
        by_level.setdefault(s.key.rpartition(".")[0], []).append(s)
    for group in by_level.values():  # torch_dtype and dtype side by side must agree with each other
        for a, b in combinations(group, 2):
            run.compared("dtype")
            if a.value != b.value:
                run.mismatch("error", "dtype-mismatch", a, b, "the config states two dtypes at the same level")
    if not stated:
        return
    if not measured:
        run.need("dtype", "weights", "no safetensors weights were measured: the config's dtype cannot be checked")
        return
    total = sum(measured.values()) or 1
    dominant = max(measured, key=lambda d: measured[d])
    weights = Statement(
        file="weights",
        key="dtypes",
        shown=", ".join(f"{d}: {n:,}" for d, n in sorted(measured.items())),
        value=dominant,
    )
    quantized = isinstance(config.get("quantization_config"), dict)
    for s in stated:
        run.compared("dtype")
        nested = "." in s.key
        if s.value not in TORCH_TO_SAFETENSORS.values():
            run.mismatch("error", "dtype-mismatch", s, weights, f"{s.shown} is not a dtype assay knows", s)
        elif nested and s.value in measured:
            continue  # a sub-model may be stored in a minority dtype (e.g. a vision tower kept in F32)
        elif not nested and measured.get(s.value, 0) * 2 >= total:
            continue  # at least half the parameters are in the stated dtype (norms/buffers are often F32)
        elif quantized:
            # Benign: with a quantization_config the dtype is the compute dtype; weights are packed integers.
            run.mismatch(
                "warning",
                "dtype-mismatch",
                s,
                weights,
                "quantized release: the config's dtype is the compute dtype, not the stored one",
                s,
            )
        elif nested and _WIDTH.get(s.value, 0) > _WIDTH.get(dominant, 99):
            # Benign: the sub-model would be loaded in a wider float than stored; every value is kept exactly.
            run.mismatch(
                "warning",
                "dtype-mismatch",
                s,
                weights,
                "the sub-model's dtype is wider than the stored weights (a lossless upcast on load)",
                s,
            )
        else:
            run.mismatch(
                "error",
                "dtype-mismatch",
                s,
                weights,
                "the config's dtype is not the dtype most weights are stored in",
                s,
            )


# ----------------------------------------------------------------------------------------------------- parameters
_SCALE = {
    "k": 10**3,
    "thousand": 10**3,
    "m": 10**6,
    "million": 10**6,
    "b": 10**9,
    "billion": 10**9,
    "g": 10**9,
    "t": 10**12,
    "trillion": 10**12,
}
_UNIT = r"(B|M|T|K|billion|million|trillion|thousand)"
_PNUM = r"(\d+(?:\.\d+)?)[ \t]*" + _UNIT
_RANGE = r"(\d+(?:\.\d+)?)[ \t]*" + _UNIT + r"?[ \t]*(?:–|—|-|to)[ \t]*" + _PNUM
_LABELLED = re.compile(
    r"^[ \t>*_|-]*(?:number of |total )?(?:parameters|params|model size)\b[*_:| \t~≈]*"
    r"(?:" + _RANGE + r"|" + _PNUM + r")\b",
    re.IGNORECASE | re.MULTILINE,
)
_FREE = re.compile(r"(?<![\w.])" + _PNUM + r"[ \t-]*(?:parameters?|params?)\b", re.IGNORECASE)
_NAME_SIZE = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)([BbMm])(?![A-Za-z0-9])")


def _count(number: str, unit: str) -> tuple[int, int]:
    """(count, rounding half-unit): "15B" -> (15e9, 0.5e9); "14.7B" -> (14.7e9, 0.05e9)."""
    scale = _SCALE[unit.lower()]
    decimals = len(number.partition(".")[2])
    return round(float(number) * scale), round(scale * 10**-decimals / 2)


def _param_statement(
    file: str, key: str, shown: str, lo: int, hi: int, slack: int, severity: Severity, note: str
) -> Statement:
    return Statement(
        file=file, key=key, shown=shown, value={"lo": lo, "hi": hi, "slack": slack, "severity": severity, "note": note}
    )


def _card_parameters(card_name: str, card: Card, title: str | None) -> list[Statement]:
    out: list[Statement] = []
    for m in _LABELLED.finditer(card.prose):
        phrase = _phrase(m)
        if m.group(5):  # a single "Parameters: 15B"
            n, slack = _count(m.group(5), m.group(6))
            out.append(_param_statement(card_name, phrase, f"{n:,}", n, n, slack, "error", "the card's stated size"))
        else:  # a range "Parameters: 5B–15B"; the first unit defaults to the second's
            lo, lo_slack = _count(m.group(1), m.group(2) or m.group(4))
            hi, hi_slack = _count(m.group(3), m.group(4))
            out.append(
                _param_statement(
                    card_name,
                    phrase,
                    f"{lo:,}–{hi:,}",
                    min(lo, hi),
                    max(lo, hi),
                    max(lo_slack, hi_slack),
                    "error",
                    "the card's stated size range",
                )
            )
    labelled = {m.span() for m in _LABELLED.finditer(card.prose)}
    for m in _FREE.finditer(card.prose):
        if any(a <= m.start() < b for a, b in labelled):
            continue
        n, slack = _count(m.group(1), m.group(2))
        # Benign enough for a warning: free prose may describe another model (a base model, a comparison).
        out.append(
            _param_statement(
                card_name,
                _phrase(m),
                f"{n:,}",
                n,
                n,
                slack,
                "warning",
                "free prose in the card (it may be about another model)",
            )
        )
    for key, value in _walk(card.front_matter, depth=0):
        if key.lower().replace("-", "_") in ("parameters", "num_parameters", "params", "model_size"):
            out.extend(_hint(card_name, key, value, "error", "the card's front matter"))
    if title:
        out.extend(_name_hints(card_name, "title", title))
    return out


def _hint(file: str, key: str, value: Any, severity: Severity, note: str) -> list[Statement]:
    n = _as_int(value)
    if n is not None and n > 0:
        return [_param_statement(file, key, f"{n:,}", n, n, 0, severity, note)]
    if isinstance(value, str) and (m := re.fullmatch(r"\s*~?\s*" + _PNUM + r"\s*", value, re.IGNORECASE)):
        n, slack = _count(m.group(1), m.group(2))
        return [_param_statement(file, key, json.dumps(value), n, n, slack, severity, note)]
    return []


def _name_hints(file: str, key: str, name: str) -> list[Statement]:
    out = []
    for m in _NAME_SIZE.finditer(name):
        n, slack = _count(m.group(1), m.group(2))
        # Benign enough for a warning: a size in a product name is a family label ("7B" models of 7.2–8.5B exist).
        out.append(
            _param_statement(
                file, key, json.dumps(name), n, n, slack, "warning", "a size in a name is a family label, not a count"
            )
        )
    return out


def check_parameters(
    run: _Run,
    manifest: Manifest | None,
    config: Mapping[str, Any] | None,
    card_name: str | None,
    card: Card | None,
    measured: int | None,
) -> None:
    stated: list[Statement] = []
    tolerance = 0.0
    if manifest is not None:
        stated.extend(_name_hints("manifest", "release.name", manifest.release.name))
        p = manifest.claims.parameters
        if p is not None and p.total is not None:
            tolerance = p.tolerance
            stated.append(
                _param_statement(
                    "manifest",
                    "claims.parameters.total",
                    f"{p.total:,}",
                    p.total,
                    p.total,
                    round(p.tolerance * p.total),
                    "error",
                    "the manifest's claim",
                )
            )
    if config is not None:
        for key in ("num_parameters", "n_parameters", "num_params", "total_params"):
            stated.extend(_hint(CONFIG, key, config.get(key), "error", "the config's parameter count"))
    if card is not None and card_name is not None:
        title = next((line[2:].strip() for line in card.prose.splitlines() if line.startswith("# ")), None)
        stated.extend(_card_parameters(card_name, card, title))
    run.state("parameters", stated)
    if not stated:
        return
    if not measured:
        run.need(
            "parameters", "weights", "no safetensors weights were measured: the parameter statements cannot be checked"
        )
        return
    weights = Statement(file="weights", key="parameters", shown=f"{measured:,}", value=measured)
    for s in stated:
        run.compared("parameters")
        v = s.value
        # The stated tolerance (the manifest's) applies to every statement; a rounded figure also allows its rounding.
        slack = max(v["slack"], round(tolerance * v["hi"]))
        if v["lo"] - slack <= measured <= v["hi"] + slack:
            continue
        off = measured - (v["hi"] if measured > v["hi"] else v["lo"])
        run.mismatch(
            v["severity"],
            "parameter-count-mismatch",
            weights,
            s,
            f"{v['note']}: off by {off:+,} ({off / max(v['hi'], 1):+.2%}), beyond its tolerance of ±{slack:,}",
        )


# ------------------------------------------------------------------------------------------------ published scores
SPLITS = {"test", "val", "validation", "dev", "mini", "testmini", "sub", "subset", "lite", "train"}


def bench_key(name: str) -> tuple[str, str | None]:
    """A benchmark name matched leniently: ("ai2d", "test") for AI2D_TEST, ("mathvista", "mini") for
    "MathVista (MINI)", ("screenspotv2", None) for ScreenSpot-V2 and ScreenSpot_v2."""
    tokens = [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]
    split = None
    while len(tokens) > 1 and tokens[-1] in SPLITS:
        split = split or tokens[-1]
        tokens.pop()
    return "".join(tokens), split


def _decimals(value: Any, declared: int | None = None) -> int:
    if declared is not None:
        return declared
    text = value if isinstance(value, str) else repr(value)
    m = re.fullmatch(r"\s*-?\d+(?:\.(\d+))?\s*%?\s*", text)
    return len(m.group(1) or "") if m else 2


def _scores_agree(a: float, da: int, b: float, db: int) -> bool:
    """Equal as published: within half a unit of the coarser figure's last decimal (84.8 vs 84.80, 88.2 vs
    88.1667); also at a ×100 scale difference (0.848 vs 84.8: a unit convention, not a disagreement)."""
    tol = 0.5 * 10.0 ** -min(da, db) + 1e-9
    return abs(a - b) <= tol or abs(a * 100 - b) <= tol or abs(a - b * 100) <= tol


def _model_index(card_name: str, card: Card, run: _Run) -> list[tuple[Statement, set[str], str | None, int]]:
    """(statement, name keys, split, decimals) per model-index score; a malformed entry is an error finding.

    huggingface_hub's ``model_index_to_eval_results`` reads the same structure, but it raises on the first
    malformed entry (KeyError/TypeError) and loses every well-formed score with it; reading entry by entry keeps
    each readable score and names each bad entry.
    """
    raw = card.front_matter.get("model-index")
    if raw is None:
        return []
    out: list[tuple[Statement, set[str], str | None, int]] = []
    bad: list[str] = []
    if not isinstance(raw, list):
        bad.append(f"model-index is a {type(raw).__name__}, not a list")
        raw = []
    for i, model in enumerate(raw):
        results = model.get("results") if isinstance(model, dict) else None
        if not isinstance(results, list):
            bad.append(f"model-index[{i}] has no results list")
            continue
        for j, res in enumerate(results):
            dataset = res.get("dataset") if isinstance(res, dict) else None
            metrics = res.get("metrics") if isinstance(res, dict) else None
            if not isinstance(dataset, dict) or not isinstance(metrics, list):
                bad.append(f"model-index[{i}].results[{j}] lacks a dataset or a metrics list")
                continue
            names = [str(dataset[k]) for k in ("name", "type") if isinstance(dataset.get(k), (str, int, float))]
            keys = {bench_key(n)[0] for n in names} - {""}
            split = next((s for n in names if (s := bench_key(n)[1])), None)
            if isinstance(dataset.get("split"), str) and dataset["split"].lower() in SPLITS:
                split = dataset["split"].lower()
            label = names[0] if names else f"results[{j}]"
            for k, metric in enumerate(metrics):
                value = _as_float(metric.get("value")) if isinstance(metric, dict) else None
                if value is None:
                    bad.append(f"model-index {label} metrics[{k}] has no numeric value")
                    continue
                mtype = metric.get("type") or metric.get("name") or "score"
                st = Statement(
                    file=card_name, key=f'model-index["{label}"].{mtype}', shown=_render(metric["value"]), value=value
                )
                out.append((st, keys, split, _decimals(metric["value"])))
    for why in bad:
        run.find(
            "error",
            "metadata-unreadable",
            f"{card_name}: {why}; its published scores cannot be cross-checked",
            f"{card_name}:model-index",
        )
    return out


def check_published(run: _Run, manifest: Manifest | None, card_name: str | None, card: Card | None) -> None:
    if card is None or card_name is None:
        return
    rows = _model_index(card_name, card, run)
    run.state("published-scores", (r[0] for r in rows))
    if manifest is None or not rows:
        return
    evals = {ev.name: ev for ev in manifest.evals}
    for st, keys, split, decimals in rows:
        matched = [
            ev for ev in manifest.evals if {bench_key(n)[0] for n in (ev.name, ev.task_name, ev.dataset) if n} & keys
        ]
        if not matched:
            # Warning, not error: the score is published but the manifest does not declare it, so nothing audits it.
            run.find(
                "warning",
                "published-score-undeclared",
                f"{st.quote()} is not declared in the manifest's evals; no other table is compared with it",
                st.where,
            )
            continue
        for ev in matched:
            ev_split = bench_key(ev.name)[1]
            for i, pub in enumerate(ev.published):
                other = Statement(
                    file="manifest",
                    key=f"evals[{ev.name}].published[{i}]" + (f" ({pub.source})" if pub.source else ""),
                    shown=_render(pub.value),
                    value=pub.value,
                )
                run.state("published-scores", [other])
                run.compared("published-scores")
                if _scores_agree(st.value, decimals, pub.value, _decimals(pub.value, pub.decimals)):
                    continue
                if split and ev_split and split != ev_split:
                    # Benign: both name a split and they differ; different splits legitimately score differently.
                    run.mismatch(
                        "warning",
                        "published-score-mismatch",
                        st,
                        other,
                        f"a different split ({split} vs {ev_split}), so the scores may both be right",
                        st,
                    )
                else:
                    run.mismatch(
                        "error",
                        "published-score-mismatch",
                        st,
                        other,
                        "the same benchmark is published with two different scores",
                        st,
                    )
            if ev.components:
                parts = [evals.get(c) for c in ev.components]
                values = [p.published[0].value for p in parts if p is not None and p.published]
                if len(values) != len(ev.components):
                    run.find(
                        "warning",
                        "published-score-undeclared",
                        f"{st.quote()}: {ev.name} is declared the mean of {', '.join(ev.components)} but not "
                        "every component has a published score; the mean was not recomputed",
                        st.where,
                    )
                    continue
                mean = sum(values) / len(values)
                other = Statement(
                    file="manifest",
                    key=f"mean(evals[{', '.join(ev.components)}].published[0])",
                    shown=f"{mean:.4f}",
                    value=mean,
                )
                run.state("published-scores", [other])
                run.compared("published-scores")
                if not _scores_agree(st.value, decimals, mean, 10):
                    run.mismatch(
                        "error",
                        "published-score-mismatch",
                        st,
                        other,
                        "the score is declared the mean of its components and it is not",
                        st,
                    )


# ---------------------------------------------------------------------------------------------------- image tokens
BUDGET_KEYS = {
    "num_image_tokens",
    "image_seq_length",
    "image_seq_len",
    "mm_tokens_per_image",
    "max_image_tokens",
    "image_token_count",
    "num_visual_tokens",
    "max_visual_tokens",
}
_CARD_BUDGET = re.compile(
    r"(?:up to|max(?:imum)?(?: of)?|at most)[ \t]+" + _NUM + r"[ \t]*(?:visual|image|vision)[ \t-]+tokens\b",
    re.IGNORECASE,
)


def _merge(config: Mapping[str, Any] | None) -> float:
    """Image tokens per patch the projector keeps: 1/merge² for spatial-merge or pixel-shuffle projectors."""
    if not config:
        return 1.0
    for scope in (config, config.get("vision_config")):
        if not isinstance(scope, dict):
            continue
        for key in ("spatial_merge_size", "scale_factor"):
            f = _as_int(scope.get(key))
            if f and f > 1:
                return 1 / (f * f)
        for key in ("downsample_ratio", "pixel_shuffle_ratio"):
            r = _as_float(scope.get(key))
            if r and 0 < r < 1:
                return r * r
    return 1.0


def check_image_tokens(
    run: _Run, jsons: Mapping[str, dict[str, Any]], card_name: str | None, card: Card | None
) -> None:
    patches: list[Statement] = []
    minimum: list[Statement] = []
    budgets: list[Statement] = []
    for name in (CONFIG, *PROCESSOR_FILES):
        for key, value in _walk(jsons.get(name) or {}):
            n = _as_int(value)
            if n is None or n <= 0:
                continue
            leaf = _leaf(key)
            target = (
                patches
                if leaf == "max_num_patches"
                else minimum
                if leaf == "min_num_patches"
                else budgets
                if leaf in BUDGET_KEYS
                else None
            )
            if target is not None:
                target.append(Statement(file=name, key=key, shown=_render(value), value=n))
    if card is not None and card_name is not None:
        for m in _CARD_BUDGET.finditer(card.prose):
            got = _tokens(m.group(1), m.group(2))
            if got is not None:
                budgets.append(Statement(file=card_name, key=_phrase(m), shown=str(got[0]), value=got[0]))
    run.state("image-tokens", [*patches, *minimum, *budgets])
    if not patches:
        return
    ref = patches[0]
    for other in patches[1:]:
        run.compared("image-tokens")
        if other.value != ref.value:
            run.mismatch(
                "error",
                "image-token-budget-mismatch",
                ref,
                other,
                "the image processor and the model disagree on the largest number of patches per image",
            )
    for low in minimum:
        run.compared("image-tokens")
        if low.value > ref.value:
            run.mismatch("error", "image-token-budget-mismatch", ref, low, "min_num_patches exceeds max_num_patches")
    keep = _merge(jsons.get(CONFIG))
    expected = round(ref.value * keep)
    for b in budgets:
        run.compared("image-tokens")
        if b.value == expected:
            continue
        budget: int = b.value
        ratio = expected // budget if expected % budget == 0 else 0
        why = f"at most {ref.value:,} patches" + (
            f" × {keep:g} kept by the projector = {expected:,} tokens" if keep != 1 else " = as many image tokens"
        )
        if ratio > 1 and math.isqrt(ratio) ** 2 == ratio:
            # Benign: a k×k pooling/pixel-shuffle projector the config does not name would give exactly this budget.
            run.mismatch(
                "warning",
                "image-token-budget-mismatch",
                ref,
                b,
                f"{why}; the stated budget is {math.isqrt(ratio)}² times smaller, as an unnamed "
                "pooling projector would give",
            )
        else:
            run.mismatch("error", "image-token-budget-mismatch", ref, b, f"{why}, not {b.value:,}")


# -------------------------------------------------------------------------------------------------- special tokens
ROLES = ("bos", "eos", "pad")


def _vocab(jsons: Mapping[str, dict[str, Any]]) -> dict[str, int]:
    """Token string -> id from tokenizer.json (model vocab, then added tokens) and added_tokens_decoder."""
    out: dict[str, int] = {}
    tok = jsons.get(TOKENIZER) or {}
    model = tok.get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if isinstance(vocab, dict):
        out.update({k: v for k, v in vocab.items() if isinstance(k, str) and _as_int(v) is not None})
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...], the id is the position
        out.update({p[0]: i for i, p in enumerate(vocab) if isinstance(p, list) and p and isinstance(p[0], str)})
    added = tok.get("added_tokens")
    for entry in added if isinstance(added, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("content"), str) and _as_int(entry.get("id")) is not None:
            out[entry["content"]] = int(entry["id"])
    decoder = (jsons.get(TOKENIZER_CONFIG) or {}).get("added_tokens_decoder")
    for key, entry in decoder.items() if isinstance(decoder, dict) else []:
        if isinstance(entry, dict) and isinstance(entry.get("content"), str) and _as_int(key) is not None:
            out[entry["content"]] = int(key)
    return out


def _ids(value: Any) -> frozenset[int] | None:
    if isinstance(value, list):
        ids = [_as_int(v) for v in value]
        return frozenset(i for i in ids if i is not None) if ids and all(i is not None for i in ids) else None
    i = _as_int(value)
    return frozenset([i]) if i is not None else None


def _token_statements(jsons: Mapping[str, dict[str, Any]], run: _Run) -> dict[str, list[Statement]]:
    by_role: dict[str, list[Statement]] = {r: [] for r in ROLES}
    for name in (CONFIG, GENERATION):
        for key, value in _walk(jsons.get(name) or {}, depth=1):
            role = _leaf(key).removesuffix("_token_id")
            if role in ROLES and _leaf(key).endswith("_token_id") and (ids := _ids(value)):
                by_role[role].append(Statement(file=name, key=key, shown=_render(value), value=ids))
    vocab = _vocab(jsons)
    for name in (TOKENIZER_CONFIG, SPECIAL_TOKENS_MAP):
        data = jsons.get(name) or {}
        for role in ROLES:
            raw = data.get(f"{role}_token")
            token = raw.get("content") if isinstance(raw, dict) else raw
            if not isinstance(token, str):
                continue
            key = f"{role}_token"
            if token in vocab:
                by_role[role].append(
                    Statement(
                        file=name,
                        key=key,
                        shown=f"{json.dumps(token)} (id {vocab[token]})",
                        value=frozenset([vocab[token]]),
                    )
                )
            else:
                run.state("special-tokens", [Statement(file=name, key=key, shown=json.dumps(token) + " (id unknown)")])
    return by_role


def check_special_tokens(run: _Run, jsons: Mapping[str, dict[str, Any]]) -> None:
    for role, stated in _token_statements(jsons, run).items():
        run.state("special-tokens", stated)
        for a, b in combinations(stated, 2):
            run.compared("special-tokens")
            if a.value <= b.value or b.value <= a.value:
                continue  # equal, or a single id among a list of stop ids (generation may stop on several)
            if a.value & b.value:
                # Benign: two lists of stop ids that overlap still stop on the shared ids.
                run.mismatch("warning", "special-token-mismatch", a, b, f"the {role} id lists differ but overlap")
            elif role == "pad":
                # Benign enough for a warning: padded positions are masked out; a pad id changes no generated token.
                run.mismatch("warning", "special-token-mismatch", a, b, "the pad token ids differ")
            else:
                run.mismatch(
                    "error",
                    "special-token-mismatch",
                    a,
                    b,
                    f"the {role} token ids differ; prompts or stopping differ with the file that is used",
                )


# ----------------------------------------------------------------------------------------------------------- entry
def release_files(root: Path) -> dict[str, Path]:
    """The files at the top of a release folder, by name (for calling :func:`check_metadata` on a folder)."""
    return {p.name: p for p in sorted(root.iterdir()) if p.is_file()} if root.is_dir() else {}


def check_metadata(
    files: Mapping[str, Path],
    *,
    manifest: Manifest | None = None,
    card: str | None = None,
    parameters: int | None = None,
    dtypes: Mapping[str, int] | None = None,
) -> MetadataResult:
    """Cross-check a release's metadata.

    ``files`` maps the release's root-level file names to where they are on disk (others are ignored);
    ``card`` is the model card's name (default: ``manifest.release.model_card``, else ``README.md``);
    ``parameters`` and ``dtypes`` (parameter count per safetensors dtype) are what the weights measured, or None
    when no weights were measured (statements that need them are then ``not-checked``).
    """
    run = _Run()
    jsons: dict[str, dict[str, Any]] = {}
    for name in (*METADATA_FILES, TOKENIZER):
        if name in files and (data := read_json(name, files[name], run)) is not None:
            jsons[name] = data
    declared_card = manifest.release.model_card if manifest is not None else None
    card_name = card or declared_card or "README.md"
    parsed: Card | None = None
    if card_name in files:
        try:
            text = files[card_name].read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            run.find(
                "error",
                "metadata-unreadable",
                f"{card_name}: the model card is not readable UTF-8 text ({exc})",
                card_name,
            )
        else:
            parsed = parse_card(text)
            if parsed.error:
                run.find("error", "metadata-unreadable", f"{card_name}: {parsed.error}", f"{card_name}:front-matter")
    elif card or declared_card:
        # A warning here: the file check already fails a declared artifact that is missing (or not yet pulled);
        # this only says that the card's statements took no part in the cross-check.
        run.find(
            "warning",
            "metadata-unreadable",
            f"{card_name}: the declared model card is not present; its statements were not cross-checked",
            card_name,
        )
    check_context(run, jsons, card_name, parsed)
    check_dtype(run, jsons.get(CONFIG), dtypes or None)
    check_parameters(run, manifest, jsons.get(CONFIG), card_name, parsed, parameters or None)
    check_published(run, manifest, card_name, parsed)
    check_image_tokens(run, jsons, card_name, parsed)
    check_special_tokens(run, jsons)
    return MetadataResult(
        files=sorted(jsons),
        card=card_name if parsed is not None else None,
        kinds={k: v for k, v in run.kinds.items() if v.statements or v.compared or v.needs},
        findings=run.findings,
    )


__all__ = [
    "MetadataResult",
    "KindReport",
    "Statement",
    "Card",
    "check_metadata",
    "parse_card",
    "bench_key",
    "release_files",
    "METADATA_FILES",
]
