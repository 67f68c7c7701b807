"""The normalised per-sample model and assay's own log format (*.assay.jsonl)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from assay.evals.harnesses import detect_format
from assay.evals.rescore import rescore_log
from assay.evals.samples import (
    Aggregate,
    ContentPart,
    ImageRef,
    LogHeader,
    Message,
    Sample,
    content_sha256,
    is_assay_log,
    read_log,
    write_log,
)

from conftest import run_assay

IMG = "ab" * 32


def _samples():
    return [
        Sample(
            id="0",
            task="charts",
            input=[
                Message(
                    role="user",
                    content=[
                        ContentPart(type="image", image=ImageRef(sha256=IMG, media_type="image/png")),
                        ContentPart(type="text", text="What is 6 * 7?"),
                    ],
                )
            ],
            target="42",
            output="The answer is 42",
            scores={"numeric": 1.0, "exact": 0.0},
        ),
        Sample(
            id="1",
            task="charts",
            input=[Message(role="user", content="What is 10 - 9?")],
            target="1",
            output="11",
            scores={"numeric": 0.0, "exact": 0.0},
        ),
        Sample(
            id="2",
            task="charts",
            input=[Message(role="user", content="Name the colour.")],
            target="Blue",
            output="blue.",
            scores={"numeric": None, "exact": 1.0},
        ),
    ]


def test_hashes_are_content_hashes():
    s = _samples()[1]
    assert s.target_sha256 == content_sha256("1")
    assert s.input_sha256 == content_sha256({"input": [{"role": "user", "content": "What is 10 - 9?"}], "prompt": None})
    same = Sample(id="other", task="x", input=[Message(role="user", content="What is 10 - 9?")], target="1")
    assert same.input_sha256 == s.input_sha256  # ids and tasks are not content
    assert Sample(id="1", task="charts", input=s.input, target=1).target_sha256 != s.target_sha256
    with pytest.raises(ValidationError):
        ContentPart(type="image", text="not an image")
    with pytest.raises(ValidationError):
        Sample(id="1", task="t", unknown_field=1)


def test_round_trip_and_tamper(tmp_path):
    p = tmp_path / "run.assay.jsonl"
    header = LogHeader(
        harness="assay rerun",
        model="tiny",
        tasks=["charts"],
        aggregates=[
            Aggregate(task="charts", metric="exact", value=1 / 3, n=3),
            Aggregate(task="charts", metric="numeric", value=0.5, n=2),
        ],
    )
    sha = write_log(p, header, _samples())
    assert len(sha) == 64 and is_assay_log(p) and detect_format(p) == "assay"
    log = read_log(p)
    assert log.header == header and [s.model_dump() for s in log.samples] == [s.model_dump() for s in _samples()]
    assert json.loads(p.read_text().splitlines()[0])["format"] == "assay-eval-log/v1"
    [res] = rescore_log(p)
    assert res.ok, res.findings
    assert {(r.metric, r.reported, r.recomputed, r.n) for r in res.rows} == {
        ("exact", 1 / 3, 1 / 3, 3),
        ("numeric", 0.5, 0.5, 2),
    }
    # a hand-edited output: the logged score no longer follows; an edited target: its hash no longer matches
    lines = p.read_text().splitlines()
    row = json.loads(lines[2])
    row["output"] = "1"
    lines[2] = json.dumps(row)
    row = json.loads(lines[3])
    row["target"] = "blue."
    lines[3] = json.dumps(row)
    p.write_text("\n".join(lines) + "\n")
    [res] = rescore_log(p)
    codes = {(f.code, tuple(f.samples)) for f in res.findings if f.severity == "error"}
    assert ("sample-score-mismatch", ("1",)) in codes and ("hash-mismatch", ("2",)) in codes
    cp = run_assay("rescore", "--log", str(p), "--json")
    assert cp.returncode == 1 and "samples: 1" in cp.stderr


def test_bad_log_is_bad_input(tmp_path):
    p = tmp_path / "bad.assay.jsonl"
    p.write_text('{"format": "assay-eval-log/v1"}\n{"id": 1}\n')
    cp = run_assay("rescore", "--log", str(p))
    assert cp.returncode == 2 and cp.stderr.startswith("assay: error:") and "bad.assay.jsonl:2" in cp.stderr
    cp = run_assay("rescore", "--log", str(tmp_path / "nope.json"))
    assert cp.returncode == 2 and "no such file" in cp.stderr
    cp = run_assay("rescore", "--log", str(p), "--format", "helm")
    assert cp.returncode == 2 and "unknown log format 'helm'" in cp.stderr
