"""The command of every generated DVC stage: ``python -m assay.recipes.stage _assay/<recipe>.spec.json``.

It runs inside the work dir (DVC's stage wdir), pins torch threads and seeds before the step imports anything
heavy, records the environment to ``_assay/<recipe>.env.json`` (with the run id the parent passed in
``ASSAY_REBUILD_RUN_ID``), then runs the built-in step or the recipe's ``cmd:``.  A failure writes its one-line
reason into the env record and exits 1, so DVC stops and the parent can say which recipe failed and why.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STDERR_TAIL = 2000


def _write(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def run(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    threads = int(spec["threads"])
    seed = spec.get("seed")
    env_path = Path(spec["env_path"])
    run_id = os.environ.get("ASSAY_REBUILD_RUN_ID", "")
    inputs = [Path(p) for p in spec["inputs"]]
    outputs = [Path(p) for p in spec["outputs"]]
    for p in outputs:
        p.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    error: str | None = None
    if spec["step"] == "cmd":
        from .environment import record

        env = record(seed, threads, run_id, "cmd")
        child = dict(
            os.environ,
            OMP_NUM_THREADS=str(threads),
            MKL_NUM_THREADS=str(threads),
            ASSAY_INPUTS=" ".join(map(str, inputs)),
            ASSAY_OUTPUTS=" ".join(map(str, outputs)),
        )
        if seed is not None:
            child["ASSAY_SEED"] = str(seed)
        proc = subprocess.run(spec["cmd"], shell=True, env=child, capture_output=True, text=True)
        env["cmd_stdout_tail"] = proc.stdout[-STDERR_TAIL:]
        env["cmd_stderr_tail"] = proc.stderr[-STDERR_TAIL:]
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "(no stderr)"
            error = f"cmd exited with status {proc.returncode}: {last}"
        else:
            missing = [str(p) for p in outputs if not p.is_file()]
            if missing:
                error = f"cmd succeeded but did not write {', '.join(missing)}"
    else:
        import torch

        torch.set_num_threads(threads)
        if seed is not None:
            random.seed(seed)
            torch.manual_seed(seed)
        from .environment import record
        from .steps import STEPS, StepError

        env = record(seed, threads, run_id, spec["step"])
        try:
            STEPS[spec["step"]](inputs, outputs, spec.get("params") or {})
        except StepError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 -- a bug or an unexpected input: still one line in the report
            error = f"{type(exc).__name__}: {exc}"
    env["seconds"] = round(time.perf_counter() - t0, 4)
    env["error"] = error
    _write(env_path, env)
    if error:
        sys.stderr.write(f"assay-stage {spec['name']}: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
