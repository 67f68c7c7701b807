"""How fast does ``assay pull`` (hash while writing) fetch a release, compared with a hub's own client followed by a
separate verify pass?

One run builds a synthetic release (random bytes, ``--files`` x ``--size-mib``, packaged with ``assay init``), and
publishes it on two real servers on 127.0.0.1, which the script starts and stops:

  registry   Debian ``docker-registry`` (CNCF Distribution 2.8): ``assay push RELEASE/assay.yaml --to
             oci://HOST/bench/rel:1``
  olah       olah (offline Hugging Face Hub, from ``.venv-olah``) serving a git mirror made by ``make_hf_repo``: the
             data files as LFS, plus the ``assay.yaml`` / ``assay.lock.yaml`` that ``assay init`` wrote, at the root.
             olah reads each whole file into RAM before it sends it, and ignores Range.

The server's stored bytes are read once, so they sit in the page cache.  Then, per server, ``--repeat`` times in
round-robin order (the table shows the BEST run; the JSON keeps every run and the median), each into a fresh folder:

  assay pull       ``python -m assay.cli pull URI --to DIR --json`` (``oci://HOST/bench/rel:1`` or
                   ``hf://bench/rel@main``): SHA-256 is computed on the bytes as they are written; no second read
  client           a subprocess running the hub's own client: ``oras.client.OrasClient(hostname=HOST,
                   insecure=True).pull(target=..., outdir=DIR)`` or ``huggingface_hub.snapshot_download(repo_id,
                   revision="main", local_dir=DIR, endpoint=...)``; neither checks the content's SHA-256
  + verify         then ``python -m assay.cli verify DIR/assay.yaml --strict --json``: the fastest separate SHA-256
                   pass available here (multi-threaded, as fast as assay's own), reading every pulled byte again

Every step is a subprocess timed by wall clock, so interpreter start-up and imports count on both sides.  Between
runs, untimed, the destination is removed and ``os.sync()`` flushes dirty pages, so one method's write-back does not
land in the next one's time.  ``assay pull`` fsyncs each file before renaming it into place; the clients do not.

I/O per step is the change in this process's ``/proc/self/io`` across the subprocess: Linux adds a reaped child's
counters to its parent's.  ``read_bytes`` counts bytes fetched from the block device; ``rchar`` counts every byte
returned by read(2)-family calls, page-cache hits included (socket reads through recv(2), as Python's HTTP clients
do, are not counted).  The verify pass's ``rchar`` is the second read of the release.  ``server rchar`` is the
change in the server process's own ``/proc/PID/io`` ``rchar`` over the step (what the server read to answer it).

Target (reported as PASS/MISS, never asserted): (client + verify) / assay pull >= 1.3x on these page-cached servers.
The exit status is 0 unless a step fails or a digest does not match the lock.

    .venv/bin/python benchmarks/pull_speed.py                         # 4 x 128 MiB, best of 3
    .venv/bin/python benchmarks/pull_speed.py --files 4 --size-mib 32 --repeat 2 --json /tmp/pull_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _synthetic import GIB, MIB, cores, make_release, read_all  # noqa: E402 - benchmarks/ is on sys.path

PY = sys.executable
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the test servers (tests/support/) are not part of the package
TARGET_RATIO = 1.3
OCI_REPO, OCI_TAG = "bench/rel", "1"
HF_REPO = "bench/rel"
IO_KEYS = ("rchar", "wchar", "read_bytes", "write_bytes", "server_rchar")

ORAS_CLIENT = """
import sys
from oras.client import OrasClient
host, target, outdir = sys.argv[1:4]
files = OrasClient(hostname=host, insecure=True).pull(target=target, outdir=outdir)
print(len(files))
"""

HF_CLIENT = """
import sys
from huggingface_hub import snapshot_download
repo_id, revision, outdir, endpoint = sys.argv[1:5]
print(snapshot_download(repo_id, revision=revision, local_dir=outdir, endpoint=endpoint))
"""


class StepFailed(RuntimeError):
    """A method failed or computed a digest that does not match the lock."""


def proc_io(pid: int | str = "self") -> dict[str, int]:
    """A process's I/O counters; for ``self`` they include those of every child it has reaped."""
    out = {}
    with open(f"/proc/{pid}/io") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            out[key.strip()] = int(value)
    return out


def run_child(
    cmd: list[str], env: dict[str, str], what: str, server_pid: int | None = None
) -> tuple[float, dict[str, int], str]:
    """Run ``cmd``; return (wall seconds, its I/O counters, stdout).  A non-zero exit is a failure.

    With ``server_pid``, the counters also hold ``server_rchar``: what the server process read meanwhile.
    """
    srv0 = proc_io(server_pid)["rchar"] if server_pid else 0
    before = proc_io()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    after = proc_io()
    io = {k: after.get(k, 0) - before.get(k, 0) for k in IO_KEYS}
    io["server_rchar"] = proc_io(server_pid)["rchar"] - srv0 if server_pid else 0
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-600:]
        raise StepFailed(f"{what} exited {proc.returncode}: {tail}")
    return seconds, io, proc.stdout


def child_env(base: Path, endpoint: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for var in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        env.pop(var, None)
    env.update(
        ASSAY_STATE_DIR=str(base / "state"),
        HF_HOME=str(base / "hf-home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    return env


def assay_cli(args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run([PY, "-m", "assay.cli", *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StepFailed(
            f"assay {' '.join(args)} exited {proc.returncode}: {(proc.stderr.strip() or proc.stdout.strip())[-600:]}"
        )
    return json.loads(proc.stdout) if "--json" in args else {}


def fresh(folder: Path) -> None:
    """Remove a destination and flush dirty pages (untimed), so no write-back spills into the next timed step."""
    shutil.rmtree(folder, ignore_errors=True)
    os.sync()


def build_steps(server: str, uri: str, client_cmd, env: dict[str, str], expected: dict[str, str], server_pid: int):
    """(assay pull, client, verify): callables that take a destination folder and return (seconds, io)."""

    def assay_pull(to: Path):
        seconds, io, out = run_child(
            [PY, "-m", "assay.cli", "pull", uri, "--to", str(to), "--json"], env, f"assay pull {uri}", server_pid
        )
        res = json.loads(out)
        got = {f["path"]: f["sha256"] for f in res["files"]}
        if not res["ok"] or got != expected or {f["status"] for f in res["files"]} != {"downloaded"}:
            raise StepFailed(
                f"assay pull {uri}: ok={res['ok']}, statuses "
                f"{sorted({f['status'] for f in res['files']})}, digests match: {got == expected}"
            )
        return seconds, io, res["seconds"]

    def client(to: Path):
        seconds, io, _ = run_child(client_cmd(to), env, f"{server} client", server_pid)
        missing = [p for p in expected if not (to / p).is_file()]
        if missing or not (to / "assay.yaml").is_file():
            raise StepFailed(f"{server} client: missing after the pull: {(missing or ['assay.yaml'])[:3]}")
        return seconds, io, None

    def verify(to: Path):
        seconds, io, out = run_child(
            [PY, "-m", "assay.cli", "verify", str(to / "assay.yaml"), "--strict", "--json"],
            env,
            f"assay verify --strict {to}",
            server_pid,
        )
        res = json.loads(out)
        got = {f["path"]: f["sha256"] for f in res["files"]}
        if not res["ok"] or got != expected or res["summary"]["hashed"] != len(expected):
            raise StepFailed(
                f"{server}: verify pass after the client: ok={res['ok']}, digests match: "
                f"{got == expected}, summary {res['summary']}"
            )
        return seconds, io, res["summary"]["seconds"]

    return assay_pull, client, verify


def bench_server(server: str, base: Path, release: Path, expected: dict[str, str], total: int, repeat: int) -> dict:
    from support.olah_server import make_hf_repo, repo_dir, start_olah
    from support.registry_server import start_registry

    work = base / server
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    published = [release / p for p in expected]
    if server == "registry":
        ctx = start_registry(work / "storage")
    else:
        ctx = start_olah(work / "mirrors")
    with ctx as srv:
        if server == "registry":
            uri = f"oci://{srv.host}/{OCI_REPO}:{OCI_TAG}"
            env = child_env(base)
            pushed = assay_cli(["push", str(release / "assay.yaml"), "--to", uri, "--json"], env)  # not timed
            if not pushed["ok"]:
                raise StepFailed(f"assay push {uri}: {pushed.get('message')}")
            stored = [srv.blob_path(f"sha256:{d}") for d in expected.values()]
            target = f"{srv.host}/{OCI_REPO}:{OCI_TAG}"
            client_name = "oras-py pull"

            def client_cmd(to: Path) -> list[str]:
                return [PY, "-c", ORAS_CLIENT, srv.host, target, str(to)]

            label = subprocess.run(["docker-registry", "--version"], capture_output=True, text=True).stdout.strip()
        else:
            files = {p.name: p.read_bytes() for p in published}
            files["assay.yaml"] = (release / "assay.yaml").read_bytes()
            files["assay.lock.yaml"] = (release / "assay.lock.yaml").read_bytes()
            make_hf_repo(work / "mirrors", HF_REPO, files, lfs_patterns=("*.dat",))  # not timed
            del files
            uri = f"hf://{HF_REPO}@main"
            env = child_env(base, srv.endpoint)
            objects = repo_dir(work / "mirrors", HF_REPO) / ".git" / "lfs" / "objects"
            stored = [objects / d[:2] / d[2:4] / d for d in expected.values()]
            client_name = "huggingface_hub snapshot_download"

            def client_cmd(to: Path) -> list[str]:
                return [PY, "-c", HF_CLIENT, HF_REPO, "main", str(to), srv.endpoint]

            olah_v = subprocess.run(
                [str(srv.cli.parent / "python"), "-c", "import importlib.metadata as m; print(m.version('olah'))"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            label = f"olah {olah_v or '?'} (offline, git mirror, LFS objects on disk)"
        read_all(stored)  # the server's bytes are page-cached
        assay_pull, client, verify = build_steps(server, uri, client_cmd, env, expected, srv.proc.pid)
        dest_a, dest_c = work / "pulled-assay", work / "pulled-client"
        runs: dict[str, list[dict]] = {"assay": [], "client": [], "verify": []}
        for _ in range(repeat):  # round-robin, so that background load hits every method alike
            fresh(dest_a)
            s, io, inner = assay_pull(dest_a)
            runs["assay"].append({"s": s, "io": io, "inner_s": inner})
            fresh(dest_c)
            s, io, _ = client(dest_c)
            runs["client"].append({"s": s, "io": io})
            os.sync()  # untimed: the verify pass does not pay for the client's write-back
            s, io, inner = verify(dest_c)
            runs["verify"].append({"s": s, "io": io, "inner_s": inner})
        fresh(dest_a)
        fresh(dest_c)

    combo = [
        {"s": c["s"] + v["s"], "io": {k: c["io"][k] + v["io"][k] for k in IO_KEYS}}
        for c, v in zip(runs["client"], runs["verify"])
    ]
    series = {
        "assay pull (hash while writing)": runs["assay"],
        f"{client_name} + assay verify --strict": combo,
        f"  {client_name} alone": runs["client"],
        "  assay verify --strict alone": runs["verify"],
    }
    a_best = min(r["s"] for r in runs["assay"])
    rows = []
    for name, rs in series.items():
        times = [r["s"] for r in rs]
        best = min(rs, key=lambda r: r["s"])
        rows.append(
            {
                "method": name,
                "runs_s": [round(t, 4) for t in times],
                "best_s": round(best["s"], 4),
                "median_s": round(statistics.median(times), 4),
                "gib_s": round(total / GIB / best["s"], 3),
                "vs_assay_pull": round(best["s"] / a_best, 2),
                "io_of_best": best["io"],
                "io_runs": [r["io"] for r in rs],
            }
        )
    ratio = rows[1]["best_s"] / rows[0]["best_s"]
    return {
        "server": server,
        "label": label,
        "uri": uri,
        "client": client_name,
        "rows": rows,
        "assay_pull_inprocess_s": [round(r["inner_s"], 4) for r in runs["assay"]],
        "verify_inprocess_s": [round(r["inner_s"], 4) for r in runs["verify"]],
        "ratio": round(ratio, 3),
        "verdict": "PASS" if ratio >= TARGET_RATIO else "MISS",
    }


def mib(n: int) -> str:
    return f"{n / MIB:.1f}"


def print_server(r: dict, files: int, total: int, repeat: int, startup_rchar: int) -> None:
    print(
        f"\n== {r['server']}: {r['label']}; {r['uri']}; {files} file(s), {total / GIB:.3f} GiB, "
        f"server storage page-cached; best of {repeat} (round-robin) =="
    )
    print(
        f"{'method':58} {'best s':>7} {'median s':>9} {'GiB/s':>6} {'x assay':>8} "
        f"{'rchar MiB':>10} {'read_bytes':>11} {'wchar MiB':>10} {'server rchar MiB':>17}"
    )
    for row in r["rows"]:
        io = row["io_of_best"]
        print(
            f"{row['method']:58} {row['best_s']:7.3f} {row['median_s']:9.3f} {row['gib_s']:6.2f} "
            f"{row['vs_assay_pull']:7.2f}x {mib(io['rchar']):>10} {io['read_bytes']:>11,} {mib(io['wchar']):>10} {mib(io['server_rchar']):>17}"
        )
    a, v = r["rows"][0], r["rows"][3]
    print(
        f"'x assay' = method time / assay pull time; I/O columns: the best run's, of the child process(es) "
        f"(/proc/self/io deltas) and of the server process (/proc/PID/io); release = {mib(total)} MiB"
    )
    print(
        f"assay pull in-process seconds: {r['assay_pull_inprocess_s']}; verify pass in-process seconds: "
        f"{r['verify_inprocess_s']}"
    )
    vr, ar = v["io_of_best"]["rchar"], a["io_of_best"]["rchar"]
    vd = v["io_of_best"]["read_bytes"]
    cached = " (the pulled files were still page-cached)" if vd < total // 10 else ""
    print(
        f"second read: the verify pass read {mib(vr)} MiB (rchar) = the {mib(total)} MiB release + "
        f"{mib(vr - total)} MiB of start-up, imports, manifest and lock (`assay --help` alone reads "
        f"{mib(startup_rchar)} MiB); {vd:,} B of it came from disk (read_bytes){cached}"
    )
    print(
        f"assay pull: rchar {mib(ar)} MiB, {a['io_of_best']['read_bytes']:,} B from disk: the file data arrives by "
        f"recv(2) (not in rchar) and is hashed as it is written, never read back"
    )
    print(f"TARGET ({r['client']} + verify) / assay pull >= {TARGET_RATIO}x: got {r['ratio']:.2f}x -> {r['verdict']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=4, help="number of files in the synthetic release")
    ap.add_argument("--size-mib", type=int, default=128, help="size of each file, MiB")
    ap.add_argument("--repeat", type=int, default=3, help="runs per method; the table shows the best")
    ap.add_argument("--servers", choices=["both", "registry", "olah"], default="both", help="which servers to run")
    ap.add_argument("--dir", type=Path, help="work here (the synthetic release is reused when sizes match)")
    ap.add_argument("--json", type=Path, dest="json_out", help="write the results here")
    args = ap.parse_args()

    import huggingface_hub
    import oras.version

    base = (args.dir or Path(tempfile.mkdtemp(prefix="assay-pull-speed-"))).resolve()
    base.mkdir(parents=True, exist_ok=True)
    sizes = [args.size_mib * MIB] * args.files
    total = sum(sizes)
    servers = ["registry", "olah"] if args.servers == "both" else [args.servers]
    print(
        f"cores (sched_getaffinity) = {cores()}, os.cpu_count() = {os.cpu_count()}, python "
        f"{platform.python_version()}, huggingface_hub {huggingface_hub.__version__}, oras-py "
        f"{oras.version.__version__}, load average {os.getloadavg()[0]:.2f}"
    )
    results, failed = [], None
    try:
        release = base / "release"
        paths = make_release(release, sizes)
        for name in ("assay.yaml", "assay.lock.yaml"):
            (release / name).unlink(missing_ok=True)
        env = child_env(base)
        init = assay_cli(["init", str(release), "--name", "bench-rel", "--version", "1", "--json"], env)  # not timed
        expected = {f["path"]: f["sha256"] for f in init["files"]}
        if sorted(expected) != sorted(p.name for p in paths):
            raise StepFailed(f"assay init listed {sorted(expected)}")
        read_all(paths)
        _, startup_io, _ = run_child([PY, "-m", "assay.cli", "--help"], env, "assay --help")
        for server in servers:
            r = bench_server(server, base, release, expected, total, args.repeat)
            results.append(r)
            print_server(r, args.files, total, args.repeat, startup_io["rchar"])
    except StepFailed as exc:
        failed = str(exc)
        print(f"\nFAILED: {failed}", file=sys.stderr)
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    print(f"load average after the run: {os.getloadavg()[0]:.2f} (other processes may share these {cores()} cores)")
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {
                    "cores": cores(),
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "huggingface_hub": huggingface_hub.__version__,
                    "oras": oras.version.__version__,
                    "args": vars(args) | {"dir": str(args.dir), "json_out": str(args.json_out)},
                    "bytes": total,
                    "servers": results,
                    "failed": failed,
                },
                indent=2,
            )
            + "\n"
        )
        print(f"wrote {args.json_out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
