"""Generation over the OpenAI-compatible HTTP API of one server: vLLM, SGLang, TGI, ``transformers serve`` (several
replicas behind several URLs: :mod:`.fleet`, which drives one of these clients per endpoint).

* Chat requests go to ``POST {base}/chat/completions``, raw prompts to ``POST {base}/completions``.  Only standard
  fields are sent (``model, messages|prompt, max_tokens, temperature, top_p, seed, stop``): ``transformers serve``
  answers 422 to fields it does not know, and it ignores ``n``/``logprobs``.
* A raw prompt's BOS is the server's business (vLLM, SGLang and ``transformers serve`` add the tokenizer's special
  tokens); ``GenRequest.add_special_tokens=False`` cannot be honoured portably and is not sent.
* Images travel inline as ``data:`` URLs (``{"type": "image_url", "image_url": {"url": "data:image/png;base64,…"}}``),
  so the server needs no access to assay's files.
* Concurrency: a thread pool of ``concurrency`` workers, one keep-alive ``requests.Session`` per thread.
* Retries: connection errors, timeouts and HTTP 408/409/425/429/5xx are retried up to ``retries`` times with
  exponential backoff and full jitter (``Retry-After`` honoured, capped); other HTTP errors (400, 401, 404, 422…) fail
  at once.  A request that fails for good yields a :class:`GenResult` with ``error`` set, never an exception, so one
  bad sample does not lose a fleet's worth of work.
* Timeouts: ``connect_timeout`` to connect, ``timeout`` for the whole response (read timeout).
* Seeds: a sampled request is sent ``seed = f(manifest seed, request id)``, so requests draw independent streams and a
  server with per-request seeding (vLLM, SGLang) reproduces each sample.  ``transformers serve`` seeds its global
  torch RNG per request, so its samples are reproducible only at ``concurrency=1``.
* ``transformers serve`` samples only when the model's ``generation_config`` has ``do_sample: true``: a temperature
  sent to a model whose generation config is greedy is silently ignored there.
* The API key comes from ``ASSAY_OPENAI_API_KEY`` or ``OPENAI_API_KEY`` and is never printed.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import BackendError, GenRequest, GenResult, Message, cut_at_stop

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def normalise_base_url(url: str) -> str:
    """``http://host:8000`` or ``http://host:8000/v1/`` → ``http://host:8000/v1``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BackendError(f"--base-url {url!r}: expected http(s)://host[:port][/v1]")
    base = url.rstrip("/")
    if not urlsplit(base).path.endswith("/v1"):
        base += "/v1"
    return base


def request_seed(seed: int, request_id: str) -> int:
    """A per-request seed (31 bits, accepted by every server) derived from the pinned seed and the request id."""
    h = hashlib.sha256(f"assay-rerun-seed-v1\n{seed}\n{request_id}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def only_model(where: str, ids: list[str] | None) -> str | None:
    """The one model of a listing; None for no listing; an error when a server lists several (name one)."""
    if not ids:
        return None
    if len(ids) == 1:
        return ids[0]
    raise BackendError(f"{where} serves {len(ids)} models ({', '.join(ids[:5])}…): name one with --model")


@dataclass(frozen=True)
class Attempt:
    """One try of one request at one endpoint: a ``result``, or an ``error`` that a retry may (``retryable``) fix."""

    result: GenResult | None = None
    error: str = ""
    retryable: bool = True
    retry_after: str | None = None
    status: int | None = None
    connection: bool = False  # no answer at all (refused, reset, dropped mid-flight): the endpoint looks dead


def message_json(m: Message) -> dict[str, Any]:
    if isinstance(m.content, str):
        return {"role": m.role, "content": m.content}
    content = []
    for p in m.parts:
        if p.type == "image":
            if p.image is None:
                raise BackendError("an image part without an image")
            content.append({"type": "image_url", "image_url": {"url": p.image.data_url()}})
        else:
            content.append({"type": "text", "text": p.text or ""})
    return {"role": m.role, "content": content}


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        concurrency: int = 8,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        api_key: str | None = None,
        list_models: bool = True,
    ) -> None:
        if concurrency < 1:
            raise BackendError("concurrency must be at least 1")
        if retries < 0:
            raise BackendError("retries must be ≥ 0")
        self.base_url = normalise_base_url(base_url)
        self.concurrency = concurrency
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self._api_key = (
            api_key
            if api_key is not None
            else (os.environ.get("ASSAY_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY"))
        )
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self._rng = random.Random()
        # a fleet (:mod:`.fleet`) lists each endpoint's models itself, marking the unreachable ones down
        self.model = model if model or not list_models else self._only_model()

    # ------------------------------------------------------------------------------------------------ plumbing
    def _session(self):
        s = getattr(self._local, "session", None)
        if s is None:
            import requests
            from requests.adapters import HTTPAdapter

            s = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, self.concurrency))
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers["User-Agent"] = "assay-rerun"
            if self._api_key:
                s.headers["Authorization"] = f"Bearer {self._api_key}"
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def _only_model(self) -> str | None:
        """The one model a server lists (``GET /models``); None when the listing is unavailable."""
        return only_model(self.base_url, self.probe(timeout=30))

    def close(self) -> None:
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "base_url": self.base_url,
            "model": self.model,
            "concurrency": self.concurrency,
            "timeout_s": self.timeout,
            "retries": self.retries,
        }

    # ------------------------------------------------------------------------------------------------ requests
    def body(self, r: GenRequest) -> tuple[str, dict[str, Any]]:
        """The route and JSON body of one request."""
        s = r.sampling
        body: dict[str, Any] = {}
        if self.model is not None:
            body["model"] = self.model
        if r.prompt is not None:
            route = "completions"
            body["prompt"] = r.prompt
        else:
            route = "chat/completions"
            body["messages"] = [message_json(m) for m in r.messages]
        body["max_tokens"] = s.max_new_tokens
        body["temperature"] = float(s.temperature or 0.0)
        if s.stop:
            body["stop"] = list(s.stop)
        if not s.greedy:
            if s.top_p is not None:
                body["top_p"] = s.top_p
            if s.top_k is not None:  # not an OpenAI field: vLLM/SGLang take it, transformers serve answers 422
                body["top_k"] = s.top_k
            if s.seed is not None:
                body["seed"] = request_seed(s.seed, r.id)
        return route, body

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        if not requests:
            return []
        if self.concurrency == 1 or len(requests) == 1:
            return [self._one(r) for r in requests]
        workers = min(self.concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="assay-rerun") as pool:
            return list(pool.map(self._one, requests))

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(self.backoff_cap, max(0.0, float(retry_after)))
            except ValueError:
                pass
        ceiling = min(self.backoff_cap, self.backoff * (2**attempt))
        with self._lock:
            return ceiling * (0.5 + 0.5 * self._rng.random())

    def _one(self, r: GenRequest) -> GenResult:
        route, body = self.body(r)
        t0 = time.perf_counter()
        error = "no attempt made"
        for attempt in range(self.retries + 1):
            a = self.attempt(r, route, body, attempts=attempt + 1, t0=t0)
            if a.result is not None:
                return a.result
            error = a.error
            if not a.retryable:
                return GenResult(
                    id=r.id,
                    text=None,
                    error=error,
                    attempts=attempt + 1,
                    latency_s=round(time.perf_counter() - t0, 6),
                    extra={"endpoint": self.base_url},
                )
            if attempt < self.retries:
                time.sleep(self._delay(attempt, a.retry_after))
        return GenResult(
            id=r.id,
            text=None,
            error=f"{error} (after {self.retries + 1} attempts)",
            attempts=self.retries + 1,
            latency_s=round(time.perf_counter() - t0, 6),
            extra={"endpoint": self.base_url},
        )

    def attempt(
        self, r: GenRequest, route: str, body: dict[str, Any], *, attempts: int = 1, t0: float | None = None
    ) -> Attempt:
        """One POST of ``body`` to this endpoint, no retry: the parsed result, or why it failed and whether a retry
        (here or on another endpoint of a fleet) may help.  ``attempts`` and ``t0`` only label the result."""
        import requests

        start = time.perf_counter() if t0 is None else t0
        try:
            resp = self._session().post(
                f"{self.base_url}/{route}", json=body, timeout=(self.connect_timeout, self.timeout)
            )
        except requests.Timeout:
            return Attempt(error=f"timed out after {self.timeout:g} s")
        except requests.ConnectionError as exc:
            return Attempt(error=f"{type(exc).__name__}: {str(exc)[:200]}", connection=True)
        except requests.RequestException as exc:
            return Attempt(error=f"{type(exc).__name__}: {str(exc)[:200]}")
        if resp.status_code == 200:
            try:
                res = self._parse(r, resp.json(), route, attempts, time.perf_counter() - start)
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                return Attempt(error=f"malformed response: {type(exc).__name__}: {exc}")
            res.extra["endpoint"] = self.base_url
            return Attempt(result=res)
        return Attempt(
            error=f"HTTP {resp.status_code}: {_detail(resp)}",
            retryable=resp.status_code in RETRY_STATUS,
            retry_after=resp.headers.get("Retry-After"),
            status=resp.status_code,
        )

    def probe(self, timeout: float = 10.0, *, strict: bool = False) -> list[str] | None:
        """The model ids this endpoint lists (``GET /models``; None when it answers without a usable listing).
        Raises :class:`BackendError` when it cannot be reached, or (``strict``, a fleet's health probe) answers 5xx."""
        import requests

        try:
            resp = self._session().get(f"{self.base_url}/models", timeout=(self.connect_timeout, timeout))
        except requests.RequestException as exc:
            raise BackendError(f"cannot reach {self.base_url}: {type(exc).__name__}") from None
        if strict and resp.status_code >= 500:
            raise BackendError(f"{self.base_url}/models: HTTP {resp.status_code}")
        if resp.status_code != 200:
            return None
        try:
            return [str(m["id"]) for m in resp.json().get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    @staticmethod
    def _parse(r: GenRequest, data: dict, route: str, attempts: int, elapsed: float) -> GenResult:
        choice = data["choices"][0]
        text = choice["message"].get("content") if route == "chat/completions" else choice["text"]
        usage = data.get("usage") or {}
        extra = {k: data[k] for k in ("model", "system_fingerprint") if data.get(k)}
        text, finish = text or "", choice.get("finish_reason")
        if r.sampling.stop:  # servers differ on whether the stop string is kept; cut it as lm-eval does
            text, stopped = cut_at_stop(text, r.sampling.stop)
            finish = "stop" if stopped else finish
        return GenResult(
            id=r.id,
            text=text,
            finish_reason=finish,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            attempts=attempts,
            latency_s=round(elapsed, 6),
            extra=extra,
        )


def _detail(resp) -> str:
    try:
        data = resp.json()
        msg = data.get("detail") or data.get("error") or data.get("message") or data
        if isinstance(msg, dict):
            msg = msg.get("message") or msg
    except ValueError:
        msg = resp.text
    return str(msg).replace("\n", " ")[:300]
