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

from ..manifests.errors import InputError
from .recount import count_file

Job = tuple[Hashable, str, str, "str | None", "str | None"]
EXECUTORS = ("local", "ray")


def run_local(jobs: list[Job], workers: int = 1) -> dict[Hashable, dict[str, Any]]:
    """Files one after another (or a few threads: Parquet decoding and tokenisation release the GIL)."""
    if workers <= 1 or len(jobs) <= 1:
        return {key: count_file(path, fmt, tok, field) for key, path, fmt, tok, field in jobs}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="assay-count") as pool:
        futures = {key: pool.submit(count_file, path, fmt, tok, field) for key, path, fmt, tok, field in jobs}
        return {key: fut.result() for key, fut in futures.items()}


def run_ray(jobs: list[Job], address: str | None = None) -> dict[Hashable, dict[str, Any]]:
    """One Ray task per file, on an existing cluster (``address``, or ``RAY_ADDRESS``) or a local instance."""
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install 'assay[ray]'") from None
    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        started = True
    try:
        task = ray.remote(num_cpus=1)(count_file)
        refs = {key: task.remote(path, fmt, tok, field) for key, path, fmt, tok, field in jobs}
        return {key: ray.get(ref) for key, ref in refs.items()}
    finally:
        if started:
            ray.shutdown()


def run_counts(jobs: list[Job], executor: str = "local", *, workers: int = 1, address: str | None = None) -> dict[Hashable, dict[str, Any]]:
    if executor == "local":
        return run_local(jobs, workers)
    if executor == "ray":
        return run_ray(jobs, address)
    raise InputError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
