"""Executors for the per-file recount: in this process (local) or as Ray tasks (ray, an optional extra).

Both run the same pure function, :func:`assay.mixtures.recount.count_file`, on the same job list and return results
keyed like the jobs, so the report does not depend on the executor.  A job is
``(key, path, format, tokenizer_path, text_field)``; every path must be readable where the task runs (a shared
file system on a cluster).
"""

from __future__ import annotations

from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..manifests.errors import require_extra
from ..verify.executors import EXECUTORS, check_executor  # noqa: F401 - EXECUTORS is re-exported for the CLI
from .recount import count_file

Job = tuple[Hashable, str, str, "str | None", "str | None"]


def run_local(jobs: list[Job], workers: int = 1) -> dict[Hashable, dict[str, Any]]:
    """Files one after another (or a few threads: Parquet decoding and tokenisation release the GIL)."""
    if workers <= 1 or len(jobs) <= 1:
        return {key: count_file(path, fmt, tok, field) for key, path, fmt, tok, field in jobs}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="assay-count") as pool:
        futures = {key: pool.submit(count_file, path, fmt, tok, field) for key, path, fmt, tok, field in jobs}
        return {key: fut.result() for key, fut in futures.items()}


def run_ray(jobs: list[Job], address: str | None = None) -> dict[Hashable, dict[str, Any]]:
    """One Ray task per file, on an existing cluster (``address``, or ``RAY_ADDRESS``) or a local instance."""
    from ..verify.executors import ray_map

    return ray_map(count_file, {key: (path, fmt, tok, field) for key, path, fmt, tok, field in jobs}, address=address)


def require_counting_extras(jobs: list[Job]) -> None:
    """Parquet and token recounts need packages outside the core install (the ``rebuild`` extra): checked here,
    before any file is read, so a missing one is exit 2 naming the extra rather than an ImportError in a worker."""
    if any(fmt == "parquet" for _, _, fmt, _, _ in jobs):
        require_extra("pyarrow", "rebuild", "recounting Parquet data")
    if any(tok is not None for _, _, _, tok, _ in jobs):
        require_extra("tokenizers", "rebuild", "recounting tokens with the declared tokenizer")


def run_counts(
    jobs: list[Job], executor: str = "local", *, workers: int = 1, address: str | None = None
) -> dict[Hashable, dict[str, Any]]:
    require_counting_extras(jobs)
    if check_executor(executor) == "ray":
        return run_ray(jobs, address)
    return run_local(jobs, workers)
