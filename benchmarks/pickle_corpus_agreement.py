"""Agreement of assay's allowlist pickle scan with the public scanner corpora, and with the scanners themselves.

    .venv/bin/python benchmarks/pickle_corpus_agreement.py [--tools-python /work/venvs/scanners/bin/python]

Reads tests/fixtures/pickles/expected.json (each file's label from its source repository: malicious, benign or
not-a-pickle) and prints, per source, how many malicious samples assay fails, how many benign ones it passes and
how many not-a-pickle files it refuses to pass. With ``--tools-python`` (a venv with picklescan, modelscan and
fickling installed: ``pip install picklescan modelscan fickling``) it also runs those three scanners on the same
files in that interpreter and prints their catch rates and their agreement with assay's verdicts.

Verdicts of the other tools: picklescan flags a file when ``scan_file_path`` reports an infected file or a scan
error; modelscan when ``ModelScan().scan`` reports an issue or an error; fickling when ``is_likely_safe`` is False
or raises (for zip archives: when ``check_safety`` of any ``.pkl`` member is above LIKELY_SAFE). A file a tool
skips without a finding counts as "passed" for that tool. fickling needs ``typing_extensions`` in its venv.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pickles"

# Runs inside the scanners' venv; prints {path: flagged (bool) or "error: ..."} for one tool.
_TOOL_SCRIPT = r"""
import json, sys, io, contextlib, logging
logging.disable(logging.CRITICAL)
tool, root, paths = sys.argv[1], sys.argv[2], json.loads(sys.stdin.read())
out = {}
for rel in paths:
    p = f"{root}/{rel}"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            if tool == "picklescan":
                from picklescan.scanner import scan_file_path
                r = scan_file_path(p)
                out[rel] = bool(r.infected_files or r.scan_err)
            elif tool == "modelscan":
                from modelscan.modelscan import ModelScan
                r = ModelScan().scan(p)
                out[rel] = bool(r["issues"] or r["errors"])
            else:
                import zipfile
                import fickling
                from fickling.analysis import Severity, check_safety
                from fickling.fickle import Pickled
                if zipfile.is_zipfile(p):  # is_likely_safe reads raw pickles only: check each .pkl member
                    with zipfile.ZipFile(p) as zf:
                        members = [n for n in zf.namelist() if n.endswith(".pkl")]
                        out[rel] = not members or any(
                            check_safety(Pickled.load(zf.read(n))).severity > Severity.LIKELY_SAFE for n in members)
                else:
                    out[rel] = not fickling.is_likely_safe(p)
    except BaseException as e:
        out[rel] = True if tool == "fickling" else f"error: {type(e).__name__}"
print(json.dumps(out))
"""


def assay_verdicts(paths: list[str]) -> dict[str, bool]:
    """path -> flagged (True = assay does not pass it)."""
    from assay.verify.content_scan import scan_content

    return {p: not scan_content(ROOT / p).ok for p in paths}


def tool_verdicts(python: str, tool: str, paths: list[str]) -> dict[str, bool | str]:
    proc = subprocess.run(
        [python, "-c", _TOOL_SCRIPT, tool, str(ROOT)],
        input=json.dumps(paths),
        check=False,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{tool}: failed in {python}: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(expected: dict[str, dict], flagged: dict[str, bool | str], name: str) -> list[str]:
    rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for path, exp in expected.items():
        src, label = path.split("/")[0], exp["label"]
        v = flagged[path]
        hit = (v is not False) if label != "benign" else (v is False)
        rows[src][label + "_n"] += 1
        rows[src][label + "_hit"] += hit
        rows["all"][label + "_n"] += 1
        rows["all"][label + "_hit"] += hit
    out = [f"{name}: {'source':11s} {'malicious caught':>17s} {'benign passed':>14s} {'not-a-pickle not passed':>24s}"]
    for src in [*sorted(k for k in rows if k != "all"), "all"]:
        r = rows[src]
        out.append(
            f"{'':{len(name) + 2}s}{src:11s} {r['malicious_hit']:>9d} / {r['malicious_n']:<5d} "
            f"{r['benign_hit']:>6d} / {r['benign_n']:<5d} {r['not-a-pickle_hit']:>14d} / {r['not-a-pickle_n']:<5d}"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tools-python", help="python of a venv with picklescan, modelscan and fickling installed")
    ap.add_argument("--misses", action="store_true", help="list the malicious samples each tool passes")
    args = ap.parse_args()
    expected: dict[str, dict] = json.loads((ROOT / "expected.json").read_text())
    paths = sorted(expected)
    results = {"assay": assay_verdicts(paths)}
    if args.tools_python:
        for tool in ("picklescan", "modelscan", "fickling"):
            results[tool] = tool_verdicts(args.tools_python, tool, paths)
    for name, flagged in results.items():
        print("\n".join(table(expected, flagged, name)))
        if args.misses:
            missed = [p for p in paths if expected[p]["label"] == "malicious" and flagged[p] is False]
            print(f"  {name} passes {len(missed)} malicious: {', '.join(missed) or '-'}")
    if len(results) > 1:
        print("\nagreement with assay (same flagged/passed verdict, all files):")
        for name, flagged in results.items():
            if name == "assay":
                continue
            same = sum((flagged[p] is not False) == results["assay"][p] for p in paths)
            print(f"  {name:11s} {same} / {len(paths)} ({same / len(paths):.1%})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
