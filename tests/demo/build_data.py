"""Build the demo release's training-data mixture, deterministically: ``python tests/demo/build_data.py OUTDIR``.

Three real components that `assay data check` hashes and recounts with the release's tokenizer:

* ``cot``    — chain-of-thought chart questions as chat turns (JSONL), tagged ``cot``;
* ``direct`` — short direct-answer question/answer pairs (JSONL), tagged ``direct``;
* ``charts`` — image-text records (Parquet): a generated bar-chart PNG + a question and a one-word answer, tagged
  ``image-text`` and ``direct``;

plus a component declared ``unavailable`` (attested only).  By tokens, ``cot`` is about 20% of the mixture and
``direct`` about 80% — the shape of the data story of large vision-language releases, in miniature.

Everything comes from ``random.Random(seed)`` (the same sequence on every platform) and Pillow's PNG encoder, so
the JSONL bytes are identical everywhere; Parquet and PNG bytes depend on the pyarrow/Pillow versions, which is
why the committed files, not a rebuild, are what the manifest pins.
"""

from __future__ import annotations

import io
import json
import random
import sys
from pathlib import Path

SEED = 20260301
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
COLOURS = ["red", "blue", "green", "orange", "yellow"]


def bar_chart(values: list[int], colour: tuple[int, int, int], size: int = 32) -> bytes:
    """A small bar chart as PNG bytes: one bar per value, heights in pixels, on a white background."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    width = size // max(1, len(values))
    for i, v in enumerate(values):
        draw.rectangle([i * width + 1, size - 1 - v, (i + 1) * width - 2, size - 1], fill=colour)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def chart_question(rng: random.Random) -> dict:
    """A chart with 3-5 bars and a question whose answer is read off the chart."""
    n = rng.randint(3, 5)
    values = [rng.randint(2, 28) for _ in range(n)]
    months = MONTHS[:n]
    kind = rng.choice(["tallest", "value", "count"])
    if kind == "tallest":
        q = "which bar is the tallest ? answer with the month ."
        a = months[values.index(max(values))]
    elif kind == "value":
        i = rng.randrange(n)
        q = f"what is the value of the bar for {months[i]} ?"
        a = str(values[i])
    else:
        q = "how many bars are there in the plot ?"
        a = str(n)
    return {"values": values, "months": months, "question": q, "answer": a, "kind": kind}


def cot_record(rng: random.Random) -> dict:
    c = chart_question(rng)
    steps = " ".join(f"the bar for {m} shows {v} ." for m, v in zip(c["months"], c["values"]))
    reasoning = (
        f"let me think step by step . {steps} there are {len(c['values'])} bars . "
        f"the tallest bar is the one for {c['months'][c['values'].index(max(c['values']))]} . "
        f"so the answer is {c['answer']} ."
    )
    return {
        "messages": [
            {"role": "user", "content": c["question"] + " explain your reasoning step by step ."},
            {"role": "assistant", "content": reasoning},
        ]
    }


def direct_record(rng: random.Random) -> dict:
    c = chart_question(rng)
    return {"prompt": c["question"] + " answer with a single word or number .", "answer": c["answer"]}


def chart_record(rng: random.Random, i: int) -> dict:
    c = chart_question(rng)
    colour = {
        "red": (200, 30, 30),
        "blue": (30, 60, 200),
        "green": (30, 160, 60),
        "orange": (240, 140, 20),
        "yellow": (230, 200, 20),
    }[rng.choice(COLOURS)]
    return {
        "image": {"bytes": bar_chart(c["values"], colour), "path": f"chart-{i:04d}.png"},
        "prompt": c["question"],
        "answer": c["answer"],
    }


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(json.dumps(r, sort_keys=True, ensure_ascii=False).encode() + b"\n" for r in records))
    return path


def _parquet(path: Path, records: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(records)
    pq.write_table(table, path, compression="zstd", write_statistics=False, store_schema=True)
    return path


def build_data(outdir: Path, *, cot: int = 16, direct: int = 220, charts: int = 64) -> list[Path]:
    """Write the three components under ``outdir`` (``data/`` of the demo) and return the files."""
    rng = random.Random(SEED)
    files = [
        _jsonl(outdir / "cot" / "cot-00000.jsonl", [cot_record(rng) for _ in range(cot)]),
        _jsonl(outdir / "direct" / "direct-00000.jsonl", [direct_record(rng) for _ in range(direct)]),
        _parquet(outdir / "charts" / "charts-00000.parquet", [chart_record(rng, i) for i in range(charts)]),
    ]
    return files


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python build_data.py OUTDIR", file=sys.stderr)
        return 2
    for p in build_data(Path(argv[0])):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
