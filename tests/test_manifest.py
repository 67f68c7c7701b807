"""Manifest schema v1: validation, positions in errors, path safety, the JSON Schema, locks and the release digest."""

from __future__ import annotations

import json
import textwrap

import pytest

from assay.manifests.errors import ManifestError, PathEscapeError
from assay.manifests.loader import load_manifest, lock_path_for
from assay.manifests.lock import release_digest
from assay.manifests.paths import check_relpath, resolve_inside
from assay.manifests.schema import parse_count
from assay.manifests.uris import parse_source_uri

from conftest import run_assay

GOOD = """\
apiVersion: assay/v1
kind: Release
release:
  name: demo
  version: "1.0"
  publisher: Lab
artifacts:
  - path: model.safetensors
    role: weights
    size: 10
    sha256: {sha}
claims:
  parameters: {{total: 15B, tolerance: 0.05}}
""".format(sha="a" * 64)


def write(tmp_path, text, name="assay.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def error_of(tmp_path, text) -> str:
    with pytest.raises(ManifestError) as exc:
        load_manifest(write(tmp_path, text))
    return str(exc.value)


def test_good_manifest_loads(tmp_path):
    m = load_manifest(write(tmp_path, GOOD))
    assert m.release.name == "demo"
    assert m.claims.parameters.total == 15_000_000_000
    assert m.artifacts[0].role.value == "weights"


def test_unknown_key_names_line_column_and_key(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("    size: 10\n", "    size: 10\n    sah256: abc\n"))
    assert "assay.yaml:11:5:" in msg
    assert "artifacts[0].sah256" in msg and "unknown key 'sah256'" in msg


def test_unknown_top_level_section(tmp_path):
    msg = error_of(tmp_path, GOOD + "extras: {}\n")
    assert ":14:1:" in msg and "unknown key 'extras'" in msg


def test_wrong_type_reports_value_position(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("size: 10", "size: ten"))
    assert ":10:5:" in msg and "artifacts[0].size" in msg


def test_missing_required_key(tmp_path):
    msg = error_of(tmp_path, GOOD.replace('  version: "1.0"\n', ""))
    assert "release.version: required key is missing" in msg


def test_bad_api_version(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("assay/v1", "assay/v9"))
    assert ":1:1:" in msg and "apiVersion" in msg


def test_malformed_yaml_reports_line_and_column(tmp_path):
    msg = error_of(tmp_path, "apiVersion: assay/v1\nkind: [Release\nrelease: {}\n")
    assert "invalid YAML" in msg
    assert "assay.yaml:3:" in msg


def test_duplicate_key_is_refused(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("    role: weights\n", "    role: weights\n    role: docs\n"))
    assert "duplicate key 'role'" in msg and ":10:5:" in msg


def test_several_errors_all_reported(tmp_path):
    with pytest.raises(ManifestError) as exc:
        load_manifest(write(tmp_path, GOOD.replace("size: 10", "size: -1").replace("role: weights", "role: magic")))
    assert "(and 1 more error)" in str(exc.value)
    assert len(exc.value.details) == 2


@pytest.mark.parametrize(
    "bad, phrase",
    [
        ("../outside.bin", "escapes the release root"),
        ("a/../../b", "escapes the release root"),
        ("/etc/passwd", "is absolute"),
        ("C:/x.bin", "is absolute"),
        ("a\\b.bin", "backslash"),
        ("./a.bin", "not normalised"),
        ("a//b", "not normalised"),
        ("a\nb", "control character"),
    ],
)
def test_path_escapes_refused_in_manifest(tmp_path, bad, phrase):
    msg = error_of(tmp_path, GOOD.replace("path: model.safetensors", f"path: {json.dumps(bad)}"))
    assert phrase in msg and ":8:" in msg


def test_duplicate_artifact_path(tmp_path):
    text = GOOD.replace("claims:", "  - path: model.safetensors\nclaims:")
    assert "listed twice" in error_of(tmp_path, text)


def test_symlink_out_of_root_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_text("x")
    (root / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(PathEscapeError, match="outside the release root"):
        resolve_inside(root, "link")
    (root / "inner").write_text("y")
    (root / "ok").symlink_to(root / "inner")
    assert resolve_inside(root, "ok") == (root / "inner").resolve()


def test_resolve_inside_refuses_special_files_and_accepts_what_is_not_there_yet(tmp_path):
    import os
    import socket

    root = tmp_path / "rel"
    root.mkdir()
    os.mkfifo(root / "pipe")
    (root / "sub").mkdir()
    (root / "sub" / "file").write_text("x")
    (root / "to-pipe").symlink_to(root / "pipe")  # inside the root, but still a FIFO
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "sock"))
        for rel, kind in (("pipe", "FIFO"), ("to-pipe", "FIFO"), ("sock", "socket")):
            with pytest.raises(PathEscapeError, match=f"is a {kind}, not a regular file"):
                resolve_inside(root, rel)
    finally:
        sock.close()
    assert resolve_inside(root, "sub/file") == (root / "sub" / "file").resolve()
    assert resolve_inside(root, "sub") == (root / "sub").resolve()
    assert resolve_inside(root, "not/yet/here.bin") == root.resolve() / "not" / "yet" / "here.bin"


def test_check_relpath_accepts_normal_paths():
    assert check_relpath("a/b/c.safetensors") == "a/b/c.safetensors"


@pytest.mark.parametrize(
    "value, expected", [(1234, 1234), ("15B", 15_000_000_000), ("1.5M", 1_500_000), ("200_000", 200_000), ("7k", 7000)]
)
def test_parse_count(value, expected):
    assert parse_count(value) == expected


@pytest.mark.parametrize(
    "uri, scheme",
    [
        ("hf://org/repo@abc123", "hf"),
        ("hf://datasets/org/d@main", "hf"),
        ("oci://127.0.0.1:5000/models/demo:v1", "oci"),
        ("oci://reg.io/a/b@sha256:" + "0" * 64, "oci"),
        ("dir://./hub", "dir"),
    ],
)
def test_source_uris(uri, scheme):
    assert parse_source_uri(uri).scheme == scheme


@pytest.mark.parametrize("uri", ["s3://bucket/x", "hf://", "oci://Host/UPPER:tag", "dir://", "http://x"])
def test_bad_source_uris(uri):
    with pytest.raises(ValueError):
        parse_source_uri(uri)


def test_reserved_sections_are_validated(tmp_path):
    text = GOOD + textwrap.dedent("""\
        data:
          components:
            - name: cot
              source: unavailable
        """)
    assert "needs a 'reason'" in error_of(tmp_path, text)
    text = GOOD + "recipes:\n  - name: r\n    step: cmd\n    outputs: [{path: o.bin}]\n"
    assert "'cmd' is required" in error_of(tmp_path, text)
    text = GOOD + "evals:\n  - name: e\n    metric: acc\n    margin: -1\n"
    assert "evals[0].margin" in error_of(tmp_path, text)


def test_lock_path_convention(tmp_path):
    assert lock_path_for(tmp_path / "assay.yaml").name == "assay.lock.yaml"
    assert lock_path_for(tmp_path / "assay.failing.yaml").name == "assay.failing.lock.yaml"


def test_release_digest_binds_names_and_sizes():
    a, b = "1" * 64, "2" * 64
    base = release_digest([("x", 1, a), ("y", 2, b)])
    assert base == release_digest([("y", 2, b), ("x", 1, a)])  # order-independent
    assert base != release_digest([("x", 1, b), ("y", 2, a)])  # swapping contents between names
    assert base != release_digest([("x2", 1, a), ("y", 2, b)])  # renaming
    assert base != release_digest([("x", 3, a), ("y", 2, b)])  # size
    assert base.startswith("sha256:") and len(base) == 71
    with pytest.raises(ValueError):
        release_digest([("x", 1, a), ("x", 1, a)])


def test_schema_command_prints_json_schema():
    proc = run_assay("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["additionalProperties"] is False
    assert {"apiVersion", "kind", "release", "sources", "artifacts", "claims", "data", "evals", "recipes"} <= set(
        schema["properties"]
    )
    lock = json.loads(run_assay("schema", "--lock").stdout)
    assert "release_digest" in lock["properties"]


def test_cli_schema_error_exit_2_one_line(tmp_path):
    p = write(tmp_path, GOOD.replace("role: weights", "role: weights\n    colour: red"))
    proc = run_assay("verify", str(p))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "unknown key 'colour'" in proc.stderr and ":10:5:" in proc.stderr
