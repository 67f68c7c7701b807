"""Tests for assay.verify.pickle_scan: globals are found and classified, nothing is ever unpickled."""

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
    assert report.dangerous == ["builtins.open"] and report.errors == []
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
    assert {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
            "torch.FloatStorage", "torch.BFloat16Storage"} <= names(report, "safe")
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
    data = (b"\x80\x04" + b"\x8c\x05posix\x94" + b"\x8c\x06system\x94" + b"00"
            + b"\x8c\x0bcollections\x8c\x0bOrderedDict00"
            + b"h\x00h\x01\x93\x94" + b"\x8c\x04echo\x85R.")
    pickletools.dis(io.BytesIO(data), out=io.StringIO())  # a valid pickle (checked, never loaded)
    path = tmp_path / "memo.pkl"
    path.write_bytes(data)
    report = scan_pickle_file(path)
    assert report.dangerous == ["posix.system"]
    assert "collections.OrderedDict" not in names(report)
    assert report.errors == []


def test_stack_global_memoised_strings_from_pickler(tmp_path):
    path = tmp_path / "p4.pkl"
    path.write_bytes(pickle.dumps([collections.OrderedDict(), collections.Counter(), collections.OrderedDict()],
                                  protocol=4))
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


@pytest.mark.parametrize("module, name, risk", [
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
    ("argparse", "Namespace", "unknown"),
    ("__main__", "MyConfig", "unknown"),
    ("ossify", "thing", "unknown"),
])
def test_classify_global(module, name, risk):
    assert classify_global(module, name) == risk


def test_is_pickle_path():
    assert is_pickle_path("pytorch_model.BIN") and is_pickle_path("a/b/model.ckpt")
    assert is_pickle_path("x.pickle") and is_pickle_path("x.pth")
    assert not is_pickle_path("model.safetensors") and not is_pickle_path("config.json")
