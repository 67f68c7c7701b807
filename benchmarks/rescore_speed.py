#!/usr/bin/env python3
"""How fast `assay rescore` re-scores per-sample logs (target: >= 1,000,000 samples per minute).

It writes a synthetic lm-evaluation-harness 0.4.13 run in a temp folder: ``results_<ts>.json`` and
``samples_<task>_<ts>.jsonl`` files shaped exactly like lm-eval's (doc, arguments, resps/filtered_resps as strings,
per-row doc/prompt/target hashes, task_hashes, n-samples, configs with filter lists and metric options), for two
tasks:

* ``synth_gen`` — generate_until with two filters (``strict``: take_first; ``flex``: regex + take_first) and
  exact_match with ignore_case / ignore_punctuation: two sample rows per document;
* ``synth_mc`` — multiple_choice with four choices, acc + acc_norm: one row per document.

It then times ``rescore_log(folder, "lm-eval")`` in-process (parse, hash recomputation of doc/prompt/target and
task hashes, filter re-application, per-sample metrics, aggregates + stderrs, the scorer audit) and, once, the CLI
``assay rescore --log folder --json`` as a subprocess.  The rate counts sample rows (one row = one document under one
filter, as lm-eval logs them).  The script reports; it exits non-zero only if the re-score disagrees with the
synthetic log's own numbers.

    .venv/bin/python benchmarks/rescore_speed.py                    # 300,000 rows, best of 3
    .venv/bin/python benchmarks/rescore_speed.py --docs 50000 --repeat 1 --json /tmp/rescore_speed.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_PER_MIN = 1_000_000
TS = "2026-01-01T00-00-00.000000"
WORDS = "the chart shows bars lines red blue green july june may april twelve nine seven five total value".split()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _mean(xs):
    return sum(xs) / len(xs)


def _stderr(xs):
    mu = _mean(xs)
    return math.sqrt(sum([(x - mu) ** 2 for x in xs]) / (len(xs) - 1)) / math.sqrt(len(xs))


def write_run(folder: Path, docs: int, seed: int = 0) -> int:
    """Write the synthetic run; return the number of sample rows."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    results, configs, hashes, nsamp = {}, {}, {}, {}
    rows_total = 0
    # ------------------------------------------------------------------ generate_until, two filters
    gen_cfg = {
        "task": "synth_gen",
        "output_type": "generate_until",
        "target_delimiter": " ",
        "metric_list": [
            {
                "metric": "exact_match",
                "aggregation": "mean",
                "higher_is_better": True,
                "ignore_case": True,
                "ignore_punctuation": True,
            }
        ],
        "filter_list": [
            {"name": "strict", "filter": [{"function": "take_first"}]},
            {"name": "flex", "filter": [{"function": "regex", "regex_pattern": r"(\w+)"}, {"function": "take_first"}]},
        ],
        "generation_kwargs": {"until": ["\n"], "max_gen_toks": 8},
    }
    scores = {"strict": [], "flex": []}
    task_hash = hashlib.sha256()
    lines = {"strict": [], "flex": []}
    for i in range(docs):
        q = " ".join(rng.choice(WORDS) for _ in range(12))
        ans = rng.choice(WORDS)
        out = " ".join(rng.choice(WORDS) for _ in range(3)) if rng.random() < 0.6 else ans
        doc = {"id": i, "question": q, "answer": ans}
        prompt = f"Question: {q}\nAnswer:"
        dh, ph, th = _sha(json.dumps(doc, indent=2, ensure_ascii=False)), _sha(prompt), _sha(ans)
        for filt in ("strict", "flex"):
            filtered = out if filt == "strict" else out.split()[0]
            em = 1.0 if filtered.lower() == ans.lower() else 0.0
            scores[filt].append(em)
            row = {
                "doc_id": i,
                "doc": doc,
                "target": ans,
                "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": gen_cfg["generation_kwargs"]}},
                "resps": [[out]],
                "filtered_resps": [filtered],
                "filter": filt,
                "metrics": ["exact_match"],
                "doc_hash": dh,
                "prompt_hash": ph,
                "target_hash": th,
                "exact_match": em,
            }
            lines[filt].append(json.dumps(row, ensure_ascii=False) + "\n")
    with open(folder / f"samples_synth_gen_{TS}.jsonl", "w", encoding="utf-8") as fh:
        for filt in ("strict", "flex"):  # lm-eval logs all rows of one filter, then the next
            for line in lines[filt]:
                row = json.loads(line)
                task_hash.update((row["doc_hash"] + row["prompt_hash"] + row["target_hash"]).encode())
                fh.write(line)
    rows_total += 2 * docs
    results["synth_gen"] = {"alias": "synth_gen"}
    for filt in ("strict", "flex"):
        results["synth_gen"][f"exact_match,{filt}"] = _mean(scores[filt])
        results["synth_gen"][f"exact_match_stderr,{filt}"] = _stderr(scores[filt])
    configs["synth_gen"], hashes["synth_gen"] = gen_cfg, task_hash.hexdigest()
    nsamp["synth_gen"] = {"original": docs, "effective": docs}
    # ------------------------------------------------------------------ multiple choice
    mc_cfg = {
        "task": "synth_mc",
        "output_type": "multiple_choice",
        "target_delimiter": " ",
        "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
        "doc_to_target": "label",
    }
    acc, accn = [], []
    task_hash = hashlib.sha256()
    with open(folder / f"samples_synth_mc_{TS}.jsonl", "w", encoding="utf-8") as fh:
        for i in range(docs):
            choices = rng.sample(WORDS, 4)
            label = rng.randrange(4)
            doc = {
                "id": i,
                "question": " ".join(rng.choice(WORDS) for _ in range(10)),
                "choices": choices,
                "label": label,
            }
            prompt = f"Question: {doc['question']}\nAnswer:"
            lls = [-rng.uniform(1, 30) for _ in choices]
            pred = max(range(4), key=lambda k: (lls[k], -k))
            predn = max(range(4), key=lambda k: (lls[k] / len(choices[k]), -k))
            a, an = float(pred == label), float(predn == label)
            acc.append(a)
            accn.append(an)
            dh, ph, th = _sha(json.dumps(doc, indent=2, ensure_ascii=False)), _sha(prompt), _sha(str(label))
            task_hash.update((dh + ph + th).encode())
            row = {
                "doc_id": i,
                "doc": doc,
                "target": str(label),
                "arguments": {f"gen_args_{k}": {"arg_0": prompt, "arg_1": " " + c} for k, c in enumerate(choices)},
                "resps": [[[str(ll), "False"]] for ll in lls],
                "filtered_resps": [[str(ll), "False"] for ll in lls],
                "filter": "none",
                "metrics": ["acc", "acc_norm"],
                "doc_hash": dh,
                "prompt_hash": ph,
                "target_hash": th,
                "acc": a,
                "acc_norm": an,
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    rows_total += docs
    results["synth_mc"] = {
        "alias": "synth_mc",
        "acc,none": _mean(acc),
        "acc_stderr,none": _stderr(acc),
        "acc_norm,none": _mean(accn),
        "acc_norm_stderr,none": _stderr(accn),
    }
    configs["synth_mc"], hashes["synth_mc"] = mc_cfg, task_hash.hexdigest()
    nsamp["synth_mc"] = {"original": docs, "effective": docs}
    res = {
        "results": results,
        "configs": configs,
        "n-samples": nsamp,
        "task_hashes": hashes,
        "config": {"model": "hf", "model_args": {"pretrained": "synthetic"}, "limit": None, "bootstrap_iters": 100000},
        "lm_eval_version": "0.4.13",
        "group_subtasks": {},
    }
    (folder / f"results_{TS}.json").write_text(json.dumps(res, indent=2))
    return rows_total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000, help="documents per task (rows = 3 x docs)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-audit", action="store_true", help="skip the strict-scorer audit")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args(argv)

    from assay.evals.rescore import rescore_log

    with tempfile.TemporaryDirectory(prefix="assay-rescore-bench-") as tmp:
        folder = Path(tmp) / "run"
        t0 = time.perf_counter()
        rows = write_run(folder, args.docs)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(
            f"synthetic lm-eval run: {rows:,} sample rows, {size / 2**20:,.1f} MiB "
            f"(written in {time.perf_counter() - t0:.1f} s)"
        )
        times = []
        for i in range(args.repeat):
            t = time.perf_counter()
            [res] = rescore_log(folder, "lm-eval", audit=not args.no_audit)
            times.append(time.perf_counter() - t)
            bad = [r for r in res.rows if r.reported != r.recomputed] + [
                f for f in res.findings if f.severity == "error"
            ]
            if bad:
                print("re-score disagrees with the synthetic log:", bad[:5], file=sys.stderr)
                return 1
        best = min(times)
        rate = rows / best * 60
        t = time.perf_counter()
        cp = subprocess.run(
            [sys.executable, "-m", "assay.cli", "rescore", "--log", str(folder), "--json"],
            capture_output=True,
            text=True,
            env={**os.environ},
        )
        cli = time.perf_counter() - t
        if cp.returncode != 0:
            print(cp.stderr, file=sys.stderr)
            return 1
        cli_rate = rows / cli * 60
    print(f"{'method':<42} {'seconds':>9} {'rows/min':>14} {'x target':>9}")
    print(
        f"{'rescore_log in-process (best of %d)' % args.repeat:<42} {best:>9.2f} {rate:>14,.0f} "
        f"{rate / TARGET_PER_MIN:>9.2f}"
    )
    print(
        f"{'assay rescore --log --json (subprocess)':<42} {cli:>9.2f} {cli_rate:>14,.0f} "
        f"{cli_rate / TARGET_PER_MIN:>9.2f}"
    )
    print(f"target: {TARGET_PER_MIN:,} samples/min; in-process ratio {rate / TARGET_PER_MIN:.2f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": rows,
                    "times": times,
                    "best_s": best,
                    "rows_per_min": rate,
                    "cli_s": cli,
                    "cli_rows_per_min": cli_rate,
                    "target": TARGET_PER_MIN,
                    "audit": not args.no_audit,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
