"""Build the demo release's published evaluation logs: ``python tests/demo/build_evals.py RELEASE_DIR OUTDIR``.

Two small benchmarks, run the way a publisher would with assay's own transformers backend (greedy, 8 new tokens)
on the demo model, scored with Inspect's ``includes`` semantics and written in assay's log format
(``*.assay.jsonl``, one header line then one sample per line; images referenced by sha256):

* ``chartqa-mini`` — 40 generated bar charts (PNG) with a question each (tallest bar / a bar's value / how many bars);
* ``textqa-mini``  — 40 short text questions (number words, comparisons).

The demo model is trained (build.py / train.py) on questions from the same generators with other seeds, so it
answers most text questions, counts the bars of a few charts, and cannot name a month (its tokenizer has none): the
scores are real, honestly what the logs say and what a re-run reproduces.  The outputs of a tiny fp32 model under
greedy decoding are the same on every run here; the committed logs, not a rebuild, are the published evidence the
manifest pins.
"""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
MAX_NEW_TOKENS = 8
SCORER = "inspect:includes"


def _chart_items(n: int, seed: int) -> list[dict]:
    sys.path.insert(0, str(HERE))
    try:
        from build_data import bar_chart, chart_question
    finally:
        sys.path.remove(str(HERE))
    rng = random.Random(seed)
    items = []
    for i in range(n):
        c = chart_question(rng)
        png = bar_chart(c["values"], (30, 60, 200))
        items.append(
            {
                "id": f"chart-{i:03d}",
                "question": c["question"],
                "target": c["answer"],
                "image": png,
                "subject": c["kind"],
            }
        )
    return items


def text_items(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        kind = ("next", "compare", "count")[i % 3]
        a, b = rng.randrange(0, 10), rng.randrange(0, 10)
        if kind == "next":
            q, t = f"what number comes after {WORDS[a]} ? answer with one word .", WORDS[a + 1]
        elif kind == "compare":
            q, t = f"is {WORDS[a]} larger than {WORDS[b]} ? answer yes or no .", "yes" if a > b else "no"
        else:
            q, t = f"how many bars are there if there are {WORDS[a]} bars and one more ?", WORDS[a + 1]
        items.append({"id": f"text-{i:03d}", "question": q, "target": t, "image": None, "subject": kind})
    return items


def build_evals(release_dir: Path, outdir: Path) -> list[Path]:
    from assay.evals.backends import GenRequest, Image, Message, Part, Sampling
    from assay.evals.backends.transformers import TransformersBackend
    from assay.evals.samples import Aggregate, ContentPart, ImageRef, LogHeader, Sample
    from assay.evals.samples import Message as LogMessage
    from assay.evals.samples import write_log
    from assay.evals.registry import SCORERS

    backend = TransformersBackend.from_pretrained(str(release_dir), device="cpu", batch_size=8)
    sampling = Sampling(max_new_tokens=MAX_NEW_TOKENS, temperature=0.0)
    written = []
    for task, items in (("chartqa-mini", _chart_items(40, 7)), ("textqa-mini", text_items(40, 11))):
        reqs, samples = [], []
        for it in items:
            if it["image"] is not None:
                sha = hashlib.sha256(it["image"]).hexdigest()
                (outdir / "images").mkdir(parents=True, exist_ok=True)
                (outdir / "images" / f"{sha}.png").write_bytes(it["image"])
                content = [
                    ContentPart(
                        type="image", image=ImageRef(sha256=sha, media_type="image/png", path=f"images/{sha}.png")
                    ),
                    ContentPart(type="text", text=it["question"]),
                ]
                msg = Message(
                    "user", (Part("image", image=Image(it["image"], "image/png")), Part("text", text=it["question"]))
                )
            else:
                content = it["question"]
                msg = Message("user", it["question"])
            reqs.append(GenRequest(id=it["id"], messages=(msg,), sampling=sampling))
            samples.append(
                Sample(
                    id=it["id"],
                    task=task,
                    input=[LogMessage(role="user", content=content)],
                    target=it["target"],
                    meta={"subject": it["subject"]},
                )
            )
        results = backend.generate(reqs)
        scored = []
        for s, res in zip(samples, results):
            assert res.ok, res.error
            s = s.model_copy(
                update={"output": res.text, "gen_kwargs": {"temperature": 0.0, "max_new_tokens": MAX_NEW_TOKENS}}
            )
            scored.append(s.model_copy(update={"scores": {"accuracy": SCORERS[SCORER](s)}}))
        mean = sum(x.scores["accuracy"] for x in scored) / len(scored)
        header = LogHeader(
            source_format="assay",
            harness="assay demo publisher",
            model="tiny-vlm",
            backend="transformers",
            decoding={"temperature": 0.0, "max_new_tokens": MAX_NEW_TOKENS},
            tasks=[task],
            aggregates=[Aggregate(task=task, metric="accuracy", filter="none", value=mean, n=len(scored))],
            config={"metric": "accuracy", "scorer": SCORER},
        )
        path = outdir / f"{task}.assay.jsonl"
        write_log(path, header, scored)
        written.append(path)
        print(f"{task}: accuracy {mean:.4f} over {len(scored)} items -> {path}")
    backend.close()
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python build_evals.py RELEASE_DIR OUTDIR", file=sys.stderr)
        raise SystemExit(2)
    build_evals(Path(sys.argv[1]), Path(sys.argv[2]))
