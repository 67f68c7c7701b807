"""Re-runs on a serving fleet (``assay rerun --base-url A --base-url B`` / ``--base-urls FILE``).

The scheduling rules are pinned against scripted local servers (``FlakyServer``: a 503, a 422, a server shut down);
the whole path runs against two real ``transformers serve`` instances on 127.0.0.1 serving the tiny Llama, one of them
killed mid-run: every item gets exactly one result, the answering endpoint is recorded, what the dead one had in
flight is answered by the other, and the verdict is the single-endpoint verdict."""

from __future__ import annotations

import json
import os
import signal
import threading
from types import SimpleNamespace

import pytest

from conftest import run_assay
from rerun_helpers import FlakyServer, file_sha256, make_release, publish, reference_samples, write_published

LOG = "evals/charts.assay.jsonl"
CLAIM = SimpleNamespace(name="charts", scorer="lm-eval:exact_match", metric="exact_match", filter=None)
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def chat(i, **sampling):
    from assay.evals.backends import GenRequest, Message, Sampling

    return GenRequest(
        id=f"q{i}", messages=(Message("user", f"question {i}"),), sampling=Sampling(**{"max_new_tokens": 4, **sampling})
    )


def dead_url() -> str:
    from support.serve import free_port

    return f"http://127.0.0.1:{free_port()}/v1"


def check_accounting(results, requests, fleet) -> None:
    """Nothing lost or counted twice: ids in == ids out (in order, no duplicates); the tallies sum to the total."""
    ids = [r.id for r in requests]
    assert [r.id for r in results] == ids and len(set(ids)) == len(ids)
    t = fleet.tally()
    assert t.answered + t.failed + t.not_sent == t.requests
    assert t.answered == sum(e.answered for e in t.endpoints) == sum(r.ok for r in results)
    assert t.failed == sum(e.failed for e in t.endpoints)
    for e in t.endpoints:
        assert e.answered == sum(1 for r in results if r.ok and r.extra["endpoint"] == e.base_url)


# ------------------------------------------------------------------------------------------ options
def test_base_url_list_from_options_and_file(tmp_path):
    from assay.evals.backends import base_url_list
    from assay.manifests.errors import InputError

    f = tmp_path / "fleet.txt"
    f.write_text("# replicas\nhttp://h2:8000/v1\n\n  http://h3:8000/v1   # rack 2\n#http://h4:8000/v1\n")
    assert base_url_list("http://h1:8000/v1") == ["http://h1:8000/v1"]
    assert base_url_list(["http://h1:8000/v1"], f) == ["http://h1:8000/v1", "http://h2:8000/v1", "http://h3:8000/v1"]
    assert base_url_list(None) == []
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    for bad, msg in ((tmp_path / "missing.txt", "missing.txt"), (tmp_path / "empty.txt", "no URL")):
        with pytest.raises(InputError, match=msg):
            base_url_list(None, bad)


def test_make_backend_one_url_is_a_client_several_a_fleet():
    from assay.evals.backends import BackendError, make_backend
    from assay.evals.backends.fleet import FleetBackend
    from assay.evals.backends.openai import OpenAIBackend

    with FlakyServer() as a, FlakyServer() as b:
        one = make_backend("openai", base_url=[a.base_url], concurrency=3)
        assert type(one) is OpenAIBackend and one.describe()["base_url"] == a.base_url
        fleet = make_backend("openai", base_url=[a.base_url, b.base_url + "/"], concurrency=3)
        assert isinstance(fleet, FleetBackend) and fleet.model == "flaky-model"
        d = fleet.describe()
        assert (
            d["base_urls"] == [a.base_url, b.base_url] and d["concurrency"] == 3 and d["concurrency_per"] == "endpoint"
        )
        with pytest.raises(BackendError, match="given twice"):
            make_backend("openai", base_url=[a.base_url, a.base_url.removesuffix("/v1")])


def test_audit_options_take_one_url_or_a_list():
    from assay.audit.steps import RerunOptions

    assert RerunOptions(base_url="http://h1:8000/v1").base_url == ["http://h1:8000/v1"]
    assert RerunOptions(base_url=["http://h1/v1", "http://h2/v1"]).base_url == ["http://h1/v1", "http://h2/v1"]
    assert RerunOptions().base_url is None


# ------------------------------------------------------------------------------------------ scheduling rules
def test_requests_spread_over_the_endpoints_with_per_endpoint_concurrency():
    from assay.evals.backends.fleet import FleetBackend

    with FlakyServer([(200, 0.3, {})] * 8) as a, FlakyServer([(200, 0.3, {})] * 8) as b:
        fleet = FleetBackend([a.base_url, b.base_url], concurrency=2)
        reqs = [chat(i) for i in range(8)]
        seen: list[dict] = []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                seen.append(fleet.inflight())
                stop.wait(0.02)

        w = threading.Thread(target=watch)
        w.start()
        try:
            results = fleet.generate(reqs)
        finally:
            stop.set()
            w.join()
    check_accounting(results, reqs, fleet)
    assert all(r.ok and r.attempts == 1 and "retried_from" not in r.extra for r in results)
    t = fleet.tally()
    assert [e.answered for e in t.endpoints] == [a.count, b.count] and a.count > 0 and b.count > 0
    assert max(len(ids) for snap in seen for ids in snap.values()) <= 2  # --concurrency is per endpoint


def test_a_failed_request_is_retried_on_another_endpoint():
    """A 503 at A: the request goes to B at once (even with --retries 0), A stays up (one failure is not down)."""
    from assay.evals.backends.fleet import FleetBackend

    with FlakyServer([(503, 0, {})]) as a, FlakyServer() as b:
        fleet = FleetBackend([a.base_url, b.base_url], concurrency=1, retries=0)
        (res,) = fleet.generate([chat(0)])
        assert res.ok and res.extra["endpoint"] == b.base_url and res.extra["retried_from"] == [a.base_url]
        assert res.attempts == 2 and (a.count, b.count) == (1, 1)
        ta, tb = fleet.tally().endpoints
        assert (ta.answered, ta.failed, ta.retried_elsewhere, ta.errors, ta.state) == (0, 0, 1, 1, "up")
        assert (tb.answered, tb.failed, tb.retried_elsewhere) == (1, 0, 0)
        assert "HTTP 503" in (ta.last_error or "")


def test_a_client_error_is_not_retried_anywhere():
    from assay.evals.backends.fleet import FleetBackend

    with FlakyServer([(422, 0, {})]) as a, FlakyServer() as b:
        fleet = FleetBackend([a.base_url, b.base_url], concurrency=1, retries=3)
        (res,) = fleet.generate([chat(0)])
        assert not res.ok and res.attempts == 1 and "HTTP 422" in res.error and b.count == 0
        ta, _ = fleet.tally().endpoints
        assert (ta.failed, ta.errors, ta.state) == (1, 0, "up")  # the request's fault, not the endpoint's
    check_accounting([res], [chat(0)], fleet)


def test_the_seed_does_not_depend_on_the_endpoint():
    """Sampled requests carry seed = f(seed, request id) whichever endpoint answers: the bodies are the single
    client's bodies, byte for byte."""
    from assay.evals.backends.fleet import FleetBackend
    from assay.evals.backends.openai import OpenAIBackend, request_seed

    reqs = [chat(i, temperature=0.7, seed=11) for i in range(6)]
    with FlakyServer([(200, 0.1, {})] * 6) as a, FlakyServer([(200, 0.1, {})] * 6) as b:
        FleetBackend([a.base_url, b.base_url], concurrency=2).generate(reqs)
        single = OpenAIBackend(a.base_url)
        bodies = {body["messages"][0]["content"]: body for body in a.bodies + b.bodies}
    assert a.bodies and b.bodies and len(bodies) == 6
    for r in reqs:
        body = bodies[r.messages[0].content]
        assert body["seed"] == request_seed(11, r.id)
        assert body == single.body(r)[1]


def test_an_endpoint_dead_at_start_is_down_and_the_rest_answer():
    from assay.evals.backends.fleet import FleetBackend

    dead = dead_url()
    with FlakyServer() as b:
        fleet = FleetBackend([dead, b.base_url], concurrency=2)
        reqs = [chat(i) for i in range(5)]
        results = fleet.generate(reqs)
    check_accounting(results, reqs, fleet)
    assert all(r.ok and r.extra["endpoint"] == b.base_url for r in results)
    td, tb = fleet.tally().endpoints
    assert (td.state, td.marked_down, td.answered, td.retried_elsewhere) == ("down", 1, 0, 0)
    assert "cannot reach" in (td.last_error or "") and tb.answered == 5


def test_a_down_endpoint_is_reprobed_and_comes_back():
    """Three 503s in a row mark A down; after its cool-off a probe finds it up again and it answers."""
    from assay.evals.backends.fleet import FleetBackend

    with FlakyServer([(503, 0, {})] * 3) as a:
        fleet = FleetBackend(
            [a.base_url, dead_url()], concurrency=1, retries=5, backoff=0.01, down_after=3, cooloff=0.1
        )
        (res,) = fleet.generate([chat(0)])
    assert res.ok and res.extra["endpoint"] == a.base_url and res.attempts == 4
    assert res.extra["retried_from"] == [a.base_url] * 3
    ta, td = fleet.tally().endpoints
    assert (ta.state, ta.marked_down, ta.errors, ta.answered) == ("up", 1, 3, 1)
    assert td.state == "down"


def test_all_endpoints_dead_at_start_is_an_error():
    from assay.evals.backends import BackendError
    from assay.evals.backends.fleet import FleetBackend

    with pytest.raises(BackendError, match="cannot reach any of the 2 endpoints"):
        FleetBackend([dead_url(), dead_url()])


def test_a_fleet_that_dies_fails_the_remaining_requests_with_a_clear_error():
    """Both servers shut down after the fleet was built: each request gets exactly one failed result (no hang),
    those never sent say that every endpoint is down, and the tallies still sum to the total."""
    from assay.evals.backends.fleet import FleetBackend

    a, b = FlakyServer(), FlakyServer()
    with a, b:
        fleet = FleetBackend([a.base_url, b.base_url], concurrency=2, retries=4, cooloff=0.05)
    reqs = [chat(i) for i in range(6)]
    results = fleet.generate(reqs)
    check_accounting(results, reqs, fleet)
    assert not any(r.ok for r in results)
    t = fleet.tally()
    assert t.answered == 0 and t.failed + t.not_sent == 6 and t.not_sent > 0
    assert all(e.state == "down" and e.marked_down == 1 for e in t.endpoints)
    assert any("every endpoint of the fleet is down" in (r.error or "") for r in results)
    # a later call fails at once too, every request with that error
    again = fleet.generate([chat(9)])
    assert not again[0].ok and "every endpoint of the fleet is down" in again[0].error


# ------------------------------------------------------------------------------------------ real servers
@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    from support.tinymodels import build_tiny_text_model

    return build_tiny_text_model(tmp_path_factory.mktemp("fleet-model") / "model")


@pytest.fixture(scope="module")
def release(tmp_path_factory, text_dir):
    """A release whose published log was made by assay's in-process backend (greedy, 8 new tokens), scored by the
    manifest's scorer (lm-eval exact match), so the CLI can re-run it with no test hooks."""
    from assay.evals.backends import Sampling
    from assay.evals.backends.transformers import TransformersBackend
    from assay.evals.scoring import score_rerun_sample

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = tmp_path_factory.mktemp("fleet-release")
    backend = TransformersBackend.from_pretrained(str(text_dir), device="cpu", batch_size=4)
    samples = publish(
        reference_samples(),
        backend,
        sampling=Sampling(max_new_tokens=8),
        whole_output=True,
        scorer=lambda s, _claim: score_rerun_sample(s, CLAIM),
    )
    sha = write_published(root / "release" / LOG, samples)
    return make_release(
        root,
        text_dir,
        [
            {
                "name": "charts",
                "metric": "exact_match",
                "published": [{"value": 50.0, "source": "model card"}],
                "logs": [{"path": LOG, "sha256": sha, "format": "assay"}],
                "scorer": "lm-eval:exact_match",
                "decoding": {
                    "temperature": 0.0,
                    "max_new_tokens": 8,
                    "chat_template_sha256": file_sha256(text_dir / "chat_template.jinja"),
                },
                "margin": 1.0,
            }
        ],
    )


@pytest.fixture(scope="module")
def server(text_dir):
    from support.serve import TransformersServer

    with TransformersServer(text_dir, seed=0, threads=1) as srv:
        yield srv


def test_a_server_killed_mid_run_loses_nothing(release, server, text_dir, tmp_path):
    """Two `transformers serve` replicas, one SIGKILLed once three items were answered while it had requests in
    flight: every item has exactly one re-run sample, its answering endpoint is recorded, what the dead one had in
    flight was answered by the other, and the verdict equals the single-endpoint verdict on the same items."""
    from assay.evals.backends.fleet import FleetBackend
    from assay.evals.rerun import rerun
    from assay.evals.samples import read_log
    from support.serve import TransformersServer

    victim = TransformersServer(text_dir, seed=0, threads=1).start()
    killed: dict = {}
    try:
        fleet = FleetBackend([victim.base_url, server.base_url], concurrency=2, cooloff=0.5)
        done = threading.Event()

        def killer():
            while not done.wait(0.01):
                t = fleet.tally()
                flying = fleet.inflight()[victim.base_url]
                if t.answered >= 3 and flying:
                    os.killpg(victim.proc.pid, signal.SIGSTOP)  # frozen: it answers nothing more
                    killed["in_flight"] = fleet.inflight()[victim.base_url]
                    killed["answered_before"] = t.answered
                    os.killpg(victim.proc.pid, signal.SIGKILL)
                    return

        k = threading.Thread(target=killer)
        k.start()
        try:
            result = rerun(release, backend_obj=fleet, out=tmp_path / "fleet", chunk=64)
        finally:
            done.set()
            k.join()
    finally:
        victim.stop(grace=5)
    assert killed, "the victim was never killed mid-run (it answered nothing, or the run ended first)"
    (bench,) = result.benchmarks
    log = read_log(bench.log)
    ids = [s.id for s in log.samples]
    assert sorted(ids) == sorted(str(i) for i in range(12)) and len(set(ids)) == 12  # ids in == ids out, once
    assert bench.generated == 12 and bench.n_failed == 0
    by_id = {s.id: s.meta["rerun"] for s in log.samples}
    assert {m["endpoint"] for m in by_id.values()} == {victim.base_url, server.base_url}
    moved = {rid for rid, m in by_id.items() if m.get("retried_from")}
    assert all(
        by_id[rid]["retried_from"] == [victim.base_url] and by_id[rid]["endpoint"] == server.base_url for rid in moved
    )
    # the requests the victim held when it was frozen were answered once, by the other replica (at least one: a
    # serving process works on one request at a time here, so a second one was waiting inside it)
    held = [rid.split("/", 1)[1].split("#")[0] for rid in killed["in_flight"]]
    assert held and set(held) <= set(by_id)
    assert any(by_id[i]["endpoint"] == server.base_url and i in moved for i in held)
    tally = result.backend
    assert tally["fleet"] is True and tally["requests"] == 12 and tally["answered"] == 12
    assert tally["failed"] == 0 and tally["not_sent"] == 0
    ends = {e["base_url"]: e for e in tally["endpoints"]}
    assert ends[victim.base_url]["state"] == "down" and ends[victim.base_url]["marked_down"] >= 1
    assert ends[victim.base_url]["retried_elsewhere"] == len(moved) >= 1
    assert sum(e["answered"] for e in ends.values()) == 12
    assert ends[victim.base_url]["answered"] == sum(m["endpoint"] == victim.base_url for m in by_id.values())

    single = rerun(release, backend="openai", base_url=server.base_url, concurrency=2, out=tmp_path / "single")
    (one,) = single.benchmarks
    assert bench.verdict is not None and one.verdict is not None
    assert bench.verdict.verdict == one.verdict.verdict == "pass"
    assert (bench.verdict.rerun_score, bench.verdict.diff, bench.verdict.n) == (
        one.verdict.rerun_score,
        one.verdict.diff,
        one.verdict.n,
    )
    outputs = {s.id: s.output for s in read_log(one.log).samples}
    assert {s.id: s.output for s in log.samples} == outputs
    assert result.ok and single.ok


# ------------------------------------------------------------------------------------------ command line
def test_cli_repeated_base_url_and_a_file(release, server, tmp_path):
    """--base-url twice (one endpoint dead): the live one answers everything, exit 0; --base-urls FILE the same."""
    dead = dead_url()
    proc = run_assay(
        "rerun",
        str(release),
        "--backend",
        "openai",
        "--base-url",
        dead,
        "--base-url",
        server.base_url,
        "--concurrency",
        "2",
        "--json",
        "--out",
        str(tmp_path / "a"),
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["backend"]["base_urls"] == [dead, server.base_url]
    ends = {e["base_url"]: e for e in res["backend"]["endpoints"]}
    assert ends[dead]["state"] == "down" and ends[server.base_url]["answered"] == 12
    (b,) = res["benchmarks"]
    assert b["verdict"]["verdict"] == "pass"

    urls = tmp_path / "fleet.txt"
    urls.write_text(f"# two replicas\n{server.base_url}\n{dead}  # this one is down\n")
    proc = run_assay(
        "rerun",
        str(release),
        "--backend",
        "openai",
        "--base-urls",
        str(urls),
        "--json",
        "--out",
        str(tmp_path / "b"),
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["backend"]["base_urls"] == [server.base_url, dead]


def test_cli_a_dead_fleet_or_a_bad_file_is_one_line_exit_2(release, tmp_path):
    for args, msg in (
        (["--base-url", dead_url(), "--base-url", dead_url()], "cannot reach any of the 2 endpoints"),
        (["--base-urls", str(tmp_path / "nope.txt")], "--base-urls"),
        (["--base-url", "127.0.0.1:8000", "--base-url", "http://127.0.0.1:1/v1"], "expected http"),
    ):
        proc = run_assay("rerun", str(release), "--backend", "openai", *args, "--out", str(tmp_path / "o"), env=ENV)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("assay: error:") and msg in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_a_fleet_that_dies_fails_the_rerun_with_a_finding(release, tmp_path):
    """Both endpoints gone after the fleet was built: the re-run is not a pass; one failing row says why."""
    from assay.evals.backends.fleet import FleetBackend
    from assay.evals.rerun import rerun

    with FlakyServer() as a, FlakyServer() as b:
        fleet = FleetBackend([a.base_url, b.base_url], concurrency=2, cooloff=0.05)
    result = rerun(release, backend_obj=fleet, out=tmp_path / "o")
    assert not result.ok
    claims = {c.id: c for c in result.to_claims()}
    assert claims["rerun:charts"].verdict != "pass"
    failed = claims["rerun:charts:request-failed"]
    assert failed.verdict == "fail" and "every endpoint of the fleet is down" in failed.message
    assert result.backend["not_sent"] + result.backend["failed"] == 12 and result.backend["answered"] == 0


def test_cli_audit_passes_the_endpoint_list_through(release, server, tmp_path):
    dead = dead_url()
    urls = tmp_path / "fleet.txt"
    urls.write_text(f"{server.base_url}\n")
    proc = run_assay(
        "audit",
        str(release),
        "--out",
        str(tmp_path / "audit"),
        "--backend",
        "openai",
        "--base-url",
        dead,
        "--base-urls",
        str(urls),
        "--concurrency",
        "2",
        "--json",
        env=ENV,
    )
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    rerun = next(s for s in report["steps"] if s["name"] == "rerun")
    backend = rerun["summary"]["backend"]
    assert backend["base_urls"] == [dead, server.base_url] and backend["concurrency"] == 2
    assert {e["base_url"]: e["answered"] for e in backend["endpoints"]} == {dead: 0, server.base_url: 12}
    assert any(c["id"] == "rerun:charts" and c["verdict"] == "pass" for c in rerun["claims"])
