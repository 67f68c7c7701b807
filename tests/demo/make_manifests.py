"""Write the demo's two manifests and their locks: ``python tests/demo/make_manifests.py`` (from any folder).

They are written into the bundled demo release, ``manifests/examples/tiny-vlm/``:

* ``assay.yaml``         — the honest release: every claim holds, so ``assay audit`` passes;
* ``assay.failing.yaml`` — the same release as a dishonest publisher would describe it: the chartqa-mini score is
  overclaimed, and ``generation_config.json`` is served from ``swapped/`` (a file turning sampling on) while the
  lock pins the published one; ``assay audit`` fails with exactly those two findings.

Sizes and sha256 are measured from the demo release's files; the locks are written by ``assay lock``.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

from assay.manifests.yamlio import dump_yaml, read_yaml_file
from assay.audit.locking import lock_release

# The demo release this script writes into (it lives in tests/demo/, outside the shipped package).
DEMO = Path(__file__).resolve().parents[2] / "manifests" / "examples" / "tiny-vlm"
HONEST_HEADER = """\
# The bundled demo release of assay: a tiny, trained Llava-style vision-language model (SigLIP-style vision
# tower + Llama-style decoder) built offline and byte-for-byte deterministically by build.py into release/, with
# a training mixture in data/ (build_data.py: ~20% chain-of-thought, ~80% direct answers by tokens), a recipe that
# re-derives the bf16 weights, and published eval logs in evals/ (build_evals.py).  Written by make_manifests.py.
# Audit it with:  assay audit manifests/examples/tiny-vlm/assay.yaml --out audit-out
"""
FAILING_HEADER = """\
# The demo release as a dishonest publisher would describe it (make_manifests.py): the chartqa-mini score is
# overclaimed, and generation_config.json is served from swapped/ while the lock pins the published file.
# assay audit fails with exactly those two findings:
#   assay audit manifests/examples/tiny-vlm/assay.failing.yaml --out audit-failing
"""


def overclaim(score: float, n: int, margin: float) -> float:
    """The failing variant's published chartqa-mini score: the first multiple of 2.5 points above the upper end of
    the 95% Wilson interval of the honest score (``score`` %, over ``n`` items) plus the claim's margin, so no
    re-run or re-score of this model can reproduce it, however its items fall."""
    import math

    from assay.evals.stats import wilson_ci

    high = 100 * wilson_ci(round(score * n / 100), n, 0.95)[1]
    return math.ceil((high + margin) / 2.5) * 2.5


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _log_score(path: Path) -> float:
    import json

    header = json.loads(path.read_text().splitlines()[0])
    return round(100 * header["aggregates"][0]["value"], 1)


def _recipe_outputs(recipe: dict) -> None:
    """Re-run the recipe's cast on the release's files (assay's own step) and pin its outputs' sha256."""
    import tempfile

    from assay.recipes.steps import STEPS

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = []
        for item in recipe["inputs"]:
            (work / item["path"]).write_bytes((DEMO / "release" / item["path"]).read_bytes())
            inputs.append(work / item["path"])
        outputs = [work / item["path"] for item in recipe["outputs"]]
        STEPS[recipe["step"]](inputs, outputs, dict(recipe.get("params") or {}))
        for item, path in zip(recipe["outputs"], outputs, strict=True):
            item["sha256"] = _sha(path)


def _log_items(path: Path) -> int:
    import json

    return int(json.loads(path.read_text().splitlines()[0])["aggregates"][0]["n"])


def honest() -> dict:
    data, _ = read_yaml_file(DEMO / "assay.yaml")
    data.pop("evals", None)
    data["sources"] = [{"name": "default", "uri": "dir://release"}, {"name": "evals", "uri": "dir://evals"}]
    data["artifacts"] = [a for a in data["artifacts"] if a.get("source") != "evals"]
    for art in data["artifacts"]:  # the release's files as build.py wrote them
        path = DEMO / "release" / art["path"]
        art["size"], art["sha256"] = path.stat().st_size, _sha(path)
    for recipe in data.get("recipes") or []:
        _recipe_outputs(recipe)
    ev = DEMO / "evals"
    for p in sorted(ev.rglob("*")):
        if p.is_file():
            data["artifacts"].append(
                {
                    "path": p.relative_to(ev).as_posix(),
                    "role": "eval-log",
                    "size": p.stat().st_size,
                    "sha256": _sha(p),
                    "source": "evals",
                }
            )
    data["evals"] = []
    for name, kind in (
        ("chartqa-mini", "chart question answering over generated bar charts"),
        ("textqa-mini", "short text questions about numbers"),
    ):
        log = ev / f"{name}.assay.jsonl"
        data["evals"].append(
            {
                "name": name,
                "task": name,
                "metric": "accuracy",
                "scorer": "inspect:includes",
                "published": [{"value": _log_score(log), "source": f"model card, results table ({kind})"}],
                "logs": [{"path": log.name, "sha256": _sha(log), "format": "assay"}],
                "decoding": {"temperature": 0.0, "max_new_tokens": 8, "seed": 0, "repeats": 1},
                "margin": 5.0,
            }
        )
    return data


def failing(data: dict) -> dict:
    bad = copy.deepcopy(data)
    bad["release"]["description"] = "The demo release with an overclaimed score and a swapped file (it must fail)."
    bad["sources"].append({"name": "swapped", "uri": "dir://swapped"})
    for art in bad["artifacts"]:
        if art["path"] == "generation_config.json":
            art["source"] = "swapped"  # the bytes served now; size and sha256 stay the published ones
    claim = bad["evals"][0]
    claim["published"][0]["value"] = overclaim(
        claim["published"][0]["value"], _log_items(DEMO / "evals" / claim["logs"][0]["path"]), claim["margin"]
    )
    return bad


def main() -> None:
    data = honest()
    (DEMO / "assay.yaml").write_text(HONEST_HEADER + dump_yaml(data))
    assert lock_release(DEMO / "assay.yaml").ok
    swapped = DEMO / "swapped" / "generation_config.json"
    swapped.parent.mkdir(exist_ok=True)
    text = (DEMO / "release" / "generation_config.json").read_text()
    swapped.write_text(text.replace('"do_sample": false', '"do_sample":  true'))  # same size: only a hash sees it
    (DEMO / "assay.failing.yaml").write_text(FAILING_HEADER + dump_yaml(failing(data)))
    # Its lock pins what was published, the honest generation_config.json: the swap came afterwards.
    _lock_failing()


def _lock_failing() -> None:
    """Lock assay.failing.yaml as published: every pin equal to the honest lock's (the swap came afterwards)."""
    from assay.manifests.loader import load_model
    from assay.manifests.fsio import write_atomic
    from assay.manifests.lock import Lock, lock_to_yaml

    honest_lock = load_model(Lock, DEMO / "assay.lock.yaml")
    text = (DEMO / "assay.failing.yaml").read_bytes()
    sources = [s.model_copy() for s in honest_lock.sources]
    sources.append(sources[0].model_copy(update={"name": "swapped", "uri": "dir://swapped"}))
    files = [
        f.model_copy(update={"source": "swapped"}) if f.path == "generation_config.json" else f
        for f in honest_lock.files
    ]
    lock = honest_lock.model_copy(
        update={"manifest_sha256": hashlib.sha256(text).hexdigest(), "sources": sources, "files": files}
    )
    write_atomic(DEMO / "assay.failing.lock.yaml", lock_to_yaml(lock))


if __name__ == "__main__":
    main()
