"""CycloneDX 1.6 ML-BOM (JSON) of a release.

* ``metadata.component``: the release as a ``machine-learning-model`` whose hash is the release digest (SHA-256 over
  the names, sizes and digests of all its files, see :mod:`assay.manifests.lock`), with a ``modelCard``:
  ``modelParameters`` (architecture from ``claims.architecture``, the training datasets by reference),
  ``quantitativeAnalysis.performanceMetrics`` (reproduced scores with their 95% CI when an audit report gives them,
  else the published score) and ``considerations`` (what the audit could not confirm).
* ``components``: every locked file as a ``file`` with its SHA-256 (and BLAKE3 when locked), and every ``data:``
  component as a ``data`` component with its licence, files and hashes.
* ``dependencies``: the model depends on its files and its datasets.

cyclonedx-python-lib (11.x) has no model-card model (a TODO in ``cyclonedx/model/component.py``), so the BOM is
built as JSON here and checked with the library's ``JsonStrictValidator`` for schema 1.6 before anything is written.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .common import ExportContext, Score

SPEC_VERSION = "1.6"
SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"
DIGEST_PROPERTY = "assay:release_digest"
DIGEST_ALGORITHM = "assay-release-digest-v1"


def assay_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("assay")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
        return "0"


def _licenses(license_str: str | None) -> list[dict[str, Any]] | None:
    """A CycloneDX licence choice: an SPDX id (case fixed up), an SPDX expression, or a plain name."""
    if not license_str:
        return None
    from cyclonedx.spdx import fixup_id, is_expression

    spdx = fixup_id(license_str)
    if spdx is not None:
        return [{"license": {"id": spdx}}]
    if re.search(r"\s(AND|OR|WITH)\s", license_str) and is_expression(license_str):
        return [{"expression": license_str}]
    return [{"license": {"name": license_str}}]


def _prop(name: str, value: Any) -> dict[str, str]:
    return {"name": name, "value": value if isinstance(value, str) else json.dumps(value)}


def _purl(ctx: ExportContext) -> str | None:
    hf = ctx.hf_source()
    if not hf:
        return None
    from packageurl import PackageURL

    org, _, name = hf[0].rpartition("/")
    return PackageURL(type="huggingface", namespace=org or None, name=name, version=hf[1]).to_string()


def _metric(s: Score) -> dict[str, Any]:
    m: dict[str, Any] = {"type": s.metric, "value": f"{s.value:g}", "slice": s.task or s.name}
    if s.verified and s.has_ci:
        m["confidenceInterval"] = {"lowerBound": f"{s.ci_low:g}", "upperBound": f"{s.ci_high:g}"}
    return m


def _data_component(comp: Any) -> dict[str, Any]:
    ref = f"data:{comp.name}"
    c: dict[str, Any] = {"type": "data", "bom-ref": ref, "name": comp.name}
    lic = _licenses(comp.license)
    if lic:
        c["licenses"] = lic
    data: dict[str, Any] = {"type": "dataset", "name": comp.name}
    if comp.source != "unavailable":
        data["contents"] = {"url": comp.source}
    c["data"] = [data]
    props = [_prop("assay:data:source", comp.source)]
    if comp.reason:
        props.append(_prop("assay:data:unavailable_reason", comp.reason))
    for key in ("tokens", "documents", "bytes"):
        if getattr(comp, key) is not None:
            props.append(_prop(f"assay:data:{key}", str(getattr(comp, key))))
    if comp.weight is not None:
        props.append(_prop("assay:data:weight", f"{comp.weight.value:g} {comp.weight.unit.value}"))
    if comp.max_epochs is not None:
        props.append(_prop("assay:data:max_epochs", f"{comp.max_epochs:g}"))
    for tag in comp.tags:
        props.append(_prop("assay:data:tag", tag))
    c["properties"] = props
    files = []
    for f in comp.files:
        fc: dict[str, Any] = {"type": "file", "bom-ref": f"{ref}/{f.path}", "name": f.path}
        hashes = [{"alg": "SHA-256", "content": f.sha256}] if f.sha256 else []
        if f.md5:
            hashes.append({"alg": "MD5", "content": f.md5})
        if hashes:
            fc["hashes"] = hashes
        if f.size is not None:
            fc["properties"] = [_prop("assay:size", str(f.size))]
        files.append(fc)
    if files:
        c["components"] = files
    return c


def build(ctx: ExportContext) -> dict[str, Any]:
    m, lock = ctx.manifest, ctx.lock
    rel = m.release
    model_ref = f"model:{rel.name}@{rel.version}"
    digest_hex = lock.release_digest.split(":", 1)[1]

    files = []
    roles = {a.path: a.role.value for a in m.artifacts}
    for f in lock.files:
        hashes = [{"alg": "SHA-256", "content": f.sha256}]
        if f.blake3:
            hashes.append({"alg": "BLAKE3", "content": f.blake3})
        files.append(
            {
                "type": "file",
                "bom-ref": f"file:{f.path}",
                "name": f.path,
                "hashes": hashes,
                "properties": [_prop("assay:role", roles.get(f.path, "other")), _prop("assay:size", str(f.size))],
            }
        )
    data = [_data_component(c) for c in (m.data.components if m.data else [])]

    # ---- model card
    card: dict[str, Any] = {"bom-ref": f"{model_ref}#model-card"}
    params: dict[str, Any] = {}
    arch = m.claims.architecture
    if arch:
        family = re.split(r"For[A-Z]", arch, maxsplit=1)[0] or arch
        params.update(architectureFamily=family, modelArchitecture=arch)
    params["task"] = ctx.task_type()
    if data:
        params["datasets"] = [{"ref": d["bom-ref"]} for d in data]
    card["modelParameters"] = params
    scores = ctx.scores()
    if scores:
        metrics = [_metric(s) for s in scores if s.value is not None]
        if metrics:
            card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    limitations = []
    for s in scores:
        if s.value is not None and not s.verified:
            limitations.append(f"{s.name} {s.metric}: {s.describe()} (published value, not verified by the audit)")
        elif s.verified and s.verdict not in (None, "pass"):
            limitations.append(f"{s.name} {s.metric}: {s.describe()}")
    limitations += [f"audit: {line}" for line in ctx.audit_findings() if not line.startswith("eval:")]
    if m.data:
        for c in m.data.components:
            if c.source == "unavailable":
                limitations.append(f"data component {c.name} is attested only: {c.reason}")
    if limitations:
        card["considerations"] = {"technicalLimitations": limitations}
    card_props = []
    for s in scores:
        card_props.append(_prop(f"assay:eval:{s.name}:verified", "true" if s.verified else "false"))
        if s.published is not None:
            card_props.append(_prop(f"assay:eval:{s.name}:published", f"{s.published:g}"))
        if s.published_source:
            card_props.append(_prop(f"assay:eval:{s.name}:published_source", s.published_source))
        if s.verdict:
            card_props.append(_prop(f"assay:eval:{s.name}:verdict", s.verdict))
    if m.data and m.data.totals and m.data.totals.tokens is not None:
        card_props.append(_prop("assay:data:total_tokens", str(m.data.totals.tokens)))
    if m.data:
        for tag, share in m.data.shares.items():
            card_props.append(_prop(f"assay:data:share:{tag}", f"{share.value:g} of {share.unit}"))
    if card_props:
        card["properties"] = card_props

    # ---- the model component
    model: dict[str, Any] = {
        "type": "machine-learning-model",
        "bom-ref": model_ref,
        "name": rel.name,
        "version": rel.version,
    }
    if rel.publisher:
        model["publisher"] = rel.publisher
        model["supplier"] = {"name": rel.publisher}
    if rel.description:
        model["description"] = rel.description
    lic = _licenses(rel.license)
    if lic:
        model["licenses"] = lic
    model["hashes"] = [{"alg": "SHA-256", "content": digest_hex}]
    purl = _purl(ctx)
    if purl:
        model["purl"] = purl
    refs = []
    if rel.homepage:
        refs.append({"type": "website", "url": rel.homepage})
    if refs:
        model["externalReferences"] = refs
    model["modelCard"] = card
    props = [
        _prop(DIGEST_PROPERTY, lock.release_digest),
        _prop("assay:release_digest_algorithm", DIGEST_ALGORITHM),
        _prop("assay:manifest_sha256", ctx.manifest_sha256),
    ]
    pc = m.claims.parameters
    if pc and pc.total is not None:
        props.append(_prop("assay:claims:parameters", str(pc.total)))
    if m.claims.dtypes:
        props += [_prop("assay:claims:dtype", d) for d in m.claims.dtypes]
    if m.claims.tensors is not None:
        props.append(_prop("assay:claims:tensors", str(m.claims.tensors)))
    for src in lock.sources:
        props.append(_prop("assay:source", f"{src.uri} @ {src.revision}"))
    if ctx.report is not None:
        r = ctx.report
        props += [
            _prop("assay:audit:verdict", r.verdict),
            _prop("assay:audit:report_sha256", ctx.report_sha256),
            _prop("assay:audit:claims", json.dumps(r.counts.model_dump(), sort_keys=True)),
        ]
    model["properties"] = props

    if ctx.reproducible:
        serial = uuid.uuid5(uuid.NAMESPACE_URL, f"assay-cyclonedx:{lock.release_digest}:{ctx.report_sha256 or ''}")
    else:
        serial = uuid.uuid4()
    bom: dict[str, Any] = {
        "$schema": SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": {
            "timestamp": ctx.timestamp(),
            "tools": {"components": [{"type": "application", "name": "assay", "version": assay_version()}]},
            "component": model,
        },
        "components": files + data,
        "dependencies": [{"ref": model_ref, "dependsOn": [c["bom-ref"] for c in files + data]}],
    }
    return bom


def validate(bom: dict[str, Any] | str) -> list[str]:
    """Errors of the CycloneDX 1.6 strict JSON validator (empty when the BOM is valid)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = bom if isinstance(bom, str) else json.dumps(bom)
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    out = []
    for e in errors or ():
        data = getattr(e, "data", None)
        where = "/".join(str(p) for p in getattr(data, "absolute_path", ()) or ())
        out.append(f"{where or '(root)'}: {getattr(data, 'message', None) or e}")
    return out
