#!/usr/bin/env python3
"""How long ``assay --help`` takes (target: <= 0.15 s total process time), beside its named peers in the same run.

Each command runs ``--runs`` times in round-robin order (so background load hits all alike) as a fresh process;
the table shows the median wall time, user + system CPU time (the children's ``resource`` usage), and the ratio
to the bare interpreter:

* ``python -c pass``: the interpreter alone (the floor no Python CLI can go under);
* ``python -c "import typer"``: the CLI framework alone;
* ``assay --help`` and ``assay verify --help`` through the console script (``.venv/bin/assay``), as a user types
  them, and ``assay --version``.

It also prints the ten costliest imports of ``assay --help`` (``python -X importtime``, cumulative microseconds).
The script reports; it exits non-zero only if a command fails.

    .venv/bin/python benchmarks/startup_speed.py                  # 21 runs each
    .venv/bin/python benchmarks/startup_speed.py --runs 5 --json /tmp/startup_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.15


def _commands() -> dict[str, list[str]]:
    py = sys.executable
    assay = shutil.which("assay", path=str(Path(py).parent)) or shutil.which("assay")
    base = [assay] if assay else [py, "-m", "assay.cli"]
    return {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import typer'": [py, "-c", "import typer"],
        "assay --version": [*base, "--version"],
        "assay --help": [*base, "--help"],
        "assay verify --help": [*base, "verify", "--help"],
    }


def _run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, user + system CPU seconds) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _top_imports(env: dict[str, str], n: int = 10) -> list[tuple[int, str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "assay.cli", "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = (x.strip() for x in line.split(":", 1)[1].split("|"))
            if name.strip() == name:  # top-level imports only (nested ones are indented)
                rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=21, help="runs per command (default 21)")
    ap.add_argument("--json", type=Path, help="write every number here")
    args = ap.parse_args()
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    cmds = _commands()
    for argv in cmds.values():  # warm the page cache and the bytecode caches
        _run_once(argv, env)
    walls: dict[str, list[float]] = {k: [] for k in cmds}
    cpus: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.runs):
        for name, argv in cmds.items():
            w, c = _run_once(argv, env)
            walls[name].append(w)
            cpus[name].append(c)
    med = {k: statistics.median(v) for k, v in walls.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items()}
    floor = med["python -c pass"]
    print(f"start-up, median of {args.runs} runs each ({os.cpu_count()} cores; {sys.version.split()[0]})")
    print(f"{'command':28} {'wall s':>8} {'cpu s':>8} {'x python':>9} {'- python':>9}")
    for k in cmds:
        print(f"{k:28} {med[k]:8.3f} {cpu[k]:8.3f} {med[k] / floor:9.2f} {med[k] - floor:9.3f}")
    help_s = med["assay --help"]
    verdict = "meets" if help_s <= TARGET_S else "misses"
    print(f"assay --help: {help_s:.3f} s ({verdict} the {TARGET_S} s target; {help_s / TARGET_S:.2f} x the target)")
    print("costliest imports of `assay --help` (cumulative us):")
    top = _top_imports(env)
    for us, name in top:
        print(f"  {us:>9,}  {name}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": args.runs,
                    "wall_s": walls,
                    "cpu_s": cpus,
                    "median_wall_s": med,
                    "median_cpu_s": cpu,
                    "target_s": TARGET_S,
                    "top_imports_us": top,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
