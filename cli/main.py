"""The ``assay`` command: the root app with every verb module registered, and the console entry point.

Start-up matters (the CLI runs in CI loops): this module and the verb modules import only typer; pydantic, rich,
hashing and everything heavier are imported inside the verbs, and torch / transformers / dvc only by verbs that need
them.  Every verb module registers the same way, ``register(app)``, in the order ``assay --help`` lists them.
The verb modules (and app.py) deliberately do not use ``from __future__ import annotations``: typer resolves every
verb's parameter annotations on each run, and string annotations cost a compile each (about 6 ms per run in all).
Exit codes: 0 all checks hold, 1 a check failed, 2 bad input (one-line message, no traceback).
"""

from __future__ import annotations

import os
import sys

from . import attest_verbs, data_verbs, eval_verbs, export_verbs, release_verbs
from .app import keep_example_lines, make_app

VERB_MODULES = (release_verbs, attest_verbs, data_verbs, eval_verbs, export_verbs)

app = make_app()
for _module in VERB_MODULES:
    _module.register(app)
keep_example_lines(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps assay errors to exit codes and one-line messages."""
    # pydantic looks for plugins (the "pydantic" entry-point group) when it builds its first validator: a scan of
    # every installed distribution's metadata, about 15 ms of each run with assay's dependencies installed.  assay
    # installs none and the CLI has no use for one, so the scan is skipped unless the user set the variable.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from ..manifests.errors import AssayError

    try:
        app(args=argv, prog_name="assay", standalone_mode=True)
    except AssayError as exc:
        _fail(str(exc), exc.exit_code, getattr(exc, "details", []))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _fail(f"{where}{exc.strerror or exc}", 2)
    except SystemExit:
        raise
    except Exception as exc:  # a bug: one line by default, the traceback with ASSAY_DEBUG=1
        if os.environ.get("ASSAY_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set ASSAY_DEBUG=1 for a traceback)", 3)


def _fail(message: str, code: int, details: list[str] | None = None) -> None:
    sys.stderr.write(f"assay: error: {message}\n")
    for line in (details or [])[1:20]:  # further schema errors, each one line
        sys.stderr.write(f"assay: error: {line}\n")
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
