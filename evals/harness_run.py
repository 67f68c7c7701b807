"""Re-run a benchmark through its own harness (an ``evals:`` entry's ``run:``) and judge it without published samples.

For one entry, :func:`run_harness`:

1. finds the interpreter that has the harness: ``--harness-python PATH``, else the assay-managed venv
   ``~/.cache/assay/harnesses/<harness>-<version>`` (``ASSAY_HARNESS_HOME`` overrides the folder), created with pip
   only when asked (``install=True``); the installed version must equal the pin exactly, else nothing runs;
2. resolves the dataset offline (``dir://`` in the release; ``hf://datasets/org/name@<commit>`` from the local Hugging
   Face cache's snapshot of that commit) and checks its sha256 BEFORE the run (a file's sha256, or a folder's
   digest of its file list, :func:`tree_digest`);
3. runs the harness in a subprocess (the runner's command line; :data:`assay.evals.registry.RUNNERS`) in the
   manifest's folder, offline (``HF_HUB_OFFLINE``, ``HF_DATASETS_OFFLINE``), the model in process or at an
   OpenAI-compatible endpoint;
4. imports the per-sample logs it wrote with assay's importer, re-scores them with assay's engine
   (:func:`assay.evals.rescore.rescore_imported`), and compares the per-sample scores' mean with the published value
   (:func:`assay.evals.stats.compare_unpaired`): pass (reproduced), fail (not reproduced) or inconclusive.

Fail closed: a refused or failed run, a log that does not re-score, or no scored sample is never a pass.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..manifests.errors import InputError
from ..manifests.findings import ClaimResult, Evidence, Verdict
from ..manifests.paths import resolve_inside
from ..manifests.schema_evals import EvalClaim
from .registry import RUNNERS, Runner, RunRequest
from .results import Finding
from .stats import Comparison, compare_unpaired

DEFAULT_MARGIN = 1.0
HARNESS_TIMEOUT = 3600.0
_OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONUNBUFFERED": "1",
    "INSPECT_DISPLAY": "none",
}


class HarnessOptions(BaseModel):
    """How to drive harnesses (what ``assay rerun`` and ``assay audit`` pass through)."""

    model_config = ConfigDict(extra="forbid")

    python: str | None = Field(None, description="Interpreter that has the harness at the pinned version.")
    install: bool = Field(False, description="Create the assay-managed venv of the pinned version with pip.")
    timeout: float = Field(HARNESS_TIMEOUT, gt=0, description="Seconds one harness run may take.")


class HarnessRerun(BaseModel):
    """One benchmark re-run through its harness: what ran, on what, and the unpaired comparison."""

    model_config = ConfigDict(extra="forbid")

    name: str
    harness: str
    version: str
    installed_version: str | None = None
    python: str | None = None
    task: str
    metric: str
    filter: str | None = None
    mode: Literal["in-process", "endpoint"]
    endpoint: str | None = None
    dataset: str
    dataset_sha256: str | None = Field(None, description="The digest measured before the run.")
    command: list[str] = Field(default_factory=list)
    returncode: int | None = None
    logs: list[str] = Field(default_factory=list, description="The harness's per-sample log files.")
    rescore: Verdict | None = Field(None, description="assay's re-scoring of the harness's own log.")
    n: int = 0
    verdict: Comparison | None = None
    findings: list[Finding] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.verdict is not None
            and self.verdict.verdict == "pass"
            and self.rescore == "pass"
            and not any(f.severity == "error" for f in self.findings)
        )

    def to_claim(self, step: str = "rerun") -> ClaimResult:
        """This run as one report row: the comparison's verdict; ``error`` when the harness was refused or failed,
        ``fail`` when its log does not re-score, ``not-checked`` when nothing was compared."""
        v = self.verdict
        errors = [f for f in self.findings if f.severity == "error"]
        verdict: Verdict = v.verdict if v is not None else "not-checked"
        if errors and v is None:
            verdict = "error"
        elif self.rescore == "fail" and verdict == "pass":  # the harness's own scores differ from assay's
            verdict = "fail"
        elif self.rescore != "pass" and verdict == "pass":  # part of its log could not be re-scored: no evidence
            verdict = "not-checked"
        message = v.reason if v is not None else "no verdict: nothing was compared"
        if errors:
            message = f"[{errors[0].code}] {errors[0].message}" + (f"; {message}" if v is not None else "")
        where = self.endpoint if self.mode == "endpoint" else "in process"
        return ClaimResult(
            id=f"{step}:{self.name}",
            step=step,
            kind="rerun",
            subject=self.name,
            declared={
                "published": v.published if v else None,
                "margin": v.margin if v else None,
                "harness": f"{self.harness}=={self.version}",
                "dataset": self.dataset,
            },
            measured={
                "rerun": v.rerun_score if v else None,
                "ci": [v.ci_low if v else None, v.ci_high if v else None],
                "n": self.n,
                "n_needed": v.n_needed if v else None,
                "dataset_sha256": self.dataset_sha256,
                "harness_version": self.installed_version,
                "rescore": self.rescore,
            },
            verdict=verdict,
            level=f"L2 harness re-run ({self.harness} {self.version}, {where}, {self.n} items, "
            f"{v.method if v else 'not compared'})",
            message=message,
            evidence=[Evidence(kind="log", ref=p, note=f"{self.harness} per-sample log") for p in self.logs]
            + [Evidence(kind="environment", ref="command", note=" ".join(self.command))],
        )


# ------------------------------------------------------------------------------------------------ dataset digest
def tree_digest(folder: Path) -> str:
    """sha256 of a folder's file list: lines ``<sha256 of the file>  <relative path>\\n`` sorted by path (what
    ``find . -type f | sort | xargs sha256sum`` prints, without the ``./``), hashed.  Symlinks are refused."""
    lines = []
    for p in sorted(folder.rglob("*"), key=lambda q: q.relative_to(folder).as_posix()):
        if p.is_symlink():
            raise InputError(f"dataset {folder}: {p.relative_to(folder)} is a symlink")
        if p.is_file():
            lines.append(f"{file_sha256(p)}  {p.relative_to(folder).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dataset_path(uri: str, workdir: Path) -> Path:
    """Where a pinned dataset is on this machine, offline: ``dir://`` inside the manifest's folder, ``hf://`` the
    snapshot of that commit in the Hugging Face hub cache (``HF_HUB_CACHE`` / ``HF_HOME``)."""
    if uri.startswith("dir://"):
        return resolve_inside(workdir, uri[len("dir://") :])
    repo, _, rev = uri[len("hf://datasets/") :].partition("@")
    cache = Path(
        os.environ.get("HF_HUB_CACHE")
        or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    )
    return cache / f"datasets--{repo.replace('/', '--')}" / "snapshots" / rev


def dataset_digest(path: Path) -> str:
    if path.is_file():
        return file_sha256(path)
    if path.is_dir():
        return tree_digest(path)
    raise InputError(f"dataset {path}: not found on this machine (nothing is downloaded)")


# ------------------------------------------------------------------------------------------------ interpreter
def harness_home() -> Path:
    return Path(os.environ.get("ASSAY_HARNESS_HOME") or Path.home() / ".cache" / "assay" / "harnesses")


def installed_version(python: Path, package: str, timeout: float = 120.0) -> str | None:
    """The version of ``package`` installed for ``python`` (None: not installed)."""
    code = (
        "import importlib.metadata as m, sys\ntry:\n print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError:\n print('')"
    )
    try:
        out = subprocess.run(
            [str(python), "-c", code, package],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise InputError(f"harness interpreter {python}: cannot run it ({exc})") from None
    return out.stdout.strip() or None


def harness_python(runner: Runner, version: str, opts: HarnessOptions) -> Path:
    """The interpreter to run ``runner`` at ``version`` with: the given one, else the managed venv (created with
    pip when ``opts.install``).  InputError, naming how to get one, when there is none."""
    if opts.python:
        py = Path(opts.python)
        if not py.exists():
            raise InputError(f"--harness-python {py}: no such interpreter")
        return py
    venv = harness_home() / f"{runner.name}-{version}"
    py = venv / "bin" / "python"
    if py.exists():
        return py
    if not opts.install:
        raise InputError(
            f"no interpreter with {runner.package}=={version}: pass --harness-python PATH, or "
            f"--install-harness to create {venv} with pip"
        )
    # pip in a fresh venv: the harness's dependencies must not meet assay's own (they pin other versions).  pip reads
    # its usual configuration (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf), so a mirror or a wheelhouse works offline.
    try:
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True, capture_output=True, timeout=600)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *runner.requirements(version)],
            check=True,
            capture_output=True,
            text=True,
            timeout=3600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        # a half-made venv would be found next time and run without the harness: remove it
        shutil.rmtree(venv, ignore_errors=True)
        said = (getattr(exc, "stderr", None) or "").strip().splitlines()
        why = next((ln for ln in reversed(said) if ln.startswith("ERROR")), said[-1] if said else str(exc))
        raise InputError(f"could not install {runner.package}=={version} into {venv} with pip: {why}") from None
    return py


# ------------------------------------------------------------------------------------------------ one run
def run_harness(
    claim: EvalClaim,
    *,
    workdir: Path,
    model_root: Path,
    out_dir: Path,
    opts: HarnessOptions,
    base_url: str | None = None,
    model: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    decodings: dict[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    done: dict[tuple[str, ...], Path] | None = None,
) -> HarnessRerun:
    """Drive one ``run:`` entry's harness and compare its re-scored result with the published value.  ``done``:
    the output folders of runs already made in this re-run, by command line; an entry whose run is the same (e.g.
    ``acc`` and ``acc_norm`` of one task) reads that run's logs instead of running the harness again."""
    run = claim.run
    if run is None:
        raise InputError(f"{claim.name}: no run: entry")
    t0 = time.perf_counter()
    runner = RUNNERS.get(run.harness)
    if runner is None:
        raise InputError(f"{claim.name}: no runner for harness {run.harness!r} (one of: {', '.join(RUNNERS)})")
    res = HarnessRerun(
        name=claim.name,
        harness=run.harness,
        version=run.version,
        task=run.task,
        metric=claim.metric,
        filter=claim.filter,
        mode="endpoint" if base_url else "in-process",
        endpoint=base_url,
        dataset=run.dataset.uri,
    )

    def error(code: str, message: str) -> HarnessRerun:
        res.findings.append(Finding.make("error", code, f"{claim.name}: {message}", claim.name))
        res.seconds = round(time.perf_counter() - t0, 3)
        return res

    # ---------------------------------------------------------------- the interpreter, at exactly the pinned version
    try:
        py = harness_python(runner, run.version, opts)
        res.python = str(py)
        res.installed_version = installed_version(py, runner.package)
    except InputError as exc:
        return error("harness-unavailable", str(exc))
    if res.installed_version != run.version:
        return error(
            "harness-version-mismatch",
            f"{py} has {runner.package} "
            f"{res.installed_version or 'not installed'}, the manifest pins {run.version}: not running it",
        )

    # ---------------------------------------------------------------- the dataset, checked before anything runs
    try:
        dpath = dataset_path(run.dataset.uri, workdir)
        res.dataset_sha256 = dataset_digest(dpath)
    except InputError as exc:
        return error("dataset-unavailable", str(exc))
    if res.dataset_sha256 != run.dataset.sha256:
        return error(
            "dataset-hash-mismatch",
            f"dataset {run.dataset.uri}: sha256 {res.dataset_sha256} is not the "
            f"pinned {run.dataset.sha256}: not running it",
        )

    # ---------------------------------------------------------------- run
    decoding = run.decoding or claim.decoding
    if decoding is not None and decoding.name and not (decoding.model_fields_set - {"name"}):
        # run.decoding: <name> (the manifest resolves only the eval's own decoding: look the name up here)
        if decoding.name not in (decodings or {}):
            return error("unknown-decoding", f"run.decoding {decoding.name!r} is not in the manifest's decodings")
        decoding = (decodings or {})[decoding.name]
    settings = {
        k: v
        for k, v in (decoding.settings() if decoding is not None else {}).items()
        if v is not None and k != "repeats"
    }
    harness_out = out_dir / f"{claim.name}.{run.harness}"
    if harness_out.exists():
        import shutil

        shutil.rmtree(harness_out)  # only ever the folder this function names for this benchmark
    harness_out.mkdir(parents=True)
    req = RunRequest(
        python=py,
        workdir=workdir,
        out_dir=harness_out.resolve(),
        task=run.task,
        model=model or (str(model_root) if base_url is None else model_root.name),
        base_url=base_url,
        tokenizer=str(model_root),
        include_path=resolve_inside(workdir, run.include_path) if run.include_path else None,
        num_fewshot=run.num_fewshot,
        fewshot_seed=run.fewshot_seed,
        limit=run.limit,
        decoding=settings,
        args=dict(run.args),
        device=device,
        seed=seed,
    )
    res.command = runner.command(req)
    key = tuple(a.replace(str(req.out_dir), "<out>") for a in res.command)
    if done is not None and key in done:  # only runs that exited 0 are kept
        res.returncode = 0
        return _judge(res, claim, runner, done[key], t0, seed)
    env = dict(os.environ, **_OFFLINE, **runner.env(req))
    if run.dataset.uri.startswith("hf://"):
        env.setdefault("HF_HUB_CACHE", str(dpath.parents[2]))
    log_file = out_dir / f"{claim.name}.{run.harness}.log"
    if progress is not None:
        progress(claim.name, 0, 1)
    try:
        with open(log_file, "wb") as fh:
            proc = subprocess.run(
                res.command,
                cwd=workdir,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=opts.timeout,
            )
        res.returncode = proc.returncode
    except subprocess.TimeoutExpired:
        return error("harness-timeout", f"{run.harness} ran past {opts.timeout:g} s (its output: {log_file})")
    except OSError as exc:
        return error("harness-failed", f"{run.harness} could not start: {exc}")
    if progress is not None:
        progress(claim.name, 1, 1)
    if proc.returncode != 0:
        return error("harness-failed", f"{run.harness} exited with {proc.returncode}: {_tail(log_file)}")
    if done is not None:
        done[key] = harness_out
    return _judge(res, claim, runner, harness_out, t0, seed)


def _judge(
    res: HarnessRerun, claim: EvalClaim, runner: Runner, harness_out: Path, t0: float, seed: int
) -> HarnessRerun:
    """Import the harness's logs, re-score them with assay's engine, and compare with the published value."""
    from .harnesses import load_logs
    from .rescore import rescore_imported

    def error(code: str, message: str) -> HarnessRerun:
        res.findings.append(Finding.make("error", code, f"{claim.name}: {message}", claim.name))
        res.seconds = round(time.perf_counter() - t0, 3)
        return res

    try:
        logs = load_logs(runner.logs(harness_out), runner.log_format)
    except InputError as exc:
        return error("no-harness-log", f"{res.harness} wrote no log assay can read: {exc}")
    res.logs = sorted(str(p) for p in harness_out.rglob("*") if p.is_file())
    task = _task_name(logs, res.task, claim)
    log = next((lg for lg in logs if task in lg.tasks()), None)
    if log is None:
        return error("no-samples", f"the {res.harness} log has no task {task!r}")
    rescored = rescore_imported(log, audit=False)
    res.rescore = rescored.verdict
    res.findings.extend(f for f in rescored.findings if f.severity == "error")
    samples = log.samples(task)
    filters = sorted({s.filter for s in samples})
    flt = claim.filter or ("none" if "none" in filters or not filters else filters[0])
    if len(filters) > 1 and not claim.filter:
        res.findings.append(
            Finding.make(
                "info", "filter", f"several filters ({', '.join(filters)}); the verdict uses {flt!r}", claim.name
            )
        )
    res.filter = flt
    res.task = task
    # Inspect names a metric "<score>/<metric>": the per-sample values are the score's; only a mean is a mean of them
    key, _, agg = claim.metric.partition("/")
    if agg and agg not in ("accuracy", "mean"):
        return error(
            "unsupported-metric",
            f"{claim.metric}: only a mean of per-sample scores (accuracy, mean) is compared without published samples",
        )
    by_item: dict[str, list[float]] = {}
    for s in samples:
        value = s.scores.get(key)
        if s.filter == flt and value is not None:
            by_item.setdefault(s.id, []).append(float(value))
    values = [sum(v) / len(v) for v in by_item.values()]  # repeats of an item: one item score
    res.n = len(values)
    if not values:
        return error("no-samples", f"no sample of {task!r} scored {claim.metric!r} under filter {flt!r}")
    published = claim.published[0] if claim.published else None
    if published is None:
        return error("no-published-value", "nothing published to compare with")
    margin = claim.margin
    if margin is None:
        margin = DEFAULT_MARGIN
        res.findings.append(
            Finding.make(
                "warning",
                "default-margin",
                f"no equivalence margin declared; used ±{DEFAULT_MARGIN:g} point",
                claim.name,
            )
        )
    res.verdict = compare_unpaired(
        values,
        published=published.value,
        margin=margin,
        metric=claim.metric,
        filter=flt,
        task=task,
        scale=claim.scale,
        seed=seed,
    )
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def _task_name(logs: list, task: str, claim: EvalClaim) -> str:
    """The task's name in the log: the run's task (lm-eval), or the log's only task (an Inspect task file)."""
    names = [t for lg in logs for t in lg.tasks()]
    if task in names:
        return task
    if claim.task and claim.task in names:
        return claim.task
    return names[0] if len(names) == 1 else task


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
    return " | ".join(kept) or "(no output)"


__all__ = [
    "HarnessOptions",
    "HarnessRerun",
    "run_harness",
    "tree_digest",
    "dataset_digest",
    "installed_version",
    "harness_python",
    "harness_home",
]
