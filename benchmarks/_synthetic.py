"""Shared by the benchmarks: synthetic releases of random files, page-cache warming, core count."""

from __future__ import annotations

import os
from pathlib import Path

MIB, GIB = 1 << 20, 1 << 30


def cores() -> int:
    return len(os.sched_getaffinity(0))


def make_release(folder: Path, sizes: list[int], seed: int = 0) -> list[Path]:
    """Write random files (reused when ``folder`` already holds them at the right size)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import numpy as np

        rng = np.random.default_rng(seed)
        rand = rng.bytes
    except ImportError:  # pragma: no cover
        rand = os.urandom
    paths = []
    for i, size in enumerate(sizes, 1):
        p = folder / f"shard-{i:05d}-of-{len(sizes):05d}.dat"  # .dat: role "other", so no structural audit runs
        if not (p.exists() and p.stat().st_size == size):
            with open(p, "wb") as fh:
                for off in range(0, size, 16 * MIB):
                    fh.write(rand(min(16 * MIB, size - off)))
        paths.append(p)
    return paths


def read_all(paths: list[Path]) -> None:
    """Bring every file into the page cache."""
    buf = bytearray(4 * MIB)
    for p in paths:
        with open(p, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
