"""in-toto Statement v1 for assay: subjects are release files (path + sha256), the predicate is an audit result.

Statement [in-toto/attestation spec/v1]::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<release-relative path>", "digest": {"sha256": "<hex>"}}, …],
     "predicateType": "<URI>", "predicate": {…}}

Predicates assay writes and checks:

* ``https://assay.dev/attestation/audit/v1`` (:data:`AUDIT_PREDICATE_TYPE`): the audit result.  Required:
  ``verdict`` = ``"pass"`` | ``"fail"``; everything else (release name/version, release digest, per-claim results,
  the report) is free-form JSON chosen by the audit.
* ``https://in-toto.io/attestation/test-result/v0.1`` (:data:`TEST_RESULT_PREDICATE_TYPE`): ``result`` =
  PASSED | WARNED | FAILED, ``configuration`` (list of ResourceDescriptors), optional ``url``, ``passedTests``,
  ``warnedTests``, ``failedTests`` (lists of strings).

Subjects are sorted by name and the payload is serialised deterministically (sorted keys, compact, UTF-8), so the
same release and predicate always give the same payload bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

from ..manifests.errors import InputError
from ..manifests.paths import check_relpath

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
AUDIT_PREDICATE_TYPE = "https://assay.dev/attestation/audit/v1"
TEST_RESULT_PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
AUDIT_VERDICTS = ("pass", "fail")
TEST_RESULTS = ("PASSED", "WARNED", "FAILED")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _name(path: str | PurePath) -> str:
    name = path.as_posix() if isinstance(path, PurePath) else path
    if not isinstance(name, str):
        raise InputError(f"subject name {path!r} is not a path")
    return check_relpath(name)  # raises PathEscapeError (an InputError) for absolute / '..' / unnormalised paths


def _sha256(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"subject {name!r}: sha256 is not a string")
    hex_ = value.lower().removeprefix("sha256:")
    if not _HEX64.match(hex_):
        raise InputError(f"subject {name!r}: {value!r} is not a sha256 hex digest")
    return hex_


def subjects_from(files: Iterable[Any]) -> list[dict]:
    """Subjects from ``(path, sha256)`` pairs or in-toto subject dicts (``{"name", "digest": {"sha256"}}``).

    Paths are release-relative POSIX paths (checked like manifest paths); digests are sha256 hex (a ``sha256:``
    prefix and upper case are accepted and normalised).  Duplicate names and an empty list are refused.
    """
    out: dict[str, dict] = {}
    for item in files:
        if isinstance(item, Mapping):
            name = _name(item.get("name"))  # type: ignore[arg-type]
            digest = item.get("digest")
            if not isinstance(digest, Mapping) or "sha256" not in digest:
                raise InputError(f"subject {name!r}: digest has no sha256")
            sha = _sha256(digest["sha256"], name)
        else:
            try:
                path, sha = item
            except (TypeError, ValueError):
                raise InputError(f"subject {item!r} is not a (path, sha256) pair") from None
            name = _name(path)
            sha = _sha256(sha, name)
        if name in out:
            raise InputError(f"subject {name!r} is listed twice")
        out[name] = {"name": name, "digest": {"sha256": sha}}
    if not out:
        raise InputError("an attestation needs at least one subject")
    return [out[k] for k in sorted(out)]


def check_predicate(predicate_type: str, predicate: Any) -> list[str]:
    """Structural problems of a predicate for the types assay knows (empty list: fine).  Any type: a JSON object."""
    if not isinstance(predicate, dict):
        return ["predicate is not a JSON object"]
    problems: list[str] = []
    if predicate_type == AUDIT_PREDICATE_TYPE:
        if predicate.get("verdict") not in AUDIT_VERDICTS:
            problems.append(f"verdict must be one of {', '.join(AUDIT_VERDICTS)} (got {predicate.get('verdict')!r})")
    elif predicate_type == TEST_RESULT_PREDICATE_TYPE:
        if predicate.get("result") not in TEST_RESULTS:
            problems.append(f"result must be one of {', '.join(TEST_RESULTS)} (got {predicate.get('result')!r})")
        conf = predicate.get("configuration")
        if not isinstance(conf, list) or not all(isinstance(c, dict) for c in conf):
            problems.append("configuration must be a list of ResourceDescriptors")
        if "url" in predicate and not isinstance(predicate["url"], str):
            problems.append("url must be a string")
        for key in ("passedTests", "warnedTests", "failedTests"):
            if key in predicate and not (
                isinstance(predicate[key], list) and all(isinstance(x, str) for x in predicate[key])
            ):
                problems.append(f"{key} must be a list of strings")
    return problems


def predicate_outcome(predicate_type: str, predicate: dict) -> str | None:
    """'pass', 'warn' or 'fail' for the predicate types assay knows; None for others."""
    if predicate_type == AUDIT_PREDICATE_TYPE:
        return predicate.get("verdict")
    if predicate_type == TEST_RESULT_PREDICATE_TYPE:
        result = predicate.get("result")
        return {"PASSED": "pass", "WARNED": "warn", "FAILED": "fail"}.get(result) if isinstance(result, str) else None
    return None


def _check_json(value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"predicate is not plain JSON: {exc}") from None


def build_statement(
    files: list[tuple[str | PurePath, str] | dict[str, Any]], predicate_type: str, predicate: dict
) -> dict:
    """An in-toto Statement v1 whose subjects are ``files`` (release-relative path, sha256 hex).

    ``files`` may also hold in-toto subject dicts.  The predicate is checked for the predicate types assay knows
    (audit: ``verdict`` pass|fail; test-result: ``result`` and ``configuration``); bad input raises InputError.
    """
    if not isinstance(predicate_type, str) or not predicate_type:
        raise InputError("predicateType must be a non-empty URI string")
    problems = check_predicate(predicate_type, predicate)
    if problems:
        raise InputError(f"predicate ({predicate_type}): {'; '.join(problems)}")
    _check_json(predicate)
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects_from(files),
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def statement_bytes(statement: dict) -> bytes:
    """Deterministic serialisation of a statement (the DSSE payload): sorted keys, compact, UTF-8."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def test_result_predicate(
    result: str,
    *,
    configuration: list[dict] | None = None,
    url: str | None = None,
    passed: list[str] | None = None,
    warned: list[str] | None = None,
    failed: list[str] | None = None,
) -> dict:
    """An in-toto test-result v0.1 predicate (``result`` PASSED | WARNED | FAILED)."""
    pred: dict[str, Any] = {"result": result, "configuration": list(configuration or [])}
    if url is not None:
        pred["url"] = url
    for key, val in (("passedTests", passed), ("warnedTests", warned), ("failedTests", failed)):
        if val is not None:
            pred[key] = list(val)
    problems = check_predicate(TEST_RESULT_PREDICATE_TYPE, pred)
    if problems:
        raise InputError(f"test-result predicate: {'; '.join(problems)}")
    return pred


test_result_predicate.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name
