"""``assay rerun`` end to end: a tiny release publishes a log made with assay's own backend; re-running it
reproduces it exactly (greedy; seeded sampling with repeats; over HTTP through a real ``transformers serve``; an
image-text model with images by sha256), and tampered logs, unverified releases, a wrong chat template, missing or
altered images and unverified remote code are caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rerun_helpers import (
    SUBJECTS,
    file_sha256,
    first_word_scorer,
    make_release,
    png,
    publish,
    reference_samples,
    set_evals,
    write_published,
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Models load from local folders only; set per test (a module-level setting would leak into other modules)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


LOG = "evals/charts.assay.jsonl"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from support.tinymodels import build_tiny_text_model

    return build_tiny_text_model(tmp_path_factory.mktemp("tiny-text") / "model")


@pytest.fixture(scope="module")
def backend(model_dir):
    from assay.evals.backends.transformers import TransformersBackend

    return TransformersBackend.from_pretrained(str(model_dir), device="cpu", batch_size=4)


def greedy():
    from assay.evals.backends import Sampling

    return Sampling(max_new_tokens=10)


@pytest.fixture(scope="module")
def published(backend):
    return publish(reference_samples(), backend, sampling=greedy())


def claim(log_sha: str, template_sha: str | None, **over) -> dict:
    d = {
        "name": "charts",
        "metric": "exact_match",
        "published": [{"value": 50.0, "source": "README table"}],
        "logs": [{"path": LOG, "sha256": log_sha, "format": "assay"}],
        "decoding": {"temperature": 0.0, "max_new_tokens": 10, "chat_template_sha256": template_sha},
        "scorer": "first-word",
        "margin": 1.0,
    }
    d.update(over)
    return d


@pytest.fixture
def release(tmp_path, model_dir, published) -> Path:
    sha = write_published(tmp_path / "release" / LOG, published)
    return make_release(tmp_path, model_dir, [claim(sha, file_sha256(model_dir / "chat_template.jinja"))])


def read_outputs(path) -> dict[tuple[str, int], str]:
    from assay.evals.samples import read_log

    return {(s.id, s.repeat): s.output for s in read_log(path).samples}


# ------------------------------------------------------------------------------------------------------ greedy
def test_greedy_rerun_reproduces_its_own_published_log(release, tmp_path, published):
    from assay.evals.rerun import rerun
    from assay.evals.samples import read_log

    result = rerun(
        release, backend="transformers", device="cpu", batch_size=4, scorer=first_word_scorer, out=tmp_path / "out"
    )
    assert result.ok, result.findings
    assert result.verified is True and result.backend["backend"] == "transformers"
    (bench,) = result.benchmarks
    v = bench.verdict
    assert v is not None and v.verdict == "pass" and v.n == 12 and v.diff == 0.0
    assert v.output_agreement == 1.0 and v.answer_agreement == 1.0
    assert v.reference_score == 50.0 and v.rerun_score == 50.0 and v.published == 50.0
    assert v.mcnemar is not None and v.mcnemar.model_dump() == {"n01": 0, "n10": 0, "p_value": 1.0}
    assert bench.assumed == [] and bench.decoding["temperature"] == 0.0 and bench.decoding["max_new_tokens"] == 10
    # the re-run log is assay's own format, sample for sample identical outputs and inputs
    log = read_log(bench.log)
    assert log.header.harness == "assay rerun" and log.header.backend == "transformers"
    assert file_sha256(bench.log) == bench.log_sha256
    ref = {s.id: s for s in published}
    assert len(log.samples) == 12
    for s in log.samples:
        assert s.output == ref[s.id].output and s.input_sha256 == ref[s.id].input_sha256
        assert s.scores == ref[s.id].scores and s.meta["rerun"]["finish_reason"] in ("stop", "length")


def test_openai_backend_against_transformers_serve_reproduces_the_log(release, tmp_path, model_dir):
    """The same release served by a real `transformers serve` reproduces the log made in-process, token for token."""
    from assay.evals.rerun import rerun
    from support.serve import TransformersServer

    with TransformersServer(model_dir, seed=0, threads=1) as srv:
        result = rerun(
            release,
            backend="openai",
            base_url=srv.base_url,
            concurrency=3,
            scorer=first_word_scorer,
            out=tmp_path / "out",
        )
    assert result.ok, result.findings
    assert result.backend["backend"] == "openai" and result.verified is None
    assert any(f.code == "served-weights" for f in result.findings)
    (bench,) = result.benchmarks
    assert bench.verdict is not None and bench.verdict.verdict == "pass" and bench.verdict.output_agreement == 1.0


def test_tampered_log_is_refused(release, tmp_path):
    from assay.evals.rerun import rerun
    from assay.evals.samples import read_log, write_log

    log_path = release.parent / "release" / LOG
    log = read_log(log_path)
    log.samples[1] = log.samples[1].model_copy(update={"scores": {"exact_match": 1.0}})
    write_log(log_path, log.header, log.samples)
    result = rerun(
        release, backend="transformers", device="cpu", verify=False, scorer=first_word_scorer, out=tmp_path / "out"
    )
    assert not result.ok
    assert [f.code for f in result.findings if f.severity == "error"] == ["log-hash-mismatch"]


def test_a_log_better_than_the_model_is_not_reproduced(release, tmp_path, backend):
    """A publisher whose (self-consistent, pinned) log claims every answer right: the re-run says not reproduced."""
    from assay.evals.rerun import rerun
    from assay.evals.samples import read_log, write_log

    log_path = release.parent / "release" / LOG
    log = read_log(log_path)
    better = [
        s.model_copy(update={"output": f"{s.target} is the answer", "answer": s.target, "scores": {"exact_match": 1.0}})
        for s in log.samples
    ]
    sha = write_log(log_path, log.header, better)
    set_evals(release, [claim(sha, None, published=[{"value": 100.0}])])
    result = rerun(release, backend_obj=backend, scorer=first_word_scorer, out=tmp_path / "out")
    (bench,) = result.benchmarks
    v = bench.verdict
    assert not result.ok and v is not None and v.verdict == "fail"
    assert v.reference_score == 100.0 and v.rerun_score == 50.0 and v.ci_high is not None and v.ci_high < -1.0
    assert v.mcnemar is not None and v.mcnemar.n10 == 6 and v.mcnemar.n01 == 0 and v.output_agreement == 0.0


# ------------------------------------------------------------------------------------------------------ subsets
def test_limit_picks_a_stratified_seeded_subset(release, tmp_path, backend):
    from assay.evals.rerun import rerun

    a = rerun(release, backend_obj=backend, scorer=first_word_scorer, out=tmp_path / "a", limit=6, seed=1)
    b = rerun(release, backend_obj=backend, scorer=first_word_scorer, out=tmp_path / "b", limit=6, seed=1)
    c = rerun(release, backend_obj=backend, scorer=first_word_scorer, out=tmp_path / "c", limit=6, seed=2)
    (ba,), (bb,), (bc,) = a.benchmarks, b.benchmarks, c.benchmarks
    assert ba.stratify == "meta.subject" and ba.strata == {s: 2 for s in SUBJECTS}
    assert ba.selected_items == 6 and ba.reference_items == 12 and ba.verdict is not None and ba.verdict.n == 6
    ids = lambda bench: sorted(read_outputs(bench.log))  # noqa: E731
    assert ids(ba) == ids(bb) and ids(ba) != ids(bc)
    assert ba.verdict.verdict in ("pass", "inconclusive") and ba.verdict.output_agreement == 1.0
    assert ba.verdict.reference_only == []  # the reference is cut to the same subset


def test_allocation_and_subset_properties():
    from assay.evals.rerun import allocate, stratified_subset

    assert allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    assert allocate({"a": 98, "b": 1, "c": 1}, 3) == {"a": 1, "b": 1, "c": 1}  # every stratum kept when n allows
    assert allocate({"a": 98, "b": 1, "c": 1}, 2) == {"a": 2, "b": 0, "c": 0}
    assert sum(allocate({"a": 7, "b": 7, "c": 7}, 10).values()) == 10
    items = [(f"id{i}", "abc"[i % 3]) for i in range(300)]
    pick = lambda n, seed: stratified_subset(items, n, stratum=lambda x: x[1], item_id=lambda x: x[0], seed=seed)  # noqa: E731
    small, large = pick(30, 0), pick(60, 0)
    assert len(small) == 30 and {x[1] for x in small} == {"a", "b", "c"}
    assert sum(x[1] == "a" for x in small) == 10
    assert set(small) <= set(large)  # nested: a larger audit keeps the smaller one's items
    assert small == sorted(small, key=items.index)  # original order
    assert pick(30, 0) == small and pick(30, 1) != small
    assert stratified_subset(
        list(reversed(items)), 30, stratum=lambda x: x[1], item_id=lambda x: x[0], seed=0
    ) == sorted(small, key=list(reversed(items)).index)  # the choice does not depend on the log's order
    assert pick(1000, 0) == items


def test_decoding_precedence():
    from assay.evals.rerun import effective_sampling, raw_prompt_special_tokens
    from assay.evals.samples import LogHeader
    from assay.manifests.schema_evals import Decoding

    s, rep, assumed = effective_sampling(None, None)
    assert s.greedy and s.max_new_tokens == 256 and rep == 1 and len(assumed) == 2
    s, rep, assumed = effective_sampling(
        None, {"until": ["\n\n", "Question:"], "max_gen_toks": 64, "do_sample": False, "temperature": 0.7}
    )
    assert s.greedy and s.max_new_tokens == 64 and s.stop == ("\n\n", "Question:") and assumed == []
    d = Decoding(temperature=0.8, top_p=0.95, max_new_tokens=32, seed=3, repeats=4)
    s, rep, assumed = effective_sampling(d, {"max_gen_toks": 64, "temperature": 0.0})
    assert (s.temperature, s.top_p, s.max_new_tokens, s.seed, rep) == (0.8, 0.95, 32, 3, 4) and assumed == []
    s, rep, _ = effective_sampling(Decoding(temperature=0.0, repeats=5), None)
    assert rep == 1  # greedy outputs do not vary: one repeat
    lm = LogHeader(source_format="lm-eval", config={"config": {"model": "hf", "model_args": "pretrained=x"}})
    assert raw_prompt_special_tokens(lm) is None
    lm.config["config"]["model_args"] = "pretrained=x,add_bos_token=False"
    assert raw_prompt_special_tokens(lm) is False
    lm.config["config"]["model_args"] = {"pretrained": "x", "add_bos_token": True}
    assert raw_prompt_special_tokens(lm) is True
    assert raw_prompt_special_tokens(LogHeader()) is None


# ------------------------------------------------------------------------------------------------------ sampling
def test_seeded_sampling_with_repeats_reproduces_its_own_log(tmp_path, model_dir, backend):
    """Publish a sampled run (temperature 1, seed 5, 3 repeats) with assay, then re-run it: identical samples."""
    from assay.evals.rerun import rerun

    tpl = file_sha256(model_dir / "chat_template.jinja")
    dec = {"temperature": 1.0, "top_p": 0.9, "max_new_tokens": 8, "seed": 5, "repeats": 3, "chat_template_sha256": tpl}
    first_log = tmp_path / "first"
    # round 1 makes the "published" log: the release initially points at a greedy log of the same items
    seed_log = write_published(tmp_path / "release" / LOG, publish(reference_samples(), backend, sampling=greedy()))
    manifest = make_release(tmp_path, model_dir, [claim(seed_log, tpl, decoding=dec)])
    r1 = rerun(manifest, backend_obj=backend, scorer=first_word_scorer, out=first_log)
    (b1,) = r1.benchmarks
    assert b1.repeats == 3 and len(read_outputs(b1.log)) == 36
    shutil.copy(b1.log, tmp_path / "release" / LOG)
    set_evals(manifest, [claim(file_sha256(b1.log), tpl, decoding=dec)])
    r2 = rerun(manifest, backend_obj=backend, scorer=first_word_scorer, out=tmp_path / "second")
    (b2,) = r2.benchmarks
    assert r2.ok, r2.findings
    assert read_outputs(b2.log) == read_outputs(b1.log)
    v = b2.verdict
    assert v is not None and v.verdict == "pass" and v.output_agreement == 1.0
    assert v.spread is not None and v.spread.repeats == 3 and len(v.spread.scores) == 3
    outs = read_outputs(b2.log)
    assert any(outs[(str(i), 0)] != outs[(str(i), 1)] for i in range(12))  # the repeats really are samples


# ------------------------------------------------------------------------------------------------------ images
@pytest.fixture
def vlm_release(demo, tmp_path):
    """The demo Llava release with a published image-text log (images by sha256 beside the log)."""
    from assay.evals.backends import Sampling
    from assay.evals.backends.transformers import TransformersBackend
    from assay.evals.rerun import ImageStore, sample_request

    from conftest import model_only

    model_only(demo)
    rel = demo.parent / "release"
    images = {i: png(100 + i) for i in range(0, 6, 2)}
    samples = reference_samples("chartqa", 6, images=images)
    img_dir = rel / "evals" / "images"
    img_dir.mkdir(parents=True)
    for data in images.values():
        import hashlib

        (img_dir / f"{hashlib.sha256(data).hexdigest()}.png").write_bytes(data)
    backend = TransformersBackend.from_pretrained(str(rel), device="cpu", batch_size=2)
    store = ImageStore(rel / "evals", rel, None)
    sampling = Sampling(max_new_tokens=6)
    reqs = [sample_request(s, sampling, 0, system_prompt=None, images=store) for s in samples]
    from rerun_helpers import _score

    scored = _score([(s, 0) for s in samples], backend.generate(reqs), first_word_scorer, (0, 1, 2), sampling)
    sha = write_published(rel / "evals" / "chartqa.assay.jsonl", scored)
    from rerun_helpers import set_evals as _set

    _set(
        demo,
        [
            {
                "name": "chartqa",
                "metric": "exact_match",
                "published": [{"value": 50.0}],
                "logs": [{"path": "evals/chartqa.assay.jsonl", "sha256": sha}],
                "decoding": {"temperature": 0.0, "max_new_tokens": 6},
                "margin": 1.0,
            }
        ],
    )
    return demo, backend, scored


def test_image_text_rerun_reproduces_and_checks_images(vlm_release, tmp_path):
    from assay.evals.rerun import rerun

    manifest, backend, scored = vlm_release
    result = rerun(
        manifest, backend="transformers", device="cpu", batch_size=2, scorer=first_word_scorer, out=tmp_path / "out"
    )
    assert result.ok, result.findings
    (bench,) = result.benchmarks
    assert bench.verdict is not None and bench.verdict.verdict == "pass" and bench.verdict.output_agreement == 1.0
    assert result.backend["kind"] == "image-text-to-text"
    # an altered image (same name, other bytes) and a missing one are caught per sample
    img_dir = manifest.parent / "release" / "evals" / "images"
    files = sorted(img_dir.iterdir())
    files[0].write_bytes(png(999))
    files[1].unlink()
    result = rerun(manifest, backend_obj=backend, scorer=first_word_scorer, out=tmp_path / "out2")
    codes = [f.code for f in result.findings if f.severity == "error"]
    assert not result.ok and codes.count("unrunnable-sample") == 2
    msgs = " ".join(f.message for f in result.findings)
    assert "sha256 differs" in msgs and "not found" in msgs
    assert (
        result.benchmarks[0].n_failed == 2
        and result.benchmarks[0].verdict is not None
        and result.benchmarks[0].verdict.n == 4
    )


# ------------------------------------------------------------------------------------------------------ checks
def test_release_that_does_not_verify_is_not_loaded(release, tmp_path):
    from assay.evals.rerun import rerun

    weights = release.parent / "release" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    result = rerun(release, backend="transformers", device="cpu", scorer=first_word_scorer, out=tmp_path / "out")
    assert not result.ok and result.verified is False and result.benchmarks == []
    assert [f.code for f in result.findings] == ["release-unverified"]


def test_pinned_chat_template_must_match(release, tmp_path, backend):
    from assay.evals.rerun import rerun

    log_sha = file_sha256(release.parent / "release" / LOG)
    set_evals(release, [claim(log_sha, "0" * 64)])
    result = rerun(release, backend_obj=backend, scorer=first_word_scorer, out=tmp_path / "out")
    assert not result.ok and result.benchmarks[0].verdict is not None and result.benchmarks[0].verdict.verdict == "pass"
    assert [f.code for f in result.findings if f.severity == "error"] == ["chat-template-mismatch"]


REMOTE_CODE = """
from transformers import LlamaConfig, LlamaForCausalLM


class TinyRemoteConfig(LlamaConfig):
    model_type = "tiny-remote"


class TinyRemoteForCausalLM(LlamaForCausalLM):
    config_class = TinyRemoteConfig
"""


@pytest.fixture
def remote_release(tmp_path, model_dir, published, monkeypatch):
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    rel = tmp_path / "release"
    rel.mkdir()
    for p in model_dir.iterdir():
        shutil.copy2(p, rel / p.name)
    cfg = json.loads((rel / "config.json").read_text())
    cfg.update(
        model_type="tiny-remote",
        architectures=["TinyRemoteForCausalLM"],
        auto_map={
            "AutoConfig": "modeling_tiny.TinyRemoteConfig",
            "AutoModelForCausalLM": "modeling_tiny.TinyRemoteForCausalLM",
        },
    )
    (rel / "config.json").write_text(json.dumps(cfg, indent=2))
    (rel / "modeling_tiny.py").write_text(REMOTE_CODE)
    sha = write_published(rel / LOG, published)
    return make_release(tmp_path, rel, [claim(sha, file_sha256(rel / "chat_template.jinja"))], name="tiny-remote")


def test_trust_remote_code_only_after_the_code_verified(remote_release, tmp_path):
    from assay.evals.backends import BackendError
    from assay.evals.rerun import check_remote_code, rerun
    from assay.manifests.errors import CheckFailed

    from assay.evals.backends.transformers import TransformersBackend

    assert check_remote_code(remote_release) == ["modeling_tiny.py"]
    with pytest.raises(BackendError, match="verified first"):  # the backend alone refuses an unchecked release
        TransformersBackend.from_pretrained(str(remote_release.parent / "release"), trust_remote_code=True)
    # without the flag transformers refuses to run the code
    with pytest.raises(BackendError, match="cannot load"):
        rerun(remote_release, backend="transformers", device="cpu", scorer=first_word_scorer, out=tmp_path / "o1")
    # with it, after the strict verification, the custom class runs and reproduces the log
    result = rerun(
        remote_release,
        backend="transformers",
        device="cpu",
        batch_size=4,
        trust_remote_code=True,
        scorer=first_word_scorer,
        out=tmp_path / "o2",
    )
    assert result.ok, result.findings
    assert result.remote_code == ["modeling_tiny.py"] and result.backend["architecture"] == "TinyRemoteForCausalLM"
    # an extra, unlisted Python file next to it: refused
    extra = remote_release.parent / "release" / "helpers.py"
    extra.write_text("import os\n")
    with pytest.raises(CheckFailed, match="helpers.py: a Python file that the manifest does not list"):
        rerun(
            remote_release,
            backend="transformers",
            trust_remote_code=True,
            scorer=first_word_scorer,
            out=tmp_path / "o3",
        )
    extra.unlink()
    # the code file changed after the release was locked: refused before anything is imported
    code = remote_release.parent / "release" / "modeling_tiny.py"
    code.write_text(REMOTE_CODE + "\nimport os  # injected\n")
    with pytest.raises(CheckFailed, match="refusing trust_remote_code: modeling_tiny.py"):
        check_remote_code(remote_release)


# ------------------------------------------------------------------------------------------------------ lm-eval
def test_rerun_reproduces_a_real_lm_eval_log(tmp_path):
    """lm-eval 0.4.13 (hf backend, batch 4) wrote tests/fixtures/evals/lm-eval/full with a deterministic tiny Llama;
    assay rebuilds that model, re-runs tiny_qa from the log alone (raw prompts without BOS as lm-eval's hf backend
    tokenizes them, its `until` stop strings and max_gen_toks) and scores with lm-eval's own filter semantics."""
    import importlib.util

    from conftest import ROOT

    from assay.evals.rerun import rerun

    spec = importlib.util.spec_from_file_location("make_logs", ROOT / "tests/fixtures/evals/make_logs.py")
    make_logs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_logs)
    model = make_logs.build_tiny_llama(tmp_path / "model")
    shutil.copytree(ROOT / "tests/fixtures/evals/lm-eval/full/_model", tmp_path / "release" / "evals" / "lm-eval")
    manifest = make_release(
        tmp_path,
        model,
        [
            {
                "name": "tiny_qa",
                "metric": "exact_match",
                "filter": "strict",
                "margin": 1.0,
                "logs": [{"path": "evals/lm-eval", "format": "lm-eval"}],
            }
        ],
        name="tiny-llama",
    )
    result = rerun(manifest, backend="transformers", device="cpu", batch_size=4, out=tmp_path / "out")
    assert result.ok, result.findings
    (bench,) = result.benchmarks
    assert bench.decoding["stop"] == ["\n", "?"] and bench.decoding["max_new_tokens"] == 4
    assert "raw_prompt_special_tokens" not in bench.decoding and bench.assumed == []
    v = bench.verdict
    assert v is not None and v.verdict == "pass" and v.filter == "strict" and v.n == 12
    assert v.output_agreement == 1.0 and v.answer_agreement == 1.0 and v.diff == 0.0
    filters = {s.filter for s in __import__("assay.evals.samples", fromlist=["read_log"]).read_log(bench.log).samples}
    assert filters == {"strict", "first-word"}  # every filter of the task re-applied to the new outputs
