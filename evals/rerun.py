"""``assay rerun``: regenerate a release's published evaluation outputs under the pinned decoding settings, score
them with the same scorer, and decide with statistics whether the published per-sample results reproduce.

For every ``evals:`` entry of the manifest that has a log:

1. read the published log (any format the importers know) into :class:`~assay.evals.samples.Sample` records;
2. optionally keep a **stratified, seeded subset** of its items (``--limit N``, :func:`stratified_subset`);
3. turn each item into a generation request: the logged input messages (images by sha256, resolved from the log's
   folder or ``--images`` and checked), or the logged raw prompt; the pinned system prompt is prepended when the
   input has none; decoding settings come from the manifest's ``decoding`` first, then the sample's logged
   ``gen_kwargs`` (lm-eval's ``until``, ``max_gen_toks``…), then greedy / 256 tokens (reported as assumed);
4. generate with a backend (:mod:`assay.evals.backends`): ``repeats`` times for sampled decoding, once for greedy;
5. score every output with the scorer the published log was scored with, write the re-run as an assay log
   (``*.assay.jsonl``), and hand both sample sets to :func:`assay.evals.stats.compare` for a verdict.

Safety: with the transformers backend the release is verified first (incremental; ``--no-verify`` skips it), and
``trust_remote_code`` is passed to transformers only when asked for *and* a strict verification shows that every
code file ``auto_map`` names, every config that names one, and every ``.py`` file of the release is a verified
artifact (:func:`check_remote_code`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..manifests.errors import CheckFailed, InputError, require_extra
from ..manifests.findings import ClaimResult, Evidence, Severity, Verdict
from ..manifests.release import Release, Store, as_release
from ..verify.results import VerifyResult
from ..verify.trust import check_remote_code
from .backends import Backend, GenRequest, Image, Message, Part, Sampling
from .harness_run import HarnessOptions, HarnessRerun, run_harness
from .results import Finding
from .stats import Comparison
from .subsets import (  # noqa: F401 - re-exported
    AUTO_STRATA,
    allocate,
    field_value,
    pick_stratum_field,
    stratified_subset,
)

DEFAULT_MAX_NEW_TOKENS = 256
DEFAULT_MARGIN = 1.0
STALE_META = ("filtered_resps", "metric_values", "resps", "model_output", "judge", "prediction")


def chat_template_sha256(model_dir: Path | str) -> str | None:
    """sha256 of the UTF-8 text of the chat template a release ships, or None.

    Looked up as transformers does: ``chat_template.jinja``, else ``chat_template.json``'s ``chat_template``, else
    ``tokenizer_config.json``'s ``chat_template`` (a string, or the template named ``default`` in a list).
    """
    root = Path(model_dir)
    jinja = root / "chat_template.jinja"
    if jinja.is_file():
        return hashlib.sha256(jinja.read_bytes()).hexdigest()
    for name in ("chat_template.json", "tokenizer_config.json"):
        p = root / name
        if not p.is_file():
            continue
        try:
            tpl = json.loads(p.read_text(encoding="utf-8")).get("chat_template")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(tpl, list):
            tpl = next((t.get("template") for t in tpl if isinstance(t, dict) and t.get("name") == "default"), None)
        if isinstance(tpl, str):
            return hashlib.sha256(tpl.encode("utf-8")).hexdigest()
    return None


# ============================================================================================ results
class BenchmarkRerun(BaseModel):
    name: str
    task: str
    metric: str
    filter: str | None = None
    scorer: str | None = None
    reference_log: str | None = None
    reference_items: int = 0
    selected_items: int = 0
    limit: int | None = None
    stratify: str | None = None
    strata: dict[str, int] = Field(default_factory=dict, description="Selected items per stratum.")
    repeats: int = 1
    decoding: dict[str, Any] = Field(default_factory=dict, description="Effective decoding settings.")
    assumed: list[str] = Field(default_factory=list, description="Decoding settings neither pinned nor logged.")
    generated: int = 0
    failed: list[str] = Field(default_factory=list, description="Request ids that failed for good (first 50).")
    n_failed: int = 0
    log: str | None = Field(None, description="The re-run's assay log.")
    log_sha256: str | None = None
    seconds: float = 0.0
    tokens_per_s: float | None = None
    verdict: Comparison | None = Field(
        None, description="The re-run compared with the published log (None: nothing was compared; see the findings)."
    )
    ok: bool = False

    def to_claim(self, name: Callable[[str], str] = str, step: str = "rerun") -> ClaimResult:
        """This benchmark as one report row (``rerun:<name>``): the comparison's verdict; ``not-checked`` when nothing
        was compared (no evidence), ``error`` when requests failed for good.  ``name`` maps the published log's path
        to the name the release gives it."""
        v = self.verdict
        verdict: Verdict = v.verdict if v is not None else "not-checked"
        failed = f"{self.n_failed} requests failed" if self.n_failed else ""
        if self.n_failed:
            verdict = "error"
        if v is not None:
            message = (v.reason or "no reason recorded") + (f"; {failed}" if failed else "")
        else:
            message = f"no verdict: nothing was compared ({failed or 'see the findings'})"
        return ClaimResult(
            id=f"{step}:{self.name}",
            step=step,
            kind="rerun",
            subject=self.name,
            declared={
                "published": v.published if v else None,
                "reference": v.reference_score if v else None,
                "margin": v.margin if v else None,
            },
            measured={
                "rerun": v.rerun_score if v else None,
                "diff": v.diff if v else None,
                "ci": [v.ci_low if v else None, v.ci_high if v else None],
                "n": v.n if v else None,
                "output_agreement": v.output_agreement if v else None,
            },
            verdict=verdict,
            level=f"L2 re-run ({self.selected_items}/{self.reference_items} items, "
            f"{v.method if v else 'not compared'})",
            message=message,
            evidence=[
                Evidence(kind="log", ref=self.log or "", sha256=self.log_sha256, note="re-run log (assay format)"),
                Evidence(kind="log", ref=name(self.reference_log) if self.reference_log else "", note="published log"),
                Evidence(kind="environment", ref="decoding", note=str(self.decoding)),
            ],
        )


class RerunResult(BaseModel):
    manifest: str
    release: str
    backend: dict[str, Any] = Field(default_factory=dict)
    verified: bool | None = Field(None, description="Whether the release verified before loading it (None: skipped).")
    remote_code: list[str] = Field(default_factory=list, description="Code files trusted (trust_remote_code).")
    benchmarks: list[BenchmarkRerun] = Field(default_factory=list)
    harness_runs: list[HarnessRerun] = Field(
        default_factory=list, description="Entries with run: re-run through their harness (unpaired verdicts)."
    )
    findings: list[Finding] = Field(default_factory=list)
    seconds: float = 0.0
    ok: bool = False

    def to_claims(self, name: Callable[[str], str] = str, step: str = "rerun") -> list[ClaimResult]:
        """The report's rows: one per benchmark (:meth:`BenchmarkRerun.to_claim`), then one failing row per error
        finding's benchmark and code, ``rerun:<benchmark>:<code>`` (forty failed requests are one row)."""
        out = [b.to_claim(name, step) for b in self.benchmarks]
        logged = {b.name for b in self.benchmarks}
        for h in self.harness_runs:  # an entry re-run both ways: the harness's row is rerun:<name>:harness
            row = h.to_claim(step)
            out.append(row if h.name not in logged else row.model_copy(update={"id": f"{row.id}:harness"}))
        grouped: dict[tuple[str, str], list[Finding]] = {}
        for f in self.findings:
            if f.severity == "error":
                grouped.setdefault((f.where or step, f.code), []).append(f)
        for (where, code), fs in grouped.items():
            # Not manifests.findings.error_claims: these ids name the benchmark before the code, as reports had them.
            more = f" (and {len(fs) - 1} more like it)" if len(fs) > 1 else ""
            samples = f" (samples {', '.join(fs[0].samples[:5])})" if fs[0].samples else ""
            out.append(
                ClaimResult(
                    id=f"{step}:{where}:{code}",
                    step=step,
                    kind="rerun",
                    subject=where,
                    verdict="fail",
                    message=f"{code}: {fs[0].message}{samples}{more}",
                )
            )
        return out


# ============================================================================================ requests
def effective_sampling(decoding, gen_kwargs: dict | None) -> tuple[Sampling, int, list[str]]:
    """(sampling, repeats, assumed): the manifest's pin, else the sample's logged gen_kwargs, else defaults."""
    g = gen_kwargs or {}
    assumed: list[str] = []

    def pick(pinned, *keys):
        if pinned is not None:
            return pinned
        for k in keys:
            if g.get(k) is not None:
                return g[k]
        return None

    temperature = pick(getattr(decoding, "temperature", None), "temperature")
    if g.get("do_sample") is False and getattr(decoding, "temperature", None) is None:
        temperature = 0.0  # logged greedy (lm-eval's do_sample: false, perhaps with a leftover temperature)
    if temperature is None:
        assumed.append("temperature=0 (greedy)")
        temperature = 0.0
    top_p = pick(getattr(decoding, "top_p", None), "top_p")
    top_k = pick(getattr(decoding, "top_k", None), "top_k")
    max_new = pick(getattr(decoding, "max_new_tokens", None), "max_new_tokens", "max_gen_toks", "max_tokens")
    if max_new is None:
        assumed.append(f"max_new_tokens={DEFAULT_MAX_NEW_TOKENS}")
        max_new = DEFAULT_MAX_NEW_TOKENS
    seed = pick(getattr(decoding, "seed", None), "seed")
    if float(temperature) > 0 and seed is None:
        assumed.append("seed=0")
        seed = 0
    until = getattr(decoding, "stop", None) or g.get("until") or g.get("stop") or ()
    stop = (until,) if isinstance(until, str) else tuple(str(s) for s in until)
    repeats = int(getattr(decoding, "repeats", 1) or 1) if float(temperature) > 0 else 1
    return (
        Sampling(
            max_new_tokens=int(max_new),
            temperature=float(temperature),
            top_p=float(top_p) if top_p is not None else None,
            top_k=int(top_k) if top_k is not None and float(temperature) > 0 else None,
            seed=int(seed) if seed is not None else None,
            stop=stop,
        ),
        repeats,
        assumed,
    )


class ImageStore:
    """Image bytes by sha256: an ``ImageRef.path`` relative to the log's folder (inside the release root), or a file
    ``<sha256>[.ext]`` in ``--images``.  Bytes whose sha256 differs from the reference are refused."""

    def __init__(self, log_dir: Path, release_root: Path, images_dir: Path | None) -> None:
        # Real paths on both sides: the log's folder is compared with the root to place ImageRef.path inside it.
        self.log_dir, self.root = Path(os.path.realpath(log_dir)), Path(os.path.realpath(release_root))
        self.images_dir = images_dir
        self._index: dict[str, Path] | None = None
        self._cache: dict[str, Image] = {}

    def _by_name(self) -> dict[str, Path]:
        if self._index is None:
            self._index = {}
            if self.images_dir is not None and self.images_dir.is_dir():
                for p in sorted(self.images_dir.iterdir()):
                    stem = p.name.split(".", 1)[0]
                    if len(stem) == 64 and p.is_file():
                        self._index.setdefault(stem, p)
        return self._index

    def get(self, ref) -> Image:
        from ..manifests.paths import resolve_inside

        if ref.sha256 in self._cache:
            return self._cache[ref.sha256]
        candidates: list[Path] = []
        if ref.path:
            try:
                rel = ref.path
                if self.log_dir != self.root:
                    rel = (self.log_dir.relative_to(self.root) / ref.path).as_posix()
                candidates.append(resolve_inside(self.root, rel))
            except (ValueError, InputError):
                pass
        if ref.sha256 in self._by_name():
            candidates.append(self._by_name()[ref.sha256])
        for p in candidates:
            if p.is_file():
                data = p.read_bytes()
                if hashlib.sha256(data).hexdigest() == ref.sha256:
                    img = Image(data, ref.media_type)
                    self._cache[ref.sha256] = img
                    return img
                raise CheckFailed(f"image {p}: sha256 differs from the log's {ref.sha256}")
        raise InputError(
            f"image {ref.sha256} not found (looked for {ref.path or '-'} beside the log"
            f"{' and in ' + str(self.images_dir) if self.images_dir else '; pass --images DIR'})"
        )


def sample_request(
    sample,
    sampling: Sampling,
    repeat: int,
    *,
    system_prompt: str | None,
    images: ImageStore | None,
    add_special_tokens: bool | None = None,
) -> GenRequest:
    """The generation request for one logged item (and repeat): its raw ``prompt`` when the log has one (the exact
    text a completion model was fed), else its input messages (chat template applied by the backend)."""
    rid = f"{sample.task}/{sample.id}#{repeat}"
    if sample.prompt is not None:  # the exact text a completion model was fed: no chat template on re-run
        return GenRequest(id=rid, prompt=sample.prompt, sampling=sampling, add_special_tokens=add_special_tokens)
    if not sample.input:
        raise InputError(f"sample {sample.task}/{sample.id}: neither input messages nor a prompt to re-run")
    msgs: list[Message] = []
    for m in sample.input:
        if m.role not in ("system", "user", "assistant"):
            raise InputError(f"sample {sample.task}/{sample.id}: role {m.role!r} cannot be re-run")
        if isinstance(m.content, str):
            msgs.append(Message(m.role, m.content))
            continue
        parts = []
        for p in m.content:
            if p.type == "image":
                if images is None:
                    raise InputError(f"sample {sample.task}/{sample.id} has images and no image store")
                parts.append(Part("image", image=images.get(p.image)))
            else:
                parts.append(Part("text", text=p.text))
        msgs.append(Message(m.role, tuple(parts)))
    if system_prompt and msgs[0].role != "system":
        msgs.insert(0, Message("system", system_prompt))
    return GenRequest(id=rid, messages=tuple(msgs), sampling=sampling)


# ============================================================================================ scoring hook
Scorer = Callable[[Any, Any], list]  # (sample with output set, EvalClaim) -> scored samples (one per filter)


def default_scorer(header) -> Scorer:
    """The scorer the published log was scored with: the claim's named ``scorer``, else the harness's own semantics
    for the log's format (:func:`assay.evals.scoring.score_rerun_sample`, the same code ``assay rescore`` runs)."""
    from .scoring import rerun_scorer

    return rerun_scorer(header)


# ============================================================================================ orchestration
def read_reference(path: Path, fmt: str, task: str):
    """(samples of ``task``, the log's header, importer findings) from a published log of any known format."""
    from .harnesses import load_logs

    runs = load_logs(path, fmt)
    for run in runs:
        tasks = run.tasks()
        if task in tasks or (len(runs) == 1 and len(tasks) == 1):
            name = task if task in tasks else tasks[0]
            samples = run.samples(name)
            return samples, run.header, list(run.findings)
    raise InputError(f"{path}: no samples of task {task!r} in this log")


def raw_prompt_special_tokens(header) -> bool | None:
    """Whether the harness that wrote a log added the tokenizer's special tokens (BOS) to raw prompts, when the log
    says so explicitly: lm-eval's hf backend with ``add_bos_token=True|False`` in its model args.  None otherwise:
    the backend's rule applies (the tokenizer's default, except for a prompt that already starts with BOS — which is
    what lm-eval 0.4.x does without the argument)."""
    if header is None or header.source_format != "lm-eval":
        return None
    cfg = (header.config or {}).get("config") or {}
    if not isinstance(cfg, dict) or cfg.get("model") not in ("hf", "hf-auto", "huggingface"):
        return None
    margs = cfg.get("model_args")
    if isinstance(margs, dict):
        value = margs.get("add_bos_token")
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None
    if isinstance(margs, str):
        for part in margs.split(","):
            k, _, v = part.partition("=")
            if k.strip() == "add_bos_token" and v.strip().lower() in ("true", "false"):
                return v.strip().lower() == "true"
    return None


def _release_dirs(release: Release | Path | str, root: Path | None):
    """The loaded release, each artifact's folder, and the model folder (the one holding ``config.json``)."""
    loaded = as_release(release, root=root)
    roots = loaded.roots()
    model_root = roots.get("config.json") or root or next(iter(roots.values()), loaded.manifest_path.parent)
    return loaded, roots, Path(model_root)


def rerun(
    release: Release | Path | str,
    *,
    backend: str = "transformers",
    limit: int | None = None,
    seed: int = 0,
    stratify: str | None = "auto",
    device: str = "auto",
    dtype: str | None = None,
    batch_size: int = 8,
    base_url: str | Sequence[str] | None = None,
    model: str | None = None,
    concurrency: int = 8,
    timeout: float = 600.0,
    retries: int = 4,
    trust_remote_code: bool = False,
    verify: bool = True,
    benchmarks: Sequence[str] | None = None,
    out: Path | str | None = None,
    root: Path | str | None = None,
    images: Path | str | None = None,
    scorer: Scorer | None = None,
    backend_obj: Backend | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    chunk: int | None = None,
    verification: VerifyResult | None = None,
    harness: HarnessOptions | None = None,
) -> RerunResult:
    """Re-run the manifest's evals with a backend and compare with the published logs.  See the module docstring.
    Entries with ``run:`` are re-run through their harness instead (:mod:`assay.evals.harness_run`; ``harness``: its
    interpreter, install and timeout options), in process or at ``base_url`` (the first one of a fleet).

    ``backend_obj`` (an already built backend) replaces ``backend``/``device``/``base_url``…; ``scorer`` replaces the
    rescore scorer (tests).  ``verification``: the release's verification, when the caller (the audit) already
    verified it strictly; it is reused instead of hashing the release a second time.  Raises :class:`InputError` for
    bad input and :class:`CheckFailed` when ``trust_remote_code`` is refused; returns a result with ``ok`` False when
    a check fails (the release does not verify, a benchmark does not reproduce or is inconclusive, requests failed).
    """
    t0 = time.perf_counter()
    root_path = Path(root) if root is not None else None
    loaded, roots, model_root = _release_dirs(release, root_path)
    manifest_path = loaded.manifest_path
    m = loaded.manifest
    result = RerunResult(manifest=str(manifest_path), release=f"{m.release.name} {m.release.version}")
    find = result.findings

    if benchmarks:
        unknown = sorted(set(benchmarks) - {c.name for c in m.evals})
        if unknown:
            raise InputError(f"{manifest_path}: no evals entry named {', '.join(unknown)}")
    claims = [c for c in m.evals if (not benchmarks or c.name in benchmarks) and c.logs]
    runs = [c for c in m.evals if (not benchmarks or c.name in benchmarks) and c.run is not None]
    if not claims and not runs:
        raise InputError(f"{manifest_path}: no evals entry with a published log or a run: to re-run")
    if limit is not None and limit < 1:
        raise InputError("--limit must be ≥ 1")
    if backend not in ("transformers", "openai"):
        raise InputError(f"--backend {backend}: expected transformers or openai")

    # ---------------------------------------------------------------- release checks, then the backend
    if backend_obj is None and backend == "transformers" and claims:
        # torch and transformers are not in the core install: exit 2 naming the extra, before any work.
        for module in ("torch", "transformers"):
            require_extra(module, "rerun", "assay rerun --backend transformers (the model run in process)")
    if backend_obj is None and backend == "transformers":
        if trust_remote_code:
            result.remote_code = check_remote_code(loaded, verification=verification)
            result.verified = True
        elif verify:
            from ..verify.release import verify_release

            vr = verification if verification is not None else verify_release(loaded)
            result.verified = vr.ok
            if not vr.ok:
                find.append(
                    Finding.make(
                        "error",
                        "release-unverified",
                        (
                            f"the release does not verify ({vr.summary.failed} files failed, "
                            f"{vr.summary.errors} errors, {vr.summary.claims_failed} claims failed): not loading "
                            f"it; see 'assay verify {manifest_path}' (--no-verify re-runs anyway)"
                        ),
                    )
                )
                result.seconds = round(time.perf_counter() - t0, 3)
                return result
        else:
            find.append(
                Finding.make("warning", "not-verified", "--no-verify: the weights were loaded without verifying them")
            )
    elif backend_obj is None:
        find.append(
            Finding.make("info", "served-weights", "openai backend: assay cannot verify the weights a server runs")
        )
        if trust_remote_code:
            raise InputError("--trust-remote-code applies to the transformers backend only")

    out_dir = Path(out) if out is not None else manifest_path.parent / Store.RERUN
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out_dir}: {exc.strerror or exc}") from None
    if runs:
        _harness_runs(
            result,
            runs,
            manifest_dir=manifest_path.parent,
            model_root=model_root,
            out_dir=out_dir,
            opts=harness or HarnessOptions(),
            backend=backend,
            base_url=base_url,
            model=model,
            device=device,
            seed=seed,
            progress=progress,
            decodings=m.decodings,
        )
        if not claims:
            errors = any(f.severity == "error" for f in find)
            result.ok = all(h.ok for h in result.harness_runs) and not errors
            result.seconds = round(time.perf_counter() - t0, 3)
            return result
    own_backend = backend_obj is None
    if backend_obj is None:
        from .backends import make_backend

        backend_obj = make_backend(
            backend,
            model=str(model_root) if backend == "transformers" else model,
            base_url=base_url,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            trust_remote_code=trust_remote_code,
            verified_code=result.remote_code if trust_remote_code else None,
            concurrency=concurrency,
            timeout=timeout,
            retries=retries,
        )
    try:
        result.backend = _jsonable(backend_obj.describe())
        template_sha = chat_template_sha256(model_root)
        for claim in claims:
            result.benchmarks.append(
                _rerun_claim(
                    claim,
                    roots=roots,
                    model_root=model_root,
                    backend=backend_obj,
                    scorer=scorer,
                    limit=limit,
                    seed=seed,
                    stratify=stratify,
                    out_dir=out_dir,
                    images=Path(images) if images else None,
                    template_sha=template_sha,
                    findings=find,
                    progress=progress,
                    chunk=chunk,
                )
            )
        result.backend = _jsonable(backend_obj.describe())  # again after the run: a fleet's per-endpoint tally
    finally:
        if own_backend:
            backend_obj.close()
    errors = any(f.severity == "error" for f in find)
    result.ok = all(b.ok for b in result.benchmarks) and all(h.ok for h in result.harness_runs) and not errors
    result.seconds = round(time.perf_counter() - t0, 3)
    return result


def _harness_runs(
    result: RerunResult,
    runs,
    *,
    manifest_dir: Path,
    model_root: Path,
    out_dir: Path,
    opts: HarnessOptions,
    backend: str,
    base_url,
    model: str | None,
    device: str,
    seed: int,
    progress,
    decodings: dict | None,
) -> None:
    """Every ``run:`` entry through its harness (in process with the transformers backend, else at the endpoint)."""
    if opts.python and not Path(opts.python).exists():
        raise InputError(f"--harness-python {opts.python}: no such interpreter")
    url = None
    if backend == "openai":
        urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
        if not urls:
            raise InputError("--backend openai needs --base-url")
        url = urls[0]
        if len(urls) > 1:
            result.findings.append(
                Finding.make(
                    "info",
                    "harness-endpoint",
                    f"harness runs use one endpoint, {url}: the harness spreads nothing over a fleet",
                )
            )
    done: dict = {}  # entries with the same run (acc and acc_norm of one task) share one harness run
    for claim in runs:
        result.harness_runs.append(
            run_harness(
                claim,
                workdir=manifest_dir,
                model_root=model_root,
                out_dir=out_dir,
                opts=opts,
                base_url=url,
                model=model,
                device="cpu" if device == "auto" else device,
                seed=seed,
                decodings=decodings,
                progress=progress,
                done=done,
            )
        )


def _rerun_claim(
    claim,
    *,
    roots,
    model_root: Path,
    backend: Backend,
    scorer: Scorer | None,
    limit,
    seed,
    stratify,
    out_dir: Path,
    images: Path | None,
    template_sha: str | None,
    findings: list[Finding],
    progress,
    chunk,
) -> BenchmarkRerun:
    from ..manifests.paths import resolve_inside
    from .samples import LogHeader, write_log
    from .stats import compare

    t0 = time.perf_counter()
    task = claim.task_name
    bench = BenchmarkRerun(name=claim.name, task=task, metric=claim.metric, scorer=claim.scorer, limit=limit)

    def finding(sev: Severity, code: str, msg: str, samples: list[str] | None = None) -> None:
        findings.append(Finding.make(sev, code, f"{claim.name}: {msg}", task, samples))

    decoding = claim.decoding
    if decoding is not None and decoding.chat_template_sha256:
        if template_sha is None:
            finding("warning", "chat-template", "the manifest pins a chat template but the release ships none")
        elif template_sha != decoding.chat_template_sha256:
            finding(
                "error",
                "chat-template-mismatch",
                f"the release's chat template (sha256 {template_sha}) is not "
                f"the pinned one ({decoding.chat_template_sha256})",
            )
        if getattr(backend, "name", "") == "openai":
            finding(
                "info",
                "chat-template",
                "openai backend: the server's chat template cannot be checked; the pin "
                "was checked against the release's files",
            )

    # ---------------------------------------------------------------- the published samples
    log_entry = claim.logs[0]
    log_root = Path(roots.get(log_entry.path) or model_root)
    log_path = resolve_inside(log_root, log_entry.path)
    if not log_path.exists():
        raise InputError(f"{claim.name}: published log {log_entry.path} not found in {log_root}")
    if log_entry.sha256 and log_path.is_file():
        actual = hashlib.sha256(log_path.read_bytes()).hexdigest()
        if actual != log_entry.sha256:
            finding(
                "error",
                "log-hash-mismatch",
                f"published log {log_entry.path}: sha256 {actual} is not the pinned {log_entry.sha256}",
            )
            return bench
    ref_samples, ref_header, ref_findings = read_reference(log_path, log_entry.format, task)
    if scorer is None:
        scorer = default_scorer(ref_header)
    findings.extend(f for f in ref_findings if f.severity == "error")
    bench.reference_log = str(log_path)
    if not ref_samples:
        finding("error", "no-samples", f"the published log has no samples of task {task!r}")
        return bench
    task = ref_samples[0].task
    bench.task = task
    items: dict[str, Any] = {}
    for s in ref_samples:
        items.setdefault(s.id, s)
    bench.reference_items = len(items)
    unique = list(items.values())
    field = pick_stratum_field(unique, stratify)
    bench.stratify = field
    key = (lambda s: str(field_value(s, field))) if field else (lambda s: "all")
    chosen = stratified_subset(unique, limit, stratum=key, item_id=lambda s: s.id, seed=seed) if limit else unique
    bench.selected_items = len(chosen)
    counts: dict[str, int] = defaultdict(int)
    for s in chosen:
        counts[key(s)] += 1
    bench.strata = dict(sorted(counts.items()))

    # the scorer must apply before any generation is spent (unknown scorer, harness semantics assay lacks…)
    scorer(chosen[0].model_copy(update={"output": chosen[0].output or ""}), claim)

    # ---------------------------------------------------------------- requests
    store = ImageStore(log_path.parent if log_path.is_file() else log_path, log_root, images)
    system_prompt = decoding.system_prompt if decoding is not None else None
    special = raw_prompt_special_tokens(ref_header)
    reqs: list[GenRequest] = []
    owners: list[tuple[Any, int]] = []
    assumed: set[str] = set()
    failed: list[str] = []
    first_sampling: Sampling | None = None
    for s in chosen:
        sampling, repeats, guess = effective_sampling(decoding, s.gen_kwargs)
        assumed.update(guess)
        first_sampling = first_sampling or sampling
        bench.repeats = max(bench.repeats, repeats)
        for r in range(repeats):
            try:
                reqs.append(
                    sample_request(
                        s, sampling, r, system_prompt=system_prompt, images=store, add_special_tokens=special
                    )
                )
            except (InputError, CheckFailed) as exc:
                failed.append(f"{s.task}/{s.id}#{r}")
                finding("error", "unrunnable-sample", str(exc), [s.id])
                continue
            owners.append((s, r))
    bench.assumed = sorted(assumed)
    if first_sampling is not None:
        sp = first_sampling
        bench.decoding = {
            "temperature": sp.temperature,
            "top_p": sp.top_p,
            "top_k": sp.top_k,
            "max_new_tokens": sp.max_new_tokens,
            "seed": sp.seed,
            "repeats": bench.repeats,
            "stop": list(sp.stop),
            "system_prompt": system_prompt,
            "chat_template_sha256": template_sha,
        }
        if special is not None:
            bench.decoding["raw_prompt_special_tokens"] = special

    # ---------------------------------------------------------------- generate (in chunks, for progress)
    results = []
    step = chunk or max(64, 8 * int(getattr(backend, "batch_size", 0) or getattr(backend, "concurrency", 8)))
    for start in range(0, len(reqs), step):
        results.extend(backend.generate(reqs[start : start + step]))
        if progress is not None:
            progress(claim.name, min(start + step, len(reqs)), len(reqs))
    tokens = 0
    rerun_samples = []
    gen_kwargs = {
        k: v
        for k, v in bench.decoding.items()
        if k in ("temperature", "top_p", "top_k", "max_new_tokens", "seed", "stop") and v is not None
    }
    for (s, r), res in zip(owners, results, strict=False):
        if not res.ok:
            failed.append(res.id)
            finding("error", "request-failed", f"{res.id}: {res.error}", [s.id])
            continue
        tokens += res.completion_tokens or 0
        meta = dict(s.meta)
        meta["rerun"] = {
            "finish_reason": res.finish_reason,
            "completion_tokens": res.completion_tokens,
            "prompt_tokens": res.prompt_tokens,
            "attempts": res.attempts,
        }
        if res.extra.get("endpoint"):  # the openai backend / a fleet: which endpoint answered this item
            meta["rerun"]["endpoint"] = res.extra["endpoint"]
            if res.extra.get("retried_from"):
                meta["rerun"]["retried_from"] = res.extra["retried_from"]
        fresh = s.model_copy(
            update={
                "repeat": r,
                "output": res.text,
                "outputs": None,
                "answer": None,
                "scores": {},
                "choice_logprobs": None,
                "choice_greedy": None,
                "gen_kwargs": gen_kwargs,
                "meta": meta,
            }
        )
        for scored in scorer(fresh, claim):
            # the reference's record of its own outputs would be stale here
            scored.meta = {k: v for k, v in scored.meta.items() if k not in STALE_META}
            rerun_samples.append(scored)
    bench.generated = sum(1 for r in results if r.ok)
    bench.n_failed = len(failed)
    bench.failed = failed[:50]

    # ---------------------------------------------------------------- write the re-run log
    header = LogHeader(
        source_format="assay",
        harness="assay rerun",
        harness_version=_version(),
        model=str(model_root),
        backend=getattr(backend, "name", None),
        decoding=_jsonable(bench.decoding),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        tasks=[task],
        config=_jsonable(
            {
                "backend": backend.describe(),
                "limit": limit,
                "seed": seed,
                "stratify": field,
                "assumed": bench.assumed,
                "reference_log": log_entry.path,
            }
        ),
    )
    out_path = out_dir / f"{claim.name}.assay.jsonl"
    bench.log_sha256 = write_log(out_path, header, rerun_samples)
    bench.log = str(out_path)

    # ---------------------------------------------------------------- verdict
    filters = sorted({s.filter for s in rerun_samples})
    if claim.filter or len(filters) == 1:
        flt = claim.filter or filters[0]
    else:  # several filters: lm-eval's unfiltered "none" if present, else the first
        flt = "none" if "none" in filters else (filters[0] if filters else None)
    if len(filters) > 1 and not claim.filter:
        finding("info", "filter", f"several filters ({', '.join(filters)}); the verdict uses {flt!r}")
    bench.filter = flt
    margin = claim.margin
    if margin is None:
        margin = DEFAULT_MARGIN
        finding("warning", "default-margin", f"no equivalence margin declared; used ±{DEFAULT_MARGIN:g} point")
    published = claim.published[0] if claim.published else None
    chosen_ids = {s.id for s in chosen}
    reference_subset = [s for s in ref_samples if s.id in chosen_ids]
    if rerun_samples:
        v = compare(
            reference_subset,
            rerun_samples,
            margin=margin,
            metric=claim.metric,
            filter=flt,
            task=task,
            published=published.value if published else None,
            published_stderr=published.stderr if published else None,
            published_n=published.n if published else None,
            scale=claim.scale,
            seed=seed,
        )
        bench.verdict = v
        bench.ok = v.verdict == "pass" and bench.n_failed == 0
    else:
        finding("error", "no-rerun-samples", "no re-run sample to compare")
    elapsed = time.perf_counter() - t0
    bench.seconds = round(elapsed, 3)
    bench.tokens_per_s = round(tokens / elapsed, 2) if elapsed > 0 and tokens else None
    return bench


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("assay")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
        return None


__all__ = [
    "rerun",
    "RerunResult",
    "BenchmarkRerun",
    "stratified_subset",
    "allocate",
    "check_remote_code",
    "chat_template_sha256",
    "effective_sampling",
    "sample_request",
    "ImageStore",
    "pick_stratum_field",
    "read_reference",
    "raw_prompt_special_tokens",
]
