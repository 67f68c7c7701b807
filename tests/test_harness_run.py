"""Benchmarks re-run through the real harnesses (an ``evals:`` entry's ``run:``), judged without published samples.

Real runs, offline, on local tasks and tiny local models:

* lm-eval 0.4.13 (its own venv: ``.venv-lmeval``, made by ``tests/run.sh``; ``ASSAY_TEST_LMEVAL_PYTHON`` points
  elsewhere) in process (``hf``, the model of ``tests/fixtures/evals/lm-eval-real``, its ``rt_mc`` task and data) and
  against a real ``transformers serve`` (``local-chat-completions``, the ``rt_gsm`` generation task);
* Inspect (``inspect_ai`` of assay's own venv) with a local task file (``tests/fixtures/evals/harness-run/inspect``),
  in process (``hf/local``) and against the same server (``openai-api``).

The endpoint model is the byte-level BPE chat model of ``tests/fixtures/evals/harness-run/build_chat_model.py`` (see
its docstring for why not the word-level one).  Nothing here is skipped: a missing lm-eval venv fails with the
command that builds it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import run_assay
from rerun_helpers import make_release, set_evals

REPO = Path(__file__).resolve().parents[1]
LMEVAL_REAL = REPO / "tests" / "fixtures" / "evals" / "lm-eval-real"
HARNESS_RUN = REPO / "tests" / "fixtures" / "evals" / "harness-run"
LMEVAL_VERSION = "0.4.13"


def _inspect_version() -> str:
    from importlib.metadata import version

    return version("inspect_ai")


def _load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def lmeval_python() -> Path:
    given = os.environ.get("ASSAY_TEST_LMEVAL_PYTHON")
    py = Path(given) if given else REPO / ".venv-lmeval" / "bin" / "python"
    if not py.exists():
        pytest.fail(
            f"no lm-eval {LMEVAL_VERSION} interpreter at {py}: build it with `bash tests/run.sh` (its "
            f".venv-lmeval step: python3 -m venv .venv-lmeval && .venv-lmeval/bin/pip install torch==2.13.0 "
            f"'lm-eval[hf,api]=={LMEVAL_VERSION}' …), or set ASSAY_TEST_LMEVAL_PYTHON"
        )
    return py


def _digest(folder: Path) -> str:
    from assay.evals.harness_run import tree_digest

    return tree_digest(folder)


def _committed_rt_mc_acc() -> float:
    """rt_mc's acc in the committed real lm-eval 0.4.13 run of the same model and data, in points."""
    results = next((LMEVAL_REAL / "0.4.13" / "full" / "_model").glob("results_*.json"))
    return json.loads(results.read_text())["results"]["rt_mc"]["acc,none"] * 100


# ------------------------------------------------------------------------------------------------ releases
@pytest.fixture(scope="module")
def lm_release(tmp_path_factory) -> Path:
    """The lm-eval-real model packaged as a release, with the lm-eval-real tasks and data beside its manifest."""
    root = tmp_path_factory.mktemp("lm-release")
    model = _load_script(LMEVAL_REAL / "build_model.py").build(root / "_built")
    # The committed generator's tokenizer states 256 tokens against the config's 512; a release must state one
    # context length (the metadata check fails it otherwise).  lm-eval takes its max length from the config's
    # max_position_embeddings first, so the scores do not move (the in-process test compares with the committed run).
    tok_cfg = model / "tokenizer_config.json"
    tok_cfg.write_text(json.dumps({**json.loads(tok_cfg.read_text()), "model_max_length": 512}, indent=2))
    manifest = make_release(root, model, [])
    shutil.rmtree(model)
    shutil.copytree(LMEVAL_REAL / "tasks", root / "tasks")
    shutil.copytree(LMEVAL_REAL / "data", root / "data")
    return manifest


def _lm_run(**over) -> dict:
    run = {
        "harness": "lm-eval",
        "version": LMEVAL_VERSION,
        "task": "rt_mc",
        "include_path": "tasks",
        "num_fewshot": 0,
        "dataset": {"uri": "dir://data", "sha256": _digest(LMEVAL_REAL / "data")},
        "args": {"batch_size": 1, "model_args": {"dtype": "float32"}},
    }
    run.update(over)
    return run


@pytest.fixture(scope="module")
def lm_in_process(lm_release, lmeval_python, tmp_path_factory):
    """One in-process lm-eval run shared by three entries (same run:): published far, equal, and close."""
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.rerun import rerun

    real = _committed_rt_mc_acc()
    set_evals(
        lm_release,
        [
            {"name": "mc-far", "metric": "acc", "published": [{"value": 5.0}], "margin": 5, "run": _lm_run()},
            {
                "name": "mc-equal",
                "metric": "acc",
                "published": [{"value": round(real, 2)}],
                "margin": 30,
                "run": _lm_run(),
            },
            {
                "name": "mc-close",
                "metric": "acc",
                "published": [{"value": round(real, 2)}],
                "margin": 2,
                "run": _lm_run(),
            },
        ],
    )
    out = tmp_path_factory.mktemp("lm-out")
    return rerun(lm_release, out=out, harness=HarnessOptions(python=str(lmeval_python)))


def test_lm_eval_in_process_reproduced_not_reproduced_inconclusive(lm_in_process):
    r = lm_in_process
    runs = {h.name: h for h in r.harness_runs}
    assert set(runs) == {"mc-far", "mc-equal", "mc-close"} and not r.benchmarks
    assert r.verified is True  # the weights the harness loads were verified first
    for h in runs.values():
        assert h.harness == "lm-eval" and h.installed_version == LMEVAL_VERSION and h.mode == "in-process"
        assert h.dataset_sha256 == _digest(LMEVAL_REAL / "data") and h.returncode == 0
        assert h.rescore == "pass"  # the harness's per-sample scores re-score with assay's engine
        assert h.n == 12 and h.filter == "none"
        assert any(Path(p).name.startswith("samples_rt_mc_") for p in h.logs)
    assert len({tuple(h.logs) for h in runs.values()}) == 1  # one harness run served the three entries
    # the re-run is the committed real run of the same model: the same score
    assert runs["mc-equal"].verdict.rerun_score == pytest.approx(_committed_rt_mc_acc(), abs=1e-9)
    assert runs["mc-far"].verdict.verdict == "fail"
    assert runs["mc-equal"].verdict.verdict == "pass"
    close = runs["mc-close"].verdict
    assert close.verdict == "inconclusive" and close.n_needed is not None and close.n_needed > 12
    assert close.method == "unpaired-wilson" and close.ci_level == 0.95
    claims = {c.id: c for c in r.to_claims()}
    assert {k: c.verdict for k, c in claims.items()} == {
        "rerun:mc-far": "fail",
        "rerun:mc-equal": "pass",
        "rerun:mc-close": "inconclusive",
    }
    assert "lm-eval 0.4.13, in process, 12 items" in claims["rerun:mc-equal"].level
    cmd = runs["mc-far"].command
    assert cmd[cmd.index("--model") + 1] == "hf" and cmd[cmd.index("--num_fewshot") + 1] == "0"
    assert cmd[cmd.index("--seed") + 1] == "0,0,0,0" and "--log_samples" in cmd
    assert claims["rerun:mc-equal"].measured["dataset_sha256"] == _digest(LMEVAL_REAL / "data")
    assert r.ok is False  # one not reproduced, one inconclusive


def test_a_dataset_whose_sha256_differs_is_refused_before_running(lm_release, lmeval_python, tmp_path):
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.rerun import rerun

    tampered = lm_release.parent / "data-tampered"
    shutil.copytree(LMEVAL_REAL / "data", tampered, dirs_exist_ok=True)
    with open(tampered / "mc.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"question": "added", "choices": ["a", "b"], "label": 0}\n')
    pinned = _digest(LMEVAL_REAL / "data")
    set_evals(
        lm_release,
        [
            {
                "name": "mc",
                "metric": "acc",
                "published": [{"value": 50.0}],
                "margin": 5,
                "run": _lm_run(dataset={"uri": "dir://data-tampered", "sha256": pinned}),
            }
        ],
    )
    r = rerun(lm_release, out=tmp_path, harness=HarnessOptions(python=str(lmeval_python)))
    (h,) = r.harness_runs
    assert [f.code for f in h.findings] == ["dataset-hash-mismatch"]
    assert h.dataset_sha256 == _digest(tampered) != pinned
    assert h.returncode is None and not h.command and not (tmp_path / "mc.lm-eval").exists()  # nothing ran
    assert h.verdict is None and h.to_claim().verdict == "error" and not r.ok


def test_a_wrong_harness_version_is_refused(lm_release, lmeval_python, tmp_path):
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.rerun import rerun

    set_evals(
        lm_release,
        [
            {
                "name": "mc",
                "metric": "acc",
                "published": [{"value": 50.0}],
                "margin": 5,
                "run": _lm_run(version="0.4.12"),
            }
        ],
    )
    r = rerun(lm_release, out=tmp_path, harness=HarnessOptions(python=str(lmeval_python)))
    (h,) = r.harness_runs
    assert [f.code for f in h.findings] == ["harness-version-mismatch"]
    assert "0.4.13" in h.findings[0].message and "0.4.12" in h.findings[0].message
    assert h.installed_version == LMEVAL_VERSION and h.returncode is None and not h.command
    assert h.to_claim().verdict == "error" and not r.ok


def test_install_harness_that_cannot_install_leaves_nothing_behind(lm_release, tmp_path, monkeypatch):
    """--install-harness with pip unable to reach any index (PIP_NO_INDEX, an empty wheelhouse): pip really runs in
    a real new venv and fails; the re-run is an error naming pip's reason, and no half-made venv is left to be found
    (and run without the harness) next time.  The successful install needs PyPI, which tests may not reach."""
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.rerun import rerun

    home = tmp_path / "harnesses"
    monkeypatch.setenv("ASSAY_HARNESS_HOME", str(home))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    set_evals(
        lm_release, [{"name": "mc", "metric": "acc", "published": [{"value": 50.0}], "margin": 5, "run": _lm_run()}]
    )
    r = rerun(lm_release, out=tmp_path / "out", harness=HarnessOptions(install=True))
    (h,) = r.harness_runs
    assert [f.code for f in h.findings] == ["harness-unavailable"], h.findings
    msg = h.findings[0].message
    assert "could not install lm-eval==" in msg and "with pip" in msg and "No matching distribution" in msg, msg
    assert h.to_claim().verdict == "error" and not r.ok
    assert not home.exists() or not any(home.iterdir()), list(home.iterdir())


def test_no_interpreter_names_how_to_get_one(lm_release, tmp_path, monkeypatch):
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.rerun import rerun

    monkeypatch.setenv("ASSAY_HARNESS_HOME", str(tmp_path / "empty"))
    set_evals(
        lm_release, [{"name": "mc", "metric": "acc", "published": [{"value": 50.0}], "margin": 5, "run": _lm_run()}]
    )
    r = rerun(lm_release, out=tmp_path / "out", harness=HarnessOptions())
    (h,) = r.harness_runs
    assert [f.code for f in h.findings] == ["harness-unavailable"]
    assert "--harness-python" in h.findings[0].message and "--install-harness" in h.findings[0].message
    assert h.to_claim().verdict == "error" and not r.ok


def test_cli_rerun_passes_the_harness_interpreter_and_fails_closed(lm_release, lmeval_python, tmp_path):
    """assay rerun --harness-python: a refused run is exit 1 with its reason in the JSON, never a pass."""
    set_evals(
        lm_release,
        [
            {
                "name": "mc",
                "metric": "acc",
                "published": [{"value": 50.0}],
                "margin": 5,
                "run": _lm_run(version="0.4.12"),
            }
        ],
    )
    p = run_assay("rerun", str(lm_release), "--harness-python", str(lmeval_python), "--out", str(tmp_path), "--json")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["harness_runs"][0]["findings"][0]["code"] == "harness-version-mismatch"
    p = run_assay("rerun", str(lm_release), "--harness-python", str(tmp_path / "nope"), "--out", str(tmp_path))
    assert p.returncode == 2 and p.stderr.strip().endswith("no such interpreter") and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_audit_runs_harness_entries_with_the_options_passed_through(lm_release, lmeval_python, tmp_path):
    """assay audit --harness-python: the rerun step runs entries with run: (one reproduced, one refused for its
    version pin); the report carries both rows and validates against the report's JSON Schema."""
    import jsonschema

    from assay.audit.model import report_json_schema

    real = _committed_rt_mc_acc()
    set_evals(
        lm_release,
        [
            {"name": "mc", "metric": "acc", "published": [{"value": round(real, 2)}], "margin": 30, "run": _lm_run()},
            {
                "name": "mc-old",
                "metric": "acc",
                "published": [{"value": round(real, 2)}],
                "margin": 30,
                "run": _lm_run(version="0.4.12"),
            },
        ],
    )
    out = tmp_path / "audit"
    p = run_assay("audit", str(lm_release), "--out", str(out), "--no-sign", "--harness-python", str(lmeval_python))
    assert p.returncode == 1, p.stderr
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, report_json_schema())
    rows = {c["id"]: c for c in report["claims"] if c["step"] == "rerun"}
    assert rows["rerun:mc"]["verdict"] == "pass" and rows["rerun:mc"]["measured"]["n"] == 12
    assert rows["rerun:mc-old"]["verdict"] == "error"
    assert "harness-version-mismatch" in rows["rerun:mc-old"]["message"]


# ------------------------------------------------------------------------------------------------ endpoint
@pytest.fixture(scope="module")
def chat_release(tmp_path_factory) -> Path:
    """The BPE chat model packaged as a release, with lm-eval-real's tasks/data and the local Inspect task."""
    root = tmp_path_factory.mktemp("chat-release")
    model = _load_script(HARNESS_RUN / "build_chat_model.py").build(root / "_built")
    manifest = make_release(root, model, [], name="tiny-chat")
    shutil.rmtree(model)
    shutil.copytree(LMEVAL_REAL / "tasks", root / "tasks")
    shutil.copytree(LMEVAL_REAL / "data", root / "data")
    shutil.copytree(HARNESS_RUN / "inspect", root / "inspect")
    return manifest


@pytest.fixture(scope="module")
def chat_server(chat_release):
    from support.serve import TransformersServer

    with TransformersServer(chat_release.parent / "release", seed=0, threads=1) as srv:
        yield srv


def _inspect_run(**over) -> dict:
    run = {
        "harness": "inspect",
        "version": _inspect_version(),
        "task": "inspect/hr_qa.py",
        "dataset": {"uri": "dir://inspect/data", "sha256": _digest(HARNESS_RUN / "inspect" / "data")},
    }
    run.update(over)
    return run


def test_lm_eval_against_transformers_serve(chat_release, chat_server, lmeval_python, tmp_path):
    """lm-eval's local-chat-completions at a real server: rt_gsm's strict-match never matches this model (it never
    writes ####), so 0 is reproduced and 90 is not."""
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.rerun import rerun

    run = _lm_run(task="rt_gsm", args={"batch_size": 1})
    set_evals(
        chat_release,
        [
            {
                "name": "gsm-zero",
                "metric": "exact_match",
                "filter": "strict-match",
                "published": [{"value": 0.0}],
                "margin": 30,
                "run": run,
            },
            {
                "name": "gsm-far",
                "metric": "exact_match",
                "filter": "strict-match",
                "published": [{"value": 90.0}],
                "margin": 5,
                "run": run,
            },
        ],
    )
    dead = "http://127.0.0.1:9/v1"  # a second endpoint: harness runs use the first one only, and say so
    r = rerun(
        chat_release,
        backend="openai",
        base_url=[chat_server.base_url, dead],
        model=chat_server.model_dir,
        out=tmp_path,
        harness=HarnessOptions(python=str(lmeval_python)),
    )
    (one,) = [f for f in r.findings if f.code == "harness-endpoint"]
    assert one.severity == "info" and chat_server.base_url in one.message and dead not in one.message
    runs = {h.name: h for h in r.harness_runs}
    for h in runs.values():
        assert h.mode == "endpoint" and h.endpoint == chat_server.base_url and h.returncode == 0
        assert "local-chat-completions" in h.command and h.rescore == "pass" and h.n == 10
    assert runs["gsm-zero"].verdict.verdict == "pass" and runs["gsm-zero"].verdict.rerun_score == 0.0
    assert runs["gsm-far"].verdict.verdict == "fail"
    assert (
        "endpoint" not in runs["gsm-far"].to_claim().level and chat_server.base_url in runs["gsm-far"].to_claim().level
    )
    assert r.verified is None  # served weights are not verified; said so
    assert any(f.code == "served-weights" for f in r.findings)


def test_inspect_in_process_and_against_transformers_serve(chat_release, chat_server, tmp_path):
    """A local Inspect task through hf/local (in process) and openai-api (the server): logs imported, re-scored,
    judged; greedy decoding both ways gives the same per-sample outputs."""
    from assay.evals.harness_run import HarnessOptions
    from assay.evals.harnesses import load_logs
    from assay.evals.rerun import rerun

    decoding = {"temperature": 0, "max_new_tokens": 12}
    set_evals(
        chat_release,
        [
            {
                "name": "qa-far",
                "metric": "includes/accuracy",
                "published": [{"value": 95.0}],
                "margin": 5,
                "decoding": decoding,
                "run": _inspect_run(),
            }
        ],
    )
    opts = HarnessOptions(python=sys.executable)
    local = rerun(chat_release, out=tmp_path / "local", harness=opts)
    served = rerun(
        chat_release,
        backend="openai",
        base_url=chat_server.base_url,
        model=chat_server.model_dir,
        out=tmp_path / "served",
        harness=opts,
    )
    (a,), (b,) = local.harness_runs, served.harness_runs
    assert a.mode == "in-process" and "hf/local" in a.command
    assert b.mode == "endpoint" and f"openai-api/assay/{chat_server.model_dir}" in b.command
    for h in (a, b):
        assert h.installed_version == _inspect_version() and h.returncode == 0, h.findings
        assert h.rescore == "pass" and h.n == 10 and h.task == "hr_qa"
        assert h.verdict.verdict == "fail" and h.to_claim().verdict == "fail"
    out_a = {s.id: s.output for s in load_logs(Path(a.logs[0]), "inspect")[0].samples()}
    out_b = {s.id: s.output for s in load_logs(Path(b.logs[0]), "inspect")[0].samples()}
    assert len(out_a) == 10 and out_a == out_b
    assert a.verdict.rerun_score == b.verdict.rerun_score


# ------------------------------------------------------------------------------------------------ schema
def test_run_schema_pins_dataset_version_and_harness():
    from pydantic import ValidationError

    from assay.evals.registry import RUNNERS
    from assay.manifests.schema_evals import RUN_HARNESSES, EvalClaim

    assert set(RUN_HARNESSES) == set(RUNNERS)

    def claim(**run):
        base = {
            "harness": "lm-eval",
            "version": "0.4.13",
            "task": "t",
            "dataset": {"uri": "dir://data", "sha256": "0" * 64},
        }
        return EvalClaim.model_validate({"name": "x", "metric": "acc", "run": {**base, **run}})

    assert claim().run.version == "0.4.13"
    assert claim(dataset={"uri": f"hf://datasets/org/name@{'a' * 40}", "sha256": "1" * 64}).run is not None
    bad = [
        {"version": ">=0.4"},
        {"version": "0.4.*"},
        {"harness": "vlmevalkit"},
        {"dataset": {"uri": "hf://datasets/org/name@main", "sha256": "0" * 64}},
        {"dataset": {"uri": "hf://datasets/org/name", "sha256": "0" * 64}},
        {"dataset": {"uri": "dir://data"}},
        {"dataset": {"uri": "dir://../outside", "sha256": "0" * 64}},
        {"dataset": {"uri": "https://example.com/d", "sha256": "0" * 64}},
    ]
    for b in bad:
        with pytest.raises(ValidationError):
            claim(**b)


def test_audit_rerun_step_applies_to_run_entries():
    from assay.audit.steps import applies
    from assay.manifests.schema import Manifest

    m = Manifest.model_validate(
        {
            "apiVersion": "assay/v1",
            "kind": "Release",
            "release": {"name": "r", "version": "1"},
            "evals": [
                {
                    "name": "x",
                    "metric": "acc",
                    "published": [{"value": 1.0}],
                    "run": {
                        "harness": "inspect",
                        "version": "0.3.285",
                        "task": "t.py",
                        "dataset": {"uri": "dir://d", "sha256": "0" * 64},
                    },
                }
            ],
        }
    )
    assert applies("rerun", m)
    m.evals[0].run = None
    assert not applies("rerun", m)


# ------------------------------------------------------------------------------------------------ statistics
def test_unpaired_verdict_never_passes_without_items():
    from assay.evals.stats import compare_unpaired

    for values in ([], [1.0]):
        v = compare_unpaired(values, published=100.0 if values else 0.0, margin=50, metric="acc")
        assert v.verdict == "inconclusive" and v.n == len(values) and v.n_needed


def test_unpaired_n_needed_decides_it():
    """An inconclusive verdict's n_needed items, at the same observed rate, decide it."""
    from assay.evals.stats import compare_unpaired

    few = [1.0] * 6 + [0.0] * 4  # 60 %
    v = compare_unpaired(few, published=62.0, margin=8, metric="acc")
    assert v.verdict == "inconclusive" and v.n_needed > len(few)
    k = round(0.6 * v.n_needed)
    more = compare_unpaired([1.0] * k + [0.0] * (v.n_needed - k), published=62.0, margin=8, metric="acc")
    assert more.verdict == "pass"
    far = compare_unpaired([1.0] * k + [0.0] * (v.n_needed - k), published=90.0, margin=8, metric="acc")
    assert far.verdict == "fail"
    # continuous scores: seeded bootstrap, deterministic
    cont = [0.1, 0.4, 0.35, 0.8, 0.5, 0.45, 0.6, 0.3]
    b1 = compare_unpaired(cont, published=44.0, margin=30, metric="f1", seed=3)
    b2 = compare_unpaired(cont, published=44.0, margin=30, metric="f1", seed=3)
    assert b1.method == "unpaired-bootstrap" and b1 == b2 and b1.verdict == "pass"


def test_datasets_resolve_offline_and_digest_as_documented(tmp_path, monkeypatch):
    """hf:// is the local hub cache's snapshot of that commit, never a download; a folder's digest is the sha256 of
    its sha256sum-style file list."""
    import hashlib

    from assay.evals.harness_run import dataset_digest, dataset_path
    from assay.manifests.errors import InputError

    rev = "ab" * 20
    snap = tmp_path / "hub" / "datasets--org--name" / "snapshots" / rev
    (snap / "data").mkdir(parents=True)
    (snap / "data" / "test.jsonl").write_bytes(b'{"x": 1}\n')
    (snap / "README.md").write_bytes(b"card\n")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    p = dataset_path(f"hf://datasets/org/name@{rev}", tmp_path)
    assert p == snap
    card, row = hashlib.sha256(b"card\n").hexdigest(), hashlib.sha256(b'{"x": 1}\n').hexdigest()
    listing = f"{card}  README.md\n{row}  data/test.jsonl\n"
    assert dataset_digest(p) == hashlib.sha256(listing.encode()).hexdigest()
    assert dataset_digest(snap / "README.md") == hashlib.sha256(b"card\n").hexdigest()
    with pytest.raises(InputError, match="nothing is downloaded"):
        dataset_digest(dataset_path(f"hf://datasets/org/other@{rev}", tmp_path))


def test_a_run_whose_log_does_not_rescore_never_passes():
    """The comparison alone is not enough: the harness's per-sample scores must re-score with assay's engine."""
    from assay.evals.harness_run import HarnessRerun
    from assay.evals.stats import compare_unpaired

    ok = compare_unpaired([1.0, 0.0] * 20, published=50.0, margin=30, metric="acc")
    assert ok.verdict == "pass"
    base = {
        "name": "x",
        "harness": "lm-eval",
        "version": "0.4.13",
        "task": "t",
        "metric": "acc",
        "mode": "in-process",
        "dataset": "dir://d",
        "n": 40,
        "verdict": ok,
    }
    assert HarnessRerun(**base, rescore="pass").to_claim().verdict == "pass"
    assert HarnessRerun(**base, rescore="fail").to_claim().verdict == "fail"
    assert HarnessRerun(**base, rescore="not-checked").to_claim().verdict == "not-checked"
    assert not HarnessRerun(**base, rescore="not-checked").ok
    nothing = HarnessRerun(**{**base, "verdict": None, "n": 0})
    assert nothing.to_claim().verdict == "not-checked" and not nothing.ok


def test_run_decoding_by_name_is_resolved_or_refused(lm_release, lmeval_python, tmp_path):
    """run.decoding may name an entry of decodings:; an unknown name is refused before anything runs, a known one
    reaches the harness's command line."""
    import yaml

    from assay.evals.harness_run import HarnessOptions, run_harness
    from assay.manifests.release import load_release

    data = yaml.safe_load(lm_release.read_text())
    data["decodings"] = {"short": {"temperature": 0, "max_new_tokens": 3}}
    data["evals"] = []
    lm_release.write_text(yaml.safe_dump(data, sort_keys=False))
    set_evals(
        lm_release,
        [
            {
                "name": "gen",
                "metric": "exact_match",
                "published": [{"value": 0.0}],
                "margin": 5,
                "run": _lm_run(task="rt_gsm", decoding="short"),
            }
        ],
    )
    m = load_release(lm_release).manifest
    claim = m.evals[0]
    assert claim.run.decoding.max_new_tokens == 3  # the name was resolved on load
    bogus = claim.model_copy(
        update={"run": claim.run.model_copy(update={"decoding": type(claim.run.decoding)(name="nope")})}
    )
    opts = HarnessOptions(python=str(lmeval_python))
    kw = {"workdir": lm_release.parent, "model_root": lm_release.parent / "release", "out_dir": tmp_path, "opts": opts}
    refused = run_harness(bogus, decodings=m.decodings, **kw)
    assert [f.code for f in refused.findings] == ["unknown-decoding"] and refused.returncode is None
    from assay.evals.registry import RUNNERS, RunRequest

    req = RunRequest(
        python=lmeval_python,
        workdir=lm_release.parent,
        out_dir=tmp_path,
        task="rt_gsm",
        model="m",
        decoding={"temperature": 0.0, "max_new_tokens": 3},
    )
    cmd = RUNNERS["lm-eval"].command(req)
    assert cmd[cmd.index("--gen_kwargs") + 1] == "max_gen_toks=3,temperature=0.0"


def test_further_options_are_spelled_as_each_harness_spells_its_flags(tmp_path):
    """run.args: True a bare flag, False/None left out, the rest flag + value; Inspect writes dashes, lm-eval keeps
    underscores."""
    from assay.evals.registry import RUNNERS, RunRequest

    args = {"max_connections": 4, "trust_remote_code": True, "cache_requests": False, "log_level": None}
    req = RunRequest(python=Path("py"), workdir=tmp_path, out_dir=tmp_path, task="t.py", model="m", args=args)
    inspect_cmd = RUNNERS["inspect"].command(req)
    assert inspect_cmd[-3:] == ["--max-connections", "4", "--trust-remote-code"]
    req = RunRequest(python=Path("py"), workdir=tmp_path, out_dir=tmp_path, task="t", model="m", args=dict(args))
    lm_cmd = RUNNERS["lm-eval"].command(req)
    assert lm_cmd[-3:] == ["--max_connections", "4", "--trust_remote_code"]
    assert not {"--cache_requests", "--cache-requests", "--log_level", "--log-level"} & set(inspect_cmd + lm_cmd)
