"""lmms-eval: its logs imported and re-scored, and benchmarks re-run through it (an ``evals:`` entry's ``run:`` with
``harness: lmms-eval``), judged without published samples.

Real runs, offline, on the local image-text task of ``tests/fixtures/evals/lmms-eval-real`` (``rt_vqa``: 12 chart
questions about 32x32 PNGs in a Hugging Face ``imagefolder`` dataset) and its tiny Llava-style model:

* the importer on the committed logs lmms-eval 0.7.3 wrote (re-scored = its own reported aggregates and stderrs),
  and on tampered copies of them;
* lmms-eval 0.7.3 (its own venv: ``.venv-lmms``, made by ``tests/run.sh``; ``ASSAY_TEST_LMMS_PYTHON`` points
  elsewhere) in process (``llava_hf``) and against a real ``transformers serve`` of the same model (lmms-eval's
  ``openai`` chat model, images sent as data URLs), and against a port nothing listens on (lmms-eval then logs the
  failures as answers and exits 0: assay must not pass it).

Nothing here is skipped: a missing lmms-eval venv fails with the command that builds it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from rerun_helpers import make_release, set_evals

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "tests" / "fixtures" / "evals" / "lmms-eval-real"
VERSION = "0.7.3"  # the version re-runs pin (.venv-lmms)
LOG_VERSIONS = ("0.6.1", "0.7.3")  # the versions whose real logs are committed (generate.sh, LMMS_VERSION)


def _load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _digest(folder: Path) -> str:
    from assay.evals.harness_run import tree_digest

    return tree_digest(folder)


def _reported(run: str = "full", version: str = VERSION) -> dict:
    results = next((REAL / version / run / "_model").glob("*_results.json"))
    return json.loads(results.read_text())


@pytest.fixture(scope="module")
def lmms_python() -> Path:
    import os

    given = os.environ.get("ASSAY_TEST_LMMS_PYTHON")
    py = Path(given) if given else REPO / ".venv-lmms" / "bin" / "python"
    if not py.exists():
        pytest.fail(
            f"no lmms-eval {VERSION} interpreter at {py}: build it with `bash tests/run.sh` (its .venv-lmms step: "
            f"python3 -m venv .venv-lmms && .venv-lmms/bin/pip install torch==2.13.0 'lmms-eval=={VERSION}' "
            "filelock==3.20.0 decord==0.6.0 …), or set ASSAY_TEST_LMMS_PYTHON"
        )
    return py


# ------------------------------------------------------------------------------------------------ importer
@pytest.mark.parametrize("run", ["full", "limit"])
@pytest.mark.parametrize("version", LOG_VERSIONS)
def test_real_logs_rescore_to_lmms_evals_own_aggregates(version, run):
    from assay.evals.harnesses import detect_format, load_logs
    from assay.evals.rescore import rescore_imported

    folder = REAL / version / run
    assert detect_format(folder) == "lmms-eval"
    assert {detect_format(f) for f in folder.rglob("*.json*")} == {"lmms-eval"}
    (log,) = load_logs(folder)
    assert log.format == "lmms-eval" and log.tasks() == ["rt_vqa"]
    res = rescore_imported(log, audit=True)
    assert res.verdict == "pass", res.findings
    reported = _reported(run, version)["results"]["rt_vqa"]
    n = 12 if run == "full" else 5
    rows = {(r.metric, r.filter): r for r in res.rows}
    assert set(rows) == {
        (m, f) for m in ("exact_match", "exact_match_stderr", "exact_match_stderr_clt") for f in ("whole", "first-word")
    }
    for (metric, filt), row in rows.items():
        assert row.n == n
        assert row.reported == reported[f"{metric},{filt}"]  # the file's number, as written
        assert row.recomputed == row.reported  # assay's arithmetic gives lmms-eval's, bit for bit
    # the filters are told apart by their block: the two score differently
    assert rows[("exact_match", "whole")].recomputed != rows[("exact_match", "first-word")].recomputed
    samples = log.samples("rt_vqa")
    assert len(samples) == 2 * n and {s.filter for s in samples} == {"whole", "first-word"}
    first = next(s for s in samples if s.filter == "first-word" and s.id == "0")
    assert first.answer == "lines" and first.target == "lines" and first.scores == {"exact_match": 1.0}
    assert first.input[0].content == "What does this chart show?"
    codes = [f.code for f in res.findings]
    assert codes == (["subset-run"] if run == "limit" else [])
    import hashlib

    null = hashlib.sha256(b"null").hexdigest()  # chat-model requests carry no doc: every row hashes null
    assert {s.meta["doc_hash"] for s in samples} == {null}


def _tampered(tmp_path: Path, edit) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(REAL / VERSION / "full", dst)
    samples = next(dst.rglob("*_samples_rt_vqa.jsonl"))
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    rows = edit(rows)
    samples.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return dst


def _rescore(folder: Path):
    from assay.evals.harnesses import load_logs
    from assay.evals.rescore import rescore_imported

    (log,) = load_logs(folder)
    return rescore_imported(log, audit=False)


def test_a_flipped_sample_score_fails(tmp_path):
    def flip(rows):
        rows[3]["exact_match"] = 1.0  # doc 3 of the 'whole' block: wrong answer logged as right
        return rows

    res = _rescore(_tampered(tmp_path, flip))
    assert res.verdict == "fail"
    codes = {f.code for f in res.findings}
    assert "sample-score-mismatch" in codes
    mismatch = next(f for f in res.findings if f.code == "sample-score-mismatch")
    assert mismatch.samples == ["3"] and "whole" in mismatch.message


def test_an_edited_answer_breaks_the_score_and_a_dropped_row_the_blocks(tmp_path):
    def answer(rows):
        rows[12 + 3]["filtered_resps"] = "chart"  # doc 3 of 'first-word' now matches, its logged score says 0
        return rows

    res = _rescore(_tampered(tmp_path / "a", answer))
    assert res.verdict == "fail" and "sample-score-mismatch" in {f.code for f in res.findings}

    res = _rescore(_tampered(tmp_path / "b", lambda rows: rows[:-1]))
    codes = {f.code for f in res.findings}
    assert res.verdict != "pass" and "filter-blocks" in codes and "task-hash-mismatch" in codes

    def swap(rows):  # two rows of one block swapped: the blocks no longer list the same documents
        rows[0], rows[1] = rows[1], rows[0]
        return rows

    res = _rescore(_tampered(tmp_path / "c", swap))
    # the task hash cannot see it: 0.7.3's doc_hash is sha256("null") on every row of a chat-model run
    codes = [f.code for f in res.findings]
    assert res.verdict == "fail" and codes[0] == "filter-blocks" and "task-hash-mismatch" not in codes


def test_failed_requests_logged_as_answers_are_an_error(tmp_path):
    def fail(rows):
        for i in (2, 14):  # doc 2 in both blocks, as lmms-eval's openai model logs a request that never answered
            rows[i]["filtered_resps"] = "[LMMS_EVAL_REQUEST_FAILED after 3 retries] Connection error."
        return rows

    res = _rescore(_tampered(tmp_path, fail))
    assert res.verdict == "fail"
    f = next(f for f in res.findings if f.code == "request-failed")
    assert f.samples == ["2"] and f.severity == "error"


def test_a_reported_aggregate_that_differs_fails(tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(REAL / VERSION / "full", dst)
    results = next(dst.rglob("*_results.json"))
    doc = json.loads(results.read_text())
    doc["results"]["rt_vqa"]["exact_match,first-word"] = 0.75
    results.write_text(json.dumps(doc, indent=2))
    res = _rescore(dst)
    assert res.verdict == "fail" and [f.code for f in res.findings] == ["aggregate-mismatch"]


def test_a_samples_file_alone_is_refused_with_a_reason():
    from assay.evals.harnesses import load_logs
    from assay.manifests.errors import InputError

    samples = next((REAL / VERSION / "full").rglob("*_samples_rt_vqa.jsonl"))
    with pytest.raises(InputError, match="results.json"):
        load_logs(samples, "lmms-eval")


def test_a_rerun_output_is_scored_through_every_filter():
    """score_rerun: a fresh output goes through the task's filter pipelines and exact_match as lmms-eval would."""
    from assay.evals.harnesses import load_logs
    from assay.evals.registry import HARNESSES

    (log,) = load_logs(REAL / VERSION / "full")
    ref = next(s for s in log.samples("rt_vqa") if s.id == "0" and s.filter == "whole")
    fresh = ref.model_copy(update={"output": "<think>hm</think> Lines average decimal", "scores": {}, "answer": None})
    out = {s.filter: s for s in HARNESSES["lmms-eval"].score_rerun(fresh, log.header)}
    assert out["whole"].answer == "Lines average decimal" and out["whole"].scores == {"exact_match": 0.0}
    # lmms-eval strips reasoning tags AFTER the filter pipeline: the regex saw the raw text and took "think"
    assert out["first-word"].answer == "think" and out["first-word"].scores == {"exact_match": 0.0}
    plain = ref.model_copy(update={"output": "Lines average decimal", "scores": {}, "answer": None})
    out = {s.filter: s for s in HARNESSES["lmms-eval"].score_rerun(plain, log.header)}
    assert out["first-word"].answer == "Lines" and out["first-word"].scores == {"exact_match": 1.0}


# ------------------------------------------------------------------------------------------------ re-runs
@pytest.fixture(scope="module")
def vlm_release(tmp_path_factory) -> Path:
    """The lmms-eval-real model packaged as a release, with its task and image data beside the manifest."""
    root = tmp_path_factory.mktemp("vlm-release")
    model = _load_script(REAL / "build_model.py").build(root / "_built")
    manifest = make_release(root, model, [], name="tiny-vlm-noise")
    shutil.rmtree(model)
    shutil.copytree(REAL / "tasks", root / "tasks")
    shutil.copytree(REAL / "data", root / "data")
    return manifest


def _run(**over) -> dict:
    run = {
        "harness": "lmms-eval",
        "version": VERSION,
        "task": "rt_vqa",
        "include_path": "tasks",
        "dataset": {"uri": "dir://data", "sha256": _digest(REAL / "data")},
        "args": {"batch_size": 1, "model_args": {"dtype": "float32"}},
    }
    run.update(over)
    return run


def _first_word_points() -> float:
    return _reported()["results"]["rt_vqa"]["exact_match,first-word"] * 100


@pytest.fixture(scope="module")
def in_process(vlm_release, lmms_python, tmp_path_factory):
    """One in-process lmms-eval run shared by three entries (same run:): published far, equal, and close."""
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.rerun import rerun

    real = round(_first_word_points(), 2)
    entry = {"metric": "exact_match", "filter": "first-word", "run": _run()}
    set_evals(
        vlm_release,
        [
            {"name": "vqa-far", "published": [{"value": 5.0}], "margin": 5, **entry},
            {"name": "vqa-equal", "published": [{"value": real}], "margin": 50, **entry},
            {"name": "vqa-close", "published": [{"value": real}], "margin": 3, **entry},
        ],
    )
    out = tmp_path_factory.mktemp("lmms-out")
    return rerun(vlm_release, out=out, harness=HarnessOptions(python=str(lmms_python)))


def test_lmms_eval_in_process_reproduces_the_committed_run(in_process):
    r = in_process
    runs = {h.name: h for h in r.harness_runs}
    assert set(runs) == {"vqa-far", "vqa-equal", "vqa-close"} and r.verified is True
    for h in runs.values():
        assert h.harness == "lmms-eval" and h.installed_version == VERSION and h.mode == "in-process"
        assert h.returncode == 0 and h.rescore == "pass", h.findings
        assert h.n == 12 and h.filter == "first-word" and h.dataset_sha256 == _digest(REAL / "data")
        assert any(Path(p).name.endswith("_samples_rt_vqa.jsonl") for p in h.logs)
    assert len({tuple(h.logs) for h in runs.values()}) == 1  # one harness run served the three entries
    # the same model, data and task as the committed real run: the same per-sample outputs and score
    from assay.evals.harnesses import load_logs

    samples_file = next(Path(p) for p in runs["vqa-far"].logs if p.endswith("_samples_rt_vqa.jsonl"))
    fresh = {(s.filter, s.id): s.answer for s in load_logs(samples_file.parents[1], "lmms-eval")[0].samples()}
    (committed_log,) = load_logs(REAL / VERSION / "full")
    assert fresh == {(s.filter, s.id): s.answer for s in committed_log.samples()}
    assert runs["vqa-equal"].verdict.rerun_score == pytest.approx(_first_word_points(), abs=1e-9)
    assert runs["vqa-far"].verdict.verdict == "fail"
    assert runs["vqa-equal"].verdict.verdict == "pass"
    close = runs["vqa-close"].verdict
    assert close.verdict == "inconclusive" and close.n_needed is not None and close.n_needed > 12
    claims = {c.id: c.verdict for c in r.to_claims()}
    assert claims == {"rerun:vqa-far": "fail", "rerun:vqa-equal": "pass", "rerun:vqa-close": "inconclusive"}
    cmd = runs["vqa-far"].command
    assert cmd[cmd.index("--model") + 1] == "llava_hf" and "--log_samples" in cmd
    assert cmd[cmd.index("--seed") + 1] == "0,0,0,0"
    assert not r.ok


def test_a_wrong_lmms_eval_version_is_refused(vlm_release, lmms_python, tmp_path):
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.rerun import rerun

    set_evals(
        vlm_release,
        [{"name": "vqa", "metric": "exact_match", "published": [{"value": 50.0}], "run": _run(version="0.7.2")}],
    )
    r = rerun(vlm_release, out=tmp_path, harness=HarnessOptions(python=str(lmms_python)))
    (h,) = r.harness_runs
    assert [f.code for f in h.findings] == ["harness-version-mismatch"]
    assert "0.7.3" in h.findings[0].message and "0.7.2" in h.findings[0].message
    assert h.returncode is None and not h.command and h.to_claim().verdict == "error" and not r.ok


def test_a_tampered_image_dataset_is_refused_before_running(vlm_release, lmms_python, tmp_path):
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.rerun import rerun

    tampered = vlm_release.parent / "data-tampered"
    shutil.copytree(REAL / "data", tampered, dirs_exist_ok=True)
    png = tampered / "test" / "003.png"
    png.write_bytes((tampered / "test" / "004.png").read_bytes())  # one image swapped for another
    pinned = _digest(REAL / "data")
    set_evals(
        vlm_release,
        [
            {
                "name": "vqa",
                "metric": "exact_match",
                "published": [{"value": 50.0}],
                "run": _run(dataset={"uri": "dir://data-tampered", "sha256": pinned}),
            }
        ],
    )
    r = rerun(vlm_release, out=tmp_path, harness=HarnessOptions(python=str(lmms_python)))
    (h,) = r.harness_runs
    assert [f.code for f in h.findings] == ["dataset-hash-mismatch"]
    assert h.dataset_sha256 == _digest(tampered) != pinned
    assert h.returncode is None and not (tmp_path / "vqa.lmms-eval").exists() and h.to_claim().verdict == "error"


@pytest.fixture(scope="module")
def vlm_server(vlm_release):
    from support.serve import TransformersServer

    with TransformersServer(vlm_release.parent / "release", seed=0, threads=1) as srv:
        yield srv


def test_lmms_eval_against_transformers_serve(vlm_release, vlm_server, lmms_python, tmp_path):
    """lmms-eval's openai chat model at a real server: the images travel as data URLs (the server counts their 16
    tokens in every prompt), the outputs are the in-process ones, so the committed score is reproduced."""
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.harnesses import load_logs
    from assay.evals.rerun import rerun

    real = round(_first_word_points(), 2)
    entry = {"metric": "exact_match", "filter": "first-word", "run": _run(args={"batch_size": 1})}
    set_evals(
        vlm_release,
        [
            {"name": "vqa-equal", "published": [{"value": real}], "margin": 50, **entry},
            {"name": "vqa-far", "published": [{"value": 95.0}], "margin": 5, **entry},
        ],
    )
    r = rerun(
        vlm_release,
        backend="openai",
        base_url=vlm_server.base_url,
        model=vlm_server.model_dir,
        out=tmp_path,
        harness=HarnessOptions(python=str(lmms_python)),
    )
    runs = {h.name: h for h in r.harness_runs}
    for h in runs.values():
        assert h.mode == "endpoint" and h.endpoint == vlm_server.base_url and h.returncode == 0
        assert h.rescore == "pass" and h.n == 12, h.findings
        cmd = h.command
        assert cmd[cmd.index("--model") + 1] == "openai" and vlm_server.base_url in cmd[cmd.index("--model_args") + 1]
    assert runs["vqa-equal"].verdict.verdict == "pass"
    assert runs["vqa-equal"].verdict.rerun_score == pytest.approx(_first_word_points(), abs=1e-9)
    assert runs["vqa-far"].verdict.verdict == "fail"
    samples_file = next(Path(p) for p in runs["vqa-far"].logs if p.endswith("_samples_rt_vqa.jsonl"))
    rows = [json.loads(line) for line in samples_file.read_text().splitlines()]
    # the server's prompt-token count of each item is the processor's for the question AND its image (16 image
    # tokens): the images arrived
    from PIL import Image
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(vlm_release.parent / "release")
    meta = [json.loads(line) for line in (REAL / "data" / "test" / "metadata.jsonl").read_text().splitlines()]
    for row in rows[:12]:
        doc = meta[row["doc_id"]]
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": doc["question"]}]}]
        text = proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        image = Image.open(REAL / "data" / "test" / doc["file_name"]).convert("RGB")
        ids = proc(images=[image], text=text)["input_ids"][0]
        assert row["token_counts"][0]["input_tokens"] == len(ids)
        assert len(ids) == len(proc.tokenizer(text)["input_ids"]) - 1 + 16  # <image> expanded to 16 tokens
    (served,) = load_logs(samples_file.parents[1], "lmms-eval")
    (committed,) = load_logs(REAL / VERSION / "full")
    assert {(s.filter, s.id): s.answer for s in served.samples()} == {
        (s.filter, s.id): s.answer for s in committed.samples()
    }
    assert r.verified is None and any(f.code == "served-weights" for f in r.findings)


def test_failed_requests_at_a_dead_endpoint_never_pass(vlm_release, lmms_python, tmp_path):
    """Nothing listens on the port: lmms-eval logs each failure as the response, scores it 0 and exits 0; assay
    reports the run as an error with the failed items, never a reproduced 0."""
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.rerun import rerun
    from support.serve import free_port

    set_evals(
        vlm_release,
        [
            {
                "name": "vqa-zero",
                "metric": "exact_match",
                "filter": "first-word",
                "published": [{"value": 0.0}],
                "margin": 50,
                "run": _run(
                    limit=2,
                    args={"batch_size": 1, "model_args": {"max_retries": 1, "retry_backoff_s": 0, "timeout": 5}},
                ),
            }
        ],
    )
    dead = f"http://127.0.0.1:{free_port()}/v1"
    r = rerun(
        vlm_release,
        backend="openai",
        base_url=dead,
        model="tiny",
        out=tmp_path,
        harness=HarnessOptions(python=str(lmms_python)),
    )
    (h,) = r.harness_runs
    assert h.returncode == 0  # lmms-eval itself reports success
    assert "request-failed" in {f.code for f in h.findings}
    assert h.rescore == "fail" and h.to_claim().verdict != "pass" and not r.ok


def test_the_runner_spells_decoding_and_options_as_lmms_eval_flags(tmp_path):
    from assay.evals.registry import RUNNERS, RunRequest

    req = RunRequest(
        python=Path("/py"),
        workdir=tmp_path,
        out_dir=tmp_path / "out",
        task="rt_vqa",
        model="/m",
        decoding={"temperature": 0.0, "max_new_tokens": 7, "system_prompt": "Be brief."},
        args={"model": "qwen2_5_vl", "apply_chat_template": True, "model_args": {"dtype": "bfloat16"}},
        limit=3,
        num_fewshot=0,
    )
    cmd = RUNNERS["lmms-eval"].command(req)
    assert cmd[:3] == ["/py", "-m", "lmms_eval"] and cmd[cmd.index("--model") + 1] == "qwen2_5_vl"
    assert cmd[cmd.index("--model_args") + 1] == "pretrained=/m,device_map=cpu,dtype=bfloat16"
    assert cmd[cmd.index("--gen_kwargs") + 1] == "max_new_tokens=7,temperature=0.0"
    assert cmd[cmd.index("--system_instruction") + 1] == "Be brief."
    assert cmd[cmd.index("--limit") + 1] == "3" and cmd[cmd.index("--num_fewshot") + 1] == "0"
    assert "--apply_chat_template" in cmd
    served = RUNNERS["lmms-eval"].command(req.__class__(**{**req.__dict__, "base_url": "http://h:1/v1/"}))
    assert served[served.index("--model") + 1] == "openai"
    assert served[served.index("--model_args") + 1].startswith("model=/m,base_url=http://h:1/v1,")
