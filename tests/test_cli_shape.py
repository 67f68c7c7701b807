"""The shape of the ``assay`` command, read from the real typer app: every verb and sub-command takes ``--json`` and
shows an ``Example:`` in its ``--help``; a flag that two or more verbs take is one of the shared aliases of
``assay.cli.options`` (so its help reads the same everywhere it means the same); and importing the CLI stays light."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing
from collections import defaultdict
from pathlib import Path

import pytest
import typer
from assay.cli import options
from assay.cli.main import app
from typer.models import OptionInfo


def _walk(cmd: typing.Any, path: tuple[str, ...]) -> typing.Iterator[tuple[tuple[str, ...], typing.Any]]:
    yield path, cmd
    if _is_group(cmd):
        for name, sub in cmd.commands.items():
            yield from _walk(sub, (*path, name))


def _is_group(cmd: typing.Any) -> bool:
    # typer 0.29 vendors click (typer._click): duck-type rather than isinstance against the click package
    return isinstance(getattr(cmd, "commands", None), dict)


def _is_option(param: typing.Any) -> bool:
    return getattr(param, "param_type_name", None) == "option"


ROOT = typer.main.get_command(app)
ALL = list(_walk(ROOT, ()))
GROUPS = {path: cmd for path, cmd in ALL if _is_group(cmd) and path}
VERBS = {path: cmd for path, cmd in ALL if not _is_group(cmd)}


def _aliases() -> dict[str, OptionInfo]:
    """Every ``Annotated[..., typer.Option(...)]`` alias of cli/options.py, by name."""
    found = {}
    for name, value in vars(options).items():
        if typing.get_origin(value) is typing.Annotated:
            info = next((m for m in value.__metadata__ if isinstance(m, OptionInfo)), None)
            if info is not None:
                found[name] = info
    return found


def _flags(decls: typing.Iterable[str]) -> set[str]:
    """'--ignore-git-paths/--no-ignore-git-paths' -> both flags; '-f' short names are kept too."""
    return {part for d in decls for part in d.split("/") if part.startswith("-")}


def test_the_app_has_the_verbs_of_the_readme():
    """The README's command table and the app list the same verbs (`assay data check`, not `assay data`)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Commands") :].split("\n### ", 1)[0]
    groups = {path[0] for path in GROUPS}
    listed = set()
    for line in table.splitlines():
        if line.startswith("| `assay "):
            for words in re.findall(r"`assay ([a-z][a-z ]*)", line.split(" | ")[0]):
                head = words.split()
                listed.add(" ".join(head[:2]) if head[0] in groups else head[0])
    assert listed == {" ".join(p) for p in VERBS}
    assert {"attest", "data"} <= groups


@pytest.mark.parametrize("path", sorted(VERBS), ids=" ".join)
def test_every_verb_has_json_and_an_example(path):
    cmd = VERBS[path]
    flags = {opt for p in cmd.params if _is_option(p) for opt in (*p.opts, *p.secondary_opts)}
    assert "--json" in flags, f"assay {' '.join(path)} has no --json"
    assert "Example: assay " + " ".join(path) in (cmd.help or ""), f"assay {' '.join(path)}: no 'Example:' line"


@pytest.mark.parametrize("path", sorted(GROUPS), ids=" ".join)
def test_every_group_shows_an_example(path):
    assert "Example: assay " + " ".join(path) in (GROUPS[path].help or "")


def test_the_help_output_shows_the_example_and_json():
    proc = subprocess.run(
        [sys.executable, "-m", "assay.cli", "data", "check", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Example: assay data check" in proc.stdout and "--json" in proc.stdout


def test_json_means_the_same_on_every_verb():
    help_text = _aliases()["JsonFlag"].help
    for path, cmd in VERBS.items():
        opt = next(p for p in cmd.params if "--json" in p.opts)
        if path == ("schema",):  # JSON Schema is always JSON: --json/--no-json, on by default
            assert opt.secondary_opts == ["--no-json"] and opt.default is True
            continue
        assert opt.help == help_text and opt.default is False and not opt.secondary_opts, path


def test_a_flag_of_two_verbs_is_a_shared_alias():
    """A flag two or more verbs take comes from cli/options.py: its help is one alias's help, the same text for the
    same meaning.  A flag with a second meaning needs its own alias (checked by the alias's help)."""
    aliases = _aliases()
    helps_by_flag: dict[str, set[str]] = defaultdict(set)
    for info in aliases.values():
        # in an Annotated alias typer.Option's first positional (its `default` slot) is the first flag
        decls = ((info.default,) if isinstance(info.default, str) else ()) + tuple(info.param_decls)
        for flag in _flags(decls):
            helps_by_flag[flag].add(info.help)
    users: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
    for path, cmd in VERBS.items():
        for p in cmd.params:
            if _is_option(p):
                for flag in {*p.opts, *p.secondary_opts}:
                    if flag.startswith("--") and flag != "--help":
                        users[flag].append((path, p.help or ""))
    shared = {flag: uses for flag, uses in users.items() if len({path for path, _ in uses}) > 1}
    assert {"--json", "--dir", "--key", "--workers", "--strict", "--blake3", "--out", "--format"} <= set(shared)
    for flag, uses in shared.items():
        assert flag in helps_by_flag, f"{flag} is taken by {len(uses)} verbs but defined inline, not in cli/options.py"
        for path, help_text in uses:
            assert help_text in helps_by_flag[flag], f"assay {' '.join(path)} {flag}: help is not a shared alias's"
    # the same meaning reads the same: --strict, --dir and --blake3 have one help wherever they mean the same
    for flag in ("--strict", "--blake3", "--executor", "--ray-address"):
        assert len({h for _, h in shared[flag]}) == 1, flag
    release_dir = aliases["ReleaseDirOpt"].help
    assert {h for path, h in shared["--dir"] if path != ("attest", "verify")} == {release_dir}


def test_aliases_keep_the_option_names_and_defaults_users_rely_on():
    by_path = {
        " ".join(p): {o: p2 for p2 in c.params for o in (*p2.opts, *p2.secondary_opts)} for p, c in VERBS.items()
    }
    assert by_path["verify"]["--public-key"] is by_path["verify"]["--key"]
    assert by_path["verify"]["--identity-provider"] is by_path["verify"]["--issuer"]
    assert by_path["verify"]["--ignore-paths"] is by_path["verify"]["--ignore"]
    assert by_path["export"]["-f"] is by_path["export"]["--format"] and by_path["export"]["--format"].required
    assert by_path["rerun"]["-b"] is by_path["rerun"]["--benchmark"]
    assert by_path["push"]["--to"].required and not by_path["pull"]["--to"].required
    assert (
        by_path["verify"]["--workers"].default,
        by_path["pull"]["--workers"].default,
        by_path["data check"]["--workers"].default,
    ) == (None, 4, 1)
    assert by_path["audit"]["--out"].default == Path("audit-out")
    assert by_path["sign"]["--ignore-git-paths"].default is True
    assert by_path["verify"]["--ignore-git-paths"].default is None
    assert by_path["rescore"]["--format"].default == "auto"


def test_importing_the_cli_imports_no_heavy_module():
    code = (
        "import sys; import assay.cli.main; "
        "print(','.join(sorted(m for m in ('pydantic', 'rich', 'torch', 'transformers', 'dvc', 'numpy', "
        "'cryptography', 'yaml') if m in sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
