"""Structural checks of a release: weight headers, shard indexes, pickles, remote code, and the manifest's claims.

Works on files that already passed (or are being checked by) the hash verification; reads headers only.  Results
of the per-file audits are cached in the state DB by content sha256, so an unchanged release needs no data reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from pydantic import BaseModel

from ..manifests.errors import PathEscapeError
from ..manifests.paths import resolve_inside
from ..manifests.schema import Claims, Manifest
from .metadata import MetadataResult
from .remote_code import AUTO_MAP_CONFIGS, RemoteCodeAudit, audit_release_code, remote_code_modules
from .results import ClaimCheck, Finding

_M = TypeVar("_M", bound=BaseModel)

AUDIT_VERSION = "2"  # 2: stricter safetensors audit (lone surrogates, padding, -0, overflow order)
INDEX_SUFFIX = ".safetensors.index.json"


@dataclass
class WeightStats:
    parameters: int = 0
    tensors: int = 0
    by_dtype: dict[str, int] = field(default_factory=dict)
    safetensors_files: int = 0
    pickle_files: int = 0

    def add(self, report: Any) -> None:
        self.safetensors_files += 1
        self.parameters += report.parameters
        self.tensors += len(report.tensors)
        for dt, n in report.parameters_by_dtype.items():
            self.by_dtype[dt] = self.by_dtype.get(dt, 0) + n


@dataclass
class StructureResult:
    findings: list[Finding]
    claims: list[ClaimCheck]
    stats: WeightStats
    architecture: str | None
    remote_code: list[str]
    # Release-metadata consistency (verify/metadata.py); its findings are kept apart from the structural ones so
    # that `assay init` still packages a release whose metadata disagree: verify reports and fails on them.
    metadata: MetadataResult | None = None
    # The static remote-code audit (verify/remote_code.py), kept apart the same way: init packages the code as it is,
    # verify lists it and fails on its error findings.
    remote_code_audit: RemoteCodeAudit | None = None


def _cached(state: Any, sha256: str | None, kind: str, model: type[_M], compute: Callable[[], _M]) -> _M:
    if state is not None and sha256:
        cached = state.get_audit(sha256, kind, AUDIT_VERSION)
        if cached is not None:
            return model.model_validate(cached)
    result = compute()
    if state is not None and sha256:
        state.put_audit(sha256, kind, AUDIT_VERSION, result.model_dump(mode="json"))
    return result


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _locator(root: Path | Mapping[str, Path]) -> Callable[[str], Path | None]:
    """Where an artifact is on disk (inside its root, never through a symlink out of it), or None."""

    def locate(path: str) -> Path | None:
        base = root.get(path) if isinstance(root, Mapping) else root
        if base is None:
            return None
        try:
            real = resolve_inside(base, path)
        except PathEscapeError:
            return None  # the hash check reports it as unsafe-path; nothing outside the root is read
        return real if real.is_file() else None

    return locate


def check_structure(
    manifest: Manifest, root: Path | Mapping[str, Path], verified: dict[str, str | None], state: Any = None
) -> StructureResult:
    """Audit weight files, shard indexes, pickles and remote code, then evaluate the manifest's claims.

    ``verified`` maps artifact path -> sha256 (None when the file is missing or failed its hash check); files that
    are missing are skipped here (the hash check already reports them).
    """
    from .pickle_scan import PickleReport, is_pickle_path, scan_pickle_file
    from .safetensors_audit import (
        SafetensorsReport,
        audit_safetensors,
        audit_shard_index,
        read_index_shard_names,
    )
    from .sniff import Sniffed, sniff_file

    findings: list[Finding] = []
    stats = WeightStats()
    reports: dict[str, Any] = {}
    locate = _locator(root)
    located = {a.path: found for a in manifest.artifacts if (found := locate(a.path)) is not None}
    present = {a.path: a for a in manifest.artifacts if a.path in located}

    for path, art in present.items():
        sha = verified.get(path)
        if path.endswith(".safetensors"):
            rep = _cached(state, sha, "safetensors", SafetensorsReport, partial(audit_safetensors, located[path]))
            reports[path] = rep
            for msg in rep.errors:
                findings.append(Finding(code="safetensors", severity="error", where=path, message=msg))
            for msg in rep.warnings:
                findings.append(Finding(code="safetensors", severity="warning", where=path, message=msg))
            if art.role.value == "weights":
                stats.add(rep)
            continue
        # Everything else is recognised by content: whatever its name or role, a file that loading could
        # unpickle is scanned against the allowlist; weights/code in a format assay cannot read is a finding.
        sniffed = _cached(state, sha, "sniff", Sniffed, partial(sniff_file, located[path]))
        if not (sniffed.pickle_bearing or (is_pickle_path(path) and sniffed.format == "unknown")):
            if sniffed.format == "unknown" and art.role.value in ("weights", "code"):
                findings.append(
                    Finding(
                        code="format",
                        severity="error",
                        where=path,
                        message=f"{path}: {art.role.value} file in a format assay cannot recognise from its content"
                        + (f" ({sniffed.detail})" if sniffed.detail else "")
                        + "; it was not scanned",
                    )
                )
            continue
        pk = _cached(state, sha, "pickle-allowlist", PickleReport, partial(scan_pickle_file, located[path]))
        stats.pickle_files += art.role.value == "weights"
        imported = sorted({f"{g.module}.{g.name}" for g in pk.globals})
        findings.append(
            Finding(
                code="pickle",
                severity="warning",
                where=path,
                message="pickle-format file: loading it executes code; assay never unpickles it"
                + (f"; imports {', '.join(imported)}" if imported else ""),
            )
        )
        if pk.dangerous:
            findings.append(
                Finding(
                    code="pickle",
                    severity="error",
                    where=path,
                    message=f"dangerous pickle globals: {', '.join(pk.dangerous)}",
                )
            )
        for msg in pk.errors:
            findings.append(Finding(code="pickle", severity="error", where=path, message=msg))

    for path in present:
        if path.endswith(INDEX_SUFFIX):
            # Only well-typed, plain shard names; a malformed index is reported by audit_shard_index, never raised.
            shard_names = read_index_shard_names(located[path])
            base = PurePosixPath(path).parent
            shard_reports = {}
            for name in shard_names:
                rel = str(base / name) if str(base) != "." else name
                if rel in reports:
                    shard_reports[name] = reports[rel]
            idx = audit_shard_index(located[path], shard_reports)
            for msg in idx.errors:
                findings.append(Finding(code="shard-index", severity="error", where=path, message=msg))
            for msg in idx.warnings:
                findings.append(Finding(code="shard-index", severity="warning", where=path, message=msg))

    architecture, remote = _configs(manifest, located, present, verified, findings)
    claims = evaluate_claims(manifest.claims, stats, architecture, remote)
    return StructureResult(
        findings,
        claims,
        stats,
        architecture,
        remote,
        _metadata(manifest, located, stats),
        audit_release_code({p: located[p] for p in present}, verified),
    )


def _metadata(manifest: Manifest, located: dict[str, Path], stats: WeightStats) -> MetadataResult:
    """Cross-check the release's root-level metadata files and card with what the weights measured."""
    from .metadata import check_metadata

    measured = stats.safetensors_files > 0  # pickle weights are never unpickled: nothing measured from them
    return check_metadata(
        {p: real for p, real in located.items() if "/" not in p},
        manifest=manifest,
        parameters=stats.parameters if measured else None,
        dtypes=stats.by_dtype if measured else None,
    )


def _configs(
    manifest: Manifest,
    located: dict[str, Path],
    present: dict[str, Any],
    verified: dict[str, str | None],
    findings: list[Finding],
) -> tuple[str | None, list[str]]:
    architecture = None
    remote: set[str] = set()
    for path in present:
        name = PurePosixPath(path).name
        if name not in AUTO_MAP_CONFIGS:
            continue
        try:
            cfg = _read_json(located[path])
        except (ValueError, UnicodeDecodeError) as exc:
            findings.append(Finding(code="config", severity="error", where=path, message=f"not valid JSON: {exc}"))
            continue
        if not isinstance(cfg, dict):
            continue
        archs = cfg.get("architectures")
        if name == "config.json" and "/" not in path and isinstance(archs, list) and archs:
            architecture = str(archs[0])
        local, foreign = remote_code_modules(cfg, PurePosixPath(path).parent)
        for ref in foreign:
            findings.append(
                Finding(
                    code="remote-code",
                    severity="error",
                    where=path,
                    message=f"auto_map loads code from another repository ({ref}); it is not pinned by this release",
                )
            )
        for mod in local:
            remote.add(mod)
            art = manifest.artifact(mod)
            if art is None:
                findings.append(
                    Finding(
                        code="remote-code",
                        severity="error",
                        where=path,
                        message=f"auto_map asks to execute {mod} (trust_remote_code) but it is not an "
                        "artifact of the release",
                    )
                )
            elif verified.get(mod) is None:
                findings.append(
                    Finding(
                        code="remote-code",
                        severity="error",
                        where=mod,
                        message=f"{path} asks to execute this file (trust_remote_code) and it did not verify",
                    )
                )
            else:
                findings.append(
                    Finding(
                        code="remote-code",
                        severity="info",
                        where=mod,
                        message=f"{path} asks to execute this file with trust_remote_code; sha256 "
                        f"verified: {verified[mod]}",
                    )
                )
    return architecture, sorted(remote)


def evaluate_claims(
    claims: Claims, stats: WeightStats, architecture: str | None, remote: list[str]
) -> list[ClaimCheck]:
    out: list[ClaimCheck] = []
    have_weights = stats.safetensors_files > 0
    why_not = (
        "no safetensors weights to count (pickle weights are never unpickled)"
        if stats.pickle_files
        else "no safetensors files with role 'weights'"
    )

    attested = set(claims.attested_only)

    def unmeasured(claim: str, declared: Any, why: str) -> ClaimCheck:
        if claim in attested:  # declared attested-only in the manifest: reported, never counted as checked
            return ClaimCheck(
                claim=claim,
                declared=declared,
                measured=None,
                verdict="attested",
                message=f"declared attested_only; not measured: {why}",
            )
        return ClaimCheck(claim=claim, declared=declared, measured=None, verdict="not-checked", message=why)

    def add(claim: str, declared: Any, measured: Any, holds: bool, message: str | None = None) -> None:
        if not have_weights and claim.startswith(("parameters", "tensors", "dtypes")):
            out.append(unmeasured(claim, declared, why_not))
            return
        out.append(
            ClaimCheck(
                claim=claim, declared=declared, measured=measured, verdict="pass" if holds else "fail", message=message
            )
        )

    p = claims.parameters
    if p is not None and p.total is not None:
        diff = abs(stats.parameters - p.total)
        allowed = p.tolerance * p.total
        rel = diff / p.total if p.total else float(diff > 0)
        add(
            "parameters.total",
            p.total,
            stats.parameters,
            diff <= allowed,
            f"off by {diff:,} ({rel:.4%}); tolerance {p.tolerance:.4%}" if diff else None,
        )
    if p is not None and p.by_dtype is not None:
        add(
            "parameters.by_dtype",
            dict(sorted(p.by_dtype.items())),
            dict(sorted(stats.by_dtype.items())),
            p.by_dtype == stats.by_dtype,
        )
    if claims.tensors is not None:
        add("tensors", claims.tensors, stats.tensors, claims.tensors == stats.tensors)
    if claims.dtypes is not None:
        measured = sorted(stats.by_dtype)
        add("dtypes", sorted(set(claims.dtypes)), measured, sorted(set(claims.dtypes)) == measured)
    if claims.architecture is not None:
        if architecture is None:
            out.append(
                unmeasured(
                    "architecture", claims.architecture, "no config.json with 'architectures' at the release root"
                )
            )
        else:
            out.append(
                ClaimCheck(
                    claim="architecture",
                    declared=claims.architecture,
                    measured=architecture,
                    verdict="pass" if architecture == claims.architecture else "fail",
                )
            )
    if claims.remote_code is not None:
        declared = sorted(set(claims.remote_code))
        out.append(
            ClaimCheck(
                claim="remote_code",
                declared=declared,
                measured=remote,
                verdict="pass" if declared == remote else "fail",
                message=None if declared == remote else "the configs' auto_map differs from the declared code files",
            )
        )
    return out


_ROLE_PATTERNS: list[tuple[str, str]] = [
    (
        (
            r"\.(safetensors|bin|pt|pth|ckpt|pkl|pickle|gguf|onnx|msgpack|h5|npz|npy)$"
            r"|\.safetensors\.index\.json$|\.bin\.index\.json$"
        ),
        "weights",
    ),
    (
        (
            r"(^|/)(tokenizer(_config)?\.json|tokenizer\.model|special_tokens_map\.json|added_tokens\.json"
            r"|vocab\.(json|txt)|merges\.txt|spiece\.model|chat_template\.(jinja|json))$"
        ),
        "tokenizer",
    ),
    (
        (
            r"(^|/)(preprocessor_config|processor_config|image_processor_config|video_preprocessor_config"
            r"|feature_extractor_config)\.json$"
        ),
        "processor",
    ),
    (r"(^|/)README(\.[^/]*)?$|\.md$|(^|/)LICEN[SC]E[^/]*$|\.txt$", "docs"),
    (r"\.(py|pyi|sh|js|ts|cu|cpp|c|h|so|dylib|dll)$", "code"),
    (r"(^|/)(config|generation_config)\.json$|\.(json|yaml|yml|toml)$", "config"),
    (r"\.(jsonl|parquet|arrow|csv|tsv)$", "data"),
    (r"\.eval$", "eval-log"),
]


def guess_role(path: str, content: Path | None = None) -> str:
    """Role of a file in a model folder (used by ``assay init``): by name, except that a file whose ``content``
    (when given) loading could unpickle is always ``weights``, so it is scanned whatever its name says."""
    if content is not None:
        from .sniff import sniff_file

        try:
            if sniff_file(content).pickle_bearing:
                return "weights"
        except OSError:
            pass  # unreadable: init's hashing step reports it
    for pattern, role in _ROLE_PATTERNS:
        if re.search(pattern, path, flags=re.IGNORECASE):
            return role
    return "other"
