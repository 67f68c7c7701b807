"""Importers: harness logs → :class:`ImportedLog` (normalised samples, streamed per task, + reported aggregates).

``load_logs(path, format="auto")`` returns one :class:`ImportedLog` per run found in a file or folder.  Formats:
``lm-eval`` (``results_*.json`` + ``samples_*.jsonl``), ``inspect`` (``.eval`` / ``.json``), ``vlmevalkit``
(``.xlsx`` / ``.tsv`` / ``.json`` prediction files + ``_acc.csv`` / ``_score.csv``), ``eureka``
(``inference_result.jsonl`` + ``metric_results.jsonl`` + ``*_report.json``), ``eee`` (Every Eval Ever aggregate
JSON + instance JSONL) and ``assay`` (assay's own ``*.assay.jsonl``).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ...manifests.errors import InputError
from ..results import Finding
from ..samples import LogHeader, NormalisedLog, Sample

if TYPE_CHECKING:
    from ..results import SkippedLog

FORMATS = ("lm-eval", "inspect", "vlmevalkit", "eureka", "eee", "assay")


class ImportedLog(ABC):
    """One run's log, normalised.  Samples are produced per task on demand, so huge logs stream."""

    format: str = "?"

    def __init__(self, path: Path, header: LogHeader) -> None:
        self.path = Path(path)
        self.header = header
        self.findings: list[Finding] = []

    def tasks(self) -> list[str]:
        return list(self.header.tasks)

    @abstractmethod
    def iter_samples(self, task: str) -> Iterator[Sample]:
        """The samples of one task, in the log's order."""

    def samples(self, task: str | None = None) -> list[Sample]:
        if task is not None:
            return list(self.iter_samples(task))
        return [s for t in self.tasks() for s in self.iter_samples(t)]

    def to_normalised(self) -> NormalisedLog:
        return NormalisedLog(header=self.header, samples=self.samples(), source=str(self.path))

    def add(self, severity: str, code: str, message: str, task: str | None = None,
            samples: list[str] | None = None) -> None:
        self.findings.append(Finding.make(severity, code, message, task, samples))  # type: ignore[arg-type]


class AssayLog(ImportedLog):
    format = "assay"

    def __init__(self, path: Path) -> None:
        from ..samples import read_log

        self._log = read_log(path)
        super().__init__(path, self._log.header)
        self._by_task: dict[str, list[Sample]] = {}
        self._rescored: dict[tuple, dict] = {}
        for s in self._log.samples:
            self._by_task.setdefault(s.task, []).append(s)
        if not self.header.tasks:
            self.header.tasks = list(self._by_task)
        for s in self._log.samples:
            bad = s.hash_errors()
            if bad:
                self.add("error", "hash-mismatch", f"stored {', '.join(bad)} does not match the content", s.task,
                         [s.id])

    def tasks(self) -> list[str]:
        return list(dict.fromkeys([*self.header.tasks, *self._by_task]))

    def iter_samples(self, task: str) -> Iterator[Sample]:
        return iter(self._by_task.get(task, []))

    def recompute(self, sample: Sample, metric: str) -> float | None:
        """Re-score with the scorer the log names: ``header.config.scorer`` (a name in SCORERS) or the harness
        semantics of ``header.config.scoring_header`` (the reference log's header, for re-runs of harness logs);
        else the metric itself must name a scorer in SCORERS."""
        from types import SimpleNamespace

        from ..scorers import SCORERS, Unsupported
        from ..scoring import score_rerun_sample

        cfg = self.header.config or {}
        scorer, ref = cfg.get("scorer"), cfg.get("scoring_header")
        if not scorer and not ref:
            if metric in SCORERS:
                return SCORERS[metric](sample)
            raise Unsupported(f"no scorer named {metric!r} (set header.config.scorer or scoring_header)")
        key = (sample.task, sample.filter, sample.id, sample.repeat)
        if key not in self._rescored:
            header = LogHeader.model_validate(ref) if ref else None
            claim = SimpleNamespace(scorer=scorer, metric=cfg.get("metric") or metric, filter=sample.filter,
                                    name=sample.task)
            fresh = sample.model_copy(update={"scores": {}, "answer": None})
            try:
                out = score_rerun_sample(fresh, claim if scorer else None, header)
            except InputError as exc:
                raise Unsupported(str(exc)) from None
            self._rescored[key] = next((x.scores for x in out if x.filter == sample.filter), {})
        return self._rescored[key].get(metric)


def _peek_json_keys(path: Path, limit: int = 65536) -> set[str]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(limit)
    except OSError:
        return set()
    text = head.decode("utf-8", "replace")
    keys = set()
    import re

    for m in re.finditer(r'"([A-Za-z_][A-Za-z0-9_\-]*)"\s*:', text):
        keys.add(m.group(1))
    return keys


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def detect_format(path: Path) -> str:
    """Guess a log's format from its name and first bytes; InputError when nothing fits."""
    path = Path(path)
    if path.is_dir():
        found = []
        for fmt, patterns in (("lm-eval", ["results_*.json"]), ("inspect", ["*.eval"]),
                              ("eureka", ["inference_result.jsonl"]), ("assay", ["*.assay.jsonl"])):
            if any(next(path.rglob(p), None) for p in patterns):
                found.append(fmt)
        if not found:
            for f in sorted(path.rglob("*")):
                if f.is_file():
                    try:
                        found.append(detect_format(f))
                        break
                    except InputError:
                        continue
        if not found:
            raise InputError(f"{path}: no evaluation log of a known format in this folder")
        return found[0]
    name = path.name
    suffix = path.suffix.lower()
    if name.endswith(".assay.jsonl"):
        return "assay"
    if suffix == ".eval":
        return "inspect"
    if suffix in (".xlsx", ".tsv", ".csv"):
        return "vlmevalkit"
    if (name.startswith("results_") and suffix == ".json") or (name.startswith("samples_") and suffix == ".jsonl"):
        return "lm-eval"
    if name in ("inference_result.jsonl", "metric_results.jsonl") or name.endswith("_report.json"):
        return "eureka"
    keys = _peek_json_keys(path)
    if suffix == ".jsonl":
        if "format" in keys and b"assay-eval-log" in _head(path, 200):
            return "assay"
        if {"doc_id", "filtered_resps"} <= keys:
            return "lm-eval"
        if {"sample_id", "evaluation"} <= keys:
            return "eee"
        if "model_output" in keys:
            return "eureka"
    if suffix == ".json":
        if {"schema_version", "evaluation_results"} <= keys:
            return "eee"
        if {"eval", "status"} <= keys:
            return "inspect"
        if {"results", "configs"} <= keys:
            return "lm-eval"
        if "prediction" in keys:
            return "vlmevalkit"
    raise InputError(f"{path}: cannot tell the log format; pass --format")


def scan_logs(path: str | Path, format: str = "auto") -> tuple[list[ImportedLog], list[SkippedLog]]:
    """Every run at ``path`` and the files that were not read as one.  A file, or an explicit ``format``: as
    :func:`load_logs`.  A folder with ``format="auto"``: each file's format is detected on its own, and every
    format found is loaded (lm-eval runs, Inspect logs, EEE files… side by side); files of no known format are
    skipped (``SkippedLog.format`` None), and files taken for a format whose importer rejected them are skipped
    with that format and the importer's reason (a non-pass for ``assay rescore``)."""
    from ..results import SkippedLog

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if format != "auto" or path.is_file():
        return load_logs(path, format), []
    if format not in ("auto", *FORMATS):
        raise InputError(f"unknown log format {format!r} (one of: auto, {', '.join(FORMATS)})")
    by_format: dict[str, list[Path]] = {}
    skipped: list[SkippedLog] = []
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in f.relative_to(path).parts):
            continue  # hidden files and folders (.git, .DS_Store …)
        try:
            by_format.setdefault(detect_format(f), []).append(f)
        except InputError:
            skipped.append(SkippedLog(path=str(f), reason="not an evaluation log of a known format"))
    logs: list[ImportedLog] = []

    def load(fmt: str, target: Path) -> list[ImportedLog]:
        try:
            return load_logs(target, fmt)
        except InputError as exc:
            skipped.append(SkippedLog(path=str(target), format=fmt, reason=str(exc)))
            return []

    for fmt in FORMATS:
        files = by_format.get(fmt, [])
        if not files:
            continue
        if fmt in ("lm-eval", "eureka"):  # runs of several files: the importer groups them
            try:
                runs = load_logs(path, fmt)
            except InputError:  # no complete run: each file below is then loaded or skipped on its own
                runs = []
            logs += runs
            for f in files:  # a file of this format that no run took (e.g. a results file under another name)
                if any(_covers(run, f) for run in runs):
                    continue
                if fmt == "lm-eval" and f.suffix == ".json":
                    logs += load(fmt, f)
                else:
                    skipped.append(SkippedLog(path=str(f), format=fmt, reason=f"{f}: taken for {fmt}, but no "
                                              f"{fmt} run in {path} includes it"))
        elif fmt == "eee":  # aggregate files; their instance JSONL files are read with them
            for f in files:
                if f.suffix.lower() == ".json":
                    logs += load(fmt, f)
        elif fmt == "vlmevalkit":  # one file picks up its siblings (result, _acc.csv): one log per result path
            seen: set[Path] = set()
            for f in files:
                if f.stem.endswith(("_acc", "_score")):
                    continue
                for lg in load(fmt, f):
                    if lg.path not in seen:
                        seen.add(lg.path)
                        logs.append(lg)
        else:
            for f in files:
                logs += load(fmt, f)
    return logs, skipped


def _covers(run: ImportedLog, f: Path) -> bool:
    """Whether a run loaded from a folder read this file (lm-eval: its results and samples files; Eureka: the files
    under its run folder)."""
    if run.format == "lm-eval":
        return f in {getattr(run, "results_path", None), *(getattr(run, "sample_files", None) or {}).values()}
    if run.format == "eureka":
        root = getattr(run, "root", None)
        return root is not None and Path(root) in f.parents
    return True


def load_logs(path: str | Path, format: str = "auto") -> list[ImportedLog]:
    """Every run found at ``path`` (a file or a folder) as :class:`ImportedLog` objects.  A folder with
    ``format="auto"`` may hold several formats (see :func:`scan_logs`); a file that looks like a log but cannot be
    read is an InputError here."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if format == "auto" and path.is_dir():
        detect_format(path)  # InputError when no file of a known format is here
        logs, skipped = scan_logs(path, format)
        bad = [s for s in skipped if s.format]
        if bad:
            raise InputError(bad[0].reason)
        if not logs:
            raise InputError(f"{path}: no evaluation log of a known format in this folder")
        return logs
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in FORMATS:
        raise InputError(f"unknown log format {format!r} (one of: auto, {', '.join(FORMATS)})")
    if fmt == "lm-eval":
        from .lm_eval import load_lm_eval

        return load_lm_eval(path)
    if fmt == "inspect":
        from .inspect_log import load_inspect

        return load_inspect(path)
    if fmt == "vlmevalkit":
        from .vlmevalkit import load_vlmevalkit

        return load_vlmevalkit(path)
    if fmt == "eureka":
        from .eureka import load_eureka

        return load_eureka(path)
    if fmt == "eee":
        from .eee import load_eee

        return load_eee(path)
    files = [path] if path.is_file() else sorted(path.rglob("*.assay.jsonl"))
    return [AssayLog(f) for f in files]


def read_json(path: Path):
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
