"""A serving fleet: one re-run spread over several OpenAI-compatible endpoints (replicas of one model).

:class:`FleetBackend` drives one :class:`~assay.evals.backends.openai.OpenAIBackend` client per endpoint (its HTTP
session, request body, parsing and error classes) and adds the fleet's rules:

* **Spread, per-endpoint concurrency.**  Each endpoint takes at most ``concurrency`` requests at once; a request goes
  to the least loaded endpoint that is up.  Threads, as the single-endpoint client: one worker per slot of the
  fleet, each carrying one request from its first try to its result.
* **Retry elsewhere.**  A request whose try failed in a way a retry may fix (connection refused or reset, dropped
  mid-flight, timeout, HTTP 408/409/425/429/5xx, a malformed answer) is tried next on an endpoint it has not failed
  on yet, as soon as one that is up has a free slot; only when every endpoint that is up has already failed it is it
  tried again on one of those, after the client's backoff (``Retry-After`` honoured).  A client error (400, 404,
  422…) is the request's, not the endpoint's: it fails at once.  A request is tried at most
  ``max(retries + 1, number of endpoints)`` times in all, so losing an endpoint never costs it its retries.
* **Down, cool-off, re-probe.**  An endpoint is marked down at once when it does not answer at all (connection
  refused, reset, dropped), or after ``down_after`` failed tries in a row; nothing is sent to it for ``cooloff``
  seconds, then one ``GET /models`` re-probes it (success: up again; failure: the cool-off doubles, up to
  ``cooloff_cap``).  Endpoints unreachable when the fleet is built start down.
* **Never a hang.**  When every endpoint is down and each has failed a re-probe since it went down, the remaining
  requests fail at once with an error that says so (the re-run turns it into a finding); a fleet none of whose
  endpoints answers when it is built is a :class:`BackendError` (exit 2).
* **Exactly one result per request**, in request order, recording the endpoint that answered (``extra["endpoint"]``)
  and those it failed on first (``extra["retried_from"]``).  :meth:`FleetBackend.tally` counts, per endpoint, the
  requests it answered, those that failed for good there, and those that moved elsewhere after failing there; the
  answered and failed counts of all endpoints plus ``not_sent`` sum to the requests made.
* **Determinism.**  The request body, sampled requests' seed included, is built once per request from the request
  alone (the seed derives from the request id), so it does not depend on the endpoint that answers.

Why hand-written rather than a library: HTTP load balancers (a reverse proxy, ``requests``' or ``urllib3``'s retries)
retry on the same host or hide which host answered; the re-run needs the answering endpoint per item and an exact
count of where each request went, so the scheduling is a small condition-variable loop over the stdlib threads the
single-endpoint client already uses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from . import BackendError, GenRequest, GenResult
from .openai import OpenAIBackend, normalise_base_url, only_model


class EndpointTally(BaseModel):
    """What one endpoint of a fleet did since the fleet was built."""

    base_url: str
    state: Literal["up", "down"] = "up"
    answered: int = Field(0, description="Requests it answered (their result).")
    failed: int = Field(0, description="Requests that failed for good here (their last try was here).")
    retried_elsewhere: int = Field(0, description="Requests that failed here and were then tried on another endpoint.")
    errors: int = Field(0, description="Failed tries here (a request may fail here more than once).")
    marked_down: int = Field(0, description="Times it was marked down.")
    last_error: str | None = None


class FleetTally(BaseModel):
    """A fleet's counts: ``sum(answered) + sum(failed) + not_sent == requests``."""

    requests: int = 0
    answered: int = 0
    failed: int = 0
    not_sent: int = Field(0, description="Requests failed without being sent (every endpoint was down).")
    endpoints: list[EndpointTally] = Field(default_factory=list)


@dataclass
class _Endpoint:
    index: int
    client: OpenAIBackend
    capacity: int
    cooloff: float
    tally: EndpointTally
    inflight: int = 0
    active: set[str] = field(default_factory=set)  # ids of the requests in flight here
    up: bool = True
    consecutive: int = 0
    down_until: float = 0.0
    probing: bool = False
    probe_failures: int = 0  # failed re-probes since it last went down


class FleetBackend:
    """Several OpenAI-compatible endpoints serving one model, used as one backend.  See the module docstring."""

    name = "openai"

    def __init__(
        self,
        base_urls: Sequence[str],
        *,
        model: str | None = None,
        concurrency: int = 8,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        down_after: int = 3,
        cooloff: float = 10.0,
        cooloff_cap: float = 120.0,
        probe_timeout: float = 10.0,
        api_key: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise BackendError("concurrency must be at least 1")
        if retries < 0:
            raise BackendError("retries must be ≥ 0")
        if down_after < 1:
            raise BackendError("down_after must be at least 1")
        urls = [normalise_base_url(u) for u in base_urls]
        if not urls:
            raise BackendError("a fleet needs at least one --base-url")
        dupes = sorted({u for u in urls if urls.count(u) > 1})
        if dupes:
            raise BackendError(f"--base-url {dupes[0]} given twice (--concurrency is per endpoint already)")
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.down_after = down_after
        self.cooloff = cooloff
        self.cooloff_cap = cooloff_cap
        self.probe_timeout = probe_timeout
        self._cond = threading.Condition(threading.Lock())
        self._not_sent = 0
        self._requests = 0
        self._eps = [
            _Endpoint(
                i,
                OpenAIBackend(
                    u,
                    model=model,
                    concurrency=concurrency,
                    timeout=timeout,
                    connect_timeout=connect_timeout,
                    retries=retries,
                    backoff=backoff,
                    backoff_cap=backoff_cap,
                    api_key=api_key,
                    list_models=False,
                ),
                concurrency,
                cooloff,
                EndpointTally(base_url=u),
            )
            for i, u in enumerate(urls)
        ]
        self.model = model or self._first_probe()
        for e in self._eps:
            e.client.model = self.model

    # ------------------------------------------------------------------------------------------------ set-up
    def _first_probe(self) -> str | None:
        """Probe every endpoint (in parallel): the unreachable start down; all unreachable is an error; the model
        is the one the reachable endpoints list (they must agree)."""

        def probe(e: _Endpoint) -> tuple[list[str] | None, str | None]:
            try:
                return e.client.probe(self.probe_timeout, strict=True), None
            except BackendError as exc:
                return None, str(exc)

        with ThreadPoolExecutor(max_workers=len(self._eps), thread_name_prefix="assay-fleet-probe") as pool:
            found = list(pool.map(probe, self._eps))
        dead = [(e, err) for e, (_, err) in zip(self._eps, found, strict=True) if err is not None]
        if len(dead) == len(self._eps):
            raise BackendError(
                f"cannot reach any of the {len(self._eps)} endpoints: " + "; ".join(err or "" for _, err in dead)
            )
        with self._cond:
            now = time.monotonic()
            for e, err in dead:
                self._mark_down(e, err or "unreachable", now)
                e.probe_failures = 1  # it failed its probe: a fleet whose live endpoints die gives up without waiting
        models: dict[str, str] = {}
        for e, (ids, failure) in zip(self._eps, found, strict=True):
            if failure is None:
                listed = only_model(e.client.base_url, ids)
                if listed is not None:
                    models[e.client.base_url] = listed
        if len(set(models.values())) > 1:
            listed = ", ".join(f"{u}: {m}" for u, m in models.items())
            raise BackendError(
                f"the endpoints serve different models ({listed}): a fleet serves one model (name it with --model)"
            )
        return next(iter(models.values()), None)

    # ------------------------------------------------------------------------------------------------ protocol
    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "fleet": True,
            "base_urls": [e.client.base_url for e in self._eps],
            "model": self.model,
            "concurrency": self.concurrency,
            "concurrency_per": "endpoint",
            "timeout_s": self.timeout,
            "retries": self.retries,
            "down_after": self.down_after,
            "cooloff_s": self.cooloff,
            **self.tally().model_dump(),
        }

    def tally(self) -> FleetTally:
        """The counts so far (a consistent snapshot; safe to call while :meth:`generate` runs)."""
        with self._cond:
            eps = [e.tally.model_copy(update={"state": "up" if e.up else "down"}) for e in self._eps]
            return FleetTally(
                requests=self._requests,
                answered=sum(t.answered for t in eps),
                failed=sum(t.failed for t in eps),
                not_sent=self._not_sent,
                endpoints=eps,
            )

    def inflight(self) -> dict[str, list[str]]:
        """The ids of the requests in flight, per endpoint (a consistent snapshot, for progress and tests)."""
        with self._cond:
            return {e.client.base_url: sorted(e.active) for e in self._eps}

    def close(self) -> None:
        for e in self._eps:
            e.client.close()

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        if not requests:
            return []
        with self._cond:
            self._requests += len(requests)
        workers = min(len(requests), self.concurrency * len(self._eps))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="assay-fleet") as pool:
            return list(pool.map(self._one, requests))

    # ------------------------------------------------------------------------------------------------ scheduling
    def _mark_down(self, e: _Endpoint, error: str, now: float) -> None:
        """(Lock held.)  Stop sending to ``e`` for its cool-off."""
        if e.up:
            e.up = False
            e.tally.marked_down += 1
            e.probe_failures = 0
        e.down_until = now + e.cooloff
        e.tally.last_error = error
        self._cond.notify_all()

    def _acquire(self, tried: set[int], rid: str) -> _Endpoint | None:
        """A slot on an endpoint for the next try: an up endpoint the request has not failed on (waiting for a free
        slot there), else any up endpoint; None when the whole fleet is down and has failed its re-probes."""
        with self._cond:
            while True:
                now = time.monotonic()
                due = [e for e in self._eps if not e.up and not e.probing and e.down_until <= now]
                if due:  # a cool-off ended: this thread re-probes that endpoint, then looks again
                    self._reprobe(due[0])
                    continue
                up = [e for e in self._eps if e.up]
                pool = [e for e in up if e.index not in tried] or up
                free = [e for e in pool if e.inflight < e.capacity]
                if free:
                    e = min(free, key=lambda e: (e.inflight / e.capacity, e.index))
                    e.inflight += 1
                    e.active.add(rid)
                    return e
                down = [e for e in self._eps if not e.up and not e.probing]
                if not pool and len(down) == len(self._eps) and all(e.probe_failures > 0 for e in down):
                    return None
                # wait for a free slot (a release notifies) or for the next cool-off to end
                self._cond.wait(timeout=max(0.01, min(e.down_until for e in down) - now) if down else None)

    def _reprobe(self, e: _Endpoint) -> None:
        """(Lock held; released during the probe.)  One ``GET /models`` on a down endpoint whose cool-off ended."""
        e.probing = True
        self._cond.release()
        try:
            try:
                e.client.probe(self.probe_timeout, strict=True)
                error = None
            except BackendError as exc:
                error = str(exc)
        finally:
            self._cond.acquire()
        e.probing = False
        if error is None:
            e.up, e.consecutive, e.cooloff, e.probe_failures = True, 0, self.cooloff, 0
        else:
            e.probe_failures += 1
            e.cooloff = min(self.cooloff_cap, e.cooloff * 2)
            e.down_until = time.monotonic() + e.cooloff
            e.tally.last_error = error
        self._cond.notify_all()

    def _release(self, e: _Endpoint, rid: str, ok: bool, a_error: str | None, connection: bool, counts: bool) -> None:
        """Give the slot back; count a failed try against the endpoint (``counts``: not a client error)."""
        with self._cond:
            e.inflight -= 1
            e.active.discard(rid)
            if ok:
                e.consecutive = 0
            elif counts:
                e.tally.errors += 1
                e.consecutive += 1
                e.tally.last_error = a_error
                if connection or e.consecutive >= self.down_after:
                    self._mark_down(e, a_error or "failed", time.monotonic())
            self._cond.notify_all()

    def _one(self, r: GenRequest) -> GenResult:
        route, body = self._eps[0].client.body(r)  # one body per request, whatever endpoint answers (its seed too)
        t0 = time.perf_counter()
        max_tries = max(self.retries + 1, len(self._eps))
        tried: list[int] = []
        last: _Endpoint | None = None
        error, retry_after = "no attempt made", None

        def done(res: GenResult) -> GenResult:
            res.attempts = len(tried) + (1 if res.ok else 0)
            res.latency_s = round(time.perf_counter() - t0, 6)
            if tried:
                res.extra["retried_from"] = [self._eps[i].client.base_url for i in tried]
            return res

        while True:
            e = self._acquire(set(tried), r.id)
            if e is None:
                with self._cond:
                    if last is not None:
                        last.tally.failed += 1
                    else:
                        self._not_sent += 1
                down = ", ".join(f"{x.client.base_url} ({x.tally.last_error or 'down'})" for x in self._eps)
                return done(
                    GenResult(
                        id=r.id,
                        text=None,
                        error=f"every endpoint of the fleet is down: {down}"
                        + (f"; this request's last error: {error}" if last is not None else ""),
                        extra={"endpoint": None},
                    )
                )
            if last is not None and last is not e:
                with self._cond:
                    last.tally.retried_elsewhere += 1
            if e.index in tried:  # no fresh endpoint is up: back off before trying this one again
                time.sleep(e.client._delay(tried.count(e.index) - 1, retry_after))
            a = e.client.attempt(r, route, body, attempts=len(tried) + 1, t0=t0)
            self._release(e, r.id, a.result is not None, a.error, a.connection, a.retryable)
            last = e
            if a.result is not None:
                with self._cond:
                    e.tally.answered += 1
                return done(a.result)
            error, retry_after = a.error, a.retry_after
            tried.append(e.index)
            if not a.retryable or len(tried) >= max_tries:
                with self._cond:
                    e.tally.failed += 1
                more = "" if not a.retryable else f" (after {len(tried)} tries on {len(set(tried))} endpoints)"
                return done(
                    GenResult(id=r.id, text=None, error=f"{error}{more}", extra={"endpoint": e.client.base_url})
                )
