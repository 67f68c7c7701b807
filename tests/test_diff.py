"""`assay diff`: files (added/removed/modified/renamed), claims, scores and digests between two releases."""

from __future__ import annotations

import json

from assay.hubs.push import push
from assay.manifests.yamlio import dump_yaml, read_yaml_file

from conftest import model_only, run_assay


def test_identical_releases(demo):
    proc = run_assay("diff", str(demo), str(demo), "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["identical"] is True


def test_changes_are_classified(tmp_path, demo):
    model_only(demo)
    release = demo.parent / "release"
    other = tmp_path / "other"
    import shutil

    shutil.copytree(release, other)
    (other / "README.md").write_text("changed card\n")
    (other / "tokenizer.json").rename(other / "tok.json")
    (other / "chat_template.jinja").unlink()
    (other / "NOTICE").write_text("new file\n")
    assert run_assay("init", str(other), "--name", "tiny-vlm").returncode == 0
    data, _ = read_yaml_file(other / "assay.yaml")
    data["claims"]["parameters"]["total"] = 200_000
    data["evals"] = [{"name": "chartqa", "metric": "acc", "published": [{"value": 90.0}]}]
    (other / "assay.yaml").write_text(dump_yaml(data))
    assert run_assay("lock", str(other / "assay.yaml")).returncode == 0
    proc = run_assay("diff", str(demo), str(other / "assay.yaml"), "--json")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    changes = {f["path"]: f["change"] for f in out["files"]}
    assert changes == {
        "README.md": "modified",
        "tok.json": "renamed",
        "chat_template.jinja": "removed",
        "NOTICE": "added",
    }
    assert next(f for f in out["files"] if f["path"] == "tok.json")["before"]["path"] == "tokenizer.json"
    assert {c["key"]: (c["before"], c["after"]) for c in out["claims"]}["parameters.total"] == (119520, 200000)
    assert out["scores"] == [{"key": "chartqa.acc", "before": None, "after": 90.0}]
    assert out["release_digest_a"] != out["release_digest_b"]
    table = run_assay("diff", str(demo), str(other / "assay.yaml"))
    assert "renamed" in table.stdout and "DIFFERENT" in table.stdout


def test_diff_against_a_pushed_package(tmp_path, demo):
    uri = f"dir://{tmp_path / 'hub'}#tiny-vlm:0.1.0"
    assert push(demo, uri, create=True).ok
    proc = run_assay("diff", str(demo), uri, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["identical"] is True
    lock_only = run_assay("diff", str(demo.with_name("assay.lock.yaml")), uri, "--json")
    assert lock_only.returncode == 0 and json.loads(lock_only.stdout)["files"] == []


def test_diff_bad_input(tmp_path, demo):
    proc = run_assay("diff", str(demo), str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2 and proc.stderr.startswith("assay: error:")
