"""`assay rebuild`: built-in steps through real DVC stages (forced, no run cache), tiers, refusals and failures.

Expected hashes are computed here independently of assay's steps (safetensors + torch/numpy directly) wherever
the step has an obvious reference implementation; otherwise (resharding, tokenizer training, training) the
publisher's output is made with 1 thread and the rebuild runs with 2.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from assay.manifests.yamlio import dump_yaml, read_yaml_file
from conftest import run_assay
from safetensors.torch import load_file, save_file

SHARDS = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
INDEX = "model.safetensors.index.json"
META = {"format": "pt"}


def sha_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def sha(p: Path) -> str:
    return sha_bytes(p.read_bytes())


def release(manifest: Path) -> Path:
    return manifest.parent / "release"


def demo_tensors(manifest: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for s in SHARDS:
        out.update(load_file(release(manifest) / s))
    return out


def saved_sha(tensors: dict[str, torch.Tensor], tmp: Path) -> str:
    p = tmp / "ref.safetensors"
    save_file(tensors, str(p), metadata=META)
    return sha(p)


def index_bytes(weight_map: dict[str, str], total: int) -> bytes:
    return (
        json.dumps({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=2) + "\n"
    ).encode()


def set_recipes(manifest: Path, recipes: list[dict], artifacts: list[dict] | None = None) -> None:
    doc, _ = read_yaml_file(manifest)
    doc["recipes"] = recipes
    doc["artifacts"].extend(artifacts or [])
    manifest.write_text(dump_yaml(doc))
    lock = manifest.with_name("assay.lock.yaml")
    if lock.exists():
        lock.unlink()


def add_artifact(manifest: Path, rel: str, role: str = "weights") -> dict:
    p = release(manifest) / rel
    return {"path": rel, "role": role, "size": p.stat().st_size, "sha256": sha(p)}


def shard_inputs() -> list[dict]:
    return [{"path": INDEX}] + [{"path": s} for s in SHARDS]


def rebuild_json(manifest: Path, *args: str) -> tuple[int, dict]:
    proc = run_assay("rebuild", str(manifest), *args, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def outputs(result: dict) -> dict[str, dict]:
    return {o["path"]: o for r in result["recipes"] for o in r["outputs"]}


# ------------------------------------------------------------------------------------------------ bf16 cast (demo)
def bf16_recipe(manifest: Path, tmp: Path) -> dict:
    """The bf16 cast of the demo weights, with expected hashes from a direct safetensors+torch cast."""
    tensors = {k: v.to(torch.bfloat16) for k, v in demo_tensors(manifest).items()}
    index = json.loads((release(manifest) / INDEX).read_text())["weight_map"]
    outs = []
    for s in SHARDS:
        outs.append(
            {
                "path": f"bf16/{s}",
                "sha256": saved_sha(
                    {k: v.to(torch.bfloat16) for k, v in load_file(release(manifest) / s).items()}, tmp
                ),
            }
        )
    total = sum(t.numel() * 2 for t in tensors.values())
    outs.insert(0, {"path": f"bf16/{INDEX}", "sha256": sha_bytes(index_bytes(index, total))})
    return {"name": "bf16", "step": "cast", "params": {"dtype": "bf16"}, "inputs": shard_inputs(), "outputs": outs}


@pytest.mark.parametrize("threads", ["1", "2"])
def test_demo_bf16_cast_is_bit_exact(demo, tmp_path, threads):
    set_recipes(demo, [bf16_recipe(demo, tmp_path)])
    rc, out = rebuild_json(demo, "--threads", threads)
    assert rc == 0, json.dumps(out, indent=1)
    rec = out["recipes"][0]
    assert rec["status"] == "rebuilt" and len(rec["outputs"]) == 3
    assert all(o["reached"] == "bit-exact" and o["verdict"] == "pass" for o in rec["outputs"])
    env = rec["environment"]
    assert env["threads"] == int(threads) and env["torch"] == torch.__version__ and env["run_id"] == out["run_id"]
    assert env["cpu_capability"] and env["python"]
    assert all(o["dvc_md5"] for o in rec["outputs"])  # dvc.lock recorded each output
    assert {i["status"] for i in rec["inputs"]} == {"ok"}


def test_table_output(demo, tmp_path):
    set_recipes(demo, [bf16_recipe(demo, tmp_path)])
    proc = run_assay("rebuild", str(demo), "bf16", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("PASS  ") and "bit-exact" in proc.stdout and "env bf16" in proc.stdout


# ------------------------------------------------------------------------------------- merge, reshard (chained)
def test_merge_then_reshard_bit_exact_across_threads(demo, tmp_path):
    merged_sha = saved_sha(demo_tensors(demo), tmp_path)
    merge = {
        "name": "merge",
        "step": "merge-shards",
        "inputs": shard_inputs(),
        "outputs": [{"path": "merged/model.safetensors", "sha256": merged_sha}],
    }
    reshard = {
        "name": "reshard",
        "step": "reshard",
        "params": {"max_shard_size": 200_000},
        "inputs": [{"path": "merged/model.safetensors"}],
        "outputs": [{"path": "three/" + n} for n in (INDEX, "a.safetensors", "b.safetensors", "c.safetensors")],
    }
    set_recipes(demo, [merge, reshard])
    work = tmp_path / "work"
    rc, first = rebuild_json(demo, "reshard", "--threads", "1", "--workdir", str(work))  # the publisher's run
    assert outputs(first)["merged/model.safetensors"]["reached"] == "bit-exact"  # pulled in as reshard's producer
    assert outputs(first)["three/a.safetensors"]["reached"] == "unpinned" and rc == 1
    resharded: dict[str, torch.Tensor] = {}
    for n in ("a", "b", "c"):
        part = load_file(work / "three" / f"{n}.safetensors")
        assert sum(t.numel() * t.element_size() for t in part.values()) <= 200_000
        resharded.update(part)
    original = demo_tensors(demo)
    assert resharded.keys() == original.keys() and all(torch.equal(resharded[k], original[k]) for k in original)
    index = json.loads((work / "three" / INDEX).read_text())
    assert set(index["weight_map"].values()) == {"a.safetensors", "b.safetensors", "c.safetensors"}
    for o in reshard["outputs"]:
        o["sha256"] = sha(work / o["path"])
    set_recipes(demo, [merge, reshard])
    rc, second = rebuild_json(demo, "--threads", "2", "--workdir", str(work))
    assert rc == 0 and all(o["reached"] == "bit-exact" for o in outputs(second).values()), json.dumps(second, indent=1)


def test_reshard_with_wrong_shard_count_fails_clearly(demo):
    set_recipes(
        demo,
        [
            {
                "name": "reshard",
                "step": "reshard",
                "params": {"max_shard_size": 10_000_000},
                "inputs": shard_inputs(),
                "outputs": [{"path": "x/" + INDEX}, {"path": "x/a.safetensors"}, {"path": "x/b.safetensors"}],
            }
        ],
    )
    rc, out = rebuild_json(demo)
    assert rc == 1 and out["recipes"][0]["status"] == "failed"
    assert "gives 1 shards, the recipe declares 2" in out["recipes"][0]["message"]


# --------------------------------------------------------------------------------------------- LoRA, int8, pickle
def lora_adapter(manifest: Path) -> tuple[dict, float]:
    rng = np.random.default_rng(7)
    base = demo_tensors(manifest)
    targets = ["model.language_model.layers.0.mlp.down_proj", "model.language_model.layers.0.self_attn.q_proj"]
    adapter, r = {}, 4
    for t in targets:
        out_dim, in_dim = base[f"{t}.weight"].shape
        adapter[f"base_model.model.{t}.lora_A.weight"] = torch.from_numpy(
            rng.standard_normal((r, in_dim), dtype=np.float32)
        )
        adapter[f"base_model.model.{t}.lora_B.weight"] = torch.from_numpy(
            rng.standard_normal((out_dim, r), dtype=np.float32)
        )
    save_file(adapter, str(release(manifest) / "adapter_model.safetensors"), metadata=META)
    return adapter, 8 / r


@pytest.mark.parametrize("threads", ["1", "2"])
def test_lora_merge_bit_exact(demo, tmp_path, threads):
    adapter, scale = lora_adapter(demo)
    merged = demo_tensors(demo)
    for k in adapter:
        if k.endswith("lora_A.weight"):
            t = k.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
            b = adapter[k.replace("lora_A", "lora_B")]
            merged[f"{t}.weight"] = merged[f"{t}.weight"] + (b @ adapter[k]) * scale
    recipe = {
        "name": "merge-lora",
        "step": "lora-merge",
        "params": {"alpha": 8, "r": 4},
        "inputs": shard_inputs() + [{"path": "adapter_model.safetensors"}],
        "outputs": [{"path": "merged-lora.safetensors", "sha256": saved_sha(merged, tmp_path)}],
    }
    set_recipes(demo, [recipe], [add_artifact(demo, "adapter_model.safetensors")])
    rc, out = rebuild_json(demo, "--threads", threads)
    assert rc == 0 and outputs(out)["merged-lora.safetensors"]["reached"] == "bit-exact", json.dumps(out, indent=1)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_int8_quantisation_bit_exact_against_numpy(demo, tmp_path, threads):
    expected = {}
    for name, t in demo_tensors(demo).items():
        w = t.numpy()
        if w.ndim == 2:
            scale = np.abs(w).max(axis=1, keepdims=True) / np.float32(127.0)
            scale = np.where(scale == 0, np.float32(1), scale).astype(np.float32)
            expected[name] = torch.from_numpy(np.clip(np.round(w / scale), -127, 127).astype(np.int8))
            expected[f"{name}_scale"] = torch.from_numpy(scale[:, 0].copy())
        else:
            expected[name] = t
    recipe = {
        "name": "int8",
        "step": "quantize-int8",
        "inputs": shard_inputs(),
        "outputs": [{"path": "int8.safetensors", "sha256": saved_sha(expected, tmp_path)}],
    }
    set_recipes(demo, [recipe])
    rc, out = rebuild_json(demo, "--threads", threads)
    assert rc == 0 and outputs(out)["int8.safetensors"]["reached"] == "bit-exact", json.dumps(out, indent=1)


def test_pickle_to_safetensors_and_a_malicious_pickle_is_refused(demo, tmp_path):
    state = {k: v for k, v in list(demo_tensors(demo).items())[:6]}
    state["tied.weight"] = state[next(iter(state))]  # shared storage, as tied embeddings are
    torch.save(state, release(demo) / "pytorch_model.bin")
    expected = {k: v.clone() for k, v in state.items()}

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned > /dev/null",))

    (release(demo) / "evil.bin").write_bytes(pickle.dumps({"w": Evil()}))
    ok = {
        "name": "convert",
        "step": "pickle-to-safetensors",
        "inputs": [{"path": "pytorch_model.bin"}],
        "outputs": [{"path": "model.safetensors", "sha256": saved_sha(expected, tmp_path)}],
    }
    evil = {
        "name": "evil",
        "step": "pickle-to-safetensors",
        "inputs": [{"path": "evil.bin"}],
        "outputs": [{"path": "evil.safetensors"}],
    }
    set_recipes(demo, [ok, evil], [add_artifact(demo, "pytorch_model.bin"), add_artifact(demo, "evil.bin")])
    rc, out = rebuild_json(demo, "convert")
    assert rc == 0 and outputs(out)["model.safetensors"]["reached"] == "bit-exact", json.dumps(out, indent=1)
    rc, out = rebuild_json(demo, "evil")
    rec = out["recipes"][0]
    assert (
        rc == 1
        and rec["status"] == "failed"
        and "refused by the pickle scan" in rec["message"]
        and "system" in rec["message"]
    )


# ------------------------------------------------------------------------------------------ tokenizer and training
def data_section(manifest: Path) -> dict:
    from test_data_check import build_mixture

    return build_mixture(manifest)


def test_tokenizer_build_from_a_data_component_is_reproducible(demo, tmp_path):
    doc, _ = read_yaml_file(demo)
    doc["data"] = data_section(demo)
    demo.write_text(dump_yaml(doc))
    recipe = {
        "name": "tok",
        "step": "tokenizer-build",
        "params": {"model": "bpe", "vocab_size": 60},
        "inputs": [{"component": "cot"}, {"component": "direct"}],
        "outputs": [{"path": "tok/tokenizer.json"}],
    }
    set_recipes(demo, [recipe])
    work = tmp_path / "w"
    rebuild_json(demo, "--workdir", str(work), "--threads", "1")
    built = work / "tok" / "tokenizer.json"
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(built))
    assert tok.encode("because it is").tokens and "<unk>" in tok.get_vocab()
    recipe["outputs"][0]["sha256"] = sha(built)
    set_recipes(demo, [recipe])
    rc, out = rebuild_json(demo, "--threads", "2")
    assert rc == 0 and outputs(out)["tok/tokenizer.json"]["reached"] == "bit-exact", json.dumps(out, indent=1)
    inputs = {i["ref"]: i["status"] for i in out["recipes"][0]["inputs"]}
    assert inputs == {"cot/part-0.jsonl": "ok", "direct/train.parquet": "ok"}


@pytest.fixture
def trained(demo, tmp_path):
    """The demo with a mixture and a seeded training recipe whose published output was made with 1 thread."""
    doc, _ = read_yaml_file(demo)
    doc["data"] = data_section(demo)
    demo.write_text(dump_yaml(doc))
    recipe = {
        "name": "train",
        "step": "train",
        "params": {"seed": 1234, "steps": 30, "dim": 16},
        "inputs": [{"path": "tokenizer.json"}, {"component": "cot"}, {"component": "direct"}],
        "outputs": [{"path": "tiny-lm.safetensors", "tier": "tolerance", "atol": 1e-3, "rtol": 0}],
    }
    set_recipes(demo, [recipe])
    work = tmp_path / "publisher"
    rebuild_json(demo, "--workdir", str(work), "--threads", "1")
    shutil.copy(work / "tiny-lm.safetensors", release(demo) / "tiny-lm.safetensors")
    set_recipes(demo, [recipe], [add_artifact(demo, "tiny-lm.safetensors")])
    return demo, recipe


def test_training_holds_in_the_tolerance_tier_across_threads(trained):
    demo, _ = trained
    rc, out = rebuild_json(demo, "--threads", "2")
    o = outputs(out)["tiny-lm.safetensors"]
    assert rc == 0 and o["verdict"] == "pass" and o["reached"] in ("bit-exact", "tolerance"), json.dumps(out, indent=1)
    assert out["recipes"][0]["environment"]["seed"] == 1234


def perturb(demo: Path, eps: float, recipe: dict, **output_changes) -> None:
    p = release(demo) / "tiny-lm.safetensors"
    t = load_file(p)
    name = sorted(t)[0]
    t[name] = t[name] + eps
    save_file(t, str(p), metadata=META)
    recipe["outputs"][0].update(output_changes)
    doc, _ = read_yaml_file(demo)
    doc["recipes"] = [recipe]
    for a in doc["artifacts"]:
        if a["path"] == "tiny-lm.safetensors":
            a.update(sha256=sha(p), size=p.stat().st_size)
    demo.write_text(dump_yaml(doc))


def test_tolerance_tier_reports_the_errors(trained):
    demo, recipe = trained
    perturb(demo, 1e-4, recipe)
    rc, out = rebuild_json(demo, "--threads", "1")
    o = outputs(out)["tiny-lm.safetensors"]
    assert rc == 0 and o["reached"] == "tolerance" and o["verdict"] == "pass", json.dumps(out, indent=1)
    assert o["errors"]["max_abs"] == pytest.approx(1e-4, rel=0.05) and o["errors"]["tensor"] == "0.weight"


def test_declared_bit_exact_but_only_tolerance_reached_fails(trained):
    demo, recipe = trained
    perturb(demo, 1e-4, recipe, tier="bit-exact")
    rc, out = rebuild_json(demo, "--threads", "1")
    o = outputs(out)["tiny-lm.safetensors"]
    assert rc == 1 and o["reached"] == "tolerance" and o["verdict"] == "fail"


def test_beyond_tolerance_needs_evaluation(trained):
    demo, recipe = trained
    perturb(demo, 0.1, recipe)
    rc, out = rebuild_json(demo, "--threads", "1")
    o = outputs(out)["tiny-lm.safetensors"]
    assert rc == 1 and o["reached"] == "needs-evaluation" and o["verdict"] == "fail" and "beyond" in o["message"]
    perturb(demo, 0.0, recipe, tier="evaluation")
    rc, out = rebuild_json(demo, "--threads", "1")
    o = outputs(out)["tiny-lm.safetensors"]
    assert rc == 0 and o["verdict"] == "inconclusive", json.dumps(out, indent=1)


# ---------------------------------------------------------------------------------- refusals, failures, run cache
def test_changed_input_is_refused_before_running(demo, tmp_path):
    chained = {
        "name": "merge",
        "step": "merge-shards",
        "inputs": [{"path": "bf16/" + INDEX}] + [{"path": f"bf16/{s}"} for s in SHARDS],
        "outputs": [{"path": "bf16-merged.safetensors"}],
    }
    set_recipes(demo, [bf16_recipe(demo, tmp_path), chained])
    shard = release(demo) / SHARDS[1]
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    work = tmp_path / "work"
    rc, out = rebuild_json(demo, "--workdir", str(work))
    recs = {r["name"]: r for r in out["recipes"]}
    assert rc == 1 and recs["bf16"]["status"] == "refused" and SHARDS[1] in recs["bf16"]["message"]
    assert {i["ref"]: i["status"] for i in recs["bf16"]["inputs"]}[SHARDS[1]] == "changed"
    assert recs["merge"]["status"] == "refused" and "depends on refused recipe bf16" in recs["merge"]["message"]
    assert not (work / "bf16").exists() and not (work / "dvc.yaml").exists()  # nothing ran


def test_failing_cmd_is_a_clear_error(demo):
    set_recipes(
        demo,
        [
            {
                "name": "boom",
                "step": "cmd",
                "cmd": "echo working; echo 'boom: no GPU found' >&2; exit 3",
                "outputs": [{"path": "out.bin"}],
            }
        ],
    )
    rc, out = rebuild_json(demo)
    rec = out["recipes"][0]
    assert rc == 1 and rec["status"] == "failed"
    assert rec["message"] == "cmd exited with status 3: boom: no GPU found"
    proc = run_assay("rebuild", str(demo))
    assert proc.returncode == 1 and "boom: no GPU found" in proc.stdout


def test_cmd_step_really_runs_every_time(demo, tmp_path):
    """Identical deps twice in one work dir: plain `dvc repro` would skip or restore; assay's forced run does not."""
    counter = tmp_path / "runs.txt"
    cmd = f"echo run >> {counter} && cp {SHARDS[0]} copy.safetensors"
    set_recipes(
        demo,
        [
            {
                "name": "copy",
                "step": "cmd",
                "cmd": cmd,
                "inputs": [{"path": SHARDS[0]}],
                "outputs": [{"path": "copy.safetensors", "sha256": sha(release(demo) / SHARDS[0])}],
            }
        ],
    )
    work = tmp_path / "work"
    _, first = rebuild_json(demo, "--workdir", str(work))
    rc, second = rebuild_json(demo, "--workdir", str(work))
    assert rc == 0 and counter.read_text().count("run") == 2
    assert outputs(second)["copy.safetensors"]["reached"] == "bit-exact"
    assert second["recipes"][0]["environment"]["run_id"] == second["run_id"] != first["run_id"]


def test_bad_input(demo, tmp_path):
    set_recipes(demo, [{"name": "x", "step": "cmd", "cmd": "true", "outputs": [{"path": "o"}]}])
    proc = run_assay("rebuild", str(demo), "nope")
    assert proc.returncode == 2 and "no recipe named nope" in proc.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    proc = run_assay("rebuild", str(demo), "--workdir", str(foreign))
    assert proc.returncode == 2 and (foreign / "precious.txt").exists()
    doc, _ = read_yaml_file(demo)
    doc["recipes"][0]["step"] = "cast"
    demo.write_text(dump_yaml(doc))
    proc = run_assay("rebuild", str(demo))
    assert proc.returncode == 2 and "'cmd'" in proc.stderr


# ------------------------------------------------------------------------- the demo release with data and recipes
def test_demo_with_data_and_bf16_recipe_end_to_end(demo, tmp_path):
    """What the demo manifest would carry: a realistic data: section and the bf16 cast recipe; every verb agrees."""
    doc, _ = read_yaml_file(demo)
    doc["data"] = data_section(demo)
    doc["recipes"] = [bf16_recipe(demo, tmp_path)]
    demo.write_text(dump_yaml(doc))
    proc = run_assay("lock", str(demo))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_assay("verify", str(demo), "--strict", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["ok"], proc.stdout + proc.stderr
    proc = run_assay("data", "check", str(demo), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["summary"]["verified"] == 3, proc.stdout
    rc, out = rebuild_json(demo)
    assert rc == 0 and out["ok"]
    schema = json.loads(run_assay("schema").stdout)
    assert "DataComponent" in schema["$defs"] and "Recipe" in schema["$defs"]
