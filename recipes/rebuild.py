"""``assay rebuild``: rebuild derived artifacts from the manifest's recipes through DVC, and judge them in tiers.

An audit must actually rebuild.  So: every input is copied into the work dir *while being hashed* (the bytes that
run are the bytes that were checked), and a recipe with an input whose hash is not the pinned one is refused before
anything runs (with every recipe downstream of it); the stages are generated as a ``dvc.yaml`` whose outputs are
``cache: false`` and run with ``dvc repro --force --no-run-cache``; each stage records its environment with a fresh
run id, and an output without this run's id is not accepted as rebuilt.  Outputs are then compared in the tiers of
:mod:`.compare`.

Work dir layout: inputs and outputs at their release-relative paths; data components under
``_assay/data/<component>/``; specs and environment records under ``_assay/``.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ..manifests.errors import InputError, require_extra
from ..manifests.paths import resolve_inside
from ..manifests.release import Release, as_release
from ..manifests.schema_data import Recipe
from ..manifests.yamlio import dump_yaml
from .compare import compare_output
from .results import InputCheck, OutputCheck, RebuildResult, RecipeResult

RESERVED = "_assay"
CHUNK = 1024 * 1024


def _copy_hashing(src: Path, dst: Path) -> str:
    dst.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while chunk := fi.read(CHUNK):
            sha.update(chunk)
            fo.write(chunk)
    return sha.hexdigest()


def _sha(path: Path) -> str:
    from ..verify.hashing import hash_file

    return hash_file(path).sha256


def _pin(loaded: Release, path: str) -> str | None:
    art = loaded.manifest.artifact(path)
    if art is None:
        return None
    pinned = loaded.lock.file(path) if loaded.lock else None
    return pinned.sha256 if pinned else art.sha256


def _select(recipes: list[Recipe], names: list[str] | None) -> list[Recipe]:
    """The named recipes plus every recipe that produces one of their inputs, in manifest order."""
    by_name = {r.name: r for r in recipes}
    unknown = [n for n in (names or []) if n not in by_name]
    if unknown:
        raise InputError(f"no recipe named {', '.join(unknown)} (recipes: {', '.join(by_name)})")
    producer = {o.path: r.name for r in recipes for o in r.outputs}
    wanted = set(names or by_name)
    todo = list(wanted)
    while todo:
        for inp in by_name[todo.pop()].inputs:
            p = producer.get(inp.path or "")
            if p and p not in wanted:
                wanted.add(p)
                todo.append(p)
    return [r for r in recipes if r.name in wanted]


def _prepare_workdir(workdir: Path | None) -> tuple[Path, bool]:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="assay-rebuild-")), True
    workdir = Path(workdir)
    if workdir.exists():
        if not workdir.is_dir():
            raise InputError(f"--workdir {workdir} is not a directory")
        entries = list(workdir.iterdir())
        if entries and not (workdir / RESERVED).is_dir():
            raise InputError(f"--workdir {workdir} is not empty and was not made by assay rebuild; give a new folder")
        for e in entries:  # a previous rebuild's folder: start clean, nothing old may pass for rebuilt
            shutil.rmtree(e) if e.is_dir() and not e.is_symlink() else e.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir, False


class _Stager:
    """Copies inputs into the work dir while hashing them, once per file."""

    def __init__(self, loaded: Release, workdir: Path) -> None:
        self.loaded = loaded
        self.workdir = workdir
        self.done: dict[str, InputCheck] = {}
        self._roots: dict[str, Path] | None = None

    def roots(self) -> dict[str, Path]:
        if self._roots is None:
            self._roots = self.loaded.roots()
        return self._roots

    def artifact(self, path: str, expected: str | None) -> InputCheck:
        key = f"artifact:{path}"
        if key not in self.done:
            self.done[key] = self._stage(path, lambda: resolve_inside(self.roots()[path], path), path, expected)
        return self.done[key]

    def _stage(self, ref: str, locate, dest_rel: str, expected: str | None) -> InputCheck:
        if expected is None:
            return InputCheck(
                ref=ref, status="unpinned", message="no sha256 pinned for this input: refusing to run on unknown bytes"
            )
        try:
            src = locate()
        except InputError as exc:
            return InputCheck(ref=ref, status="missing", expected_sha256=expected, message=str(exc))
        if not src.is_file():
            return InputCheck(ref=ref, status="missing", expected_sha256=expected, message=f"{src} not found")
        sha = _copy_hashing(src, self.workdir / dest_rel)
        if sha != expected:
            (self.workdir / dest_rel).unlink()
            return InputCheck(
                ref=ref,
                status="changed",
                sha256=sha,
                expected_sha256=expected,
                message=f"sha256 {sha} != pinned {expected}: the input changed",
            )
        return InputCheck(ref=ref, status="ok", sha256=sha, expected_sha256=expected)

    def component(self, name: str) -> tuple[list[InputCheck], list[str]]:
        """Checks and work-dir paths of every file of a data component."""
        from ..mixtures.sources import resolve_component

        data = self.loaded.manifest.data
        comp = data.component(name) if data else None
        if comp is None:
            return [InputCheck(ref=name, status="missing", message=f"no data component named {name!r}")], []
        src = resolve_component(self.loaded.manifest_path, comp)
        base = f"{RESERVED}/data/{name}"
        if src.kind == "attested":
            return [InputCheck(ref=name, status="unavailable", message=src.reason)], []
        roots: dict[str, tuple[Path | None, Path | None]]
        if src.kind == "dvc":  # fetch through DVC (workspace, cache or remote), then stage the fetched copies
            from ..mixtures.dvc_source import dvc_files

            fetched_dir = self.workdir / RESERVED / "fetch" / name
            checks, readable = dvc_files(comp, src.folder(), fetched_dir)
            bad = {c.path: c for c in checks if c.status != "ok"}
            roots = {p: (readable[p], None) for p in readable if p not in bad}
        else:
            bad, roots = {}, {f.path: (None, src.root) for f in comp.files}
        out, paths = [], []
        for f in comp.files:
            ref, dest = f"{name}/{f.path}", f"{base}/{f.path}"
            if f.path in bad:
                c = bad[f.path]
                out.append(
                    InputCheck(
                        ref=ref,
                        status="changed" if c.status == "mismatch" else "missing",
                        sha256=c.sha256,
                        expected_sha256=f.sha256,
                        message=c.message,
                    )
                )
                continue
            local, root = roots.get(f.path, (None, None))
            key = f"component:{ref}"
            if key not in self.done:
                locate = (lambda p=local: p) if local is not None else (lambda r=root, p=f.path: resolve_inside(r, p))
                self.done[key] = self._stage(ref, locate, dest, f.sha256)
            out.append(self.done[key])
            paths.append(dest)
        return out, paths


def _plan(
    selected: list[Recipe], stager: _Stager
) -> tuple[dict[str, list[InputCheck]], dict[str, list[str]], dict[str, str]]:
    """Stage every input; returns per recipe its input checks, its work-dir input paths, and refusal reasons."""
    produced = {o.path: r.name for r in selected for o in r.outputs}
    checks: dict[str, list[InputCheck]] = {}
    paths: dict[str, list[str]] = {}
    refused: dict[str, str] = {}
    for r in selected:
        checks[r.name], paths[r.name] = [], []
        for inp in r.inputs:
            if inp.path is not None and inp.path in produced:
                checks[r.name].append(
                    InputCheck(ref=inp.path, status="from-recipe", message=f"output of recipe {produced[inp.path]}")
                )
                paths[r.name].append(inp.path)
            elif inp.path is not None:
                if inp.path.split("/", 1)[0] == RESERVED:
                    raise InputError(f"recipe {r.name}: paths under {RESERVED}/ are reserved for assay")
                expected = inp.sha256 or _pin(stager.loaded, inp.path)
                if stager.loaded.manifest.artifact(inp.path) is None:
                    checks[r.name].append(
                        InputCheck(
                            ref=inp.path,
                            status="missing",
                            message="not an artifact of the release nor an output of a recipe",
                        )
                    )
                    continue
                chk = stager.artifact(inp.path, expected)
                checks[r.name].append(chk)
                paths[r.name].append(inp.path)
            elif inp.component is not None:
                cs, ps = stager.component(inp.component)
                checks[r.name].extend(cs)
                paths[r.name].extend(ps)
        bad = [c for c in checks[r.name] if c.status not in ("ok", "from-recipe")]
        if bad:
            refused[r.name] = "refused before running: " + "; ".join(
                f"{c.ref}: {c.status}" + (f" ({c.message})" if c.message else "") for c in bad
            )
    changed = True
    while changed:  # refusal propagates downstream
        changed = False
        for r in selected:
            if r.name in refused:
                continue
            up = [produced[i.path] for i in r.inputs if i.path in produced and produced[i.path] in refused]
            if up:
                refused[r.name] = f"refused before running: depends on refused recipe {up[0]}"
                changed = True
    return checks, paths, refused


def _write_stages(
    selected: list[Recipe], runnable: list[str], paths: dict[str, list[str]], workdir: Path, threads: int | None
) -> None:
    stages: dict[str, Any] = {}
    python = shlex.quote(sys.executable)
    for r in selected:
        if r.name not in runnable:
            continue
        for o in r.outputs:
            if o.path.split("/", 1)[0] == RESERVED:
                raise InputError(f"recipe {r.name}: paths under {RESERVED}/ are reserved for assay")
        spec_rel, env_rel = f"{RESERVED}/{r.name}.spec.json", f"{RESERVED}/{r.name}.env.json"
        spec = {
            "name": r.name,
            "step": r.step,
            "inputs": paths[r.name],
            "outputs": [o.path for o in r.outputs],
            "params": r.params,
            "cmd": r.cmd,
            "threads": threads or r.threads or 1,
            "seed": r.params.get("seed"),
            "env_path": env_rel,
        }
        (workdir / spec_rel).write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
        stages[r.name] = {
            "cmd": f"{python} -m assay.recipes.stage {spec_rel}",
            "deps": [spec_rel, *dict.fromkeys(paths[r.name])],
            # cache: false — nothing DVC could restore instead of running, and no second copy of big outputs
            "outs": [{o.path: {"cache": False}} for o in r.outputs] + [{env_rel: {"cache": False}}],
        }
    (workdir / "dvc.yaml").write_text(dump_yaml({"stages": stages}))


def _outputs(r: Recipe, loaded: Release, workdir: Path, md5s: dict[str, str]) -> list[OutputCheck]:
    out: list[OutputCheck] = []
    roots = None
    for o in r.outputs:
        rebuilt = workdir / o.path
        expected = o.sha256 or _pin(loaded, o.path)
        base = OutputCheck(
            path=o.path, declared_tier=o.tier, verdict="fail", expected_sha256=expected, dvc_md5=md5s.get(o.path)
        )
        if not rebuilt.is_file():
            out.append(base.model_copy(update={"reached": "missing", "message": "the step did not write it"}))
            continue
        sha = _sha(rebuilt)
        published = None
        note = None
        if loaded.manifest.artifact(o.path) is not None and sha != expected:
            try:
                roots = roots or loaded.roots()
                candidate = resolve_inside(roots[o.path], o.path)
                if candidate.is_file() and _sha(candidate) == expected:
                    published = candidate
                elif candidate.is_file():
                    note = "the published file does not match its pin, so tensors were not compared with it"
            except InputError as exc:
                note = str(exc)
        res = compare_output(rebuilt, sha, expected, published, o.tier, o.atol, o.rtol)
        msg = "; ".join(x for x in (res["message"], note) if x) or None
        out.append(
            base.model_copy(
                update={
                    "sha256": sha,
                    "reached": res["reached"],
                    "verdict": res["verdict"],
                    "errors": res["errors"],
                    "message": msg,
                }
            )
        )
    return out


def _require_extras(selected: list[Recipe]) -> None:
    """What the selected recipes need that the core install lacks (the ``rebuild`` extra): checked before any work,
    so that a missing package is exit 2 naming the extra, never an ImportError inside a DVC stage's child process."""
    require_extra("dvc", "rebuild", "assay rebuild (recipes run as DVC stages)")
    for r in selected:
        # Built-in steps run in torch; a tolerance-tier output is compared tensor by tensor (torch, safetensors).
        if r.step != "cmd" or any(o.tier == "tolerance" for o in r.outputs):
            what = f"recipe {r.name!r} (step {r.step})"
            require_extra("torch", "rebuild", what)
            require_extra("safetensors", "rebuild", what)
        if r.step in ("tokenizer-build", "train"):
            require_extra("tokenizers", "rebuild", f"recipe {r.name!r} (step {r.step})")


def rebuild_release(
    release: Release | Path | str,
    names: list[str] | None = None,
    *,
    workdir: Path | str | None = None,
    threads: int | None = None,
    keep: bool = False,
    progress: Any = None,
) -> RebuildResult:
    """Rebuild the named recipes (default: all).  Raises InputError (exit 2) only for bad input.

    ``progress``: anything with ``step(name)`` (the CLI's progress line) is told each phase as it starts: staging
    the inputs, the DVC run of every stage (one subprocess: DVC reports no finer progress), checking the outputs.
    """
    from ..mixtures.dvc_adapter import DvcRepo, lock_outs, repro_forced

    def phase(name: str) -> None:
        if progress is not None and hasattr(progress, "step"):
            progress.step(name)

    t0 = time.perf_counter()
    loaded = as_release(release)
    m = loaded.manifest
    if not m.recipes:
        raise InputError(f"{loaded.manifest_path}: the manifest has no 'recipes:'")
    selected = _select(m.recipes, names)
    _require_extras(selected)
    wd, temporary = _prepare_workdir(Path(workdir) if workdir is not None else None)
    (wd / RESERVED).mkdir(exist_ok=True)
    run_id = uuid.uuid4().hex
    results: list[RecipeResult] = []
    dvc_version = None
    try:
        phase(f"staging the inputs of {len(selected)} recipe{'s' * (len(selected) != 1)}")
        stager = _Stager(loaded, wd)
        checks, paths, refused = _plan(selected, stager)
        runnable = [r.name for r in selected if r.name not in refused]
        proc = None
        md5s: dict[str, str] = {}
        if runnable:
            phase(f"dvc repro of {len(runnable)} stage{'s' * (len(runnable) != 1)}")
            DvcRepo.init(wd).close()
            _write_stages(selected, runnable, paths, wd, threads)
            proc = repro_forced(wd, env={"ASSAY_REBUILD_RUN_ID": run_id})
            md5s = lock_outs(wd)
            from importlib.metadata import version

            dvc_version = version("dvc")
        dvc_failed = proc is not None and proc.returncode != 0
        phase("checking the outputs")
        for r in selected:
            res = RecipeResult(name=r.name, step=r.step, status="not-run", inputs=checks[r.name])
            if r.name in refused:
                res.status, res.message = "refused", refused[r.name]
                res.outputs = [OutputCheck(path=o.path, declared_tier=o.tier, verdict="not-checked") for o in r.outputs]
                results.append(res)
                continue
            env_path = wd / RESERVED / f"{r.name}.env.json"
            env = json.loads(env_path.read_text()) if env_path.is_file() else None
            if env is None or env.get("run_id") != run_id:
                res.message = (
                    "not run: an earlier stage failed"
                    if dvc_failed
                    else "no environment record from this run: DVC did not run the stage"
                )
                if proc is not None and dvc_failed and env is None and not any(x.status == "failed" for x in results):
                    res.status = "failed"
                    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                    res.message = "dvc repro failed: " + " ".join(tail)
                res.outputs = [OutputCheck(path=o.path, declared_tier=o.tier, verdict="not-checked") for o in r.outputs]
                results.append(res)
                continue
            res.environment = {k: v for k, v in env.items() if k not in ("cmd_stdout_tail",)}
            if env.get("error"):
                res.status, res.message = "failed", env["error"]
                res.outputs = [OutputCheck(path=o.path, declared_tier=o.tier, verdict="not-checked") for o in r.outputs]
                results.append(res)
                continue
            res.status = "rebuilt"
            res.outputs = _outputs(r, loaded, wd, md5s)
            results.append(res)
    finally:
        if temporary and not keep:
            shutil.rmtree(wd, ignore_errors=True)

    outs = [o for r in results for o in r.outputs]
    counts = {k: sum(o.verdict == k for o in outs) for k in ("pass", "fail", "inconclusive", "not-checked")}
    # An output that only an evaluation can judge (inconclusive) does not fail a rebuild; the audit counts it as
    # inconclusive, which fails the audit.
    ok = all(r.status == "rebuilt" for r in results) and counts["fail"] == 0 and counts["not-checked"] == 0
    n_rebuilt = sum(r.status == "rebuilt" for r in results)
    summary = (
        f"{n_rebuilt}/{len(results)} recipes rebuilt; outputs: {counts['pass']} hold, "
        f"{counts['fail']} fail, {counts['inconclusive']} need evaluation, {counts['not-checked']} not run"
    )
    return RebuildResult(
        manifest=str(loaded.manifest_path),
        release=f"{m.release.name} {m.release.version}",
        workdir=str(wd) + (" (removed)" if temporary and not keep else ""),
        dvc=dvc_version,
        run_id=run_id,
        recipes=results,
        summary=summary,
        seconds=round(time.perf_counter() - t0, 3),
        ok=ok,
    )
