"""Tests for assay.verify.safetensors_audit: every malformed-header class, built by hand."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from assay.verify import safetensors_audit as sa
from assay.verify.safetensors_audit import (
    audit_safetensors,
    audit_safetensors_header,
    audit_shard_index,
)
from safetensors import deserialize
from safetensors.numpy import save_file


def blob(header: str | bytes | dict, data: bytes = b"") -> bytes:
    """struct.pack('<Q', n) + header + data, header given as dict, str or raw bytes."""
    if isinstance(header, dict):
        header = json.dumps(header)
    if isinstance(header, str):
        header = header.encode()
    return struct.pack("<Q", len(header)) + header + data


def entry(dtype: str = "U8", shape: list | None = None, offsets: list | None = None, **extra) -> dict:
    return {
        "dtype": dtype,
        "shape": [4] if shape is None else shape,
        "data_offsets": [0, 4] if offsets is None else offsets,
        **extra,
    }


def write(tmp_path, content: bytes, name: str = "x.safetensors"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def official_accepts(content: bytes) -> bool:
    try:
        deserialize(content)
        return True
    except Exception:  # noqa: BLE001 - the library raises SafetensorError and others: any means "rejected"
        return False


# (id, file bytes, phrase expected in one error, does safetensors 0.8.0 accept it?)
MALFORMED = [
    ("tiny-file", b"\x01\x02\x03", "shorter than the 8-byte", False),
    ("header-too-large", struct.pack("<Q", 100_000_001) + b"{}", "exceeds the 100,000,000-byte limit", False),
    ("header-past-eof", struct.pack("<Q", 64) + b"{}", "runs past the end of the file", False),
    ("bad-utf8", blob(b'{"a\xff": 1}'), "not valid UTF-8", False),
    ("leading-tab", blob(b"\t{}     "), "MUST begin with '{'", True),
    ("leading-newline", blob(b"\n{}     "), "newlines ('\\n') before '{'", True),
    ("trailing-tab", blob(b"{}\t     "), "padding after the JSON holds", True),
    ("trailing-newline", blob(b"{}\n"), "only spaces (0x20) may pad a header", True),
    ("trailing-cr", blob(b"{}  \r   "), "carriage returns", True),
    ("trailing-nul", blob(b"{}\0"), "not valid JSON", False),
    ("only-spaces", blob(b"        "), "empty or only whitespace", False),
    (
        "surrogate-name",
        blob('{"\\ud800": ' + json.dumps(entry()) + "}", b"\0" * 4),
        "lone UTF-16 surrogate (\\ud800)",
        False,
    ),
    (
        "surrogate-low-name",
        blob('{"a\\udc00b": ' + json.dumps(entry()) + "}", b"\0" * 4),
        "lone UTF-16 surrogate",
        False,
    ),
    (
        "surrogate-reversed-pair",
        blob('{"\\ude00\\ud83d": ' + json.dumps(entry()) + "}", b"\0" * 4),
        "lone UTF-16 surrogate (\\ude00, \\ud83d)",
        False,
    ),
    (
        "surrogate-dtype",
        blob('{"a": {"dtype": "U8\\ud800", "shape": [4], "data_offsets": [0, 4]}}', b"\0" * 4),
        "at header['a']['dtype'] holds a lone UTF-16 surrogate",
        False,
    ),
    (
        "surrogate-metadata-key",
        blob('{"__metadata__": {"\\udfff": "x"}}'),
        "in header['__metadata__'] holds a lone",
        False,
    ),
    ("surrogate-metadata-value", blob('{"__metadata__": {"k": "v\\ud800"}}'), "lone UTF-16 surrogate (\\ud800)", False),
    (
        "surrogate-unknown-key",
        blob('{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4], "x": ["\\udbff"]}}', b"\0" * 4),
        "lone UTF-16 surrogate (\\udbff)",
        False,
    ),
    (
        "negative-zero-shape",
        blob(b'{"a": {"dtype": "U8", "shape": [-0], "data_offsets": [0, 0]}}'),
        "not a list of non-negative integers",
        False,
    ),
    (
        "negative-zero-offset",
        blob(b'{"a": {"dtype": "U8", "shape": [0], "data_offsets": [-0, 0]}}'),
        "not a list of two non-negative integers",
        False,
    ),
    (
        "exponent-int",
        blob(b'{"a": {"dtype": "U8", "shape": [4e0], "data_offsets": [0, 4]}}', b"\0" * 4),
        "not a list of non-negative integers",
        False,
    ),
    (
        "overflow-before-zero-dim",
        blob({"a": entry(shape=[2**40, 2**40, 0], offsets=[0, 0])}),
        "more than 2**64 elements",
        False,
    ),
    ("deep-nesting", blob(b'{"__metadata__": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "not valid JSON", False),
    ("not-brace", blob(b"[]      "), "does not start with '{'", False),
    ("top-level-array", blob(b"[]      "), "top level is a list, not an object", False),
    ("invalid-json", blob(b'{"a": '), "not valid JSON", False),
    ("nan-constant", blob('{"__metadata__": {"a": NaN}}'), "not valid JSON", False),
    (
        "duplicate-tensor",
        blob(f'{{"a": {json.dumps(entry())}, "a": {json.dumps(entry())}}}', b"\0" * 4),
        "duplicate key 'a' in header",
        True,
    ),
    (
        "duplicate-metadata-key",
        blob('{"__metadata__": {"k": "1", "k": "2"}}'),
        "duplicate key 'k' in header['__metadata__']",
        True,
    ),
    (
        "duplicate-field",
        blob('{"a": {"dtype": "U8", "dtype": "I8", "shape": [4], "data_offsets": [0, 4]}}', b"\0" * 4),
        "duplicate key 'dtype' in header['a']",
        False,
    ),
    ("metadata-not-object", blob({"__metadata__": ["x"]}), "__metadata__ is a list", False),
    ("metadata-null", blob({"__metadata__": None}), "__metadata__ is a NoneType", True),
    ("metadata-non-string", blob({"__metadata__": {"k": 1}}), "value for 'k' is a int, must be a string", False),
    ("entry-not-object", blob({"a": [1, 2]}), "entry is a list, not an object", False),
    ("missing-key", blob({"a": {"dtype": "U8", "shape": [4]}}, b"\0" * 4), "missing key(s) ['data_offsets']", False),
    ("unknown-key", blob({"a": entry(extra="hidden")}, b"\0" * 4), "unknown key(s) ['extra']", True),
    ("unknown-dtype", blob({"a": entry(dtype="F128")}, b"\0" * 4), "unknown dtype 'F128'", False),
    ("shape-negative", blob({"a": entry(shape=[-4])}, b"\0" * 4), "not a list of non-negative integers", False),
    ("shape-float", blob({"a": entry(shape=[4.0])}, b"\0" * 4), "not a list of non-negative integers", False),
    ("shape-bool", blob({"a": entry(shape=[True, 4])}, b"\0" * 4), "not a list of non-negative integers", False),
    ("shape-string", blob({"a": entry(shape="4")}, b"\0" * 4), "not a list of non-negative integers", False),
    ("shape-over-u64", blob({"a": entry(shape=[0, 2**64])}), "not a list of non-negative integers", False),
    (
        "numel-overflow",
        blob({"a": entry(dtype="F32", shape=[2**32, 2**32], offsets=[0, 4])}, b"\0" * 4),
        "overflows 64 bits",
        False,
    ),
    (
        "bigger-than-data",
        blob({"a": entry(dtype="F32", shape=[1000], offsets=[0, 4000])}, b"\0" * 8),
        "needs 4000 bytes but the data section has only 8",
        False,
    ),
    (
        "sub-byte-total",
        blob({"a": entry(dtype="F4", shape=[3], offsets=[0, 2])}, b"\0" * 2),
        "not a whole number of bytes",
        False,
    ),
    (
        "sub-byte-f6",
        blob({"a": entry(dtype="F6_E2M3", shape=[3], offsets=[0, 3])}, b"\0" * 3),
        "not a whole number of bytes",
        False,
    ),
    ("offsets-one-value", blob({"a": entry(offsets=[0])}, b"\0" * 4), "not a list of two non-negative integers", False),
    (
        "offsets-negative",
        blob({"a": entry(offsets=[-1, 3])}, b"\0" * 4),
        "not a list of two non-negative integers",
        False,
    ),
    (
        "offsets-string",
        blob({"a": entry(offsets=[0, "4"])}, b"\0" * 4),
        "not a list of two non-negative integers",
        False,
    ),
    (
        "offsets-bool",
        blob({"a": entry(shape=[1], offsets=[False, True])}, b"\0"),
        "not a list of two non-negative integers",
        False,
    ),
    ("offsets-reversed", blob({"a": entry(offsets=[4, 0])}, b"\0" * 4), "begin 4 > end 0", False),
    ("span-mismatch", blob({"a": entry(offsets=[0, 3])}, b"\0" * 4), "span 3 bytes but shape [4] of U8 needs 4", False),
    ("gap-at-start", blob({"a": entry(offsets=[2, 6])}, b"\0" * 6), "first tensor 'a' begins at byte 2, not 0", False),
    (
        "gap-between",
        blob({"a": entry(), "b": entry(offsets=[6, 10])}, b"\0" * 10),
        "gap: 2 unused bytes between 'a' (ends at 4) and 'b' (begins at 6)",
        False,
    ),
    (
        "overlap",
        blob({"a": entry(), "b": entry(offsets=[2, 6])}, b"\0" * 6),
        "overlap: 'a' [0, 4) and 'b' [2, 6)",
        False,
    ),
    (
        "trailing-bytes",
        blob({"a": entry()}, b"\0" * 7),
        "trailing bytes: data section is 7 bytes but tensors end at 4",
        False,
    ),
    ("short-data", blob({"a": entry()}, b"\0" * 2), "data section too short", False),
    ("no-tensors-but-data", blob({}, b"\0\0"), "no tensors but the data section holds 2 bytes", False),
]


@pytest.mark.parametrize("content, phrase, official", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_headers_are_rejected(tmp_path, content, phrase, official):
    report = audit_safetensors(write(tmp_path, content))
    assert report.ok is False
    assert any(phrase in e for e in report.errors), report.errors
    assert report.file_size == len(content)
    # Our claim about the official library (stricter where it is lenient) must hold too.
    assert official_accepts(content) is official


def test_errors_are_one_line_and_json_serialisable(tmp_path):
    report = audit_safetensors(write(tmp_path, blob({"a": entry(), "b": entry(offsets=[2, 6])}, b"\0" * 9)))
    dumped = report.model_dump(mode="json")
    assert json.loads(json.dumps(dumped))["ok"] is False
    assert all("\n" not in e for e in report.errors)
    assert len(report.errors) >= 2  # overlap and trailing bytes are both reported, not just the first


def test_all_official_dtypes_known_with_bit_widths():
    expected = {
        "BOOL": 8,
        "U8": 8,
        "I8": 8,
        "F8_E5M2": 8,
        "F8_E4M3": 8,
        "F8_E8M0": 8,
        "F8_E4M3FNUZ": 8,
        "F8_E5M2FNUZ": 8,
        "F4": 4,
        "F6_E2M3": 6,
        "F6_E3M2": 6,
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
    assert sa.DTYPE_BITS == expected
    for dtype, bits in expected.items():  # 8 elements of each dtype is a whole number of bytes
        content = blob({"t": entry(dtype=dtype, shape=[8], offsets=[0, bits])}, b"\0" * bits)
        report = audit_safetensors_header(content, len(content))
        assert report.ok, (dtype, report.errors)
        assert official_accepts(content), dtype


def test_valid_file_from_safetensors_writer(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(
        {
            "w": np.zeros((3, 4), np.float32),
            "b": np.ones(4, np.float16),
            "ids": np.arange(5, dtype=np.int64),
            "mask": np.ones((2, 2), bool),
        },
        str(path),
        metadata={"format": "np"},
    )
    report = audit_safetensors(path)
    assert report.ok, report.errors
    assert report.warnings == []  # the writer's space padding is fine
    assert [t.name for t in report.tensors] == ["b", "ids", "mask", "w"]
    assert report.parameters == 12 + 4 + 5 + 4
    assert report.parameters_by_dtype == {"BOOL": 4, "F16": 4, "F32": 12, "I64": 5}
    assert report.dtypes == ["BOOL", "F16", "F32", "I64"]
    assert report.metadata == {"format": "np"}
    assert report.header_size % 8 == 0
    assert 8 + report.header_size + report.data_size == report.file_size == path.stat().st_size
    w = next(t for t in report.tensors if t.name == "w")
    assert (w.dtype, w.shape, w.end - w.begin, w.numel) == ("F32", [3, 4], 48, 12)
    # The header-only entry point gives the same answer from the first 8+N bytes.
    head = path.read_bytes()[: 8 + report.header_size]
    same = audit_safetensors_header(head, report.file_size, str(path))
    assert same.model_dump() == report.model_dump()


def spy_reads(monkeypatch) -> list[tuple[int, int]]:
    """Record every read the audit makes, as (bytes asked for, bytes returned)."""
    reads: list[tuple[int, int]] = []
    real_open = open

    class Spy:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def fileno(self):
            return self.f.fileno()

        def read(self, n=-1):
            data = self.f.read(n)
            reads.append((n, len(data)))
            return data

    monkeypatch.setattr(sa, "open", lambda p, mode="r": Spy(real_open(p, mode)), raising=False)
    return reads


def test_reads_only_the_header(tmp_path, monkeypatch):
    path = tmp_path / "big.safetensors"
    save_file({"w": np.zeros(1 << 16, np.float32)}, str(path))
    reads = spy_reads(monkeypatch)
    report = audit_safetensors(path)
    assert report.ok
    assert sum(got for _asked, got in reads) == 8 + report.header_size < path.stat().st_size // 100


def test_warnings_zero_size_and_unaligned_header(tmp_path):
    header = json.dumps({"z": entry(shape=[0, 3], offsets=[0, 0]), "a": entry()})
    header += " " * ((8 - len(header) % 8) % 8 + 1)  # deliberately one byte off alignment
    report = audit_safetensors(write(tmp_path, blob(header, b"\0" * 4)))
    assert report.ok, report.errors
    assert any("zero-size tensor (shape [0, 3])" in w for w in report.warnings)
    assert any("not a multiple of 8" in w for w in report.warnings)
    assert report.parameters == 4


def test_header_only_entry_handles_short_input():
    report = audit_safetensors_header(b"\x10\0\0", 100)
    assert not report.ok and "shorter than the 8-byte" in report.errors[0]
    report = audit_safetensors_header(struct.pack("<Q", 16) + b"{}", 100)
    assert not report.ok and "only 2 of the 16 header bytes" in report.errors[0]


def test_missing_file_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        audit_safetensors(tmp_path / "absent.safetensors")


# ------------------------------------------------------------------ shard index


@pytest.fixture
def sharded(tmp_path):
    save_file({"a": np.zeros(4, np.float32), "b": np.zeros(2, np.float32)}, str(tmp_path / "m-1.safetensors"))
    save_file({"c": np.zeros(3, np.int8)}, str(tmp_path / "m-2.safetensors"))
    reports = {n: audit_safetensors(tmp_path / n) for n in ("m-1.safetensors", "m-2.safetensors")}
    index = {
        "metadata": {"total_size": 27},
        "weight_map": {"a": "m-1.safetensors", "b": "m-1.safetensors", "c": "m-2.safetensors"},
    }
    return tmp_path, reports, index


def run_index(tmp_path, index, reports):
    path = tmp_path / "model.safetensors.index.json"
    path.write_text(index if isinstance(index, str) else json.dumps(index))
    return audit_shard_index(path, reports)


def test_shard_index_ok(sharded):
    tmp_path, reports, index = sharded
    report = run_index(tmp_path, index, reports)
    assert report.ok, report.errors
    assert report.warnings == []
    assert report.shards == ["m-1.safetensors", "m-2.safetensors"]
    assert report.total_size == 27


def test_shard_index_total_size_mismatch_is_an_error_with_both_numbers(sharded):
    tmp_path, reports, index = sharded
    index["metadata"]["total_size"] = 30
    report = run_index(tmp_path, index, reports)
    assert not report.ok
    assert any("says 30 bytes" in e and "total 27 bytes" in e for e in report.errors), report.errors


@pytest.mark.parametrize("metadata", [None, {}, {"total_parameters": 7}], ids=["no-metadata", "empty", "other-key"])
def test_shard_index_without_total_size_warns(sharded, metadata):
    tmp_path, reports, index = sharded
    if metadata is None:
        index.pop("metadata")
    else:
        index["metadata"] = metadata
    report = run_index(tmp_path, index, reports)
    assert report.ok, report.errors
    assert any("no 'metadata.total_size'" in w for w in report.warnings), report.warnings


@pytest.mark.parametrize(
    "mutate, phrase",
    [
        (
            lambda ix: ix["weight_map"].update(c="m-1.safetensors"),
            "'c' is in shard 'm-2.safetensors' but weight_map says 'm-1.safetensors'",
        ),
        (lambda ix: ix["weight_map"].pop("b"), "'b' in shard 'm-1.safetensors' is not listed in weight_map"),
        (
            lambda ix: ix["weight_map"].update(ghost="m-2.safetensors"),
            "'ghost' is mapped to 'm-2.safetensors' but that shard does not contain it",
        ),
        (lambda ix: ix["weight_map"].update(d="m-3.safetensors"), "missing shard 'm-3.safetensors'"),
        (lambda ix: ix["weight_map"].update(c="../m-2.safetensors"), "not a plain file name"),
        (lambda ix: ix["weight_map"].update(c="/tmp/m-2.safetensors"), "absolute path"),
        (lambda ix: ix.pop("weight_map"), "no 'weight_map' object"),
        (lambda ix: ix.update(weight_map={}), "weight_map is empty"),
        (lambda ix: ix.update(metadata=[1]), "'metadata' is a list"),
    ],
)
def test_shard_index_mismatches(sharded, mutate, phrase):
    tmp_path, reports, index = sharded
    mutate(index)
    report = run_index(tmp_path, index, reports)
    assert not report.ok
    assert any(phrase in e for e in report.errors), report.errors


def test_shard_index_tensor_in_two_shards(sharded):
    tmp_path, reports, index = sharded
    save_file({"c": np.zeros(3, np.int8), "a": np.zeros(4, np.float32)}, str(tmp_path / "m-2.safetensors"))
    reports["m-2.safetensors"] = audit_safetensors(tmp_path / "m-2.safetensors")
    report = run_index(tmp_path, index, reports)
    assert any("'a' is stored in more than one shard" in e for e in report.errors), report.errors


def test_shard_index_duplicate_key_bad_json_and_bad_shard(sharded):
    tmp_path, reports, index = sharded
    text = json.dumps(index)[:-1] + ', "weight_map": {"a": "m-2.safetensors"}}'
    assert any("duplicate key 'weight_map'" in e for e in run_index(tmp_path, text, reports).errors)
    assert any("not valid UTF-8 JSON" in e for e in run_index(tmp_path, "{nope", reports).errors)
    (tmp_path / "m-2.safetensors").write_bytes(b"\0" * 4)
    reports["m-2.safetensors"] = audit_safetensors(tmp_path / "m-2.safetensors")
    report = run_index(tmp_path, index, reports)
    assert any("shard 'm-2.safetensors' failed its own audit" in e for e in report.errors)


@pytest.mark.parametrize(
    "mutate, phrase",
    [
        (lambda ix: ix["weight_map"].update(c=3), "weight_map['c'] is a int, not a shard file name string"),
        (lambda ix: ix["weight_map"].update(c=None), "weight_map['c'] is a NoneType"),
        (lambda ix: ix["weight_map"].update(c=["m-2.safetensors"]), "weight_map['c'] is a list"),
        (lambda ix: ix["weight_map"].update(c={"f": "m-2.safetensors"}), "weight_map['c'] is a dict"),
        (lambda ix: ix["weight_map"].update(c=True), "weight_map['c'] is a bool"),
        (lambda ix: ix["weight_map"].update(c=""), "weight_map['c'] is an empty shard file name"),
        (lambda ix: ix.update(weight_map=["a", "b"]), "'weight_map' is a list, not an object"),
        (lambda ix: ix.update(weight_map="m-1.safetensors"), "'weight_map' is a str, not an object"),
        (lambda ix: ix.update(weight_map=None), "'weight_map' is a NoneType, not an object"),
        (lambda ix: ix.update(metadata="27"), "'metadata' is a str, not an object"),
        (lambda ix: ix.update(metadata=None), "'metadata' is a NoneType, not an object"),
        (lambda ix: ix["metadata"].update(total_size="27"), "total_size '27' is a str, not an integer"),
        (lambda ix: ix["metadata"].update(total_size=27.0), "total_size 27.0 is a float"),
        (lambda ix: ix["metadata"].update(total_size=True), "total_size True is a bool"),
        (lambda ix: ix["metadata"].update(total_size=None), "total_size None is a NoneType"),
        (lambda ix: ix["metadata"].update(total_size=-27), "total_size -27 is negative"),
        (lambda ix: ix["weight_map"].update(c="../x/m-2.safetensors"), "not a plain file name"),
        (lambda ix: ix["weight_map"].update(c=".."), "not a plain file name"),
        (lambda ix: ix["weight_map"].update(c="sub\\m-2.safetensors"), "not a plain file name"),
        (lambda ix: ix["weight_map"].update(c="C:\\m-2.safetensors"), "absolute path"),
        (lambda ix: ix["weight_map"].update(c="\\\\server\\share\\m.safetensors"), "absolute path"),
    ],
)
def test_shard_index_wrong_types_are_findings_not_exceptions(sharded, mutate, phrase):
    tmp_path, reports, index = sharded
    mutate(index)
    report = run_index(tmp_path, index, reports)
    assert not report.ok
    assert any(phrase in e for e in report.errors), report.errors
    assert all("\n" not in e for e in report.errors)
    json.dumps(report.model_dump(mode="json"))


def test_shard_index_negative_zero_total_size_is_not_an_integer(sharded):
    tmp_path, reports, index = sharded
    text = json.dumps(index).replace('"total_size": 27', '"total_size": -0')
    assert '"total_size": -0' in text
    report = run_index(tmp_path, text, reports)
    assert any("total_size -0.0 is a float" in e for e in report.errors), report.errors


@pytest.mark.parametrize(
    "text, phrase",
    [
        ('{"weight_map": {"a": "\\ud800.safetensors"}}', "lone UTF-16 surrogate"),
        ('{"weight_map": {"\\udc00": "m-1.safetensors"}}', "lone UTF-16 surrogate"),
        ('{"metadata": {"total_size": NaN}, "weight_map": {}}', "not valid UTF-8 JSON"),
        ("[1, 2]", "top level is a list"),
        ('{"weight_map": {"a": "m-1.safetensors"}}\t\n', None),
    ],
)
def test_shard_index_bad_text(sharded, text, phrase):
    tmp_path, reports, _ = sharded
    report = run_index(tmp_path, text, reports)
    assert not report.ok
    if phrase:
        assert any(phrase in e for e in report.errors), report.errors
    json.dumps(report.model_dump(mode="json"))  # every string in the report is encodable


def test_index_shard_names_never_raises():
    assert sa.index_shard_names(
        {
            "weight_map": {
                "a": "x.safetensors",
                "b": 3,
                "c": ["y"],
                "d": "../z",
                "e": "\ud800",
                "f": "x.safetensors",
                "g": None,
            }
        }
    ) == ["x.safetensors"]
    for doc in (None, [], "x", {"weight_map": ["a"]}, {"weight_map": None}, {}):
        assert sa.index_shard_names(doc) == []


def test_index_written_by_huggingface_hub_agrees_on_total_size(tmp_path):
    """huggingface_hub's own sharded writer (what transformers' save_pretrained calls) passes with no warning."""
    torch = pytest.importorskip("torch")
    from huggingface_hub import save_torch_state_dict

    state = {
        "a": torch.zeros(64, dtype=torch.float32),
        "b": torch.ones(3, 5, dtype=torch.bfloat16),
        "c": torch.arange(40, dtype=torch.int64),
        "d": torch.zeros(7, dtype=torch.uint8),
    }
    save_torch_state_dict(state, tmp_path, max_shard_size=300)
    index_path = tmp_path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    assert len(set(index["weight_map"].values())) > 1
    reports = {n: audit_safetensors(tmp_path / n) for n in set(index["weight_map"].values())}
    report = audit_shard_index(index_path, reports)
    assert report.ok and report.warnings == [], (report.errors, report.warnings)
    assert report.total_size == index["metadata"]["total_size"] == 256 + 30 + 320 + 7
    index["metadata"]["total_size"] += 1
    index_path.write_text(json.dumps(index))
    assert not audit_shard_index(index_path, reports).ok


def test_index_written_by_transformers_save_pretrained_agrees(tmp_path):
    """transformers' own save_pretrained (tied embeddings, 8 shards): total_size matches the shards' tensor bytes."""
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(cfg).save_pretrained(tmp_path, max_shard_size="4KB")
    index_path = tmp_path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    shards = set(index["weight_map"].values())
    assert len(shards) > 1
    report = audit_shard_index(index_path, {n: audit_safetensors(tmp_path / n) for n in shards})
    assert report.ok and report.warnings == [], (report.errors, report.warnings)
    assert report.total_size == index["metadata"]["total_size"]


# ------------------------------------------------------------------ warnings for spec-valid oddities


def test_leading_spaces_are_a_warning_not_an_error(tmp_path):
    content = blob(b"  {}    ")
    report = audit_safetensors(write(tmp_path, content))
    assert report.ok, report.errors
    assert any("2 leading space(s) before '{'" in w for w in report.warnings), report.warnings
    assert official_accepts(content)


@pytest.mark.parametrize(
    "name", ["", "a/b", "../etc/passwd", "a..b", "line\nbreak", "nul\0byte", "tab\there", "back\\slash"]
)
def test_odd_tensor_names_are_warnings(tmp_path, name):
    content = blob({name: entry()}, b"\0" * 4)
    report = audit_safetensors(write(tmp_path, content))
    assert report.ok, report.errors
    assert official_accepts(content)
    assert [t.name for t in report.tensors] == [name]
    odd = [w for w in report.warnings if w.startswith(f"tensor name {name!r}")]
    assert len(odd) == 1 and "valid safetensors" in odd[0] and "\n" not in odd[0], report.warnings


def test_plain_names_give_no_warning(tmp_path):
    report = audit_safetensors(write(tmp_path, blob({"model.layers.0.weight": entry()}, b"\0" * 4)))
    assert report.ok and report.warnings == []


def test_surrogate_header_reports_no_unencodable_string(tmp_path):
    content = blob('{"__metadata__": {"k": "\\ud800"}, "\\udfff": ' + json.dumps(entry()) + "}", b"\0" * 4)
    report = audit_safetensors(write(tmp_path, content))
    assert not report.ok and report.tensors == [] and report.metadata is None
    assert len([e for e in report.errors if "lone UTF-16 surrogate" in e]) == 2
    report.model_dump_json().encode("utf-8")
    json.dumps(report.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")


def test_huge_declared_header_is_refused_without_reading(tmp_path, monkeypatch):
    path = write(tmp_path, struct.pack("<Q", 100_000_000) + b"{}")
    reads = spy_reads(monkeypatch)
    report = audit_safetensors(path)
    assert not report.ok and "runs past the end of the file" in report.errors[0]
    assert [asked for asked, _got in reads] == [8]  # only the length prefix was read: nothing sized by the declared N


def test_huge_shape_is_checked_without_building_huge_numbers(tmp_path):
    # 200,000 dimensions of 2**63: a naive product would build a 12.6-million-bit integer.
    shape = "[" + ", ".join(["9223372036854775807"] * 200_000) + "]"
    content = blob('{"a": {"dtype": "U8", "shape": ' + shape + ', "data_offsets": [0, 0]}}')
    report = audit_safetensors(write(tmp_path, content))
    assert not report.ok
    assert any("more than 2**64 elements" in e and "characters)" in e for e in report.errors), report.errors[:2]
    assert all(len(e) < 600 for e in report.errors)
    assert not official_accepts(content)


# ------------------------------------------------------------------ the CLI on hostile files


def _assay(*args):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "assay.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_inspect_json_on_lone_surrogate_name_fails_cleanly(tmp_path):
    """The user report: exit 3 (internal error) on a tensor name "\\ud800"; now exit 1 like any invalid header."""
    path = write(tmp_path, blob('{"\\ud800": ' + json.dumps(entry()) + "}", b"\0" * 4))
    proc = _assay("inspect", str(path), "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is False and len(out["errors"]) == 1
    assert "lone UTF-16 surrogate (\\ud800)" in out["errors"][0] and "\n" not in out["errors"][0]
    # Same exit code as another invalid header (the CLI contract: a failed check exits 1).
    other = _assay("inspect", str(write(tmp_path, blob(b"[]      "), "y.safetensors")), "--json")
    assert other.returncode == proc.returncode
    plain = _assay("inspect", str(path))  # the table output too
    assert plain.returncode == 1 and "Traceback" not in plain.stderr and "internal error" not in plain.stderr


@pytest.mark.parametrize(
    "weight_map",
    [
        {"c": 3},
        {"c": ["m-2.safetensors"]},
        ["a"],
        "x",
        None,
        {"c": "\ud800"},
        {"c": "../m-2.safetensors"},
        {"c": 3, "d": "m-2.safetensors"},
    ],
)
def test_inspect_shard_index_with_wrong_types_fails_cleanly(sharded, weight_map):
    tmp_path, _, index = sharded
    index["weight_map"] = weight_map
    path = tmp_path / "model.safetensors.index.json"
    path.write_text(json.dumps(index))
    proc = _assay("inspect", str(path), "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert json.loads(proc.stdout)["ok"] is False


def test_init_with_mistyped_shard_index_is_a_finding(sharded):
    """check_structure reads weight_map itself (to pair shards); a non-string value must not raise there."""
    tmp_path, _, index = sharded
    index["weight_map"]["c"] = 3
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    proc = _assay("init", str(tmp_path), "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "weight_map['c'] is a int" in proc.stdout
    assert not (tmp_path / "assay.yaml").exists()


def test_table_output_prints_markup_like_names(tmp_path):
    """A tensor named like rich markup ('[/x]') used to crash the table output with MarkupError (exit 3)."""
    path = write(tmp_path, blob({"[/x]": entry(offsets=[0, 3]), "[bold]": entry(offsets=[3, 6])}, b"\0" * 6))
    proc = _assay("inspect", str(path))
    assert proc.returncode == 1, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert "'[/x]'" in proc.stdout and "'[bold]'" in proc.stdout


def test_oversized_shard_index_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(sa, "MAX_INDEX_SIZE", 64)
    path = tmp_path / "model.safetensors.index.json"
    path.write_text(json.dumps({"weight_map": {f"t{i}": "m.safetensors" for i in range(20)}}))
    report = audit_shard_index(path, {})
    assert not report.ok and "larger than 64 bytes" in report.errors[0]
    assert sa.read_index_shard_names(path) == []


def test_messages_stay_short_for_huge_names(tmp_path):
    name = "n" * 1_000_000
    content = blob({name: entry(offsets=[0, 3]), "\n" + name: entry(offsets=[3, 6])}, b"\0" * 6)
    report = audit_safetensors(write(tmp_path, content))
    assert not report.ok and len(report.errors) >= 2 and report.warnings
    assert all(len(m) < 1000 for m in report.errors + report.warnings)
