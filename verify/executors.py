"""Where per-file work runs: threads in this process (``local``) or Ray tasks (``ray``, an optional extra).

A 200B-token mixture or a multi-terabyte checkpoint is more than one machine reads in reasonable time: with
``--executor ray`` each file becomes one Ray task on an existing cluster (``--ray-address``, or ``RAY_ADDRESS``) or on
a local Ray instance.  Every path must be readable where its task runs (a shared file system).  Results come back
keyed like the calls, so reports do not depend on the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from ..manifests.errors import InputError, require_extra

EXECUTORS = ("local", "ray")
_K = TypeVar("_K", bound=Hashable)


def check_executor(executor: str) -> str:
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
    return executor


def ray_map(
    fn: Callable[..., Any],
    calls: dict[_K, tuple[Any, ...]],
    *,
    address: str | None = None,
    on_done: Callable[[_K, Any], None] | None = None,
) -> dict[_K, Any]:
    """Run ``fn(*args)`` for every ``key: args`` as one Ray task each; ``on_done`` sees results as they finish."""
    ray = require_extra("ray", "ray", "--executor ray")
    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        started = True
    try:
        task = ray.remote(num_cpus=1)(fn)
        pending = {task.remote(*args): key for key, args in calls.items()}
        results: dict[_K, Any] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                key = pending.pop(ref)
                results[key] = ray.get(ref)
                if on_done is not None:
                    on_done(key, results[key])
        return results
    finally:
        if started:
            ray.shutdown()
