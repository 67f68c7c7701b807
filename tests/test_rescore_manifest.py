"""``assay rescore MANIFEST``: every eval's logs re-scored and every published claim checked against them.

The logs are the real lm-eval fixtures (tests/fixtures/evals/lm-eval, made by make_logs.py) placed in a release.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import yaml

from assay.evals.claims import rescore_manifest

from conftest import ROOT, run_assay

FIX = ROOT / "tests" / "fixtures" / "evals" / "lm-eval"

CARD = """---
license: apache-2.0
model-index:
- name: tiny
  results:
  - task: {type: text-generation}
    dataset: {name: tiny_mc, type: tiny_mc}
    metrics:
    - {type: acc, value: 41.0}
  - task: {type: text-generation}
    dataset: {name: ScreenSpot-V2, type: screenspot_v2}
    metrics:
    - {type: acc, value: "88.2"}
---
# tiny
"""


def _release(tmp_path: Path, evals: list[dict], card: str | None = None) -> Path:
    rel = tmp_path / "release"
    shutil.copytree(FIX / "full", rel / "evals" / "full")
    shutil.copytree(FIX / "limit", rel / "evals" / "limit")
    doc = {
        "apiVersion": "assay/v1",
        "kind": "Release",
        "release": {"name": "tiny", "version": "1.0"},
        "sources": [{"name": "default", "uri": "dir://release"}],
        "evals": evals,
    }
    if card is not None:
        (rel / "README.md").write_text(card)
        doc["release"]["model_card"] = "README.md"
    m = tmp_path / "assay.yaml"
    m.write_text(yaml.safe_dump(doc, sort_keys=False))
    return m


def _log(name: str) -> str:
    [p] = (FIX / name).rglob("results_*.json")
    return "evals/" + p.relative_to(FIX).as_posix()


def _sha(rel: Path, path: str) -> str:
    return hashlib.sha256((rel / path).read_bytes()).hexdigest()


def test_claims_that_match_their_logs(tmp_path):
    full = _log("full")
    m = _release(tmp_path, [])
    sha = _sha(tmp_path / "release", full)
    evals = [
        {
            "name": "tiny_qa",
            "metric": "exact_match",
            "filter": "strict",
            "published": [{"value": 25.0, "source": "README table"}],
            "logs": [{"path": full, "sha256": sha}],
        },
        {
            "name": "TinySplit",
            "task": "tiny_split",
            "metric": "acc",
            "published": [{"value": 40.7, "source": "paper"}],
            "logs": [{"path": "evals/full", "format": "lm-eval"}],
        },
        {
            "name": "tiny_mc",
            "metric": "acc_norm",
            "scale": 1,
            "published": [{"value": 0.4}],
            "logs": [{"path": full, "sha256": sha}],
        },
    ]
    m = _release(tmp_path / "b", evals)
    report = rescore_manifest(m)
    assert report.ok, [(e.name, e.findings, [lg.findings for lg in e.logs]) for e in report.evals]
    statuses = {e.name: [c.status for c in e.claims] for e in report.evals}
    assert statuses == {"tiny_qa": ["matches"], "TinySplit": ["matches"], "tiny_mc": ["matches"]}
    split = report.evals[1]
    assert split.claims[0].recomputed == split.claims[0].reported == 100 * 11 / 27
    assert {r.task for lg in split.logs for r in lg.rows} == {
        "tiny_split",
        "tiny_split_a",
        "tiny_split_b",
        "tiny_split_c",
    }
    cp = run_assay("rescore", str(m), "--json")
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["ok"] is True


def test_claim_mismatch_mean_of_splits_subset_and_hash(tmp_path):
    full, limit = _log("full"), _log("limit")
    evals = [
        {
            "name": "tiny_mc",
            "metric": "acc",
            "published": [{"value": 45.0, "source": "README table"}],
            "logs": [{"path": full}],
        },
        {
            "name": "TinySplit",
            "task": "tiny_split",
            "metric": "acc",
            "published": [{"value": 41.9, "source": "blog"}],
            "logs": [{"path": full}],
        },
        {
            "name": "tiny_qa",
            "metric": "exact_match",
            "filter": "first-word",
            "published": [{"value": 25.0}],
            "logs": [{"path": limit}],
        },
        {
            "name": "tiny_qa_pinned",
            "task": "tiny_qa",
            "metric": "exact_match",
            "filter": "strict",
            "published": [{"value": 25.0}],
            "logs": [{"path": full, "sha256": "0" * 64}],
        },
    ]
    m = _release(tmp_path, evals)
    report = rescore_manifest(m)
    assert not report.ok
    ev = {e.name: e for e in report.evals}
    c = ev["tiny_mc"].claims[0]
    assert (c.status, c.recomputed) == ("mismatch", 40.0) and not ev["tiny_mc"].ok
    c = ev["TinySplit"].claims[0]
    assert c.status == "derived" and "plain mean of the 3 subtasks" in c.note and "size-weighted" in c.note

    def errors(name):
        return [f.code for f in ev[name].findings if f.severity == "error"]

    assert errors("tiny_qa") == ["subset-run"] and ev["tiny_qa"].claims[0].status == "matches"
    assert "log-unpinned" in [f.code for f in ev["tiny_qa"].findings]
    assert errors("tiny_qa_pinned") == ["log-hash-mismatch"]
    cp = run_assay("rescore", str(m))
    assert cp.returncode == 1
    assert "plain mean of the 3 subtasks" in cp.stdout


def test_card_claims_and_sibling_means(tmp_path):
    full = _log("full")
    evals = [
        {"name": "tiny_mc", "metric": "acc", "published": [{"value": 40.0}], "logs": [{"path": full}]},
        {"name": "ScreenSpot_v2_Desktop", "metric": "acc", "published": [{"value": 87.1, "source": "README"}]},
        {"name": "ScreenSpot_v2_Mobile", "metric": "acc", "published": [{"value": 88.6, "source": "README"}]},
        {"name": "ScreenSpot_v2_Web", "metric": "acc", "published": [{"value": 88.8, "source": "README"}]},
        {"name": "ScreenSpot-V2", "metric": "acc", "published": [{"value": 88.2, "source": "model-index"}]},
    ]
    m = _release(tmp_path, evals, CARD)
    report = rescore_manifest(m)
    ev = {e.name: e for e in report.evals}
    assert ev["tiny_mc"].ok
    c = ev["ScreenSpot-V2"].claims[0]
    # The mean of the splits' *published* numbers is arithmetic on claims: named, but not evidence (not checked).
    assert c.status == "no-log" and c.verdict == "not-checked"
    assert "ScreenSpot_v2_Desktop, ScreenSpot_v2_Mobile, ScreenSpot_v2_Web" in c.note and "published figures" in c.note
    assert [f.code for f in ev["ScreenSpot_v2_Web"].findings] == ["no-log"]
    card = {f.code: f for f in report.findings}
    assert "41" in card["card-claim-mismatch"].message and card["card-claim-mismatch"].where == "tiny_mc"
    assert not report.ok


def test_bad_manifest_input(tmp_path):
    m = _release(tmp_path, [{"name": "x", "metric": "acc", "logs": [{"path": "../outside.json"}]}])
    cp = run_assay("rescore", str(m))
    assert cp.returncode == 2 and "assay: error:" in cp.stderr
    m = _release(tmp_path / "b", [{"name": "x", "metric": "acc", "margn": 1}])
    cp = run_assay("rescore", str(m))
    assert cp.returncode == 2 and "unknown key 'margn'" in cp.stderr
    cp = run_assay("rescore", str(m), "--log", str(FIX))
    assert cp.returncode == 2 and "either a MANIFEST or --log" in cp.stderr
