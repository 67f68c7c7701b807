"""Fuzz the pickle scanner and the format sniffer with mutated bytes of real corpus samples (hypothesis).

The scanner reads hostile files: whatever the bytes, ``scan_pickle_file`` and ``scan_content`` must return a
report (errors inside it), never raise, and a mutated malicious sample must never come back ok unless the
mutation removed every non-allowlisted import. Inputs stay small so each example is cheap in time and memory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from assay.verify.content_scan import scan_content
from assay.verify.pickle_scan import PickleReport, scan_pickle_file
from assay.verify.sniff import sniff_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).parent / "fixtures" / "pickles"
EXPECTED = json.loads((ROOT / "expected.json").read_text())
SEEDS = sorted(p for p in EXPECTED if (ROOT / p).stat().st_size <= 4096)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def mutated(draw):
    path = draw(st.sampled_from(SEEDS))
    data = bytearray((ROOT / path).read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete" and data:
            del data[i : i + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[i:]
        elif kind == "splice":
            other = (ROOT / draw(st.sampled_from(SEEDS))).read_bytes()
            j = draw(st.integers(0, len(other)))
            data[i:] = other[j:]
    return path, bytes(data)


def test_seeds_exist():
    assert len(SEEDS) > 100


@FUZZ
@given(sample=mutated())
def test_mutated_samples_never_raise(tmp_path, sample):
    _, data = sample
    path = tmp_path / "sample.bin"
    path.write_bytes(data)
    report = scan_pickle_file(path)
    assert isinstance(report, PickleReport)
    assert report.ok == (not report.errors and not report.not_allowed)
    if report.ok and not report.pickles:  # a pass without a scanned pickle: only numeric npy/npz content
        assert report.container in ("npy", "zip")
    res = scan_content(path)
    assert res.ok is False or res.status in ("scanned", "no-pickle")
    if res.status == "scanned":
        assert res.ok == res.report.ok
    sniff_bytes(data)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_raise(tmp_path, data):
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    assert isinstance(scan_pickle_file(path), PickleReport)
    scan_content(path)


@pytest.mark.parametrize("prefix", [b"\x80\x04", b"PK\x03\x04", b"\x93NUMPY\x01\x00", b"\x1f\x8b", b"x\x9c", b"BZh9"])
@FUZZ
@given(tail=st.binary(max_size=512))
def test_container_magics_with_garbage_never_raise_and_never_pass(tmp_path, prefix, tail):
    path = tmp_path / "magic.bin"
    path.write_bytes(prefix + tail)
    report = scan_pickle_file(path)
    res = scan_content(path)
    if prefix in (b"\x80\x04", b"\x1f\x8b", b"x\x9c", b"BZh9"):
        # a pickle or compressed stream passes only if a pickle was actually walked to its STOP
        assert report.ok is False or report.pickles
    assert res.ok is False or res.status != "not-scanned"
