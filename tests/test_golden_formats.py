"""Golden files pin the formats users keep: the lock, the audit report and the attestation statement.

A user keeps ``assay.lock.yaml`` in their repository, parses ``report.json`` in CI and stores
``attestation.dsse.json`` next to a release.  These tests produce each from the bundled demo (or, for ``assay init``,
from a tiny folder built here) and compare it with a committed file under ``tests/golden/``:

* ``assay lock`` of a copy of the demo must write the committed demo lock byte for byte, and ``assay init`` of a tiny
  folder must write ``golden/init-tiny.assay.yaml`` and ``golden/init-tiny.assay.lock.yaml`` byte for byte;
* ``report.json`` of a full audit of the demo, with its volatile fields normalised (seconds, timestamps, run ids,
  step fingerprints, temporary paths, environment versions, digests of files the audit itself wrote), is reduced to
  ``golden/report.demo.json``: its key structure (every key path and value type, list items merged), one line per
  claim (verdict, id, level), one full claim of each kind, and the rest of the report (steps with their summaries);
* the in-toto statement inside ``attestation.dsse.json``, normalised the same way (key ids and signatures are in
  the envelope), must equal ``golden/attestation-statement.demo.json``, and the envelope's key set and payloadType
  must equal ``golden/attestation-envelope.demo.json``.

**A failing test here means a format that users keep has changed.**  If the change is deliberate, regenerate the
golden files and say so in the commit message (and in the release notes: readers of old files may break)::

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_golden_formats.py

then review ``git diff tests/golden/``.  If the change is not deliberate, it is a bug.

The demo audit runs once per module (about 20-30 s): every step, nothing skipped (a skipped step fails the audit).
"""

from __future__ import annotations

import ast
import base64
import difflib
import json
import os
import re
import shutil
import struct
from pathlib import Path

import pytest
from conftest import DEMO, ROOT, run_assay

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

# Values that differ between runs, machines or installs, by key, wherever they occur.
VOLATILE_KEYS = {
    "seconds": "<seconds>",
    "fingerprint": "<fingerprint>",  # a step's input fingerprint covers absolute paths
    "run_id": "<run-id>",
    "keyid": "<keyid>",
    "sig": "<signature>",
}
# Environment records (the audit's own and a rebuild's, which a report quotes as a Python dict literal).
ENVIRONMENT_KEYS = {
    "assay",
    "python",
    "platform",
    "machine",
    "implementation",
    "cpu_count",
    "cpu_capability",
    "threads",
    "interop_threads",
    "torch",
    "numpy",
    "safetensors",
    "tokenizers",
    "transformers",
    "dvc",
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")
ASSAY_VERSION = re.compile(r"^assay \d+\.\d+\S*$")


# -- golden-file plumbing ----------------------------------------------------------------------------------------------


def _pretty(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def check_golden(name: str, actual: str) -> None:
    """Compare ``actual`` with ``tests/golden/<name>``; with UPDATE_GOLDEN=1, (re)write the golden file instead."""
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.is_file(), f"{path} is missing: create it with UPDATE_GOLDEN=1 (see this module's docstring)"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), f"golden/{name}", "now", n=2)
        )
        pytest.fail(
            f"the format of golden/{name} changed; if deliberate, rerun with UPDATE_GOLDEN=1 and note it "
            f"in the commit:\n{diff[:6000]}",
            pytrace=False,
        )


# -- normalisation -----------------------------------------------------------------------------------------------------


class Normaliser:
    """Replaces volatile values by placeholders; ``paths`` maps absolute folders to placeholders (longest first)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = sorted(paths.items(), key=lambda kv: -len(kv[0]))

    def text(self, s: str) -> str:
        for folder, placeholder in self.paths:
            s = s.replace(folder, placeholder)
        if TIMESTAMP.match(s):
            return "<timestamp>"
        if ASSAY_VERSION.match(s):
            return "assay <version>"
        if s.startswith("{") and s.endswith("}"):
            try:  # a record quoted as a Python dict literal (e.g. a rebuild's environment in an evidence note)
                record = ast.literal_eval(s)
            except (ValueError, SyntaxError):
                return s
            if isinstance(record, dict):
                return repr(self.value(record))
        return s

    def value(self, x, key: str | None = None):
        if key in VOLATILE_KEYS and x is not None:
            return VOLATILE_KEYS[key]
        if key in ENVIRONMENT_KEYS and isinstance(x, (str, int, float)) and not isinstance(x, bool):
            return "<env>"
        if isinstance(x, dict):
            out = {k: self.value(v, k) for k, v in x.items()}
            ref = out.get("ref")
            if isinstance(ref, str) and ref.startswith("<out>/") and out.get("sha256"):
                out["sha256"] = "<sha256 of a file the audit wrote>"  # re-run logs carry times and paths
            return out
        if isinstance(x, list):
            return [self.value(v) for v in x]
        if isinstance(x, str):
            return self.text(x)
        return x


# -- key structure -----------------------------------------------------------------------------------------------------

_ORDER = {"null": 0, "bool": 1, "number": 2, "str": 3, "array": 4, "object": 5}


def shape(x):
    """The type structure of a JSON value: ("object", {key: (shape, optional)}), ("array", shape|None), (scalar,)."""
    if isinstance(x, dict):
        return ("object", {k: (shape(v), False) for k, v in x.items()})
    if isinstance(x, list):
        item = None
        for v in x:
            item = shape(v) if item is None else merge(item, shape(v))
        return ("array", item)
    if x is None:
        return ("null",)
    if isinstance(x, bool):
        return ("bool",)
    if isinstance(x, (int, float)):
        return ("number",)
    return ("str",)


def merge(a, b):
    """The shape of a value that is sometimes ``a`` and sometimes ``b`` (list items of different kinds)."""
    alts = {}
    for s in (a[1] if a[0] == "union" else [a]) + (b[1] if b[0] == "union" else [b]):
        kind = s[0]
        if kind not in alts:
            alts[kind] = s
        elif kind == "object":
            left, right = alts[kind][1], s[1]
            fields = {}
            for k in left.keys() | right.keys():
                if k in left and k in right:
                    fields[k] = (merge(left[k][0], right[k][0]), left[k][1] or right[k][1])
                else:
                    fields[k] = (left.get(k) or right.get(k))[0], True
            alts[kind] = ("object", fields)
        elif kind == "array":
            x, y = alts[kind][1], s[1]
            alts[kind] = ("array", x if y is None else y if x is None else merge(x, y))
    ordered = sorted(alts.values(), key=lambda s: _ORDER[s[0]])
    return ordered[0] if len(ordered) == 1 else ("union", ordered)


def render(s):
    """A readable JSON form of a shape: scalars by name, optional keys marked with a trailing '?'."""
    kind = s[0]
    if kind == "object":
        return {(k + "?" if optional else k): render(v) for k, (v, optional) in s[1].items()}
    if kind == "array":
        return [] if s[1] is None else [render(s[1])]
    if kind == "union":
        parts = [render(p) for p in s[1]]
        if all(isinstance(p, str) for p in parts):
            return " | ".join(parts)
        return {"oneOf": parts}
    return kind


# -- the demo audit, once per module -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_audit(tmp_path_factory):
    base = tmp_path_factory.mktemp("golden-audit")
    release = base / "tiny-vlm"
    shutil.copytree(DEMO, release, ignore=shutil.ignore_patterns("__pycache__"))
    out = base / "out"
    env = {"ASSAY_STATE_DIR": str(base / "state"), "ASSAY_KEY_DIR": str(base / "keys")}
    proc = run_assay("audit", str(release / "assay.yaml"), "--out", str(out), env=env)
    normaliser = Normaliser(
        {
            str(out): "<out>",
            str(release): "<release>",
            str(base): "<tmp>",
            str(tmp_path_factory.getbasetemp()): "<tmp>",
            str(ROOT): "<repo>",
        }
    )
    return proc, out, normaliser, [str(base), str(ROOT)]


def _no_local_paths(text: str, paths: list[str]) -> None:
    for p in paths:
        assert p not in text, f"a local path ({p}) is left in a normalised golden file"


def test_demo_audit_passes(demo_audit):
    proc, out, _, _ = demo_audit
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "report.json").is_file() and (out / "attestation.dsse.json").is_file()


def report_golden(report: dict, normaliser: Normaliser) -> dict:
    """The golden view of a report: structure, one line per claim, one full claim per kind, and the rest."""
    norm = normaliser.value(report)
    claims = norm.get("claims") or []
    examples: dict[str, dict] = {}
    for c in claims:
        examples.setdefault(str(c.get("kind")), c)
    rest = {k: v for k, v in norm.items() if k != "claims"}
    rest["steps"] = [
        {**s, "claims": [c.get("id") for c in s.get("claims") or []]} if isinstance(s, dict) else s
        for s in rest.get("steps") or []
    ]
    return {
        "structure": render(shape(report)),  # the types as written, before placeholders replace any value
        "claims": [
            f"{c.get('verdict')}  {c.get('id')}" + (f"  ({c['level']})" if c.get("level") else "") for c in claims
        ],
        "examples": examples,
        "report": rest,
    }


def test_report_format_is_golden(demo_audit):
    proc, out, normaliser, paths = demo_audit
    assert (out / "report.json").is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    text = _pretty(report_golden(report, normaliser))
    _no_local_paths(text, paths)
    check_golden("report.demo.json", text)


def _envelope(out: Path) -> dict:
    return json.loads((out / "attestation.dsse.json").read_text())


def test_attestation_statement_is_golden(demo_audit):
    proc, out, normaliser, paths = demo_audit
    assert (out / "attestation.dsse.json").is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    statement = json.loads(base64.b64decode(_envelope(out)["payload"]))
    norm = normaliser.value(statement)
    for subject in [norm.get("predicate", {}).get("report")]:  # the report's digest covers its volatile fields
        if isinstance(subject, dict) and isinstance(subject.get("digest"), dict):
            subject["digest"] = {alg: f"<{alg} of report.json>" for alg in subject["digest"]}
    text = _pretty(norm)
    _no_local_paths(text, paths)
    check_golden("attestation-statement.demo.json", text)


def test_attestation_envelope_is_golden(demo_audit):
    proc, out, _, _ = demo_audit
    assert (out / "attestation.dsse.json").is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    envelope = _envelope(out)
    pinned = {
        "keys": sorted(envelope),
        "payloadType": envelope.get("payloadType"),
        "signatures": len(envelope.get("signatures") or []),
        "signature_keys": sorted({k for s in envelope.get("signatures") or [] for k in s}),
    }
    check_golden("attestation-envelope.demo.json", _pretty(pinned))


# -- locks -------------------------------------------------------------------------------------------------------------


def test_lock_of_the_demo_is_the_committed_lock(demo, tmp_path):
    lock = demo.with_name("assay.lock.yaml")
    lock.unlink()
    proc = run_assay("lock", str(demo))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    committed = (DEMO / "assay.lock.yaml").read_bytes()
    assert lock.read_bytes() == committed, (
        "assay lock of the demo no longer writes the committed manifests/examples/tiny-vlm/assay.lock.yaml: the lock "
        "format changed; if deliberate, rebuild the demo's locks (python tests/demo/make_manifests.py) and note it"
    )


def _tiny_safetensors() -> bytes:
    """Two F32 tensors in the safetensors layout, written here byte by byte (not with the safetensors library) so that
    the golden digests depend on this test alone, not on how a library version orders or pads its header."""
    tensors = {"b": ((4,), [0.0] * 4), "w": ((2, 4), [float(i) for i in range(8)])}
    header, data, offset = {"__metadata__": {"format": "pt"}}, b"", 0
    for name, (dims, values) in tensors.items():
        raw = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": list(dims), "data_offsets": [offset, offset + len(raw)]}
        data, offset = data + raw, offset + len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + data


def test_init_writes_the_golden_manifest_and_lock(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "README.md").write_text("# tiny\n\nA two-tensor model for the golden-format tests.\n")
    (folder / "config.json").write_text('{"architectures": ["TinyModel"], "hidden_size": 4}\n')
    (folder / "model.safetensors").write_bytes(_tiny_safetensors())
    proc = run_assay(
        "init",
        str(folder),
        "--name",
        "tiny",
        "--version",
        "1.0.0",
        "--publisher",
        "assay tests",
        "--license",
        "apache-2.0",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("assay.yaml", "assay.lock.yaml"):
        text = (folder / name).read_text(encoding="utf-8")
        _no_local_paths(text, [str(tmp_path), str(ROOT)])
        check_golden(f"init-tiny.{name}", text)


# -- the normaliser itself ---------------------------------------------------------------------------------------------


def test_normaliser_removes_volatile_values_and_keeps_the_rest():
    n = Normaliser({"/x/out": "<out>", "/x/rel": "<release>", "/x": "<tmp>"})
    report = {
        "seconds": 1.25,
        "release": {"manifest": "/x/rel/assay.yaml", "manifest_sha256": "ab" * 32},
        "environment": {"python": "3.11.7", "torch": "2.13.0+cpu", "cpu_count": 2},
        "generated_by": "assay 0.1.0",
        "created": "2026-12-07T01:02:03Z",
        "steps": [{"name": "verify", "fingerprint": "sha256:00", "seconds": 0.1, "summary": {"run_id": "f00"}}],
        "claims": [
            {
                "id": "file:a",
                "verdict": "pass",
                "evidence": [
                    {
                        "ref": "/x/out/rerun/t.jsonl",
                        "sha256": "cd" * 32,
                        "note": "{'seconds': 2.5, 'numpy': '2.4.6', 'seed': 0}",
                    },
                    {"ref": "a", "sha256": "ef" * 32, "note": "hashed"},
                ],
            }
        ],
    }
    got = n.value(report)
    assert got["seconds"] == "<seconds>" and got["steps"][0]["seconds"] == "<seconds>"
    assert got["release"] == {"manifest": "<release>/assay.yaml", "manifest_sha256": "ab" * 32}
    assert got["environment"] == {"python": "<env>", "torch": "<env>", "cpu_count": "<env>"}
    assert got["generated_by"] == "assay <version>" and got["created"] == "<timestamp>"
    assert got["steps"][0]["fingerprint"] == "<fingerprint>" and got["steps"][0]["summary"] == {"run_id": "<run-id>"}
    audit_written, published = got["claims"][0]["evidence"]
    assert audit_written["ref"] == "<out>/rerun/t.jsonl" and audit_written["sha256"].startswith("<")
    assert ast.literal_eval(audit_written["note"]) == {"seconds": "<seconds>", "numpy": "<env>", "seed": 0}
    assert published == {"ref": "a", "sha256": "ef" * 32, "note": "hashed"}  # stable values are kept
    assert got["claims"][0]["verdict"] == "pass"


def test_structure_merges_list_items_and_marks_optional_keys():
    s = render(shape({"claims": [{"id": "a", "declared": {"size": 1}}, {"id": "b", "declared": "x", "level": None}]}))
    assert s == {"claims": [{"id": "str", "declared": {"oneOf": ["str", {"size": "number"}]}, "level?": "null"}]}
    assert render(shape({"l": [], "v": [1, None]})) == {"l": [], "v": ["null | number"]}
