"""`assay data check --executor ray`: the recount fans out as Ray tasks on a local Ray instance; same report."""

from __future__ import annotations

import json

from assay.mixtures.check import check_data
from conftest import run_assay
from test_data_check import build_mixture, set_data


def comparable(result: dict) -> dict:
    """The report without what legitimately differs between runs: timings and the executor's name."""
    result = json.loads(json.dumps(result))
    result["summary"].pop("seconds")
    result.pop("executor")
    return result


def test_ray_and_local_executors_give_the_same_report(demo, tmp_path):
    set_data(demo, build_mixture(demo))
    f = demo.parent / "data" / "cot" / "part-0.jsonl"
    f.write_bytes(f.read_bytes().replace(b"because", b"becausE", 1))  # one failing component: failures must agree too
    local = check_data(demo, strict=True)
    proc = run_assay(
        "data",
        "check",
        str(demo),
        "--strict",
        "--executor",
        "ray",
        "--json",
        env={"RAY_ADDRESS": "", "RAY_DISABLE_USAGE_STATS": "1", "RAY_USAGE_STATS_ENABLED": "0"},
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    ray_out = json.loads(proc.stdout)
    assert ray_out["executor"] == "ray" and local.executor == "local"
    assert comparable(ray_out) == comparable(local.model_dump(mode="json"))
    assert {c["name"]: c["status"] for c in ray_out["components"]}["cot"] == "fail"
    assert ray_out["summary"]["tokens_counted"] == 350


def test_unknown_executor_is_bad_input(demo):
    set_data(demo, build_mixture(demo))
    proc = run_assay("data", "check", str(demo), "--executor", "spark")
    assert proc.returncode == 2 and "local or ray" in proc.stderr


def test_verify_with_the_ray_executor_matches_local(demo):
    """`assay verify --executor ray`: every file hashed in a Ray task on a local instance; same result as local."""
    from assay.verify.release import verify_release

    local = verify_release(demo, strict=True)
    remote = verify_release(demo, strict=True, executor="ray")
    assert remote.ok and local.ok
    assert [(f.path, f.sha256, f.status, f.how) for f in remote.files] == [
        (f.path, f.sha256, f.status, f.how) for f in local.files
    ]
    assert remote.release_digest == local.release_digest
    # A tampered file is caught the same way.
    target = demo.parent / "release" / "config.json"
    data = bytearray(target.read_bytes())
    data[10] ^= 1  # same size: only the hash in the Ray task can catch it
    target.write_bytes(bytes(data))
    bad = verify_release(demo, strict=True, executor="ray")
    assert {f.path: f.status for f in bad.files if f.status != "ok"} == {"config.json": "mismatch"}
