"""The evaluation harnesses, one module each, and loading logs of any of them.

Modules (each starts with what it reads and which semantics it reproduces, with version notes):

  lm_eval     lm-evaluation-harness 0.4.x: results_*.json + samples_*.jsonl
  inspect_ai  Inspect AI 0.3.x: .eval / .json logs (with the multiple_choice() + choice() parsing per release)
  vlmevalkit  VLMEvalKit prediction / judge files + _acc.csv
  eureka      Eureka ML Insights pipeline folders
  eee         Every Eval Ever aggregate JSON + instance JSONL
  assay_log   assay's own *.assay.jsonl
  lmms_eval   lmms-eval 0.7.x: <date>_results.json + <date>_samples_<task>.jsonl

Each module holds its harness's importer (an :class:`assay.evals.registry.ImportedLog` subclass), its metric and
filter semantics, its per-sample scorers (registered with ``@scorer("<harness>:<name>")``) and its re-scoring
engine, and registers one :class:`assay.evals.registry.Harness` with ``@harness("<format>")``.

Adding a harness is adding one module here and one line to the imports at the bottom of this file: registration
happens on import, and the explicit list (rather than discovery with pkgutil) fixes the order in which formats are
loaded from a mixed folder and listed in messages, and keeps a stray file in this folder from being run.  The
registries import this package on first use, so they are complete whatever was imported first.

``load_logs(path, format="auto")`` returns one ImportedLog per run found in a file or folder; ``scan_logs`` also
lists the files of a folder that were not read as a run; ``detect_format`` names a file's or folder's format.
"""

from __future__ import annotations

from pathlib import Path

from ...manifests.errors import InputError
from ..registry import HARNESSES, Harness, ImportedLog, Probe
from ..results import SkippedLog


def formats() -> tuple[str, ...]:
    """The registered log formats, in registration order."""
    return tuple(HARNESSES)


def _unknown(format: str) -> InputError:
    return InputError(f"unknown log format {format!r} (one of: auto, {', '.join(formats())})")


def detect_format(path: Path) -> str:
    """Guess a log's format from its name and first bytes; InputError when nothing fits.  A folder: the first
    harness (in registration order) one of whose ``folder_patterns`` occurs in it, else the format of its first
    file of a known format.  A file: first by name (harnesses in ``name_rank`` order), then by content (those that
    sniff its suffix, in ``sniff_rank`` order)."""
    path = Path(path)
    harnesses = [HARNESSES[name] for name in HARNESSES]
    if path.is_dir():
        for h in harnesses:
            if any(next(path.rglob(p), None) for p in h.folder_patterns):
                return h.name
        for f in sorted(path.rglob("*")):
            if f.is_file():
                try:
                    return detect_format(f)
                except InputError:
                    continue
        raise InputError(f"{path}: no evaluation log of a known format in this folder")
    for h in sorted(harnesses, key=lambda h: h.name_rank):
        if h.claims_name(path):
            return h.name
    suffix = path.suffix.lower()
    sniffers = sorted((h for h in harnesses if suffix in h.sniff_rank), key=lambda h: h.sniff_rank[suffix])
    if sniffers:
        probe = Probe.of(path)
        for h in sniffers:
            if h.sniff(probe):
                return h.name
    raise InputError(f"{path}: cannot tell the log format; pass --format")


def _harness(format: str) -> Harness:
    h = HARNESSES.get(format)
    if h is None:
        raise _unknown(format)
    return h


def scan_logs(path: str | Path, format: str = "auto") -> tuple[list[ImportedLog], list[SkippedLog]]:
    """Every run at ``path`` and the files that were not read as one.  A file, or an explicit ``format``: as
    :func:`load_logs`.  A folder with ``format="auto"``: each file's format is detected on its own, and every
    format found is loaded (lm-eval runs, Inspect logs, EEE files… side by side); files of no known format are
    skipped (``SkippedLog.format`` None), and files taken for a format whose importer rejected them are skipped
    with that format and the importer's reason (a non-pass for ``assay rescore``)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if format != "auto" or path.is_file():
        return load_logs(path, format), []
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

    for fmt in HARNESSES:
        h = HARNESSES[fmt]
        files = by_format.get(fmt, [])
        if not files:
            continue
        if h.multi_file:  # runs of several files: the importer groups them
            try:
                runs = load_logs(path, fmt)
            except InputError:  # no complete run: each file below is then loaded or skipped on its own
                runs = []
            logs += runs
            for f in files:  # a file of this format that no run took (e.g. a results file under another name)
                if any(h.covers(run, f) for run in runs):
                    continue
                if h.loads_alone(f):
                    logs += load(fmt, f)
                else:
                    skipped.append(
                        SkippedLog(
                            path=str(f),
                            format=fmt,
                            reason=f"{f}: taken for {fmt}, but no {fmt} run in {path} includes it",
                        )
                    )
            continue
        seen: set[Path] = set()  # one file may pick up its siblings (VLMEvalKit): one log per path
        for f in h.entry_files(files):
            for lg in load(fmt, f):
                if lg.path not in seen:
                    seen.add(lg.path)
                    logs.append(lg)
    return logs, skipped


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
    return _harness(fmt).load(path)


# registration: one import per harness module, in the order formats are loaded and listed
from . import lm_eval, inspect_ai, vlmevalkit, eureka, eee, assay_log, lmms_eval  # noqa: E402,F401,I001
