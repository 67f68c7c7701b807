"""Load manifests and locks from YAML, turning schema errors into one-line messages with file:line:column."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .errors import ManifestError
from .yamlio import read_yaml_file

if TYPE_CHECKING:
    from .schema import Manifest

M = TypeVar("M", bound=BaseModel)


def _loc_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<document>"


def _describe(err: ErrorDetails) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or "[" in p)))
    where = _loc_text(loc)
    etype = err["type"]
    if etype == "extra_forbidden":
        return f"{where}: unknown key {loc[-1]!r}"
    if etype == "missing":
        return f"{where}: required key is missing"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if etype in (
        "literal_error",
        "enum",
        "string_pattern_mismatch",
        "int_parsing",
        "float_parsing",
        "string_type",
        "int_type",
        "list_type",
        "dict_type",
        "model_type",
        "bool_type",
        "greater_than_equal",
        "less_than_equal",
        "greater_than",
        "less_than",
    ):
        return f"{where}: {msg} (got {err.get('input')!r})"
    return f"{where}: {msg}"


def validate_document(model: type[M], data: Any, positions: Any, where: str) -> M:
    """Validate parsed YAML against ``model``; every error line names ``where:line:col`` and the offending key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            pos = positions.find(tuple(p for p in err["loc"] if isinstance(p, (str, int))))
            prefix = f"{where}:{pos[0]}:{pos[1]}" if pos else where
            lines.append(f"{prefix}: {_describe(err)}")
        first = lines[0]
        if len(lines) > 1:
            first += f" (and {len(lines) - 1} more error{'s' if len(lines) > 2 else ''})"
        raise ManifestError(first, details=lines) from None


def load_model(model: type[M], path: Path | str) -> M:
    path = Path(path)
    data, positions = read_yaml_file(path)
    return validate_document(model, data, positions, str(path))


def load_manifest(path: Path | str) -> Manifest:
    """Read and validate a release manifest (``apiVersion: assay/v1, kind: Release``)."""
    from .schema import Manifest

    path = Path(path)
    data, positions = read_yaml_file(path)
    if isinstance(data, dict) and data.get("kind") == "Lock":
        raise ManifestError(f"{path}: this is a lock file; pass the manifest it belongs to")
    return validate_document(Manifest, data, positions, str(path))


def lock_path_for(manifest_path: Path | str) -> Path:
    """``X.yaml`` -> ``X.lock.yaml`` beside it (``X.yml`` -> ``X.lock.yml``)."""
    p = Path(manifest_path)
    suffix = p.suffix if p.suffix in (".yaml", ".yml") else ".yaml"
    stem = p.name[: -len(p.suffix)] if p.suffix in (".yaml", ".yml") else p.name
    return p.with_name(f"{stem}.lock{suffix}")
