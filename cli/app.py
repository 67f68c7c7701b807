"""The root ``assay`` typer app (name, help, ``--version``) and the exit-code helper every verb ends with.

Verbs are not defined here: each ``cli/*_verbs.py`` module exposes ``register(app)``, and ``cli/main.py`` calls them
in order (the order of ``assay --help``).  Imports only typer.
"""

import sys
from typing import NoReturn

import typer

HELP = (
    "Package and audit open model releases: verify every byte by hash and every structural claim.\n\n"
    "Example: assay verify manifests/examples/tiny-vlm/assay.yaml"
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"assay {version('assay')}\n")
        raise typer.Exit(0)


def make_app() -> typer.Typer:
    """A root app with no verbs yet."""
    app = typer.Typer(
        name="assay",
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        help=HELP,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_print_version, is_eager=True, help="Print assay's version and exit."
        ),
    ) -> None:
        """Package and audit open model releases: verify every byte by hash and every structural claim."""

    return app


def finish(ok: bool) -> NoReturn:
    """Exit 0 when every check holds, 1 when one failed (bad input exits 2 through InputError in main)."""
    raise typer.Exit(0 if ok else 1)
