"""The two typed registries of assay.evals: evaluation harnesses and named per-sample scorers.

* :data:`HARNESSES` — one :class:`Harness` per log format (``lm-eval``, ``inspect``, ``vlmevalkit``, ``eureka``,
  ``eee``, ``assay``), registered with the class decorator ``@harness("lm-eval")``.  A harness says whether a file
  is one of its logs (:meth:`Harness.claims_name`, :meth:`Harness.sniff`), reads it (:meth:`Harness.load`),
  re-scores it (:meth:`Harness.rescore`) and scores a re-run's output like its logs (:meth:`Harness.score_rerun`).
* :data:`RUNNERS` — one :class:`Runner` per harness assay can drive for a re-run (``lm-eval``, ``inspect``),
  registered with ``@runner("lm-eval")`` in the harness's module: the command line of a run and where its logs land.
* :data:`SCORERS` — per-sample scorers by name (``exact``, ``lm-eval:exact_match``, ``inspect:includes`` …), the
  names manifests use (``scorer: inspect:includes``), registered with ``@scorer("name")``.

The harnesses live one module each in :mod:`assay.evals.harnesses`; the harness-neutral scorers in
:mod:`assay.evals.scorers`.  Both registries fill themselves on first use (they import those modules), so a lookup
never sees a half-empty registry; registration itself never triggers loading.

The types the registries hold are defined here too, so that every harness module depends on this one module and
nothing here depends on a harness: :class:`ImportedLog` (one run of any harness, normalised; samples streamed per
task), :class:`Harness`, :class:`Scorer`, :class:`EngineResult`, :class:`Probe` and :class:`Unsupported`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from .metrics import plain_mean
from .results import AuditRow, Finding, RescoreRow, Severity
from .samples import LogHeader, NormalisedLog, Sample

#: the modules whose import registers every harness and scorer
_PROVIDERS = (".harnesses", ".scorers")


class Unsupported(Exception):
    """The harness semantics needed here are not implemented (custom code, model-graded scorers, corpus metrics)."""


class Scorer(Protocol):
    """A named per-sample scorer: the sample's score (1.0 = correct) from its output / answer and target."""

    def __call__(self, sample: Sample, /) -> float: ...


@dataclass
class EngineResult:
    """What a harness's re-scoring engine returns: rows, findings and the scorer audit's rows (none when the
    audit was not run)."""

    rows: list[RescoreRow] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    audit: list[AuditRow] = field(default_factory=list)


@dataclass(frozen=True)
class Probe:
    """What content sniffing looks at: the file's suffix (lower case), its first bytes and the JSON keys named in
    its first 64 KiB (nested ones included)."""

    path: Path
    suffix: str
    head: bytes
    keys: frozenset[str]

    @classmethod
    def of(cls, path: Path, limit: int = 65536) -> Probe:
        import re

        try:
            with open(path, "rb") as fh:
                head = fh.read(limit)
        except OSError:
            head = b""
        text = head.decode("utf-8", "replace")
        keys = frozenset(m.group(1) for m in re.finditer(r'"([A-Za-z_][A-Za-z0-9_\-]*)"\s*:', text))
        return cls(path=path, suffix=path.suffix.lower(), head=head, keys=keys)


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

    def add(
        self, severity: Severity, code: str, message: str, task: str | None = None, samples: list[str] | None = None
    ) -> None:
        self.findings.append(Finding.make(severity, code, message, task, samples))

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


class Harness(ABC):
    """One evaluation harness's log format and semantics.

    Detection runs in two rounds over all harnesses: first by file name (:meth:`claims_name`, in ``name_rank``
    order), then by content (:meth:`sniff`, in the order of ``sniff_rank[suffix]``: where two harnesses sniff the
    same suffix, the one with the more specific signature goes first).  ``folder_patterns`` are the globs whose
    presence marks a folder as holding this harness's runs; ``multi_file`` harnesses group several files into one
    run when given a folder (lm-eval's results + samples files, a Eureka pipeline's stage folders)."""

    name: ClassVar[str] = "?"
    name_rank: ClassVar[int] = 100
    sniff_rank: ClassVar[Mapping[str, int]] = {}
    folder_patterns: ClassVar[tuple[str, ...]] = ()
    multi_file: ClassVar[bool] = False

    def claims_name(self, path: Path) -> bool:
        """Whether the file name alone says this is one of this harness's logs."""
        return False

    def sniff(self, probe: Probe) -> bool:
        """Whether the file's first bytes look like one of this harness's logs (only asked when no harness claimed
        the name)."""
        return False

    def detect(self, path: Path) -> bool:
        """Whether ``path`` looks like one of this harness's log files, by name or content."""
        path = Path(path)
        return self.claims_name(path) or self.sniff(Probe.of(path))

    @abstractmethod
    def load(self, path: Path) -> list[ImportedLog]:
        """Every run of this format in a file or folder; InputError when there is none or it cannot be read."""

    def covers(self, run: ImportedLog, path: Path) -> bool:
        """Whether a run loaded from a folder read this file (for ``multi_file`` harnesses)."""
        return True

    def loads_alone(self, path: Path) -> bool:
        """Whether a file of this format that no run of its folder read is still a run of its own (lm-eval: a
        results file under another name); else it is skipped with that reason (``multi_file`` harnesses)."""
        return False

    def entry_files(self, files: list[Path]) -> list[Path]:
        """Of this format's files in a folder, those to load one by one (the others are read with them: EEE
        instance files with their aggregate, VLMEvalKit ``_acc.csv`` with its predictions)."""
        return files

    @abstractmethod
    def rescore(self, log: ImportedLog, audit: bool) -> EngineResult:
        """Recompute the log's per-sample scores and aggregates with this harness's semantics (a harness without
        an engine of its own uses :func:`assay.evals.engine.rescore_generic`: each logged score recomputed by
        ``log.recompute``, aggregated by ``log.aggregate``); ``audit``: also run the strict-scorer audit."""

    def score_rerun(self, sample: Sample, header: LogHeader) -> list[Sample] | None:
        """A re-run's output (``sample.output``, the reference sample's other fields) scored like this harness's
        logs, once per filter; None when the harness has no semantics of its own for it (then the named scorers
        are used)."""
        return None


def option_flags(args: Mapping[str, Any], *, dashes: bool = False) -> list[str]:
    """A run's further harness options (``run.args``), spelled as the harness's own flags in sorted order: ``True``
    is a bare ``--flag``, ``False`` and ``None`` are left out, anything else is ``--flag value``.  ``dashes``:
    ``max_connections`` is written ``--max-connections`` (Inspect's spelling; lm-eval's keeps the underscore)."""
    cmd: list[str] = []
    for key, value in sorted(args.items()):
        flag = "--" + (key.replace("_", "-") if dashes else key)
        if value is True:
            cmd.append(flag)
        elif value not in (False, None):
            cmd += [flag, str(value)]
    return cmd


@dataclass
class RunRequest:
    """One harness invocation, as a runner needs it (paths absolute; the run's working folder is ``workdir``)."""

    python: Path  # the interpreter that has the harness at the pinned version
    workdir: Path  # the manifest's folder: relative task and data paths of the release resolve there
    out_dir: Path  # an empty folder the harness writes its logs into
    task: str
    model: str  # the model folder (in process) or the served model's name (endpoint)
    base_url: str | None = None  # an OpenAI-compatible endpoint (…/v1); None: the model runs in the harness's process
    tokenizer: str | None = None  # the release's tokenizer folder, for an endpoint run that needs one
    include_path: Path | None = None
    num_fewshot: int | None = None
    fewshot_seed: int | None = None
    limit: int | None = None
    decoding: dict[str, Any] = field(default_factory=dict)  # Decoding.settings() with the Nones dropped
    args: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    seed: int = 0


class Runner(ABC):
    """Drives one evaluation harness in a subprocess: the command line of a run (in process or at an endpoint),
    where its per-sample logs land, and the log format assay imports them with.  Registered with ``@runner``."""

    name: ClassVar[str] = "?"
    #: the distribution whose installed version must equal the manifest's pin
    package: ClassVar[str] = "?"
    #: the log format (a key of HARNESSES) of what the run writes
    log_format: ClassVar[str] = "?"

    def requirements(self, version: str) -> list[str]:
        """What ``pip install`` is given to make an assay-managed interpreter of this harness at ``version``."""
        return [f"{self.package}=={version}"]

    @abstractmethod
    def command(self, req: RunRequest) -> list[str]:
        """The argv of the run (``req.python`` first)."""

    def env(self, req: RunRequest) -> dict[str, str]:
        """Environment variables the run needs besides the offline switches every run gets."""
        return {}

    def logs(self, out_dir: Path) -> Path:
        """Where the run's logs are, for the importer (default: the output folder)."""
        return out_dir


H = TypeVar("H")


class _Registry(Mapping[str, H], Generic[H]):
    """A name → entry mapping that imports the provider modules on first read, so it is complete when used."""

    _loaded: ClassVar[bool] = False

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._items: dict[str, H] = {}

    def add(self, name: str, item: H) -> None:
        if name in self._items:
            raise ValueError(f"{self._kind} {name!r} is registered twice")
        self._items[name] = item

    @staticmethod
    def _load() -> None:
        if not _Registry._loaded:
            _Registry._loaded = True
            for mod in _PROVIDERS:
                importlib.import_module(mod, __package__)

    def __getitem__(self, name: str) -> H:
        self._load()
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._items))

    def __len__(self) -> int:
        self._load()
        return len(self._items)


#: format name -> harness, in registration order (lm-eval, inspect, vlmevalkit, eureka, eee, assay)
HARNESSES: _Registry[Harness] = _Registry("harness")
#: scorer name -> per-sample scorer
SCORERS: _Registry[Scorer] = _Registry("scorer")
#: harness name (as manifests write it in ``run.harness``) -> the runner that drives it
RUNNERS: _Registry[Runner] = _Registry("runner")

HT = TypeVar("HT", bound=type[Harness])
ST = TypeVar("ST", bound=Scorer)


def harness(name: str) -> Callable[[HT], HT]:
    """Class decorator: register one instance of a :class:`Harness` subclass under the log-format ``name``."""

    def register(cls: HT) -> HT:
        cls.name = name
        HARNESSES.add(name, cls())
        return cls

    return register


RT = TypeVar("RT", bound=type[Runner])


def runner(name: str) -> Callable[[RT], RT]:
    """Class decorator: register one instance of a :class:`Runner` subclass under the harness ``name``."""

    def register(cls: RT) -> RT:
        cls.name = name
        RUNNERS.add(name, cls())
        return cls

    return register


def scorer(name: str) -> Callable[[ST], ST]:
    """Function decorator: register a per-sample scorer under ``name`` (the name manifests use)."""

    def register(fn: ST) -> ST:
        SCORERS.add(name, fn)
        return fn

    return register


def score_sample(name: str, sample: Sample) -> float:
    """Score one sample with a named scorer; InputError for an unknown name."""
    fn = SCORERS.get(name)
    if fn is None:
        from ..manifests.errors import InputError

        raise InputError(f"unknown scorer {name!r} (one of: {', '.join(sorted(SCORERS))})")
    return fn(sample)
