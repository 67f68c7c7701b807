"""Packaging: the assay.* namespace maps the top-level folders in both editable and normal installs."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_editable_install_maps_top_level_folders():
    for sub in ("cli", "manifests", "recipes", "verify"):
        spec = importlib.util.find_spec(f"assay.{sub}")
        assert spec is not None and Path(spec.origin).resolve() == (ROOT / sub / "__init__.py").resolve()


def test_every_subpackage_is_listed_for_normal_installs():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    for name, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            assert ".".join((name, *rel)) in listed, f"{init.parent} is not in [tool.setuptools] packages"


def test_normal_install_is_self_contained(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(
        ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache")
    )
    target = tmp_path / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for rel in (
        "assay/cli/main.py",
        "assay/verify/hashing.py",
        "assay/manifests/schema.py",
        "assay/recipes/__init__.py",
        "assay/manifests/examples/tiny-vlm/assay.yaml",
        "assay/manifests/examples/tiny-vlm/release/model-00001-of-00002.safetensors",
    ):
        assert (target / rel).is_file(), rel
    assert not (target / "assay" / "__init__.py").exists()  # 'assay' is a namespace of the mapped folders
    # Only the product ships: no demo build scripts, test servers or tiny-model builders.
    assert not list((target / "assay" / "manifests" / "examples").rglob("*.py"))
    for test_only in ("hubs/olah_server.py", "hubs/registry_server.py", "evals/serve.py", "evals/tinymodels.py"):
        assert not (target / "assay" / test_only).exists(), test_only
    env = dict(os.environ, PYTHONPATH=str(target))
    code = "import assay.verify, assay.cli.main as m; print(assay.verify.__file__); m.main(['--help'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(str(target))
    # The installed copy verifies its own bundled demo.
    manifest = target / "assay/manifests/examples/tiny-vlm/assay.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "assay.cli", "verify", str(manifest), "--strict"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------ the core and its extras
HEAVY_DISTS = {"torch", "transformers", "dvc", "tokenizers", "pyarrow", "pillow", "safetensors"}


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _closure(requirements: list[str], extras: dict[str, list[str]]) -> set[str]:
    """Normalised distribution names a list of requirements installs: assay[...] self-references expanded, then
    every installed distribution's own requirements (as pip would resolve them without extras)."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name == "assay":
            todo += [Requirement(r) for extra in req.extras for r in extras[extra]]
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            deps = requires(req.name) or []
        except PackageNotFoundError:
            continue
        for dep in map(Requirement, deps):
            wanted = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if dep.marker is None or any(dep.marker.evaluate(env) for env in wanted):
                todo.append(dep)
    return seen


def test_core_dependencies_leave_the_heavy_packages_to_extras():
    from packaging.requirements import Requirement

    project = _pyproject()
    core = {Requirement(r).name.lower() for r in project["dependencies"]}
    assert not core & HEAVY_DISTS, core & HEAVY_DISTS
    extras = project["optional-dependencies"]
    assert {"torch", "dvc"} <= {Requirement(r).name for r in extras["rebuild"]}
    assert {"torch", "transformers"} <= {Requirement(r).name for r in extras["rerun"]}
    everything = _closure(["assay[all]"], extras)
    for extra in ("rebuild", "rerun", "evals", "blake3", "s3"):
        assert _closure([f"assay[{extra}]"], extras) <= everything, extra
    test_closure = _closure(["assay[test]"], extras)
    assert everything <= test_closure and _closure(["assay[ray]"], extras) <= test_closure
    assert "pytest" not in everything  # all is for users: no test tooling


def test_every_missing_extra_message_names_an_extra_that_brings_the_module():
    """Each require_extra(module, extra, …) / MissingExtra(extra, module, …) in the package names an extra of
    pyproject.toml, and that extra (with what it pulls in) installs the distribution that provides the module."""
    import ast
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    extras = _pyproject()["optional-dependencies"]
    provides = packages_distributions()
    folders = ("cli", "audit", "evals", "hubs", "mixtures", "recipes", "attest", "verify", "manifests")
    calls = []
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            if "examples" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                    continue
                args = [a.value if isinstance(a, ast.Constant) else None for a in node.args[:2]]
                if node.func.id == "require_extra" and len(args) == 2:
                    calls.append((path.name, args[0], args[1]))
                elif node.func.id == "MissingExtra" and len(args) == 2:
                    calls.append((path.name, args[1], args[0]))
    assert len(calls) >= 15, calls  # the walk found them
    for where, module, extra in calls:
        if extra is None:  # require_extra(module, extra, what) passed through a variable (errors.py itself)
            continue
        assert extra in extras, f"{where}: {extra!r} is not an extra of pyproject.toml"
        if module is None:
            continue
        dists = {canonicalize_name(d) for d in provides.get(module.split(".")[0], [])}
        assert dists, f"{where}: no installed distribution provides {module!r}"
        assert dists & _closure([f"assay[{extra}]"], extras), f"{where}: assay[{extra}] does not install {module!r}"
