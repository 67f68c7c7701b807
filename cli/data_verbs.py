"""CLI verbs of the data-mixture and recipes work: ``assay data check``, ``assay rebuild``.

Like every verb module, this imports only typer at module level; the library code (and dvc, torch, tokenizers,
pyarrow behind it) is imported inside the verbs.  Exit codes: 0 every check holds, 1 a check failed, 2 bad input.
"""

# No `from __future__ import annotations`: typer evaluates these annotations on every run (see main.py).

from pathlib import Path
from typing import Annotated

import typer

from .app import finish, group
from .options import ExecutorOpt, FilesFlag, JsonFlag, QuietFlag, RayAddressOpt, RecountWorkersOpt, StrictFlag

# Options only these verbs take, one alias each (the shared ones are in cli/options.py).
# data_check
DataCheckManifestArg = Annotated[Path, typer.Argument(help="Release manifest with a 'data:' section.")]
DataCheckDataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Local copies of remote components, in DIR/<component>/.")
]

# rebuild
RebuildManifestArg = Annotated[Path, typer.Argument(help="Release manifest with a 'recipes:' section.")]
RebuildRecipesArg = Annotated[list[str] | None, typer.Argument(help="Recipe names (default: all).")]
RebuildWorkdirOpt = Annotated[
    Path | None, typer.Option("--workdir", help="Work directory for the DVC stages (default: a new temporary one).")
]
RebuildThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="torch threads for built-in steps (default: each recipe's, else 1)."),
]
RebuildKeepFlag = Annotated[bool, typer.Option("--keep", help="Keep the temporary work directory.")]


def data_check(
    manifest: DataCheckManifestArg,
    data_dir: DataCheckDataDirOpt = None,
    strict: StrictFlag = False,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    workers: RecountWorkersOpt = 1,
    files: FilesFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Check the declared mixture: weights and units, totals, tag shares, epochs, file hashes, and a recount of
    documents/tokens/bytes with the declared tokenizer.  Unreadable components are reported as attested only.

    Example: assay data check assay.yaml --strict --json
    """
    from ..manifests.errors import InputError
    from ..mixtures.check import check_data
    from . import render, render_data

    if executor not in ("local", "ray"):
        raise InputError(f"--executor must be local or ray, not {executor!r}")
    result = check_data(
        manifest, strict=strict, data_dir=data_dir, executor=executor, workers=workers, ray_address=ray_address
    )
    render.emit(result, json_out, lambda r: render_data.data_check_table(r, files))
    finish(result.ok)


def rebuild(
    manifest: RebuildManifestArg,
    recipes: RebuildRecipesArg = None,
    workdir: RebuildWorkdirOpt = None,
    threads: RebuildThreadsOpt = None,
    keep: RebuildKeepFlag = False,
    json_out: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Rebuild derived artifacts from their recipes through DVC (forced, no run cache), record the environment, and
    compare each output in its declared tier: bit-exact (sha256), tolerance (tensors), or evaluation.

    Example: assay rebuild assay.yaml bf16 --threads 2 --json
    """
    from ..recipes.rebuild import rebuild_release
    from . import render, render_data

    with render.progress("rebuilding", json_out, quiet) as prog:
        result = rebuild_release(manifest, recipes or None, workdir=workdir, threads=threads, keep=keep, progress=prog)
    render.emit(result, json_out, render_data.rebuild_table)
    finish(result.ok)


def register(app: typer.Typer) -> None:
    """Add this module's verbs to the ``assay`` app: the ``data`` group (``data check``) and ``rebuild``."""
    data_app = group("data", "Check a release's training-data mixture.\n\nExample: assay data check assay.yaml")
    data_app.command("check")(data_check)
    app.add_typer(data_app, name="data")
    app.command("rebuild")(rebuild)
