"""Tests for assay.verify.pickle_scan (allowlist semantics), sniff and the content-based structure/init rules.

Allowlist: only the globals torch's weights_only unpickler allows (plus numpy array reconstruction and inert
builtin containers) pass. Anything else fails, including harmless-looking "unknown" classes such as
argparse.Namespace that training scripts leave in checkpoints: that is intended, because the public exploit
corpora hide exactly there (pip.main, venv.create, logging.FileHandler, ...). There is no option to allow more.
Nothing is ever unpickled by these tests except the one control that proves a payload really runs.
"""

from __future__ import annotations

import builtins
import collections
import io
import os
import pickle
import pickletools
import zipfile

import pytest
import torch
from assay.verify import pickle_scan as ps
from assay.verify.pickle_scan import classify_global, is_pickle_path, scan_pickle_file


class TouchMarker:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class OpenMarker:
    """Unpickling this creates the marker file with builtins.open."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


def state_dict():
    return collections.OrderedDict(
        weight=torch.arange(12, dtype=torch.float32).reshape(3, 4),
        bias=torch.zeros(4, dtype=torch.bfloat16),
        scale=torch.nn.Parameter(torch.ones(2)),
    )


def names(report, risk=None):
    return {f"{g.module}.{g.name}" for g in report.globals if risk is None or g.risk == risk}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_malicious_system_call_is_reported_and_never_run(tmp_path, protocol):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"weights": [1, 2], "x": TouchMarker(marker)}, protocol=protocol))
    report = scan_pickle_file(path)
    assert report.ok is False
    assert f"{os.system.__module__}.system" in report.dangerous  # posix.system on Linux
    assert report.container == "raw" and report.pickles == ["<raw>"]
    assert not marker.exists()


def test_malicious_open_is_reported_and_never_run(tmp_path):
    marker, control = tmp_path / "MARKER", tmp_path / "CONTROL"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps([OpenMarker(marker)], protocol=4))
    report = scan_pickle_file(path)
    assert report.dangerous == ["io.open"]  # builtins.open is io.open, and pickle records it so
    assert [g.risk for g in report.globals] == ["dangerous"]
    assert not marker.exists()
    # Spelled builtins.open by hand (protocol 0 GLOBAL), it is caught too.
    data = b"cbuiltins\nopen\n(V%s\nVw\ntR." % str(marker).encode()
    pickletools.dis(io.BytesIO(data), out=io.StringIO())
    path.write_bytes(data)
    report = scan_pickle_file(path)
    assert report.dangerous == ["builtins.open"]
    assert report.errors == [
        "<raw>: global builtins.open at offset 0 (GLOBAL) is not in the allowlist (known dangerous)"
    ]
    assert not marker.exists()
    # Control: the same payload really does create its file when it is unpickled.
    pickle.loads(pickle.dumps([OpenMarker(control)], protocol=4))[0].close()
    assert control.exists()


def test_torch_zip_checkpoint_is_safe(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(state_dict(), path)
    report = scan_pickle_file(path)
    assert report.ok, report.errors
    assert report.container == "zip"
    assert report.pickles == ["model/data.pkl"]
    assert {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch.FloatStorage",
        "torch.BFloat16Storage",
    } <= names(report, "safe")
    assert names(report) == names(report, "safe")
    assert all(g.member == "model/data.pkl" for g in report.globals)
    assert report.model_dump(mode="json")["container"] == "zip"


def test_torch_legacy_checkpoint_stops_before_storage_bytes(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    torch.save(state_dict(), path, _use_new_zipfile_serialization=False)
    report = scan_pickle_file(path)
    assert report.ok, report.errors
    assert report.container == "raw"
    assert report.pickles == [f"<raw#{k}>" for k in range(5)]
    assert "torch._utils._rebuild_tensor_v2" in names(report, "safe")
    assert {g.member for g in report.globals} == {"<raw#3>"}  # the data pickle


def test_concatenated_pickles_are_all_scanned(tmp_path, monkeypatch):
    marker = tmp_path / "MARKER"
    path = tmp_path / "two.pkl"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2) + pickle.dumps(TouchMarker(marker), protocol=2))
    report = scan_pickle_file(path)
    assert report.pickles == ["<raw#0>", "<raw#1>"]
    assert [g.member for g in report.globals if g.risk == "dangerous"] == ["<raw#1>"]
    assert not report.ok and not marker.exists()


def test_stack_global_through_memo(tmp_path):
    # PROTO 4; "posix" MEMOIZE; "system" MEMOIZE; POP; POP; decoy strings pushed and popped;
    # BINGET 0; BINGET 1; STACK_GLOBAL; "echo" TUPLE1 REDUCE STOP
    data = (
        b"\x80\x04"
        + b"\x8c\x05posix\x94"
        + b"\x8c\x06system\x94"
        + b"00"
        + b"\x8c\x0bcollections\x8c\x0bOrderedDict00"
        + b"h\x00h\x01\x93\x94"
        + b"\x8c\x04echo\x85R."
    )
    pickletools.dis(io.BytesIO(data), out=io.StringIO())  # a valid pickle (checked, never loaded)
    path = tmp_path / "memo.pkl"
    path.write_bytes(data)
    report = scan_pickle_file(path)
    assert report.dangerous == ["posix.system"]
    assert "collections.OrderedDict" not in names(report)
    # the offset is that of the STACK_GLOBAL opcode (the memo reads, not the decoy strings, feed it)
    offset = next(pos for op, _, pos in pickletools.genops(data) if op.name == "STACK_GLOBAL")
    assert report.errors == [
        (f"<raw>: global posix.system at offset {offset} (STACK_GLOBAL) is not in the allowlist (known dangerous)")
    ]


def test_stack_global_memoised_strings_from_pickler(tmp_path):
    path = tmp_path / "p4.pkl"
    path.write_bytes(
        pickle.dumps([collections.OrderedDict(), collections.Counter(), collections.OrderedDict()], protocol=4)
    )
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(path.read_bytes())]
    assert ("BINGET", 1) in ops  # the memoised "collections" string is fetched again for Counter
    report = scan_pickle_file(path)
    assert report.ok, report.errors
    assert names(report) == {"collections.OrderedDict", "collections.Counter"}


def test_unresolvable_stack_global_is_an_error(tmp_path):
    # The module name is computed at load time (builtins.str("posix")), so no constant names it.
    data = b"\x80\x04cbuiltins\nstr\n\x8c\x05posix\x85R\x8c\x06system\x93\x8c\x04echo\x85R."
    pickletools.dis(io.BytesIO(data), out=io.StringIO())
    path = tmp_path / "computed.pkl"
    path.write_bytes(data)
    report = scan_pickle_file(path)
    assert not report.ok
    assert any("not a tracked string constant" in e for e in report.errors), report.errors


def test_truncated_pickle_is_an_error_not_an_exception(tmp_path):
    data = pickle.dumps(state_dict(), protocol=4)
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    report = scan_pickle_file(path)
    assert not report.ok
    assert any("truncated" in e for e in report.errors), report.errors


def test_empty_and_garbage_files(tmp_path):
    (tmp_path / "empty.pkl").write_bytes(b"")
    assert any("no pickle found" in e for e in scan_pickle_file(tmp_path / "empty.pkl").errors)
    (tmp_path / "junk.pkl").write_bytes(b"\xff\xfe not a pickle")
    report = scan_pickle_file(tmp_path / "junk.pkl")
    assert not report.ok and any("malformed" in e for e in report.errors)


def test_zip_scans_every_pkl_member(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "ckpt.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(collections.OrderedDict(), protocol=2))
        zf.writestr("archive/extra.pkl", pickle.dumps(TouchMarker(marker), protocol=2))
        zf.writestr("archive/data/0", b"\0" * 16)
    report = scan_pickle_file(path)
    assert report.container == "zip"
    assert report.pickles == ["archive/data.pkl", "archive/extra.pkl"]
    assert [g.member for g in report.globals if g.risk == "dangerous"] == ["archive/extra.pkl"]
    assert not marker.exists()


def test_raw_pickle_with_zip_appended_is_scanned_as_torch_would(tmp_path):
    # torch.load decides by the first four bytes, so this file is a raw pickle to it.
    marker = tmp_path / "MARKER"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(collections.OrderedDict(), protocol=2))
    path = tmp_path / "polyglot.pt"
    path.write_bytes(pickle.dumps(TouchMarker(marker), protocol=2) + buf.getvalue())
    assert zipfile.is_zipfile(path)
    report = scan_pickle_file(path)
    assert report.container == "raw"
    assert "posix.system" in report.dangerous or "nt.system" in report.dangerous
    assert not report.ok


def test_huge_arguments_are_skipped_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr(ps, "SKIP_OVER", 64)
    path = tmp_path / "big.pkl"
    path.write_bytes(pickle.dumps({"blob": b"\1" * 1000, "text": "t" * 1000}, protocol=4))
    assert scan_pickle_file(path).ok
    # A module name longer than SKIP_OVER is skipped, so STACK_GLOBAL cannot be resolved.
    data = b"\x80\x04\x8c\x05posix" + b"\x8d" + (200).to_bytes(8, "little") + b"s" * 200 + b"\x93."
    path.write_bytes(data)
    report = scan_pickle_file(path)
    assert any("not a tracked string constant" in e for e in report.errors), report.errors


@pytest.mark.parametrize(
    "module, name, risk",
    [
        ("torch._utils", "_rebuild_tensor_v2", "safe"),
        ("torch", "HalfStorage", "safe"),
        ("torch", "bfloat16", "safe"),
        ("numpy.core.multiarray", "_reconstruct", "safe"),
        ("numpy._core.multiarray", "_reconstruct", "safe"),
        ("__builtin__", "set", "safe"),
        ("torch.storage", "_load_from_bytes", "dangerous"),
        ("torch", "load", "dangerous"),
        ("torch", "jit.load", "dangerous"),
        ("torch.jit._script", "RecursiveScriptModule", "dangerous"),
        ("__builtin__", "eval", "dangerous"),
        ("builtins", "getattr", "dangerous"),
        ("subprocess", "Popen", "dangerous"),
        ("commands", "getoutput", "dangerous"),
        ("operator", "attrgetter", "dangerous"),
        ("functools", "partial", "dangerous"),
        ("collections", "OrderedDict.__init__.__globals__", "dangerous"),
        ("operator", "itemgetter", "unknown"),
        ("pip", "main", "dangerous"),
        ("logging", "FileHandler", "dangerous"),
        ("builtins", "len", "unknown"),
        ("torch", "FloatStorage", "safe"),
        ("torch.storage", "UntypedStorage", "safe"),
        ("numpy.dtypes", "Float32DType", "safe"),
        ("numpy", "dtypes.Float32DType", "safe"),
        ("_codecs", "encode", "safe"),
        ("copy_reg", "_reconstructor", "unknown"),
        ("argparse", "Namespace", "unknown"),
        ("__main__", "MyConfig", "unknown"),
        ("ossify", "thing", "unknown"),
    ],
)
def test_classify_global(module, name, risk):
    assert classify_global(module, name) == risk


def test_is_pickle_path():
    assert is_pickle_path("pytorch_model.BIN") and is_pickle_path("a/b/model.ckpt")
    assert is_pickle_path("x.pickle") and is_pickle_path("x.pth")
    assert not is_pickle_path("model.safetensors") and not is_pickle_path("config.json")


# ----------------------------------------------------------------------------- allowlist semantics


def test_torch_allowlist_is_exactly_torchs_weights_only_set():
    from torch._weights_only_unpickler import _get_allowed_globals

    assert ps.TORCH_ALLOWED == set(_get_allowed_globals())
    assert ps.TORCH_ALLOWED <= ps.ALLOWED


class Config:
    """A user class of the kind training scripts pickle into checkpoints."""

    def __init__(self):
        self.lr = 0.1


@pytest.mark.parametrize(
    "obj, global_name",
    [
        (__import__("argparse").Namespace(lr=0.1), "argparse.Namespace"),
        (Config(), f"{__name__}.Config"),
        (len, "builtins.len"),
    ],
)
def test_unknown_globals_fail(tmp_path, obj, global_name):
    path = tmp_path / "ckpt.pkl"
    path.write_bytes(pickle.dumps({"state": [1.0], "cfg": obj}, protocol=4))
    report = scan_pickle_file(path)
    assert not report.ok and report.dangerous == [] and report.not_allowed == [global_name]
    assert any(
        f"global {global_name} at offset" in e and "(STACK_GLOBAL) is not in the allowlist" in e for e in report.errors
    ), report.errors


MEMO_OPS = {
    "PUT/GET": (lambda k: b"p%d\n" % k, lambda k: b"g%d\n" % k),
    "BINPUT/BINGET": (lambda k: b"q" + bytes([k]), lambda k: b"h" + bytes([k])),
    "LONG_BINPUT/LONG_BINGET": (lambda k: b"r" + k.to_bytes(4, "little"), lambda k: b"j" + k.to_bytes(4, "little")),
}


@pytest.mark.parametrize("pair", list(MEMO_OPS))
def test_stack_global_resolved_through_each_memo_opcode(tmp_path, pair):
    put, get = MEMO_OPS[pair]
    # PROTO 4; "pip" put 7; "main" put 8; POP POP; "collections" "OrderedDict" POP POP (decoys); get 7 get 8;
    # STACK_GLOBAL; EMPTY_TUPLE REDUCE STOP
    data = (
        b"\x80\x04\x8c\x03pip"
        + put(7)
        + b"\x8c\x04main"
        + put(8)
        + b"00"
        + b"\x8c\x0bcollections\x8c\x0bOrderedDict00"
        + get(7)
        + get(8)
        + b"\x93)R."
    )
    assert {op.name for op, _, _ in pickletools.genops(data)} >= {"STACK_GLOBAL", *pair.split("/")}
    path = tmp_path / "memo.pkl"
    path.write_bytes(data)
    report = scan_pickle_file(path)
    assert report.not_allowed == ["pip.main"] and report.dangerous == ["pip.main"], report.errors


def test_memoize_indexes_follow_stores(tmp_path):
    # MEMOIZE numbers entries by memo size: "os" is 0, "system" is 1; a decoy at 2
    data = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x8c\x05torch\x94000h\x00h\x01\x93)R."
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    assert scan_pickle_file(path).not_allowed == ["os.system"]


def test_get_of_a_missing_memo_key_is_an_error(tmp_path):
    path = tmp_path / "g.pkl"
    path.write_bytes(b"\x80\x04h\x05h\x06\x93.")
    report = scan_pickle_file(path)
    assert not report.ok
    assert any("memo key 5 that was never stored" in e for e in report.errors)
    assert any("not a tracked string constant" in e for e in report.errors)


@pytest.mark.parametrize("ext", [b"\x82\x01", b"\x83\x01\x00", b"\x84\x01\x00\x00\x00"], ids=["EXT1", "EXT2", "EXT4"])
def test_copyreg_extension_codes_fail(tmp_path, ext):
    path = tmp_path / "ext.pkl"
    path.write_bytes(b"\x80\x02" + ext + b")R.")
    report = scan_pickle_file(path)
    assert not report.ok
    assert any("copyreg extension code 1" in e for e in report.errors), report.errors


def test_calls_must_target_an_allowlisted_global(tmp_path):
    path = tmp_path / "c.pkl"
    # set() is fine; calling the resulting set object is not something a checkpoint does
    path.write_bytes(b"cbuiltins\nset\n)R)R.")
    report = scan_pickle_file(path)
    assert report.not_allowed == []
    assert any("REDUCE calls a value that is not an allowlisted global" in e for e in report.errors)
    for ok_data in (b"cbuiltins\nset\n)R.", b"(cbuiltins\nset\no.", b"\x80\x02ccollections\nOrderedDict\n)\x81."):
        path.write_bytes(ok_data)
        assert scan_pickle_file(path).ok, ok_data


def test_inst_and_obj_with_a_disallowed_class_fail(tmp_path):
    path = tmp_path / "i.pkl"
    path.write_bytes(b"(S'id'\nipty\nspawn\n.")
    assert scan_pickle_file(path).not_allowed == ["pty.spawn"]
    path.write_bytes(b"(cpty\nspawn\nS'id'\no.")
    assert scan_pickle_file(path).not_allowed == ["pty.spawn"]


def test_frames_that_loaders_read_differently_fail(tmp_path):
    import struct

    path = tmp_path / "f.pkl"
    path.write_bytes(b"\x80\x05\x95" + struct.pack("<Q", 3) + b"\x8c\x14" + b"A" * 20 + b".")
    assert any("straddles the end of the FRAME" in e for e in scan_pickle_file(path).errors)
    for protocol in (4, 5):  # CPython's own framing (large bytes written outside frames) is fine
        path.write_bytes(pickle.dumps([1, b"y" * 100_000, 2, list(range(70_000))], protocol=protocol))
        assert scan_pickle_file(path).ok


# ----------------------------------------------------------------------------- compressed (joblib) streams


@pytest.mark.parametrize("kind", ["gzip", "zlib", "bz2", "xz", "lzma"])
def test_compressed_pickles_are_decompressed_and_scanned(tmp_path, kind):
    import bz2
    import gzip
    import lzma
    import zlib

    compress = {
        "gzip": gzip.compress,
        "zlib": zlib.compress,
        "bz2": bz2.compress,
        "xz": lzma.compress,
        "lzma": lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE),
    }[kind]
    path = tmp_path / "model.joblib"
    path.write_bytes(compress(pickle.dumps({"w": [1.0] * 1000}, protocol=4)))
    from assay.verify.sniff import sniff_file

    assert sniff_file(path).format == "joblib" and sniff_file(path).pickle_bearing
    report = scan_pickle_file(path)
    assert report.container == "compressed" and report.ok, report.errors
    path.write_bytes(compress(pickle.dumps(TouchMarker(tmp_path / "M"), protocol=2)))
    report = scan_pickle_file(path)
    assert not report.ok and report.dangerous


def test_lz4_is_not_scanned_and_never_passes(tmp_path):
    from assay.verify.content_scan import scan_content

    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x04\x22\x4d\x18" + b"\x00" * 32)
    res = scan_content(path)
    assert res.sniffed.pickle_bearing and not res.ok
    assert any("lz4" in e and "not scanned" in e for e in res.report.errors)


# ----------------------------------------------------------------------------- sniffing by content


def test_sniff_formats(tmp_path):
    import json
    import struct

    from assay.verify.sniff import sniff_bytes, sniff_file

    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    cases = {
        "safetensors": struct.pack("<Q", len(header)) + header + b"\0" * 4,
        "gguf": b"GGUF\x03\x00\x00\x00" + b"\0" * 16,
        "json": b'  {"a": 1}',
        "text": b"import os\nfrom x import y\n\ndef f():\n    return os.getcwd()\n",
        "empty": b"",
        "unknown": bytes(range(256)) * 4,
        "pickle": pickle.dumps([1, 2], protocol=0),
        "msgpack": b"\x82\xa6params\x81\xa5dense\xc4\x04\x00\x00\x80?\xa4step\x07",  # Flax-style map
        "joblib": b"\x80\x04\x95\x20\x00\x00\x00\x00\x00\x00\x00\x8c\x13joblib.numpy_pickle\x94.",
    }
    for fmt, data in cases.items():
        path = tmp_path / "f"
        path.write_bytes(data)
        assert sniff_file(path).format == fmt, (fmt, sniff_file(path))
    assert sniff_bytes(pickle.dumps(1, protocol=1)).pickle_bearing
    assert sniff_bytes(b"\x89PNG\r\n\x1a\n").format == "unknown"
    # a GGUF magic that is also a pickle ("G" = BINFLOAT eats 8 bytes, then GLOBAL ... REDUCE): scanned
    polyglot = sniff_bytes(b"GGUF\x03\x00\x00\x00\x00cposix\nsystem\n(S'id'\ntR.")
    assert polyglot.format == "gguf" and polyglot.pickle_bearing
    # protocol-0 text that imports before it breaks: pickle.load would run it, so it is a pickle
    assert sniff_bytes(b"cos\nsystem\n(S'id'\ntR this is not a pickle").pickle_bearing


def test_scan_never_judges_a_non_pickle_format_ok(tmp_path):
    from assay.verify.content_scan import scan_content

    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    res = scan_content(path)
    assert res.status == "not-scanned" and not res.ok and "not scanned" in res.reason


# ----------------------------------------------------------------------------- check_structure and assay init


def _init_json(folder):
    import json

    from conftest import run_assay

    proc = run_assay("init", str(folder), "--json")
    return proc, (json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None)


def test_init_refuses_a_malicious_pickle_named_like_weights(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"w": 1, "x": TouchMarker(tmp_path / "M")}, protocol=2))
    proc, out = _init_json(folder)
    assert proc.returncode == 1, proc.stderr
    assert out["written"] is False and not (folder / "assay.yaml").exists()
    errors = [f for f in out["findings"] if f["severity"] == "error" and f["where"] == "pytorch_model.bin"]
    assert any("is not in the allowlist" in f["message"] for f in errors)
    assert not (tmp_path / "M").exists()


def test_init_puts_pickle_bearing_files_in_the_weights_role_and_scans_them(tmp_path):
    import numpy as np

    folder = tmp_path / "model"
    folder.mkdir()
    torch.save({"w": torch.ones(2)}, folder / "checkpoint.zip")
    np.save(folder / "objects.npy", np.array([1, "a"], dtype=object))
    np.save(folder / "numbers.npy", np.ones(3))
    (folder / "notes.dat").write_bytes(pickle.dumps(collections.OrderedDict(a=1), protocol=4))
    (folder / "tool.py").write_text("import os\nprint(os.getcwd())\n")
    proc, out = _init_json(folder)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    roles = {f["path"]: f["role"] for f in out["files"]}
    assert roles["checkpoint.zip"] == "weights" and roles["objects.npy"] == "weights"
    assert roles["notes.dat"] == "weights" and roles["tool.py"] == "code"
    scanned = {f["where"] for f in out["findings"] if f["code"] == "pickle"}
    assert {"checkpoint.zip", "objects.npy", "notes.dat"} <= scanned
    assert "numbers.npy" not in scanned  # numeric arrays hold no pickle
    assert not [f for f in out["findings"] if f["severity"] == "error"]


def test_unrecognised_weights_and_code_are_findings(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.gguf").write_bytes(bytes(range(256)) * 8)  # not GGUF at all
    (folder / "ext.so").write_bytes(b"\x7fELF" + bytes(range(200)))
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)  # role other: not a finding
    proc, out = _init_json(folder)
    assert proc.returncode == 1
    fmt = {f["where"]: f for f in out["findings"] if f["code"] == "format"}
    assert set(fmt) == {"model.gguf", "ext.so"}
    assert all(f["severity"] == "error" and "not scanned" in f["message"] for f in fmt.values())


def test_structure_scans_pickle_content_in_any_role(tmp_path):
    import hashlib

    from assay.manifests.schema import Manifest
    from assay.verify.structure import check_structure

    data = pickle.dumps(TouchMarker(tmp_path / "M"), protocol=4)
    (tmp_path / "chat_template.jinja").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    manifest = Manifest.model_validate(
        {
            "apiVersion": "assay/v1",
            "kind": "Release",
            "release": {"name": "x", "version": "1"},
            "sources": [{"name": "default", "uri": "dir://."}],
            "artifacts": [{"path": "chat_template.jinja", "role": "tokenizer", "size": len(data), "sha256": sha}],
        }
    )
    result = check_structure(manifest, tmp_path, {"chat_template.jinja": sha})
    assert any(f.code == "pickle" and f.severity == "error" and "posix.system" in f.message for f in result.findings)
