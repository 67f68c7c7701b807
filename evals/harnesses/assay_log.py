"""assay's own evaluation log: ``*.assay.jsonl`` (format ``assay-eval-log``; written by ``assay rerun`` and by
:func:`assay.evals.samples.write_log`).

Reads: a header line (:class:`assay.evals.samples.LogHeader`) and one :class:`assay.evals.samples.Sample` per line.
Checks while reading: every sample's stored ``input_sha256`` / ``target_sha256`` / ``output_sha256`` against its
content (``hash-mismatch``).

Semantics reproduced: the scorer the log names — ``header.config.scorer`` (a name in
:data:`assay.evals.registry.SCORERS`) or, for re-runs of a harness log, that harness's own scoring of the reference
log (``header.config.scoring_header``, see :mod:`assay.evals.scoring`); else the score key itself must name a
scorer.  Aggregates are plain means (:func:`assay.evals.metrics.plain_mean`) and re-scoring is the generic engine
(:func:`assay.evals.engine.rescore_generic`).  A re-run's output is scored by every score key that names a scorer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

from ...manifests.errors import InputError
from ..engine import rescore_generic
from ..registry import SCORERS, EngineResult, Harness, ImportedLog, Probe, Unsupported, harness
from ..samples import LogHeader, Sample, read_log
from ..scoring import score_by_keys, score_rerun_sample


class AssayLog(ImportedLog):
    format = "assay"

    def __init__(self, path: Path) -> None:
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
                self.add(
                    "error", "hash-mismatch", f"stored {', '.join(bad)} does not match the content", s.task, [s.id]
                )

    def tasks(self) -> list[str]:
        return list(dict.fromkeys([*self.header.tasks, *self._by_task]))

    def iter_samples(self, task: str) -> Iterator[Sample]:
        return iter(self._by_task.get(task, []))

    def recompute(self, sample: Sample, metric: str) -> float | None:
        """Re-score with the scorer the log names: ``header.config.scorer`` (a name in SCORERS) or the harness
        semantics of ``header.config.scoring_header`` (the reference log's header, for re-runs of harness logs);
        else the metric itself must name a scorer in SCORERS."""
        cfg = self.header.config or {}
        scorer, ref = cfg.get("scorer"), cfg.get("scoring_header")
        if not scorer and not ref:
            if metric in SCORERS:
                return SCORERS[metric](sample)
            raise Unsupported(f"no scorer named {metric!r} (set header.config.scorer or scoring_header)")
        key = (sample.task, sample.filter, sample.id, sample.repeat)
        if key not in self._rescored:
            header = LogHeader.model_validate(ref) if ref else None
            claim = SimpleNamespace(
                scorer=scorer, metric=cfg.get("metric") or metric, filter=sample.filter, name=sample.task
            )
            fresh = sample.model_copy(update={"scores": {}, "answer": None})
            try:
                out = score_rerun_sample(fresh, claim if scorer else None, header)
            except InputError as exc:
                raise Unsupported(str(exc)) from None
            self._rescored[key] = next((x.scores for x in out if x.filter == sample.filter), {})
        return self._rescored[key].get(metric)


@harness("assay")
class AssayHarness(Harness):
    name_rank = 0
    sniff_rank: ClassVar[Mapping[str, int]] = {".jsonl": 0}
    folder_patterns = ("*.assay.jsonl",)

    def claims_name(self, path: Path) -> bool:
        return path.name.endswith(".assay.jsonl")

    def sniff(self, probe: Probe) -> bool:
        return probe.suffix == ".jsonl" and "format" in probe.keys and b"assay-eval-log" in probe.head[:200]

    def load(self, path: Path) -> list[ImportedLog]:
        files = [path] if path.is_file() else sorted(path.rglob("*.assay.jsonl"))
        return [AssayLog(f) for f in files]

    def rescore(self, log: ImportedLog, audit: bool) -> EngineResult:
        return rescore_generic(log, audit)

    def score_rerun(self, sample: Sample, header: LogHeader) -> list[Sample] | None:
        return score_by_keys(sample)
