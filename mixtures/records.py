"""Records of a data file, and which of their fields are counted.

A *document* is one record: one non-empty line of a JSONL file (a JSON object), or one row of a Parquet file.
The counted text of a record is, in this order of preference (or the component's ``text_field`` alone):

  1. ``text`` — a string (pre-training style);
  2. ``messages`` or ``conversations`` — a list of turns ``{role|from, content|value}``; ``content`` is a string or
     a list of parts, of which ``{"type": "text", "text": …}`` parts are text and ``{"type": "image", …}`` parts are
     images (OpenAI / Llava chat style); turn texts are joined with ``"\\n"``;
  3. ``prompt`` and ``response`` / ``completion`` / ``answer`` — joined with ``"\\n"`` (SFT pairs);
  4. ``caption`` — a string (image-caption pairs).

Images are counted, not tokenised: ``image`` (one when not null), ``images`` (the non-null entries of a list) and
image parts of messages.  A Parquet image may be the Hugging Face ``Image`` struct ``{bytes, path}``.  The measured
figures per file are ``documents`` (records), ``tokens`` (tokenizer ids of the counted text, no special tokens added),
``text_bytes`` (UTF-8 bytes of the counted text) and ``images``; ``bytes`` is the file's stored size.  A record with
neither text nor image, or a line that is not a JSON object, is an *invalid record*: it is reported, since a
declaration cannot be recounted faithfully around it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEXT_KEYS = ("text",)
TURN_KEYS = ("messages", "conversations")
PAIR_KEYS = (("prompt",), ("response", "completion", "answer"))
CAPTION_KEYS = ("caption",)
PARQUET_BATCH = 1024


class RecordError(ValueError):
    """A record that cannot be counted: ``where`` says which line or row."""


def detect_format(path: str, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    name = path.lower()
    if name.endswith((".jsonl", ".ndjson", ".jsonl.txt")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise RecordError(f"{path}: cannot tell the record format from the name; set format: jsonl|parquet")


def _content(value: Any) -> tuple[list[str], int]:
    """Text pieces and image count of one message content (a string or a list of typed parts)."""
    if isinstance(value, str):
        return [value], 0
    texts: list[str] = []
    images = 0
    if isinstance(value, list):
        for part in value:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif kind in ("image", "image_url"):
                    images += 1
    return texts, images


def _images(record: dict[str, Any]) -> int:
    n = 0
    if record.get("image") is not None:
        n += 1
    imgs = record.get("images")
    if isinstance(imgs, list):
        n += sum(1 for i in imgs if i is not None)
    return n


def extract(record: Any, text_field: str | None = None) -> tuple[str | None, int]:
    """(counted text or None, image count) of one record, by the rules in this module's docstring."""
    if not isinstance(record, dict):
        raise RecordError("record is not a JSON object")
    images = _images(record)
    if text_field is not None:
        value = record.get(text_field)
        if value is None:
            return None, images
        if not isinstance(value, str):
            found, more = _content(value)
            return ("\n".join(found) if found else None), images + more
        return value, images
    for key in TEXT_KEYS:
        if isinstance(record.get(key), str):
            return record[key], images
    for key in TURN_KEYS:
        turns = record.get(key)
        if isinstance(turns, list):
            texts: list[str] = []
            for turn in turns:
                if isinstance(turn, dict):
                    pieces, more = _content(turn.get("content", turn.get("value")))
                    texts.extend(pieces)
                    images += more
            return ("\n".join(texts) if texts else None), images
    prompt = next((record[k] for k in PAIR_KEYS[0] if isinstance(record.get(k), str)), None)
    answer = next((record[k] for k in PAIR_KEYS[1] if isinstance(record.get(k), str)), None)
    if prompt is not None or answer is not None:
        return "\n".join(p for p in (prompt, answer) if p is not None), images
    for key in CAPTION_KEYS:
        if isinstance(record.get(key), str):
            return record[key], images
    return None, images


def iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) per non-empty line; a line that is not JSON yields (where, RecordError)."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                yield f"line {lineno}", json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield f"line {lineno}", RecordError(f"not JSON: {exc}")


def iter_parquet(path: Path, text_field: str | None = None) -> Iterator[tuple[str, Any]]:
    """(where, record) per row, reading only the columns the counting rules look at."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    wanted = set(TEXT_KEYS + TURN_KEYS + CAPTION_KEYS + PAIR_KEYS[0] + PAIR_KEYS[1] + ("image", "images"))
    if text_field:
        wanted.add(text_field)
    columns = [c for c in pf.schema_arrow.names if c in wanted]
    row = 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH, columns=columns):
        for record in batch.to_pylist():
            row += 1
            yield f"row {row}", record


def iter_records(path: Path, fmt: str, text_field: str | None = None) -> Iterator[tuple[str, Any]]:
    if fmt == "jsonl":
        return iter_jsonl(path)
    if fmt == "parquet":
        return iter_parquet(path, text_field)
    raise RecordError(f"unknown record format {fmt!r}")
