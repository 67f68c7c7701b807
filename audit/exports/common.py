"""What every export reads: the release (manifest + lock), the optional audit report, and the scores to publish.

A score is *reproduced* when an audit step (``rescore`` / ``rerun``) measured it: its summary's ``chart`` rows carry
``{name, published, reproduced, ci_low, ci_high}`` (the same rows the HTML report draws).  Otherwise it is
*published only*: the publisher's number, never marked verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ...manifests.errors import InputError

SCORE_STEPS = ("rescore", "rerun")
# Metrics for which a lower value is better (error rates, distances, losses); everything else: higher is better.
_LOWER_IS_BETTER = re.compile(
    r"(^|[_\-.\s])(wer|cer|ter|perplexity|ppl|loss|error|err|mae|mse|rmse|nll|bpb|bpc"
    r"|latency)($|[_\-.\s@])",
    re.IGNORECASE,
)
_URL = re.compile(r"^https?://\S+$")


def lower_is_better(metric: str) -> bool:
    return bool(_LOWER_IS_BETTER.search(metric))


def is_url(value: str | None) -> bool:
    return bool(value and _URL.match(value))


@dataclass
class Score:
    """One benchmark of the release's ``evals:`` with what the audit measured for it (if anything)."""

    name: str
    metric: str
    task: str | None
    published: float | None
    published_source: str | None
    published_stderr: float | None
    reproduced: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    num_samples: int | None = None
    step: str | None = None  # rescore / rerun: the audit step that measured it
    verdict: str | None = None  # the audit's verdict on this claim (pass, fail, inconclusive, …)
    level: str | None = None
    claim: Any = None  # the manifest's EvalClaim

    @property
    def verified(self) -> bool:
        """Reproduced by an audit step.  Published-only values are never verified."""
        return self.reproduced is not None

    @property
    def value(self) -> float | None:
        """The value to publish: the reproduced one when the audit measured it, else the published one."""
        return self.reproduced if self.reproduced is not None else self.published

    def known_value(self) -> float:
        """``value`` where it must exist (``require_evals`` refuses scores without one)."""
        if self.value is None:
            raise InputError(f"{self.name}: no published score and no reproduced one")
        return self.value

    @property
    def has_ci(self) -> bool:
        return self.ci_low is not None and self.ci_high is not None

    def describe(self) -> str:
        """One line saying where the value comes from, for notes and metric names."""
        pub = (
            ""
            if self.published is None
            else f"published {_num(self.published)}"
            + (f" per {self.published_source}" if self.published_source else "")
        )
        if self.reproduced is None:
            return (pub or "no published value") + "; not reproduced"
        parts = [f"reproduced by assay audit ({self.step or 'audit'})"]
        if self.has_ci:
            parts.append(f"95% CI [{_num(self.ci_low)}, {_num(self.ci_high)}]")
        if self.num_samples:
            parts.append(f"n={self.num_samples}")
        if self.verdict:
            parts.append(f"verdict {self.verdict}")
        return ", ".join(parts) + (f"; {pub}" if pub else "")


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


@dataclass
class ExportContext:
    manifest_path: Path
    manifest: Any  # assay.manifests.schema.Manifest
    lock: Any  # assay.manifests.lock.Lock
    manifest_sha256: str
    report: Any = None  # assay.audit.model.AuditReport
    report_path: Path | None = None
    report_sha256: str | None = None
    datasets: dict[str, str] = field(default_factory=dict)  # eval name -> Hub dataset id (org/name)
    warnings: list[str] = field(default_factory=list)
    epoch: float = 0.0
    reproducible: bool = False  # SOURCE_DATE_EPOCH was set: no random identifiers either

    # ------------------------------------------------------------------ release facts
    @property
    def name(self) -> str:
        return self.manifest.release.name

    @property
    def version(self) -> str:
        return self.manifest.release.version

    @property
    def release_digest(self) -> str:
        return self.lock.release_digest

    def timestamp(self) -> str:
        return datetime.fromtimestamp(self.epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def hf_source(self) -> tuple[str, str | None] | None:
        """(org/repo, locked commit) of the release's Hugging Face model source, if it has one."""
        from ...manifests.uris import parse_source_uri

        revisions = {s.name: s.revision for s in self.lock.sources}
        for src in self.manifest.sources:
            uri = parse_source_uri(src.uri)
            if uri.scheme == "hf" and uri.repo_type == "model":
                return uri.repo, revisions.get(src.name) or uri.revision
        return None

    def model_id(self) -> str:
        """The model's id in Hugging Face form where the release comes from the Hub, else its release name."""
        hf = self.hf_source()
        return hf[0] if hf else self.name

    def task_type(self) -> str:
        """Hub pipeline tag for evaluation results: a release with image/video processor files takes images."""
        roles = {a.role.value for a in self.manifest.artifacts}
        return "image-text-to-text" if "processor" in roles else "text-generation"

    def dataset_id(self, score: Score) -> str | None:
        return self.datasets.get(score.name)

    # ------------------------------------------------------------------ scores
    def scores(self) -> list[Score]:
        rows: dict[str, dict[str, Any]] = {}
        verdicts: dict[str, Any] = {}
        if self.report is not None:
            for step in self.report.steps:
                if step.name not in SCORE_STEPS:
                    continue
                for point in step.summary.scores:
                    if point.reproduced is not None:
                        rows[point.name] = {**point.model_dump(), "_step": step.name}  # rerun (later) wins over rescore
            for c in self.report.claims:
                if c.step in SCORE_STEPS:
                    key = c.subject or c.id.split(":", 1)[-1]
                    verdicts[key] = c
                    verdicts.setdefault(c.id.split(":", 1)[-1], c)
        out: list[Score] = []
        for ev in self.manifest.evals:
            pub = ev.published[0] if ev.published else None
            s = Score(
                name=ev.name,
                metric=ev.metric,
                task=ev.task,
                claim=ev,
                published=pub.value if pub else None,
                published_source=pub.source if pub else None,
                published_stderr=pub.stderr if pub else None,
            )
            row = rows.get(ev.name)
            if row is not None:
                s.reproduced = float(row["reproduced"])
                if _is_number(row.get("ci_low")) and _is_number(row.get("ci_high")):
                    s.ci_low, s.ci_high = float(row["ci_low"]), float(row["ci_high"])
                n = row.get("n") if isinstance(row.get("n"), int) else None
                s.num_samples, s.step = n, row["_step"]
            claim = verdicts.get(ev.name)
            if claim is not None:
                s.verdict, s.level = claim.verdict, claim.level
            out.append(s)
        return out

    def require_evals(self, fmt: str) -> list[Score]:
        scores = self.scores()
        if not scores:
            raise InputError(f"{self.manifest_path}: the manifest has no 'evals:' section; nothing to export as {fmt}")
        missing = [s.name for s in scores if s.value is None]
        if missing:
            raise InputError(
                f"{self.manifest_path}: evals {', '.join(missing)} have no published score and no "
                f"reproduced one (give --report with a rescore/rerun step)"
            )
        return scores

    def audit_findings(self) -> list[str]:
        """One line per claim the audit did not confirm (failed, inconclusive, not checked, errors, attested-only)."""
        if self.report is None:
            return []
        lines = []
        for c in self.report.claims:
            if c.verdict != "pass":
                lines.append(f"{c.id}: {c.verdict}" + (f" ({c.message})" if c.message else ""))
        return lines


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _epoch() -> tuple[float, bool]:
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return time.time(), False
    try:
        return float(int(raw)), True
    except ValueError:
        raise InputError(f"SOURCE_DATE_EPOCH must be an integer number of seconds, not {raw!r}") from None


def load_context(
    manifest_path: Path | str, report_path: Path | str | None, datasets: dict[str, str] | None = None
) -> ExportContext:
    """Load the manifest with its lock (required) and the report (optional), and check they belong together."""
    from ...manifests.lock import release_digest
    from ...manifests.release import load_release

    manifest_path = Path(manifest_path)
    if not manifest_path.is_file():
        raise InputError(f"{manifest_path}: no such manifest file")
    loaded = load_release(manifest_path, require_lock=True)
    lock, lock_path = loaded.locked()
    if release_digest((f.path, f.size, f.sha256) for f in lock.files) != lock.release_digest:
        raise InputError(f"{lock_path}: the lock's release_digest does not match its file list (the lock was edited)")
    epoch, reproducible = _epoch()
    ctx = ExportContext(
        manifest_path=manifest_path,
        manifest=loaded.manifest,
        lock=lock,
        manifest_sha256=loaded.manifest_sha256,
        epoch=epoch,
        reproducible=reproducible,
    )
    listed = {a.path for a in loaded.manifest.artifacts}
    unlocked = sorted(listed - {f.path for f in lock.files})
    if unlocked:
        raise InputError(f"{lock_path}: artifacts not in the lock: {', '.join(unlocked[:5])}; run 'assay lock'")
    if lock.manifest_sha256 != loaded.manifest_sha256:
        ctx.warnings.append(
            f"{manifest_path.name} changed since {lock_path.name} was written; files and digests are the lock's"
        )
    if report_path is not None:
        ctx.report_path = Path(report_path)
        ctx.report, ctx.report_sha256 = _load_report(ctx.report_path)
        rel = ctx.report.release
        if (rel.name, rel.version) != (ctx.name, ctx.version):
            raise InputError(f"{report_path}: the report is for {rel.name} {rel.version}, not {ctx.name} {ctx.version}")
        if rel.release_digest is not None and rel.release_digest != lock.release_digest:
            raise InputError(
                f"{report_path}: the report audited release digest {rel.release_digest}, "
                f"but the lock pins {lock.release_digest}"
            )
        if rel.release_digest is None:
            ctx.warnings.append(f"{Path(report_path).name}: the audited files did not verify (no release digest)")
        if rel.manifest_sha256 != loaded.manifest_sha256:
            ctx.warnings.append(f"{Path(report_path).name} was made from another version of {manifest_path.name}")
    names = {e.name for e in loaded.manifest.evals}
    for bench, ds in (datasets or {}).items():
        if bench not in names:
            raise InputError(f"--dataset {bench}={ds}: the manifest has no eval named {bench!r}")
        if not re.fullmatch(r"[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*", ds):
            raise InputError(f"--dataset {bench}={ds}: expected a Hub dataset id such as org/name")
    ctx.datasets = dict(datasets or {})
    return ctx


def _load_report(path: Path) -> tuple[Any, str]:
    from pydantic import ValidationError

    from ...audit.model import AuditReport

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the report ({exc.strerror or exc})") from None
    try:
        report = AuditReport.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}: not an assay audit report ({where}: {first['msg']})") from None
    return report, hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def safe_file_stem(name: str) -> str:
    """A file name from a benchmark name (names match NAME_RE already; this also guards '..')."""
    stem = re.sub(r"[^A-Za-z0-9._\-]", "_", name).strip(".") or "eval"
    return stem
