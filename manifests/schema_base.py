"""Shared building blocks of the manifest schema: strict models, safe paths, counts."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from .errors import PathEscapeError
from .paths import check_relpath

API_VERSION = "assay/v1"
SHA256_RE = r"^[0-9a-f]{64}$"
NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"
_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
COUNT_RE = r"^\s*[0-9][0-9_]*(\.[0-9]+)?\s*[KMBGTkmbgt]?\s*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


def _relpath(value: str) -> str:
    try:
        return check_relpath(value)
    except PathEscapeError as exc:  # -> a pydantic error carrying the same one-line reason
        raise ValueError(str(exc)) from None


def parse_count(value: Any) -> int:
    """Accept an int or a human count such as ``"15B"``, ``"1.5M"``, ``"200_000"``."""
    if isinstance(value, bool):
        raise ValueError("expected a count, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([KMBGT]?)\s*", value.upper())  # = COUNT_RE
        if m:
            return round(float(m[1].replace("_", "")) * _SUFFIX[m[2]])
    raise ValueError(f"expected a count such as 1234567 or '15B', got {value!r}")


RelPath = Annotated[str, AfterValidator(_relpath)]
# The JSON Schema shows what the loader accepts (an int, or a human count string), not only the parsed int.
Count = Annotated[
    int, BeforeValidator(parse_count, json_schema_input_type=int | Annotated[str, Field(pattern=COUNT_RE)])
]
