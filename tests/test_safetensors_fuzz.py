"""Fuzz the safetensors header audit (hypothesis), cross-checked against the official library.

Inputs, written as real files:

* valid files laid out here for all 22 dtypes (odd names, metadata, space padding), and files written by
  ``safetensors.numpy.save`` and the bundled demo release (real writer output), then
* mutated: flipped / inserted / deleted header bytes, a random declared length N (up to 2**64-1), truncated or
  extended data, random JSON whitespace around the header, a field replaced by a random JSON value (random
  unicode, lone surrogates written as ``\\uXXXX`` escapes, ``-0``, ``1e2``, ``NaN``, integers past 2**64, deep
  structures), injected keys; and random headers and random bytes from scratch.

Oracles:

1. ``audit_safetensors`` never raises, returns a report whose every string encodes as UTF-8 (so ``--json`` can
   print it) and whose errors and warnings are one line each; ``ok`` is exactly "no errors".
2. Reference cross-check with ``safetensors.safe_open`` (the official library): every file it rejects, assay
   rejects.  assay may be stricter; the documented cases (see the docstring of
   :mod:`assay.verify.safetensors_audit`) are non-space padding, leading tabs/newlines, duplicate JSON keys,
   unknown keys in a tensor entry and a ``__metadata__`` that is not a string->string object.  When both accept,
   they must agree on every tensor's name, dtype and shape and on the metadata.
3. A bounded sample goes through the CLI in subprocesses (``assay inspect --json``, ``assay verify --strict``):
   exit code in {0, 1, 2}, never a traceback or "internal error".

Budget: the whole file runs in well under 60 s on 2 cores (``max_examples`` below; ``deadline=None`` because a
loaded CI machine is slow, not wrong).  A longer run: ``python benchmarks/fuzz_safetensors.py --examples 100000``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from assay.verify.safetensors_audit import (
    DTYPE_BITS,
    SafetensorsReport,
    audit_safetensors,
    audit_shard_index,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import save as np_save

ROOT = Path(__file__).resolve().parents[1]
DEMO_SHARDS = sorted((ROOT / "manifests" / "examples" / "tiny-vlm" / "release").glob("*.safetensors"))
DTYPES = sorted(DTYPE_BITS)
WS = " \t\n\r"

IN_PROCESS = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
CLI_SAMPLE = settings(
    max_examples=6,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


# ------------------------------------------------------------------------------------------- JSON text building


@dataclass(frozen=True)
class Raw:
    """JSON text inserted verbatim (tokens the stdlib would never write: -0, NaN, \\ud800 escapes ...).

    Not a str subclass: hypothesis replays drawn strings by their type, and a str subclass breaks that.
    """

    text: str


def dump(value) -> str:
    """json.dumps that passes Raw tokens through, so generated headers can hold any JSON text."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{dump(k) if isinstance(k, Raw) else json.dumps(k)}: {dump(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(dump(v) for v in value) + "]"
    return json.dumps(value)


def pack(header: str | bytes, data: bytes = b"", n: int | None = None) -> bytes:
    raw = header.encode("utf-8") if isinstance(header, str) else header
    return struct.pack("<Q", len(raw) if n is None else n) + raw + data


plain_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
escape_unit = st.integers(0, 0xFFFF).map(lambda u: f"\\u{u:04x}")
surrogate_unit = st.integers(0xD800, 0xDFFF).map(lambda u: f"\\u{u:04x}")
escaped_string = st.lists(
    st.one_of(plain_text.map(lambda s: json.dumps(s)[1:-1]), escape_unit, surrogate_unit), min_size=1, max_size=4
).map(lambda parts: Raw('"' + "".join(parts) + '"'))
raw_token = st.sampled_from(
    [
        "-0",
        "1e2",
        "4.0",
        "-1",
        "NaN",
        "Infinity",
        "-Infinity",
        "18446744073709551615",
        "18446744073709551616",
        "1" + "0" * 30,
        "true",
        "null",
        '"\\ud800"',
        '"\\udc00x"',
        '"\\ud83d\\ude00"',
        '"a\\u0000b"',
        "[]",
        "{}",
        "0.0",
    ]
).map(Raw)
big_int = st.one_of(
    st.integers(0, 16),
    st.integers(0, 2**64 + 8),
    st.integers(-(2**64), -1),
    st.sampled_from([2**32, 2**62, 2**63, 2**64 - 1, 2**64]),
)
json_scalar = st.one_of(
    st.none(), st.booleans(), big_int, st.floats(allow_nan=False), plain_text, escaped_string, raw_token
)
json_key = st.one_of(plain_text, escaped_string)
json_value = st.recursive(
    json_scalar,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(json_key, kids, max_size=4)),
    max_leaves=12,
)


# ------------------------------------------------------------------------------------------- file strategies


def _zero_size_shape(draw) -> list[int]:
    """Huge dimensions and a 0: valid unless the running product reaches 2**64 before the 0 (as in the reference)."""
    dims = draw(st.lists(st.sampled_from([1, 7, 2**31, 2**32, 2**40, 2**63, 2**64 - 1]), min_size=1, max_size=3))
    dims.insert(draw(st.integers(0, len(dims))), 0)
    return dims


@st.composite
def valid_file(draw, names=plain_text, zero_size=False) -> bytes:
    """Laid out here for every dtype; with the defaults both assay and the official library must accept it.

    ``names`` may draw escaped JSON strings (lone surrogates included) and ``zero_size`` adds zero-size tensors
    with huge dimensions: then the verdict is the libraries' to give.
    """
    tensors = []
    for name in draw(st.lists(names.filter(lambda s: s != "__metadata__"), max_size=5, unique=True)):
        dtype = draw(st.sampled_from(DTYPES))
        if zero_size and draw(st.booleans()):
            shape = _zero_size_shape(draw)
        else:
            shape = draw(st.lists(st.integers(0, 5), max_size=3))
            if math.prod(shape) * DTYPE_BITS[dtype] % 8:
                shape.append(8)  # sub-byte dtypes: a whole number of bytes
        tensors.append((name, dtype, shape, math.prod(shape) * DTYPE_BITS[dtype] // 8))
    order = draw(st.permutations(range(len(tensors))))
    header, pos = {}, 0
    for i in order:
        name, dtype, shape, size = tensors[i]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [pos, pos + size]}
        pos += size
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.dictionaries(names, names, max_size=3))
    text = dump(header) if names is not plain_text else json.dumps(header, ensure_ascii=draw(st.booleans()))
    text += " " * draw(st.integers(0, 9))
    return pack(text, draw(st.binary(min_size=pos, max_size=pos)))


@st.composite
def writer_file(draw) -> bytes:
    """A file written by the official writer (numpy dtypes), or a shard of the bundled demo release."""
    if draw(st.booleans()):
        return DEMO_SHARDS[draw(st.integers(0, len(DEMO_SHARDS) - 1))].read_bytes()
    arrays = {}
    for name in draw(st.lists(plain_text, min_size=1, max_size=4, unique=True)):
        dtype = draw(
            st.sampled_from(
                [
                    "bool",
                    "uint8",
                    "int8",
                    "int16",
                    "uint16",
                    "float16",
                    "int32",
                    "uint32",
                    "float32",
                    "float64",
                    "int64",
                    "uint64",
                ]
            )
        )
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        arrays[name] = np.zeros(shape, dtype=dtype)
    metadata = draw(st.one_of(st.none(), st.dictionaries(plain_text, plain_text, max_size=2)))
    return np_save(arrays, metadata=metadata)


@st.composite
def random_header_file(draw) -> bytes:
    """A header built from scratch: tensor-like entries with random fields, or any JSON at all."""
    if draw(st.booleans()):
        doc = json_value
    else:
        entry = st.fixed_dictionaries(
            {
                "dtype": st.one_of(st.sampled_from(DTYPES), json_scalar),
                "shape": st.one_of(st.lists(big_int, max_size=4), json_value),
                "data_offsets": st.one_of(st.lists(big_int, min_size=2, max_size=2), json_value),
            },
            optional={"extra": json_value},
        )
        doc = st.dictionaries(json_key, st.one_of(entry, json_value), max_size=4)
    text = dump(draw(doc))
    return pack(text, b"\0" * draw(st.integers(0, 64)))


def _header(content: bytes) -> tuple[bytes, bytes] | None:
    if len(content) < 8:
        return None
    (n,) = struct.unpack("<Q", content[:8])
    if 8 + n > len(content):
        return None
    return content[8 : 8 + n], content[8 + n :]


MUTATIONS = ("flip", "insert", "delete", "length", "truncate", "append", "pad", "replace", "inject", "number", "rename")


@st.composite
def mutated_file(draw, kinds: tuple[str, ...] = MUTATIONS) -> bytes:
    """A valid or writer-made file with 1-3 mutations of the given kinds."""
    content = draw(st.one_of(valid_file(), writer_file()))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(kinds))
        split = _header(content)
        if kind == "length":
            content = (
                struct.pack(
                    "<Q",
                    draw(
                        st.one_of(big_int.filter(lambda v: 0 <= v < 2**64), st.sampled_from([100_000_000, 100_000_001]))
                    ),
                )
                + content[8:]
            )
        elif kind == "truncate":
            content = content[: draw(st.integers(0, len(content)))]
        elif kind == "append":
            content += draw(st.binary(min_size=1, max_size=16))
        elif split is None:
            continue
        else:
            header, data = split
            fix_n = draw(st.booleans()) or kind in ("pad", "replace", "inject", "number", "rename")
            if kind == "number":  # one integer token rewritten as JSON that only looks like it: -0, 4.0, 4e0 ...
                tokens = list(re.finditer(rb"(?<=[\[ ,])\d+(?=[\],])", header))
                if not tokens:
                    continue
                m = draw(st.sampled_from(tokens))
                t = m.group().decode()
                new = draw(
                    st.sampled_from(
                        [
                            f"-{t}",
                            f"-{t}",
                            f"{t}.0",
                            f"{t}e0",
                            f"0{t}",
                            str(int(t) + 2**64),
                            f"{t}E+0",
                            f" {t} ",
                            f"\t{t}\n",
                        ]
                    )
                )
                header = header[: m.start()] + new.encode() + header[m.end() :]
            elif kind in ("flip", "insert", "delete"):
                buf = bytearray(header)
                i = draw(st.integers(0, max(len(buf) - 1, 0)))
                if kind == "flip" and buf:
                    buf[i] = draw(st.integers(0, 255))
                elif kind == "insert":
                    buf[i:i] = draw(st.binary(min_size=1, max_size=8))
                elif buf:
                    del buf[i : i + draw(st.integers(1, 4))]
                header = bytes(buf)
            elif kind == "pad":
                lead = draw(st.text(st.sampled_from(WS), max_size=3))
                trail = draw(st.text(st.sampled_from(WS), max_size=3))
                header = lead.encode() + header + trail.encode()
            else:
                try:
                    doc = json.loads(header)
                except ValueError:
                    continue
                if not isinstance(doc, dict):
                    continue
                if kind == "rename" and doc:  # a tensor or metadata name becomes any escaped string
                    name = draw(st.sampled_from(sorted(doc)))
                    target = doc[name] if name == "__metadata__" and isinstance(doc[name], dict) and doc[name] else doc
                    old = draw(st.sampled_from(sorted(target)))
                    target[draw(escaped_string)] = target.pop(old)
                elif kind == "inject" or not doc:
                    doc[draw(json_key)] = draw(json_value)
                else:
                    name = draw(st.sampled_from(sorted(doc)))
                    if isinstance(doc[name], dict) and doc[name] and draw(st.booleans()):
                        field = draw(st.sampled_from(sorted(doc[name])))
                        doc[name][field] = draw(json_value)
                    else:
                        doc[name] = draw(json_value)
                header = dump(doc).encode("utf-8")
            content = pack(header, data, None if fix_n else struct.unpack("<Q", content[:8])[0])
    return content


any_file = st.one_of(
    valid_file(),
    writer_file(),
    valid_file(names=st.one_of(plain_text, escaped_string)),
    valid_file(zero_size=True),
    mutated_file(),
    mutated_file(),
    mutated_file(),
    mutated_file(kinds=("number", "rename", "pad")),
    random_header_file(),
    st.binary(max_size=64),
)


# ------------------------------------------------------------------------------------------- oracles


def official(path: Path) -> tuple[dict, dict] | None:
    """(name -> (dtype, shape), metadata) as the official library reads them, or None if it rejects the file."""
    try:
        with safe_open(str(path), framework="np") as f:
            names = list(f.keys())
            metadata = f.metadata() or {}
            info = {}
            for name in names:
                sl = f.get_slice(name)
                info[name] = (sl.get_dtype(), list(sl.get_shape()))
        return info, metadata
    except Exception:  # noqa: BLE001 - SafetensorError, OSError (mmap of an empty file), ...: all mean "rejected"
        return None


def check_in_process(path: Path, content: bytes) -> tuple[SafetensorsReport, bool]:
    """Oracles 1 and 2 for one file; returns (assay's report, whether the official library accepted it)."""
    path.write_bytes(content)
    report = audit_safetensors(path)
    assert isinstance(report, SafetensorsReport)
    assert report.ok == (not report.errors)
    assert all("\n" not in m and "\r" not in m for m in report.errors + report.warnings), report.errors
    report.model_dump_json().encode("utf-8")  # no lone surrogate or other unencodable text survives
    assert report.file_size == len(content)
    ref = official(path)
    if ref is None:
        assert not report.ok, f"the official library rejects this file but assay passes it: {content[:300]!r}"
    elif report.ok:
        info, metadata = ref
        assert {t.name: (t.dtype, t.shape) for t in report.tensors} == info
        assert (report.metadata or {}) == metadata
    return report, ref is not None


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="assay-st-fuzz-") as d:
        yield Path(d)


@IN_PROCESS
@given(content=any_file)
def test_audit_never_raises_and_rejects_all_the_official_library_rejects(workdir, content):
    check_in_process(workdir / "x.safetensors", content)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(valid_file(), writer_file()))
def test_valid_files_pass_both(workdir, content):
    """No false positives on well-formed files, including real writer output."""
    report, accepted = check_in_process(workdir / "v.safetensors", content)
    assert accepted and report.ok, report.errors


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(['{"', '{"a": {"dtype": "', '{"__metadata__": {"']), unit=surrogate_unit, rest=plain_text)
def test_lone_surrogates_anywhere_are_rejected(workdir, prefix, unit, rest):
    closing = {
        '{"': '": {}}',
        '{"a": {"dtype": "': '", "shape": [], "data_offsets": [0, 0]}}',
        '{"__metadata__": {"': '": "v"}}',
    }[prefix]
    text = prefix + json.dumps(rest)[1:-1] + unit + closing
    report, accepted = check_in_process(workdir / "s.safetensors", pack(text))
    assert not accepted and not report.ok
    assert any("lone UTF-16 surrogate" in e for e in report.errors), report.errors


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    doc=st.one_of(
        json_value,
        st.fixed_dictionaries(
            {
                "weight_map": st.one_of(
                    json_value, st.dictionaries(json_key, st.one_of(plain_text, json_scalar), max_size=4)
                )
            },
            optional={"metadata": st.one_of(json_value, st.fixed_dictionaries({"total_size": json_scalar}))},
        ),
    )
)
def test_shard_index_audit_never_raises(workdir, doc):
    path = workdir / "model.safetensors.index.json"
    path.write_text(dump(doc), encoding="utf-8")
    valid = audit_safetensors(DEMO_SHARDS[0])
    report = audit_shard_index(path, {DEMO_SHARDS[0].name: valid})
    assert report.ok == (not report.errors)
    report.model_dump_json().encode("utf-8")
    assert all("\n" not in m for m in report.errors + report.warnings)


# ------------------------------------------------------------------------------------------- bounded memory


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("n", [100_000_000, 100_000_001, 2**64 - 1])
def test_huge_declared_length_allocates_nothing(tmp_path, n):
    path = tmp_path / "n.safetensors"
    path.write_bytes(pack(b"{}", n=n))
    report = audit_safetensors(path)
    assert not report.ok
    assert _peak_bytes(lambda: audit_safetensors(path)) < 1_000_000


@pytest.mark.parametrize("shape", [[2**32, 2**32], [2**64 - 1, 2**64 - 1, 0], [2**63] * 1000, [2**40] * 3 + [0]])
def test_huge_declared_shape_allocates_nothing(tmp_path, shape):
    path = tmp_path / "s.safetensors"
    path.write_bytes(pack(json.dumps({"a": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}})))
    report = audit_safetensors(path)
    assert not report.ok and official(path) is None
    assert _peak_bytes(lambda: audit_safetensors(path)) < 2_000_000


# ------------------------------------------------------------------------------------------- the CLI, sampled


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env.pop("ASSAY_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "assay.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def _assert_clean(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode in (0, 1, 2), (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr[-2000:]


@CLI_SAMPLE
@given(content=any_file)
def test_cli_inspect_on_fuzzed_files(workdir, content):
    path = workdir / "cli.safetensors"
    path.write_bytes(content)
    proc = _run("inspect", str(path), "--json")
    _assert_clean(proc)
    if proc.returncode in (0, 1):
        assert json.loads(proc.stdout)["ok"] is (proc.returncode == 0)
    _assert_clean(_run("inspect", str(path)))  # the table output prints file-derived text too


@CLI_SAMPLE
@given(content=any_file)
def test_cli_verify_on_fuzzed_files(workdir, content):
    folder = workdir / "release"
    folder.mkdir(exist_ok=True)
    (folder / "model.safetensors").write_bytes(content)
    manifest = {
        "apiVersion": "assay/v1",
        "kind": "Release",
        "release": {"name": "fuzz", "version": "0.1.0"},
        "sources": [{"name": "default", "uri": "dir://."}],
        "artifacts": [
            {
                "path": "model.safetensors",
                "role": "weights",
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        ],
    }
    (folder / "assay.yaml").write_text(json.dumps(manifest))  # JSON is YAML
    proc = _run("verify", str(folder / "assay.yaml"), "--strict")
    _assert_clean(proc)
    expected = audit_safetensors(folder / "model.safetensors").ok
    assert (proc.returncode == 0) is expected, (proc.returncode, proc.stdout[-1500:])
