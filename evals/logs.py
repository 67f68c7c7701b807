"""The imported log: one run of any harness, normalised (:class:`ImportedLog`), and the JSON reader importers share.

Each harness module (:mod:`assay.evals.harnesses`) subclasses :class:`ImportedLog`; samples are produced per task
on demand (:meth:`ImportedLog.iter_samples`), so huge logs stream.  The two hooks of the generic re-scoring engine
(:func:`assay.evals.engine.rescore_generic`) have harness-neutral defaults here: :meth:`ImportedLog.recompute`
scores with the named scorer the metric names (:data:`assay.evals.registry.SCORERS`), :meth:`ImportedLog.aggregate`
is a plain mean; a harness overrides them with its own semantics.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..manifests.errors import InputError
from .metrics import plain_mean
from .registry import SCORERS, Unsupported
from .results import Finding
from .samples import LogHeader, NormalisedLog, Sample


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

    # hooks of the generic re-scoring engine
    def recompute(self, sample: Sample, metric: str) -> float | None:
        """One logged per-sample score recomputed; :class:`Unsupported` when it cannot be.  Default: the metric
        names a scorer in SCORERS."""
        fn = SCORERS.get(metric)
        if fn is None:
            raise Unsupported(f"no scorer named {metric!r}")
        return fn(sample)

    def aggregate(self, task: str, metric: str, filt: str, values: list[float]) -> float | None:
        """The reported aggregate of one (task, metric, filter) from its recomputed per-sample values."""
        return plain_mean(values)


def read_json(path: Path) -> Any:
    """A JSON file; InputError (with line and column) when it is not valid JSON."""
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
