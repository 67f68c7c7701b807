"""Strict, header-only audit of safetensors files and their shard index.

Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the
data section. Only the first 8+N bytes are ever read; tensor data is never touched.
A declared N above the official 100,000,000-byte limit or past the end of the file is
refused before anything is allocated.

Everything the official library (safetensors 0.8.0, ``read_metadata`` /
``Metadata::validate``, JSON by serde_json) rejects is rejected here too, with one error
line per problem instead of the first one only.  Python's ``json`` is laxer than
serde_json in three ways that are closed explicitly: lone UTF-16 surrogates written as
``\\ud800`` escapes (not Unicode scalar values; serde_json refuses them), ``-0`` (serde_json
reads it as the float -0.0, which no integer field accepts) and ``NaN``/``Infinity``.
The fuzz tests (tests/test_safetensors_fuzz.py) check "official rejects => assay rejects"
on generated headers.

assay is stricter where the official library is lenient, because a lenient reader lets
two tools see different files.  Documented cases (each is an error here, accepted by
safetensors 0.8.0):

* padding after the JSON other than spaces (``\\t``, ``\\n``, ``\\r``): the format pads
  with 0x20 only; serde_json skips any JSON whitespace;
* leading ``\\t``/``\\n``/``\\r`` before ``{`` (leading *spaces* are only a warning: the
  spec says the header MUST begin with ``{`` but the official library accepts them on
  purpose, ``test_whitespace_leading_padded_header``);
* duplicate JSON keys (for tensor names and ``__metadata__`` keys serde silently keeps
  the last one, other parsers may keep the first, so two loaders can disagree on which
  tensor or metadata value is meant; the official library only rejects duplicates
  inside one tensor entry);
* unknown keys in a tensor entry (serde ignores them; hidden fields are unchecked data);
* ``__metadata__`` that is not a string->string object (``null`` is accepted by the
  official library).

Warnings (not errors): zero-size tensors; a header length that is not a multiple of 8
(the official writer pads with spaces so the data section is 8-byte aligned; that
space padding itself is fine and never reported); leading spaces before ``{``; and
spec-valid but odd tensor names (empty, holding ``/`` or ``\\``, ``..``, or control
characters such as a newline or NUL), which tools that map names to paths or lines
may mishandle.

Header size limit (bounded memory).  Python's JSON objects and one ``TensorInfo`` per tensor take about 25-30
bytes of memory per header byte (a 1,000,000-tensor, 94 MB header: 2.5 GB peak; the official library itself takes
about 1 GB), so a header larger than ``ASSAY_MAX_SAFETENSORS_HEADER`` bytes (default 16 MiB, about 200,000
tensors; at most the official 100,000,000) is refused with an error *before* its bytes are read: the file fails
its structural audit, named as a limit of assay's, and nothing above the limit is allocated.  Real checkpoints
shard long before this (a few thousand tensors per shard).  Raise the variable to audit a bigger header.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import struct
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import BaseModel

MAX_HEADER_SIZE = 100_000_000  # safetensors MAX_HEADER_SIZE
HEADER_LIMIT_ENV = "ASSAY_MAX_SAFETENSORS_HEADER"
DEFAULT_HEADER_LIMIT = 16 * 1024 * 1024  # assay's own bound on memory (see the module docstring)
MAX_INDEX_SIZE = 100_000_000  # a shard index is read whole; real ones are well under 10 MB
METADATA_KEY = "__metadata__"
TENSOR_KEYS = frozenset({"dtype", "shape", "data_offsets"})
U64_LIMIT = 2**64  # offsets, dims and bit counts are usize (u64) in the reference code
JSON_WHITESPACE = " \t\n\r"
_SURROGATE = re.compile("[\ud800-\udfff]")  # after json decoding, any code point here was a lone escape
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

# Element width in bits of every dtype safetensors 0.8.0 deserialises (checked against
# the library: its "unknown variant" error lists exactly these 22 names).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}


class TensorInfo(BaseModel):
    name: str
    dtype: str
    shape: list[int]
    begin: int
    end: int
    numel: int


class SafetensorsReport(BaseModel):
    path: str
    ok: bool
    errors: list[str]
    warnings: list[str]
    header_size: int | None
    data_size: int | None
    file_size: int
    tensors: list[TensorInfo]
    metadata: dict[str, str] | None
    parameters: int
    parameters_by_dtype: dict[str, int]
    dtypes: list[str]


class ShardIndexReport(BaseModel):
    path: str
    ok: bool
    errors: list[str]
    warnings: list[str]
    shards: list[str]
    total_size: int | None  # sum of tensor bytes over the referenced shards; None unless every shard audited ok


# --------------------------------------------------------------------------- JSON helpers


class _PairsDict(dict):
    """A JSON object that remembers the keys that occurred more than once."""

    __slots__ = ("duplicates",)  # no per-object __dict__: a header holds one of these per tensor
    duplicates: list[str]


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _PairsDict:
    out = _PairsDict(pairs)
    seen: set[str] = set()
    out.duplicates = []
    for key, _ in pairs:
        if key in seen and key not in out.duplicates:
            out.duplicates.append(key)
        seen.add(key)
    return out


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON constant {token}")


def _parse_int(token: str) -> int | float:
    """serde_json reads ``-0`` as the float -0.0 (so a usize field rejects it); Python would give the int 0."""
    return -0.0 if token == "-0" else int(token)


# The stdlib decoder is used (not a hand-written parser) with hooks that close its three
# differences from serde_json that matter here; lone surrogates are found after decoding.
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_constant=_reject_constant, parse_int=_parse_int)


def _strict_json(text: str) -> Any:
    """Decode JSON rejecting NaN/Infinity, reading ``-0`` as a float, recording duplicate keys on each object."""
    return _DECODER.decode(text)


def _json_error(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__


def _where(node: tuple | None) -> str:
    parts: list[str] = []
    while node is not None:
        node, key = node
        parts.append(f"[{_short(key)}]")
    return "".join(reversed(parts))


def _surrogate_text(s: str) -> str:
    return ", ".join(f"\\u{ord(c):04x}" for c in dict.fromkeys(_SURROGATE.findall(s)))


def _json_problems(doc: Any, root: str) -> tuple[list[str], list[str]]:
    """(duplicate-key errors, lone-surrogate errors) anywhere in a decoded document.

    Iterative, so a document nested as deep as the decoder allows cannot overflow the stack here.
    """
    duplicates: list[str] = []
    surrogates: list[str] = []
    stack: list[tuple[Any, tuple | None]] = [(doc, None)]
    while stack:
        value, node = stack.pop()
        if isinstance(value, dict):
            at = root + _where(node)
            for key in getattr(value, "duplicates", ()):
                duplicates.append(
                    f"duplicate key {_short(key)} in {at}: JSON parsers disagree on which value wins, so two "
                    "loaders can see different tensors (the official library keeps the last tensor or "
                    "metadata value silently)"
                )
            for key, sub in reversed(list(value.items())):
                if _SURROGATE.search(key):
                    surrogates.append(
                        f"key {_short(key)} in {at} holds a lone UTF-16 surrogate "
                        f"({_surrogate_text(key)}): "
                        "not a Unicode scalar value, so not valid UTF-8 JSON (the official library "
                        "rejects the header)"
                    )
                stack.append((sub, (node, key)))
        elif isinstance(value, list):
            for i in range(len(value) - 1, -1, -1):
                stack.append((value[i], (node, i)))
        elif isinstance(value, str) and _SURROGATE.search(value):
            surrogates.append(
                f"string {_short(value)} at {root + _where(node)} holds a lone UTF-16 surrogate "
                f"({_surrogate_text(value)}): not a Unicode scalar value, so not valid UTF-8 JSON "
                "(the official library rejects the header)"
            )
    return duplicates, surrogates


def _type_name(value: Any) -> str:
    return "dict" if isinstance(value, dict) else type(value).__name__  # never the private _PairsDict


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- safetensors


def _report(
    path: str,
    file_size: int,
    errors: list[str],
    warnings: list[str],
    *,
    header_size: int | None = None,
    data_size: int | None = None,
    tensors: list[TensorInfo] | None = None,
    metadata: dict[str, str] | None = None,
) -> SafetensorsReport:
    tensors = sorted(tensors or [], key=lambda t: t.name)
    by_dtype: dict[str, int] = {}
    for t in tensors:
        by_dtype[t.dtype] = by_dtype.get(t.dtype, 0) + t.numel
    return SafetensorsReport(
        path=path,
        ok=not errors,
        errors=errors,
        warnings=warnings,
        header_size=header_size,
        data_size=data_size,
        file_size=file_size,
        tensors=tensors,
        metadata=metadata,
        parameters=sum(by_dtype.values()),
        parameters_by_dtype=dict(sorted(by_dtype.items())),
        dtypes=sorted(by_dtype),
    )


def header_limit() -> int:
    """Assay's header size limit: ``$ASSAY_MAX_SAFETENSORS_HEADER`` bytes (default 16 MiB), at most the official
    100,000,000.  A value that is not a positive integer is bad input (exit 2)."""
    raw = os.environ.get(HEADER_LIMIT_ENV, "").strip().replace("_", "")
    if not raw:
        return DEFAULT_HEADER_LIMIT
    if not raw.isdigit() or int(raw) < 1:
        from ..manifests.errors import InputError

        raise InputError(f"{HEADER_LIMIT_ENV}={os.environ[HEADER_LIMIT_ENV]!r}: not a positive number of bytes")
    return min(int(raw), MAX_HEADER_SIZE)


def _length_errors(n: int, file_size: int) -> list[str]:
    """The length prefix's bounds, before any of the N bytes is read: the official limit, the file's end (a
    malformed file, whatever its size), then assay's own memory bound."""
    if n > MAX_HEADER_SIZE:
        return [f"header length {n} exceeds the 100,000,000-byte limit of the official library"]
    if 8 + n > file_size:
        return [f"header length {n} runs past the end of the file (8+{n} > file size {file_size})"]
    limit = header_limit()
    if n > limit:
        return [
            (
                f"header length {n:,} bytes exceeds assay's limit of {limit:,} bytes ({HEADER_LIMIT_ENV}); not read: "
                "the structure was not checked (auditing a header takes about 30 bytes of memory per header byte; "
                "raise the limit to audit it)"
            )
        ]
    return []


def audit_safetensors(path: str | os.PathLike) -> SafetensorsReport:
    """Audit a .safetensors file, reading only its first 8+N bytes.

    Raises OSError only if the file cannot be opened or read; malformed content
    is always reported in the returned report.
    """
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if len(prefix) < 8:
            return audit_safetensors_header(prefix, file_size, str(path))
        (n,) = struct.unpack("<Q", prefix)
        errors = _length_errors(n, file_size)
        if errors:  # refused before reading or allocating N bytes
            return _report(str(path), file_size, errors, [], header_size=n)
        return _audit_json(n, f.read(n), file_size, str(path))  # the JSON bytes only: no prefix + body copy


def _padding_problems(text: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) about whitespace before and after the JSON object."""
    errors: list[str] = []
    warnings: list[str] = []
    body = text.lstrip(JSON_WHITESPACE)
    lead = text[: len(text) - len(body)]
    trail = body[len(body.rstrip(JSON_WHITESPACE)) :]
    if lead.strip(" "):
        errors.append(
            f"header has {_ws_names(lead)} before '{{': the spec says it MUST begin with '{{' and pads "
            "with spaces (0x20) only (the official library tolerates this; assay does not)"
        )
    elif lead:
        warnings.append(
            f"header has {len(lead)} leading space(s) before '{{': the spec says it MUST begin with "
            "'{' (the official library accepts it)"
        )
    if trail.strip(" "):
        errors.append(
            f"header padding after the JSON holds {_ws_names(trail)}: only spaces (0x20) may pad "
            "a header (the official library tolerates this; assay does not)"
        )
    return errors, warnings


def _ws_names(ws: str) -> str:
    names = {" ": "spaces", "\t": "tabs", "\n": "newlines", "\r": "carriage returns"}
    return ", ".join(f"{names[c]} ({c!r})" for c in dict.fromkeys(ws))


def audit_safetensors_header(header: bytes, file_size: int, path: str = "<bytes>") -> SafetensorsReport:
    """Run every check given the first 8+N bytes of a file of ``file_size`` bytes."""
    if file_size < 8 or len(header) < 8:
        what = f"file is {file_size} bytes" if file_size < 8 else f"only {len(header)} header bytes given"
        return _report(path, file_size, [f"{what}: shorter than the 8-byte header length prefix"], [])
    (n,) = struct.unpack("<Q", header[:8])
    errors = _length_errors(n, file_size)
    if errors:
        return _report(path, file_size, errors, [], header_size=n)
    return _audit_json(n, header[8 : 8 + n], file_size, path)


def _audit_json(n: int, raw: bytes, file_size: int, path: str) -> SafetensorsReport:
    """Every check of the JSON part (``raw``: the N bytes after the length prefix, or fewer when cut short)."""
    errors: list[str] = []
    data_size = file_size - 8 - n
    warnings = (
        []
        if n % 8 == 0
        else [
            (
                f"header length {n} is not a multiple of 8, so the data section is not 8-byte aligned "
                "(the official writer pads the header with spaces)"
            )
        ]
    )
    if len(raw) < n:
        errors.append(f"only {len(raw)} of the {n} header bytes were given")
        return _report(path, file_size, errors, warnings, header_size=n, data_size=data_size)

    def stop() -> SafetensorsReport:
        return _report(path, file_size, errors, warnings, header_size=n, data_size=data_size)

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        errors.append(f"header is not valid UTF-8 (byte {e.start} of the header)")
        return stop()
    del raw  # the bytes are not needed once decoded (the caller keeps no other reference when reading a file)
    if not text.strip(JSON_WHITESPACE):
        errors.append("header is not valid JSON: it is empty or only whitespace")
        return stop()
    pad_errors, pad_warnings = _padding_problems(text)
    errors.extend(pad_errors)
    warnings.extend(pad_warnings)
    if not text.lstrip(JSON_WHITESPACE).startswith("{"):
        errors.append("header does not start with '{'")
    try:
        doc = _strict_json(text)
    except (ValueError, RecursionError) as e:
        errors.append(f"header is not valid JSON: {_json_error(e)}")
        return stop()
    if not isinstance(doc, dict):
        errors.append(f"header JSON top level is a {_type_name(doc)}, not an object")
        return stop()
    duplicates, surrogates = _json_problems(doc, "header")
    errors.extend(duplicates)
    if surrogates:  # the official library rejects the whole header; report no names that cannot be encoded
        errors.extend(surrogates)
        return stop()

    metadata = None
    if METADATA_KEY in doc:
        metadata, meta_errors = _check_metadata(doc[METADATA_KEY])
        errors.extend(meta_errors)
    tensors: list[TensorInfo] = []
    for name, entry in doc.items():
        if name == METADATA_KEY:
            continue
        info, entry_errors, entry_warnings = _check_entry(name, entry, data_size)
        errors.extend(entry_errors)
        warnings.extend(entry_warnings)
        if info is not None:
            tensors.append(info)
    errors.extend(_layout_errors(tensors, data_size))
    return _report(
        path, file_size, errors, warnings, header_size=n, data_size=data_size, tensors=tensors, metadata=metadata
    )


def _check_metadata(value: Any) -> tuple[dict[str, str] | None, list[str]]:
    if not isinstance(value, dict):
        return None, [f"__metadata__ is a {_type_name(value)}, must be an object of string to string"]
    bad = [k for k, v in value.items() if not isinstance(v, str)]
    if bad:
        return None, [f"__metadata__ value for {_short(k)} is a {_type_name(value[k])}, must be a string" for k in bad]
    return dict(value), []


def _name_warning(name: str) -> str | None:
    """Names the format allows but that tools turning names into paths, keys or log lines may mishandle."""
    odd = []
    if name == "":
        odd.append("is empty")
    if "/" in name or "\\" in name:
        odd.append("holds a path separator")
    if ".." in name:
        odd.append("holds '..'")
    if _CONTROL.search(name):
        odd.append("holds control characters (e.g. a newline or NUL)")
    if not odd:
        return None
    return (
        f"tensor name {_short(name)} {' and '.join(odd)}: valid safetensors, but tools that map tensor names to "
        "file paths or text lines may mishandle it"
    )


def _numel(shape: list[int]) -> int | None:
    """Element count, or None when a running product reaches 2**64.

    Mirrors the reference (``try_fold(1, usize::checked_mul)``): an overflow before a zero
    dimension is still an overflow, and the intermediate ints never exceed 128 bits.
    """
    numel = 1
    for d in shape:
        numel *= d
        if numel >= U64_LIMIT:
            return None
    return numel


def _check_entry(name: str, entry: Any, data_size: int) -> tuple[TensorInfo | None, list[str], list[str]]:
    """Check one tensor entry; return its TensorInfo when dtype, shape and offsets are well typed."""
    errors: list[str] = []
    warnings: list[str] = []
    label = f"tensor {_short(name)}"
    odd = _name_warning(name)
    if odd:
        warnings.append(odd)
    if not isinstance(entry, dict):
        return None, errors + [f"{label}: entry is a {_type_name(entry)}, not an object"], warnings
    missing = sorted(TENSOR_KEYS - entry.keys())
    unknown = sorted(entry.keys() - TENSOR_KEYS)
    if missing:
        errors.append(f"{label}: missing key(s) {missing}")
    if unknown:
        errors.append(
            f"{label}: unknown key(s) {unknown} (the official library ignores them; "
            "assay rejects them because unchecked fields can smuggle data past loaders)"
        )
    if missing:
        return None, errors, warnings

    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    bits = DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
    if bits is None:
        errors.append(f"{label}: unknown dtype {_short(dtype)}")
    shape_ok = isinstance(shape, list) and all(_is_int(d) and 0 <= d < U64_LIMIT for d in shape)
    if not shape_ok:
        errors.append(f"{label}: shape {_short(shape)} is not a list of non-negative integers")
    offsets_ok = (
        isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) and 0 <= o < U64_LIMIT for o in offsets)
    )
    if not offsets_ok:
        errors.append(f"{label}: data_offsets {_short(offsets)} is not a list of two non-negative integers")
    elif offsets[0] > offsets[1]:
        errors.append(f"{label}: data_offsets begin {offsets[0]} > end {offsets[1]}")
    if not (shape_ok and offsets_ok and isinstance(dtype, str)):
        return None, errors, warnings

    numel = _numel(shape)
    if numel is None:
        errors.append(f"{label}: shape {_short(shape)} has more than 2**64 elements (overflows 64 bits)")
        return None, errors, warnings
    if numel == 0:
        warnings.append(f"{label}: zero-size tensor (shape {_short(shape)})")
    if bits is not None:
        total_bits = numel * bits
        if total_bits >= U64_LIMIT:
            errors.append(f"{label}: shape {_short(shape)} x {bits} bits overflows 64 bits")
        elif total_bits // 8 > data_size:
            errors.append(f"{label}: needs {total_bits // 8} bytes but the data section has only {data_size}")
        elif total_bits % 8:
            errors.append(
                f"{label}: {numel} x {bits}-bit {dtype} elements = {total_bits} bits, not a whole number of bytes"
            )
        elif offsets[1] - offsets[0] != total_bits // 8:
            errors.append(
                f"{label}: data_offsets span {offsets[1] - offsets[0]} bytes but "
                f"shape {_short(shape)} of {dtype} needs {total_bits // 8}"
            )
    info = TensorInfo(name=name, dtype=dtype, shape=shape, begin=offsets[0], end=offsets[1], numel=numel)
    return info, errors, warnings


def _short(value: Any, limit: int = 200) -> str:
    """repr() cut to one bounded line: a hostile header can hold a million-element shape or a 90 MB name."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _layout_errors(tensors: list[TensorInfo], data_size: int) -> list[str]:
    """Tensors sorted by offset must tile the data section exactly: no gap, overlap or leftover."""
    errors = []
    ordered = sorted((t for t in tensors if t.begin <= t.end), key=lambda t: (t.begin, t.end))
    if not ordered:
        if data_size:
            errors.append(f"no tensors but the data section holds {data_size} bytes (trailing bytes)")
        return errors
    if ordered[0].begin != 0:
        errors.append(f"gap: first tensor {_short(ordered[0].name)} begins at byte {ordered[0].begin}, not 0")
    for prev, cur in itertools.pairwise(ordered):
        if cur.begin > prev.end:
            errors.append(
                f"gap: {cur.begin - prev.end} unused bytes between {_short(prev.name)} "
                f"(ends at {prev.end}) and {_short(cur.name)} (begins at {cur.begin})"
            )
        elif cur.begin < prev.end:
            errors.append(
                f"overlap: {_short(prev.name)} [{prev.begin}, {prev.end}) and "
                f"{_short(cur.name)} [{cur.begin}, {cur.end}) share bytes"
            )
    last_end = max(t.end for t in ordered)
    if last_end < data_size:
        errors.append(
            f"trailing bytes: data section is {data_size} bytes but tensors end at {last_end} "
            f"({data_size - last_end} bytes unaccounted for)"
        )
    elif last_end > data_size:
        errors.append(
            f"data section too short: tensors end at byte {last_end} but the data section "
            f"is only {data_size} bytes (truncated file?)"
        )
    return errors


# --------------------------------------------------------------------------- shard index
#
# ``metadata.total_size`` must equal the sum over every shard of (end - begin) of its tensors, i.e. the sum of
# the shards' data sections (headers excluded).  That is what the writers compute: transformers 5.25
# ``save_pretrained`` removes tied weights and clones disjoint tensors that share storage
# (``remove_tied_weights_from_state_dict``), then huggingface_hub 2.4 ``split_torch_state_dict_into_shards``
# adds ``untyped_storage().nbytes()`` once per storage and transformers copies that ``total_size`` into the
# index.  For tensors that own their storage (every parameter after that clean-up) the storage size is exactly
# the bytes safetensors stores for the tensor.  A state dict of views into a larger storage would declare more
# than the shards hold: the index then does not describe the files, so a mismatch is an error either way.
# transformers also writes ``metadata.total_parameters`` (``model.num_parameters()``, which leaves out buffers
# that are saved): it is not a count of the stored elements, so it is not checked.
# tests/test_safetensors_audit.py checks both writers' real output.


def _shard_name_error(shard: Any) -> str | None:
    """Shard names must be plain file names next to the index: no directories, no escapes."""
    if not isinstance(shard, str):
        return f"is a {_type_name(shard)}, not a shard file name string"
    if not shard:
        return "is an empty shard file name"
    if _SURROGATE.search(shard):
        return f"shard name {_short(shard)} holds a lone UTF-16 surrogate: not a file name any tool can open"
    if PurePosixPath(shard).is_absolute() or PureWindowsPath(shard).is_absolute() or PureWindowsPath(shard).drive:
        return f"shard name {_short(shard)} is an absolute path"
    if "/" in shard or "\\" in shard or shard in (".", "..") or "\0" in shard:
        return f"shard name {_short(shard)} is not a plain file name (no '/', '\\', '..': shards sit next to the index)"
    return None


def index_shard_names(doc: Any) -> list[str]:
    """The distinct shard names a decoded index's ``weight_map`` references that are safe to open beside it.

    Never raises: anything malformed is skipped here and reported by :func:`audit_shard_index`.
    """
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict):
        return []
    return sorted({s for s in weight_map.values() if isinstance(s, str) and _shard_name_error(s) is None})


def _read_index(index_path: str | os.PathLike) -> bytes | None:
    """The index file's bytes, or None when it is larger than MAX_INDEX_SIZE (nothing read then)."""
    with open(index_path, "rb") as f:
        if os.fstat(f.fileno()).st_size > MAX_INDEX_SIZE:
            return None
        return f.read(MAX_INDEX_SIZE + 1)


def read_index_shard_names(index_path: str | os.PathLike) -> list[str]:
    """:func:`index_shard_names` of an index file; [] when it is not valid JSON.  Raises OSError only."""
    raw = _read_index(index_path)
    if raw is None or len(raw) > MAX_INDEX_SIZE:
        return []
    try:
        return index_shard_names(_strict_json(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return []


def _find_report(shard: str, shard_reports: dict[str, SafetensorsReport]) -> SafetensorsReport | None:
    """Look a shard up by its exact key, else by the base name of a unique key."""
    if shard in shard_reports:
        return shard_reports[shard]
    matches = [r for k, r in shard_reports.items() if os.path.basename(k) == shard]
    return matches[0] if len(matches) == 1 else None


def audit_shard_index(index_path: str | os.PathLike, shard_reports: dict[str, SafetensorsReport]) -> ShardIndexReport:
    """Cross-check ``model.safetensors.index.json`` against the audits of its shards.

    ``shard_reports`` maps shard file names (as written in ``weight_map``) to their
    SafetensorsReport. Raises OSError only if the index cannot be read; every wrongly
    typed field is an error in the report.
    """
    path = str(index_path)
    raw = _read_index(index_path)
    errors: list[str] = []
    warnings: list[str] = []

    def done(shards: list[str] | None = None, total: int | None = None) -> ShardIndexReport:
        return ShardIndexReport(
            path=path,
            ok=not errors,
            errors=errors,
            warnings=warnings,
            shards=sorted(set(shards or [])),
            total_size=total,
        )

    if raw is None or len(raw) > MAX_INDEX_SIZE:
        errors.append(f"index is larger than {MAX_INDEX_SIZE:,} bytes; not read")
        return done()
    try:
        doc = _strict_json(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        errors.append(f"index is not valid UTF-8 JSON: {_json_error(e)}")
        return done()
    if not isinstance(doc, dict):
        errors.append(f"index top level is a {_type_name(doc)}, not an object")
        return done()
    duplicates, surrogates = _json_problems(doc, "index")
    errors.extend(duplicates + surrogates)
    if "weight_map" not in doc:
        errors.append("index has no 'weight_map' object")
        return done()
    weight_map = doc["weight_map"]
    if not isinstance(weight_map, dict):
        errors.append(f"index 'weight_map' is a {_type_name(weight_map)}, not an object of tensor name to shard")
        return done()
    if not weight_map:
        errors.append("weight_map is empty")

    valid: dict[str, str] = {}
    for tensor, shard in weight_map.items():
        problem = _shard_name_error(shard)
        if problem:
            errors.append(
                f"weight_map[{_short(tensor)}] {problem}"
                if problem.startswith("is ")
                else f"weight_map[{_short(tensor)}]: {problem}"
            )
        else:
            valid[tensor] = shard
    shards = sorted(set(valid.values()))

    reports: dict[str, SafetensorsReport] = {}
    for shard in shards:
        report = _find_report(shard, shard_reports)
        if report is None:
            count = sum(1 for s in valid.values() if s == shard)
            errors.append(f"missing shard {_short(shard)} (referenced by {count} tensors, no audit given)")
        else:
            reports[shard] = report
            if not report.ok:
                errors.append(f"shard {_short(shard)} failed its own audit ({len(report.errors)} errors)")
    given = dict(reports)  # every audited file is searched, referenced or not
    for key, report in shard_reports.items():
        if key not in shards and os.path.basename(key) not in shards:
            warnings.append(f"shard {_short(key)} was given but weight_map does not reference it")
            given[key] = report

    located: dict[str, list[str]] = {}
    for shard, report in given.items():
        for t in report.tensors:
            located.setdefault(t.name, []).append(shard)
    for tensor, where in sorted(located.items()):
        if len(where) > 1:
            errors.append(f"tensor {_short(tensor)} is stored in more than one shard: {where}")
        for shard in where:
            if tensor not in weight_map:
                errors.append(f"tensor {_short(tensor)} in shard {_short(shard)} is not listed in weight_map")
            elif tensor in valid and valid[tensor] != shard:
                errors.append(
                    f"tensor {_short(tensor)} is in shard {_short(shard)} but weight_map says {_short(valid[tensor])}"
                )
    for tensor, shard in sorted(valid.items()):
        if shard in reports and not located.get(tensor):
            errors.append(f"tensor {_short(tensor)} is mapped to {_short(shard)} but that shard does not contain it")

    total = None
    if valid and len(valid) == len(weight_map) and len(reports) == len(shards) and all(r.ok for r in reports.values()):
        total = sum(t.end - t.begin for r in reports.values() for t in r.tensors)
    _check_total_size(doc, total, errors, warnings)
    return done(shards, total)


def _check_total_size(doc: dict, total: int | None, errors: list[str], warnings: list[str]) -> None:
    """``metadata.total_size`` must equal the shards' tensor bytes (see the note above); absent: a warning."""
    if "metadata" not in doc:
        warnings.append("index has no 'metadata.total_size': the shards' size cannot be cross-checked")
        return
    metadata = doc["metadata"]
    if not isinstance(metadata, dict):
        errors.append(f"index 'metadata' is a {_type_name(metadata)}, not an object")
        return
    if "total_size" not in metadata:
        warnings.append("index has no 'metadata.total_size': the shards' size cannot be cross-checked")
        return
    declared = metadata["total_size"]
    if not _is_int(declared):
        errors.append(
            f"metadata.total_size {_short(declared)} is a {_type_name(declared)}, not an integer number of bytes"
        )
    elif declared < 0:
        errors.append(f"metadata.total_size {declared} is negative")
    elif total is not None and declared != total:
        errors.append(
            f"metadata.total_size says {declared} bytes but the shards' tensors "
            f"total {total} bytes (sum of end - begin over every tensor)"
        )
