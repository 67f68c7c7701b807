"""KitOps ``Kitfile`` (manifestVersion 1.0.0) for a release, where it maps cleanly.

KitOps decodes Kitfiles with ``KnownFields(true)``: an unknown key is an error, so only the keys of
kitops-ml/kitops ``pkg/artifact/kitfile.go`` are written (checked by :func:`check_keys` before writing).  Its
``Validate`` also refuses two entries with the same path, absolute paths and non-local paths (a dataset's
``remotePath`` may only be ``s3://``).

Paths are relative to the manifest's folder, the build context: ``kit build <manifest folder> -f <Kitfile>``.

Mapping:
  package   release name, version, description, licence, publisher (as the one author)
  model     path: the shard index (or the one weights file); parts: the other weights, config, tokenizer and
            processor files (``type`` = the assay role); parameters: the structural claims and release digest
  code      role ``code`` (e.g. remote code that ``auto_map`` executes)
  datasets  role ``data`` artifacts, and ``data:`` components whose ``dir://`` folder lies in the context
  docs      roles ``docs``, ``eval-log``, ``other``, plus the assay manifest and lock themselves
What does not map (Hub / DVC data components, sources outside the context folder) is left out with a warning.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

from ...manifests.errors import InputError
from .common import ExportContext

MANIFEST_VERSION = "1.0.0"
# The documented keys (kitfile.go struct tags); LayerInfo's digest/diffId are yaml:"-" and never appear in YAML.
KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"manifestVersion", "package", "model", "code", "datasets", "docs", "prompts"}),
    "package": frozenset({"name", "version", "description", "license", "authors"}),
    "model": frozenset(
        {"name", "path", "license", "framework", "format", "version", "description", "parts", "parameters"}
    ),
    "model.parts": frozenset({"name", "path", "license", "type"}),
    "code": frozenset({"path", "description", "license"}),
    "datasets": frozenset({"name", "path", "remotePath", "remoteHash", "description", "license", "parameters"}),
    "docs": frozenset({"path", "description"}),
    "prompts": frozenset({"name", "path", "description"}),
}
_FORMATS = {".safetensors": "safetensors", ".gguf": "gguf", ".onnx": "onnx"}


def check_keys(kitfile: dict[str, Any]) -> list[str]:
    """Keys that KitOps would refuse (``parameters`` maps are free-form and not checked inside)."""
    bad = [f"{k}" for k in kitfile if k not in KEYS[""]]
    for section in ("package", "model"):
        if isinstance(kitfile.get(section), dict):
            bad += [f"{section}.{k}" for k in kitfile[section] if k not in KEYS[section]]
    for i, part in enumerate((kitfile.get("model") or {}).get("parts") or []):
        bad += [f"model.parts[{i}].{k}" for k in part if k not in KEYS["model.parts"]]
    for section in ("code", "datasets", "docs", "prompts"):
        for i, item in enumerate(kitfile.get(section) or []):
            bad += [f"{section}[{i}].{k}" for k in item if k not in KEYS[section]]
    return bad


def _context_path(ctx: ExportContext, art_path: str, src_uri: str | None) -> str | None:
    """The artifact's path relative to the manifest's folder, or None when it lies outside it."""
    from ...manifests.uris import parse_source_uri

    if src_uri is None:
        return art_path
    uri = parse_source_uri(src_uri)
    if uri.scheme != "dir" or uri.package is not None:
        return art_path  # hub sources: 'assay pull' lays the files out beside the manifest
    if os.path.isabs(uri.repo):
        return None
    rel = posixpath.normpath(posixpath.join(uri.repo, art_path))
    return None if rel == ".." or rel.startswith("../") else rel


def build(ctx: ExportContext) -> dict[str, Any]:
    m = ctx.manifest
    rel = m.release
    sources = {s.name: s.uri for s in m.sources}
    default = m.sources[0].uri if m.sources else None
    placed: dict[str, tuple[str, Any]] = {}  # artifact path -> (context path, artifact)
    for art in m.artifacts:
        p = _context_path(ctx, art.path, sources.get(art.source) if art.source else default)
        if p is None:
            ctx.warnings.append(f"{art.path}: its source lies outside the manifest's folder; left out of the Kitfile")
        else:
            placed[art.path] = (p, art)

    kit: dict[str, Any] = {"manifestVersion": MANIFEST_VERSION}
    pkg = {
        "name": rel.name,
        "version": rel.version,
        "description": rel.description,
        "license": rel.license,
        "authors": [rel.publisher] if rel.publisher else None,
    }
    kit["package"] = {k: v for k, v in pkg.items() if v}

    weights = [(p, a) for p, a in placed.values() if a.role.value == "weights"]
    model_parts = [(p, a) for p, a in placed.values() if a.role.value in ("config", "tokenizer", "processor")]
    if weights:
        index = [w for w in weights if w[0].endswith(".index.json")]
        main = index[0] if index else max(weights, key=lambda w: (w[1].size or 0, w[0]))
        suffixes = {Path(p).suffix.lower() for p, _ in weights} - {".json"}
        model: dict[str, Any] = {"name": rel.name, "path": main[0]}
        if rel.license:
            model["license"] = rel.license
        if len(suffixes) == 1 and suffixes <= set(_FORMATS):
            model["format"] = _FORMATS[suffixes.pop()]
        model["version"] = rel.version
        parts = [
            {"name": Path(p).name, "path": p, "type": a.role.value}
            for p, a in sorted(weights + model_parts, key=lambda w: w[0])
            if p != main[0]
        ]
        if parts:
            model["parts"] = parts
        params: dict[str, Any] = {"assay_release_digest": ctx.release_digest}
        c = m.claims
        if c.architecture:
            params["architecture"] = c.architecture
        if c.parameters and c.parameters.total is not None:
            params["parameters"] = c.parameters.total
        if c.dtypes:
            params["dtypes"] = list(c.dtypes)
        if c.tensors is not None:
            params["tensors"] = c.tensors
        model["parameters"] = params
        kit["model"] = model
    else:
        if model_parts:
            ctx.warnings.append("the release has no weights artifact: config/tokenizer files go to docs")
    code = [
        {"path": p, "license": rel.license} if rel.license else {"path": p}
        for p, a in placed.values()
        if a.role.value == "code"
    ]
    if code:
        kit["code"] = code
    datasets = [{"name": Path(p).stem, "path": p} for p, a in placed.values() if a.role.value == "data"]
    for comp in m.data.components if m.data else []:
        entry = _data_entry(comp)
        if entry is None:
            ctx.warnings.append(
                f"data component {comp.name} ({comp.source}): only local folders in the build context "
                "map to a Kitfile dataset (remotePath is s3:// only); left out"
            )
        else:
            datasets.append(entry)
    if datasets:
        kit["datasets"] = datasets
    docs_roles = {"docs": None, "eval-log": "evaluation log", "other": None}
    docs = []
    for p, a in placed.values():
        if a.role.value in docs_roles or (not weights and a.role.value in ("config", "tokenizer", "processor")):
            d = {"path": p}
            description = docs_roles.get(a.role.value)
            if description:
                d["description"] = description
            docs.append(d)
    docs.append({"path": ctx.manifest_path.name, "description": "assay release manifest"})
    from ...manifests.loader import lock_path_for

    lock_name = lock_path_for(ctx.manifest_path).name
    docs.append({"path": lock_name, "description": f"assay lock (release digest {ctx.release_digest})"})
    kit["docs"] = docs

    paths = [kit["model"]["path"]] if "model" in kit else []
    paths += [p["path"] for p in (kit.get("model") or {}).get("parts", [])]
    paths += [e["path"] for s in ("code", "datasets", "docs") for e in kit.get(s, [])]
    dupes = sorted({posixpath.normpath(p) for p in paths if paths.count(p) > 1})
    if dupes:
        raise InputError(
            f"{ctx.manifest_path}: Kitfile entries would share the path {dupes[0]!r} (KitOps refuses that)"
        )
    return kit


def _data_entry(comp: Any) -> dict[str, Any] | None:
    from ...manifests.uris import parse_source_uri

    if not comp.source.startswith("dir://"):
        return None
    uri = parse_source_uri(comp.source)
    if uri.package is not None or os.path.isabs(uri.repo):
        return None
    path = posixpath.normpath(uri.repo)
    if path == ".." or path.startswith("../") or path == ".":
        return None
    entry: dict[str, Any] = {"name": comp.name, "path": path}
    desc = [f"{k} {getattr(comp, k)}" for k in ("tokens", "documents") if getattr(comp, k) is not None]
    if comp.weight is not None:
        desc.append(f"weight {comp.weight.value:g} ({comp.weight.unit.value})")
    if desc:
        entry["description"] = ", ".join(desc)
    if comp.license:
        entry["license"] = comp.license
    params: dict[str, Any] = {}
    if comp.tags:
        params["tags"] = list(comp.tags)
    files = {f.path: f.sha256 for f in comp.files if f.sha256}
    if files:
        params["sha256"] = files
    if params:
        entry["parameters"] = params
    return entry
