"""The model as loaded (``assay verify --load``, the audit's ``load`` step): issue 11, deliverable 4.

Tiny releases are built here (``tests/support/remote_models.py``): a stock Llama, and remote-code models that are
clean, pull another repository unpinned at load time, or drop checkpoint keys and re-initialise them (as
Phi-4-Reasoning-Vision's remote code does with its vision tower).  Each is packaged with ``assay init`` (manifest and
lock) and loaded once per module by the real probe subprocess; the tests read that one result.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import run_assay
from conftest import DEMO
from support.remote_models import REPO, build_moe, build_plain, build_remote, package

from assay.manifests.errors import MissingExtra
from assay.manifests.findings import Finding
from assay.verify.loaded import LoadedAudit, audit_loaded, probe_env


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """variant -> manifest path of its packaged release (built on first use, once per module)."""
    made: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASSAY_STATE_DIR", str(tmp_path_factory.mktemp("state")))

        def get(variant: str):
            if variant not in made:
                root = tmp_path_factory.mktemp(variant)
                if variant in ("plain", "base-keys", "bf16"):
                    build_plain(root / "release", "clean" if variant == "plain" else variant)
                elif variant == "moe":
                    build_moe(root / "release")
                elif variant == "elsewhere":
                    build_remote(root / "release", variant, elsewhere=root / "adapter.safetensors")
                else:
                    build_remote(root / "release", variant)
                made[variant] = package(root / "release", root, f"tiny-{variant}")
            return made[variant]

        yield get


@pytest.fixture(scope="module")
def audited(releases):
    """variant -> its LoadedAudit (remote-code variants loaded with trust_remote_code, through the gate)."""
    done: dict = {}

    def get(variant: str) -> LoadedAudit:
        if variant not in done:
            done[variant] = audit_loaded(
                releases(variant), trust_remote_code=variant not in ("plain", "base-keys", "moe", "bf16")
            )
        return done[variant]

    return get


def codes(result: LoadedAudit, severity: str = "error") -> set[str]:
    return {f.code for f in result.findings if f.severity == severity}


def failing_claims(result: LoadedAudit) -> set[tuple[str, str]]:
    """(subject, finding code) of each failing report row of the result (the summary row excepted)."""
    return {
        (c.subject, code)
        for c in result.to_claims()[1:]
        if c.verdict == "fail"
        for code in {f.code for f in result.findings}
        if code in c.id.split(":")
    }


def checkpoint_keys(manifest) -> set[str]:
    from safetensors import safe_open

    with safe_open(str(manifest.parent / "release" / "model.safetensors"), framework="pt") as h:
        return set(h.keys())


@pytest.fixture
def no_probe(monkeypatch):
    """Fail the test if the model would be loaded (the gate and the budget decide before any probe runs)."""
    import assay.verify.loaded as loaded

    def refuse(*a, **k):
        raise AssertionError("the probe ran")

    monkeypatch.setattr(loaded, "run_probe", refuse)


# ------------------------------------------------------------------------------------------------ clean models
def test_a_stock_model_loads_unchanged(audited, releases):
    r = audited("plain")
    keys = checkpoint_keys(releases("plain"))
    assert r.status == "loaded" and r.verdict == "pass" and r.ok, r.findings
    assert r.checkpoint_tensors == len(keys) == r.matched == r.loaded_tensors
    assert {t.name for t in r.tensors} == keys and {t.status for t in r.tensors} == {"same"}
    assert all(t.sha256 == t.loaded_sha256 and t.sha256 for t in r.tensors)
    assert not codes(r) and r.network == []
    read = {f.path.rsplit("/", 1)[-1]: f for f in r.files if f.where == "release"}
    assert read["config.json"].verified and read["model.safetensors"].verified  # safetensors' native open is seen
    assert not [f for f in r.files if f.where == "elsewhere"]
    info = [f for f in r.findings if f.code == "computed-buffer"]
    assert info and "rotary_emb.inv_freq" in info[0].message and info[0].severity == "info"
    (claim,) = r.to_claims()
    assert claim.kind == "loaded" and claim.step == "load" and claim.verdict == "pass"
    assert claim.measured["matched"] == len(keys)


def test_clean_remote_code_loads_unchanged_through_the_gate(audited):
    r = audited("clean")
    assert r.status == "loaded" and r.verdict == "pass", r.findings
    assert r.trust_remote_code and r.remote_code == ["modeling_tiny.py"]
    assert r.model_class and r.model_class.endswith("TinyRemoteForCausalLM")
    cached = [
        f for f in r.files if f.where == "modules-cache" and f.path.endswith("modeling_tiny.py") and f.mode == "r"
    ]
    assert cached and all(f.verified for f in cached)  # the module transformers imported is the verified file


def test_the_demo_release_loads_unchanged():
    """The bundled Llava-style demo: two shards, a vision tower, tied embeddings reported as ties."""
    r = audit_loaded(DEMO / "assay.yaml")
    assert r.status == "loaded" and r.verdict == "pass", r.findings
    assert r.matched == r.checkpoint_tensors > 0 and r.loaded_tensors == r.checkpoint_tensors + 1
    ties = [f for f in r.findings if f.code == "tied-tensor"]
    assert [f.where for f in ties] == ["lm_head.weight"] and "embed_tokens" in ties[0].message
    shards = {f.path.rsplit("/", 1)[-1] for f in r.files if f.where == "release" and f.verified}
    assert {
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
    } <= shards


def test_converted_tensors_compare_in_checkpoint_form(audited):
    """transformers fuses Mixtral's per-expert checkpoint tensors on load; converted back (as save_pretrained does)
    they are byte-identical to the checkpoint's."""
    r = audited("moe")
    assert r.status == "loaded" and r.verdict == "pass", r.findings
    converted = [t for t in r.tensors if t.status == "converted"]
    assert converted and all(".block_sparse_moe.experts." in t.name for t in converted)
    assert {t.loaded_as for t in converted} == {
        "model.layers.0.mlp.experts.gate_up_proj",
        "model.layers.0.mlp.experts.down_proj",
    }
    assert all(t.loaded_sha256 == t.sha256 for t in converted)
    assert r.matched == r.checkpoint_tensors


def test_a_widening_cast_on_load_keeps_the_values(audited):
    """bf16 weights loaded as float32 (the config's dtype): compared after the same value-preserving cast."""
    r = audited("bf16")
    assert r.status == "loaded" and r.verdict == "pass" and r.matched == r.checkpoint_tensors
    assert {(t.dtype, t.loaded_dtype, t.status) for t in r.tensors} == {("bfloat16", "float32", "upcast")}
    assert all(t.sha256 != t.loaded_sha256 for t in r.tensors)  # the bytes differ; the values do not
    assert {f.code for f in r.findings if f.severity == "info"} >= {"upcast-tensor"}


# ------------------------------------------------------------------------------------------------ findings
def test_an_unpinned_download_at_load_time_is_a_finding(audited):
    r = audited("download")
    assert r.status == "failed" and "OSError" in (r.reason or "")  # offline: the pull fails, and so does the load
    assert r.verdict == "fail"  # the attempt is a finding, not just a failed load
    attempts = [f for f in r.findings if f.code == "download-attempt"]
    assert attempts and all(f.severity == "error" for f in attempts)
    hub = [f for f in attempts if f.where == f"hf://{REPO}"]
    assert hub and any("no revision" in f.message and "modeling_tiny.py" in f.message for f in hub)
    assert any(n.kind == "hub-call" and n.target.startswith(f"hf://{REPO}") for n in r.network)
    assert (f"hf://{REPO}", "download-attempt") in failing_claims(r)
    assert r.to_claims()[0].id == "loaded:model" and r.to_claims()[0].verdict == "fail"


def test_a_download_attempt_the_code_swallows_is_still_a_finding(audited):
    """The code catches the failed pulls and the model loads: every attempt, hub or plain HTTP, still fails it."""
    r = audited("download-guarded")
    assert r.status == "loaded" and r.matched == r.checkpoint_tensors  # the model itself is the checkpoint
    assert r.verdict == "fail"
    where = {f.where for f in r.findings if f.code == "download-attempt"}
    assert {f"hf://{REPO}", "hf://some-org/extra-data", "GET http://127.0.0.1:9/weights.bin"} <= where
    assert any(n.detail == "socket.connect" and "9" in n.target for n in r.network)
    assert "network-attempt" in codes(r)


def test_checkpoint_keys_dropped_and_reinitialised_by_remote_code(audited, releases):
    """Like Phi-4-RV's vision tower: _keys_to_ignore_on_load_unexpected drops the checkpoint's tower weights and
    the code builds the tower afresh; the files verify, the loaded model is not the release."""
    r = audited("reinit")
    keys = checkpoint_keys(releases("reinit"))
    assert r.status == "loaded" and r.verdict == "fail"
    bad = {f.where: f for f in r.findings if f.code == "reinitialised-tensor"}
    assert set(bad) == {"vision_tower.weight", "vision_tower.bias"}
    assert "_keys_to_ignore_on_load_unexpected" in bad["vision_tower.weight"].message
    rows = {t.name: t for t in r.tensors}
    assert rows["vision_tower.weight"].status == "reinitialised"
    assert rows["vision_tower.weight"].sha256 != rows["vision_tower.weight"].loaded_sha256
    assert r.matched == len(keys) - 2 and r.checkpoint_tensors == len(keys)
    assert {
        ("vision_tower.weight", "reinitialised-tensor"),
        ("vision_tower.bias", "reinitialised-tensor"),
    } <= failing_claims(r)


def test_weights_read_from_outside_the_release_are_findings(audited):
    """Remote code that builds a module from a safetensors file outside the release and changes a loaded weight: the
    read (seen through the safetensors spy: its Rust reader opens files with no Python audit event), the tensors it
    filled and the changed one are findings."""
    r = audited("elsewhere")
    assert r.status == "loaded" and r.verdict == "fail" and r.matched == r.checkpoint_tensors - 1
    changed = [f for f in r.findings if f.code == "changed-tensor"]
    assert [f.where for f in changed] == ["lm_head.weight"]  # loaded normally, then changed by the code
    read = [f for f in r.findings if f.code == "file-from-elsewhere"]
    assert len(read) == 1 and read[0].where.endswith("adapter.safetensors") and "modeling_tiny.py" in read[0].message
    assert {f.where for f in r.findings if f.code == "tensor-from-elsewhere"} == {"adapter.weight", "adapter.bias"}
    outside = [f for f in r.files if f.where == "elsewhere"]
    assert [(f.holds, f.mode) for f in outside] == [("weights", "r")]


def test_renamed_keys_map_like_transformers_and_gaps_are_findings(audited):
    """A checkpoint saved without the ``model.`` prefix maps onto the model (transformers adds it); the stray key the
    loader drops and the lm_head it initialises are findings."""
    r = audited("base-keys")
    rows = {t.name: t for t in r.tensors}
    assert rows["layers.0.mlp.up_proj.weight"].loaded_as == "model.layers.0.mlp.up_proj.weight"
    assert rows["layers.0.mlp.up_proj.weight"].status == "same"
    assert rows["vision_tower.weight"].status == "dropped"
    assert rows["lm_head.weight"].status == "from-elsewhere"
    found = {(f.code, f.where) for f in r.findings if f.severity == "error"}
    assert found == {("dropped-tensor", "vision_tower.weight"), ("tensor-from-elsewhere", "lm_head.weight")}
    assert r.verdict == "fail" and r.matched == r.checkpoint_tensors - 1


# ------------------------------------------------------------------------------------------------ not loaded
def test_remote_code_is_not_run_without_trust(releases, no_probe):
    r = audit_loaded(releases("clean"))
    assert r.status == "skipped" and r.verdict == "not-checked" and "--trust-remote-code" in (r.reason or "")
    assert r.to_claims()[0].verdict == "not-checked"


def test_weights_tampered_after_locking_are_refused_before_loading(releases, tmp_path, no_probe):
    src = releases("plain").parent
    dst = tmp_path / "tampered"
    shutil.copytree(src, dst)
    weights = dst / "release" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    r = audit_loaded(dst / "assay.yaml")
    assert r.status == "refused" and r.verdict == "not-checked" and "model.safetensors" in (r.reason or "")
    assert r.tensors == [] and r.to_claims()[0].verdict == "not-checked"


def test_remote_code_changed_after_locking_is_refused(releases, tmp_path, no_probe):
    dst = tmp_path / "tampered"
    shutil.copytree(releases("clean").parent, dst)
    code = dst / "release" / "modeling_tiny.py"
    code.write_text(code.read_text() + "\nimport os  # injected\n")
    r = audit_loaded(dst / "assay.yaml", trust_remote_code=True)
    assert r.status == "refused" and r.verdict == "not-checked"
    assert "refusing trust_remote_code" in (r.reason or "") and "modeling_tiny.py" in (r.reason or "")


def test_a_model_too_big_for_this_machine_needs_a_bigger_one(releases, no_probe):
    r = audit_loaded(releases("plain"), memory_available=1 << 20)
    assert r.status == "skipped" and r.verdict == "not-checked" and r.needs == ["gpu"]
    assert r.to_claims()[0].needs == ["gpu"] and r.weights_bytes > 0


def _fake_python(tmp_path, body: str) -> str:
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


def test_a_load_that_does_not_finish_is_killed_and_an_error(releases, tmp_path):
    """The probe (here a stand-in that never finishes, with a child of its own) is killed with its process group."""
    pidfile = tmp_path / "child.pid"
    fake = _fake_python(tmp_path, f"sleep 600 & echo $! > {pidfile}; wait")
    r = audit_loaded(releases("plain"), timeout=2, python=fake)
    assert r.status == "timeout" and r.verdict == "error" and r.to_claims()[0].verdict == "error"

    child = int(pidfile.read_text())
    assert not _alive(child)  # it went with its process group


def _alive(pid: int) -> bool:
    """Whether a process still runs (a zombie waiting for a reaper does not), waiting up to ~5 s for it to go."""
    import os
    import time

    for _ in range(50):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        except FileNotFoundError:
            return False
        time.sleep(0.1)
    return os.path.exists(f"/proc/{pid}")


def test_a_probe_that_dies_without_a_result_is_an_error(releases, tmp_path):
    r = audit_loaded(releases("plain"), python=_fake_python(tmp_path, "echo 'Segmentation fault' >&2; exit 139"))
    assert r.status == "failed" and r.verdict == "error" and "exited 139" in (r.reason or "")
    assert "Segmentation fault" in (r.reason or "")


def test_a_release_without_safetensors_is_not_checked(tmp_path, no_probe):
    rel = tmp_path / "release"
    rel.mkdir()
    (rel / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    (rel / "README.md").write_text("no weights here\n")
    r = audit_loaded(package(rel, tmp_path, "no-weights"))
    assert r.status == "skipped" and r.verdict == "not-checked" and "safetensors" in (r.reason or "")


def test_transformers_missing_is_a_missing_extra(releases, monkeypatch, no_probe):
    manifest = releases("plain")
    monkeypatch.setitem(sys.modules, "transformers", None)  # what an uninstalled package looks like to import
    with pytest.raises(MissingExtra, match="transformers"):
        audit_loaded(manifest)


# ------------------------------------------------------------------------------------------------ fail closed
@pytest.mark.parametrize(
    ("fields", "verdict"),
    [
        ({"status": "loaded"}, "not-checked"),  # nothing compared
        ({"status": "loaded", "checkpoint_tensors": 3, "matched": 2}, "not-checked"),  # not everything compared
        ({"status": "failed", "reason": "boom"}, "error"),
        ({"status": "timeout"}, "error"),
        ({"status": "refused"}, "not-checked"),
        ({"status": "skipped", "needs": ["extra"]}, "not-checked"),
        (
            {
                "status": "loaded",
                "checkpoint_tensors": 3,
                "matched": 3,
                "findings": [Finding.make("error", "download-attempt", "x", where="hf://a/b")],
            },
            "fail",
        ),
        (
            {
                "status": "loaded",
                "checkpoint_tensors": 3,
                "matched": 3,
                "findings": [Finding.make("info", "tied-tensor", "x", where="lm_head.weight")],
            },
            "pass",
        ),
    ],
)
def test_only_a_complete_clean_comparison_passes(fields, verdict):
    r = LoadedAudit(manifest="m.yaml", release="r 1", model_dir=".", **fields)
    assert r.verdict == verdict and r.to_claims()[0].verdict == verdict
    assert r.ok is (verdict == "pass")


def test_the_probe_runs_offline_without_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("HF_HUB_CACHE", "/somewhere/with/weights")
    env = probe_env(tmp_path)
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert "HF_TOKEN" not in env and "HF_HUB_CACHE" not in env
    assert env["HF_HOME"].startswith(str(tmp_path)) and env["HF_MODULES_CACHE"].startswith(str(tmp_path))
    assert env["HF_ENDPOINT"].startswith("http://127.0.0.1:")


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_exit_codes(releases, tmp_path):
    ok = run_assay("verify", str(releases("plain")), "--load", "--json")
    assert ok.returncode == 0, ok.stderr[-2000:]
    doc = json.loads(ok.stdout)
    assert doc["load"]["status"] == "loaded" and doc["load"]["verdict"] == "pass"
    bad = run_assay("verify", str(releases("reinit")), "--load", "--trust-remote-code")
    assert bad.returncode == 1, bad.stderr[-2000:]
    assert "reinitialised-tensor" in bad.stdout
    assert "NOT AS RELEASED" in bad.stdout
    flag = run_assay("verify", str(releases("plain")), "--trust-remote-code")
    assert flag.returncode == 2 and "only with --load" in flag.stderr and "Traceback" not in flag.stderr
    # transformers not installed (hidden from import, as an uninstalled package is): one line naming it, exit 2
    hide = "import sys; sys.modules['transformers'] = None; from assay.cli.main import main; main(sys.argv[1:])"
    hidden = subprocess.run(
        [sys.executable, "-c", hide, "verify", str(releases("plain")), "--load"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert hidden.returncode == 2 and "Traceback" not in hidden.stderr, hidden.stderr[-2000:]
    assert "'transformers'" in hidden.stderr and "pip install" in hidden.stderr
    missing = run_assay("verify", str(tmp_path / "nope.yaml"), "--load")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert len([ln for ln in missing.stderr.splitlines() if ln.startswith("assay: error:")]) == 1


# ------------------------------------------------------------------------------------------------ the audit step
def test_the_audit_has_a_load_step(releases, tmp_path):
    from assay.audit.run import run_audit

    report = run_audit(releases("plain"), out=tmp_path / "out", sign=False)
    steps = {s.name: s for s in report.steps}
    assert list(steps)[:2] == ["verify", "load"] and steps["load"].status == "ok"
    (claim,) = [c for c in report.claims if c.step == "load"]
    assert claim.id == "loaded:model" and claim.kind == "loaded" and claim.verdict == "pass"
    assert report.verdict == "pass"


def test_the_load_step_skipped_or_not_runnable_cannot_pass(releases, tmp_path, no_probe):
    from assay.audit.run import run_audit

    skipped = run_audit(releases("plain"), out=tmp_path / "o1", sign=False, skip={"load"})
    assert {s.name: s.status for s in skipped.steps}["load"] == "not-checked" and skipped.verdict == "fail"
    remote = run_audit(releases("clean"), out=tmp_path / "o2", sign=False)  # remote code, no --trust-remote-code
    (claim,) = [c for c in remote.claims if c.step == "load"]
    assert claim.verdict == "not-checked" and remote.verdict == "fail"


def test_the_load_step_without_transformers_needs_the_extra(releases, tmp_path, monkeypatch, no_probe):
    from assay.audit.run import run_audit

    manifest = releases("plain")
    monkeypatch.setitem(sys.modules, "transformers", None)
    report = run_audit(manifest, out=tmp_path / "o", sign=False, skip={"verify"})
    (claim,) = [c for c in report.claims if c.step == "load"]
    assert claim.verdict == "not-checked" and claim.needs == ["extra"] and report.verdict == "fail"


def test_a_release_not_pulled_names_what_loading_it_needs(no_probe):
    """Phi-4-Reasoning-Vision-15B's manifest offline: its files are on the Hub, and its ~30 GB of bf16 weights (from
    the declared 15B parameters) do not fit a 16 GiB machine: not-checked, needs the network and a bigger machine."""
    from conftest import ROOT

    manifest = ROOT / "manifests" / "releases" / "phi-4-reasoning-vision-15b" / "assay.yaml"
    r = audit_loaded(manifest, trust_remote_code=True, memory_available=16 << 30)
    assert r.status == "skipped" and r.verdict == "not-checked" and r.needs == ["network", "gpu"]
    assert "not a local directory" in (r.reason or "") and r.weights_bytes > 16 << 30
    roomy = audit_loaded(manifest, trust_remote_code=True, memory_available=256 << 30)
    assert roomy.needs == ["network"] and roomy.verdict == "not-checked"
