"""Recount one data file: documents, tokens (with the declared tokenizer), text bytes and images.

``count_file`` is a plain function of (path, format, tokenizer file, text field) returning a plain dict, so the
same code runs in-process (the local executor) and as a Ray task (the ray executor); the tokenizer is loaded once
per process.  Texts are tokenised in batches with ``encode_batch``, which runs in Rust threads outside the GIL.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from .records import RecordError, extract, iter_records

BATCH = 512
MAX_RECORD_ERRORS = 5  # listed in the report; the rest are counted


@functools.lru_cache(maxsize=4)
def load_tokenizer(path: str) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


def count_file(path: str, fmt: str, tokenizer: str | None, text_field: str | None = None) -> dict[str, Any]:
    """Measured figures of one file (see :mod:`assay.mixtures.records` for what is counted).

    ``tokens`` is None when no tokenizer is given.  Never raises for bad records: they are counted in
    ``invalid_records`` with the first few described in ``errors``.
    """
    tok = load_tokenizer(tokenizer) if tokenizer else None
    out: dict[str, Any] = {
        "documents": 0,
        "tokens": 0 if tok else None,
        "text_bytes": 0,
        "images": 0,
        "invalid_records": 0,
        "errors": [],
    }
    pending: list[str] = []

    def flush() -> None:
        if tok is not None and pending:
            out["tokens"] += sum(len(e.ids) for e in tok.encode_batch(pending, add_special_tokens=False))
        pending.clear()

    def bad(where: str, why: str) -> None:
        out["invalid_records"] += 1
        if len(out["errors"]) < MAX_RECORD_ERRORS:
            out["errors"].append(f"{where}: {why}")

    try:
        for where, record in iter_records(Path(path), fmt, text_field):
            if isinstance(record, RecordError):
                bad(where, str(record))
                continue
            try:
                text, images = extract(record, text_field)
            except RecordError as exc:
                bad(where, str(exc))
                continue
            if text is None and images == 0:
                bad(where, "no text and no image (see the counted fields in assay.mixtures.records)")
                continue
            out["documents"] += 1
            out["images"] += images
            if text:
                out["text_bytes"] += len(text.encode("utf-8"))
                pending.append(text)
                if len(pending) >= BATCH:
                    flush()
        flush()
    except Exception as exc:  # a file the reader cannot parse at all (e.g. not Parquet): one clear error
        if isinstance(exc, (KeyboardInterrupt, MemoryError)):
            raise
        bad("file", f"cannot be read as {fmt}: {type(exc).__name__}: {exc}")
    return out


def add_counts(total: dict[str, Any] | None, part: dict[str, Any]) -> dict[str, Any]:
    """Sum two count dicts (tokens stay None if either is None)."""
    merged: dict[str, Any] = (
        dict(total)
        if total
        else {"documents": 0, "tokens": 0, "text_bytes": 0, "images": 0, "invalid_records": 0, "errors": []}
    )
    for key in ("documents", "text_bytes", "images", "invalid_records"):
        merged[key] = merged.get(key, 0) + part.get(key, 0)
    tokens, more = merged.get("tokens"), part.get("tokens")
    merged["tokens"] = None if tokens is None or more is None else tokens + more
    merged["errors"] = (merged.get("errors") or []) + (part.get("errors") or [])
    return merged
