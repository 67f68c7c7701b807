"""The environment a rebuild step ran in: what decides whether its bytes can be reproduced.

Recorded by the stage process itself (not the parent), after threads and seeds are set: Python, torch and the
libraries that write the bytes, torch's intra/inter-op threads, the ATen CPU capability actually dispatched to
(default/avx2/avx512…) and the variables that override it, BLAS/OpenMP settings, the seed, and the run id that
proves this process ran now (DVC did not restore a cached output).
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

ENV_VARS = (
    "ATEN_CPU_CAPABILITY",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "MKL_CBWR",
    "CUBLAS_WORKSPACE_CONFIG",
    "PYTHONHASHSEED",
    "TOKENIZERS_PARALLELISM",
)


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:  # not installed
        return None


def record(seed: int | None, threads: int, run_id: str, step: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        "run_id": run_id,
        "step": step,
        "seed": seed,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": _version("numpy"),
        "safetensors": _version("safetensors"),
        "tokenizers": _version("tokenizers"),
        "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
    }
    if "torch" in sys.modules or step != "cmd":
        import torch

        env.update(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "interop_threads": torch.get_num_interop_threads(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            }
        )
    else:
        env.update({"torch": _version("torch"), "threads": threads})
    return env
