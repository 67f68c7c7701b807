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


def _print_help(ctx: typer.Context, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        sys.stdout.write(ctx.get_help() + "\n")
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
        # Plain click help, not rich's panels: typer's rich help imports rich, rich.markdown and markdown_it (~60 ms)
        # and then lays out panels (~40 ms more), for the same words.  `assay --help` runs in CI loops and its
        # target is 0.15 s in all; the examples (see keep_example_lines) and every option's help are unchanged.
        rich_markup_mode=None,
        # The root's --help is the callback's own flag below: typer's built-in one defaults to None, and typer
        # coerces a None bool through a pydantic TypeAdapter, so every `assay VERB ...` (`assay verify --help`
        # too) imported pydantic (~100 ms) just to learn that the root's --help was not given.
        add_help_option=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_print_version, is_eager=True, help="Print assay's version and exit."
        ),
        help_: bool = typer.Option(
            False, "--help", "-h", callback=_print_help, is_eager=True, help="Show this message and exit."
        ),
    ) -> None:
        """Package and audit open model releases: verify every byte by hash and every structural claim."""

    return app


def group(name: str, help: str) -> typer.Typer:
    """A verb group (``assay attest``, ``assay data``) made like the root: plain help, and its own --help flag (see
    make_app: typer's built-in one would import pydantic for ``assay data check --help``)."""
    sub = typer.Typer(name=name, no_args_is_help=True, add_completion=False, rich_markup_mode=None, help=help)
    sub.info.add_help_option = False

    @sub.callback()
    def _group(
        help_: bool = typer.Option(
            False, "--help", "-h", callback=_print_help, is_eager=True, help="Show this message and exit."
        ),
    ) -> None:
        pass

    return sub


def keep_example_lines(app: typer.Typer) -> None:
    """Plain (click) help re-flows every paragraph into one; an ``Example:`` paragraph is commands, one a line, so
    each of its lines is wrapped on its own (at click's 78 columns, continuation indented) and the paragraph is given
    click's no-rewrap marker (a paragraph that starts with a ``\\b`` line is printed as written)."""
    import inspect
    import textwrap  # already imported by click's help formatter

    def lines(para: str) -> str:
        # a line that does not open an example ("Example:", "(...", "assay ...") continues the one before it
        joined: list[str] = []
        for line in para.splitlines():
            if joined and not line.startswith(("Example", "(", "assay ")):
                joined[-1] += " " + line.strip()
            else:
                joined.append(line)
        return "\n".join(
            "\n".join(textwrap.wrap(line, 76, subsequent_indent="    ", break_on_hyphens=False, break_long_words=False))
            for line in joined
        )

    def mark(text: str | None) -> str | None:
        if not text:
            return text
        paras = inspect.cleandoc(text).split("\n\n")
        return "\n\n".join(f"\b\n{lines(p)}" if p.startswith("Example") and "\n" in p else p for p in paras)

    app.info.help = mark(app.info.help)
    for info in app.registered_commands:
        info.help = mark(info.help or inspect.getdoc(info.callback))
    for group in app.registered_groups:
        if group.typer_instance is not None:
            keep_example_lines(group.typer_instance)


def finish(ok: bool) -> NoReturn:
    """Exit 0 when every check holds, 1 when one failed (bad input exits 2 through InputError in main)."""
    raise typer.Exit(0 if ok else 1)
