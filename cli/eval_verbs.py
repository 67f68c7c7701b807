"""CLI verbs of the evaluations work: ``assay rescore``, ``assay rerun``.

Like every verb module, this imports only typer at module level; the library code is imported inside the verbs.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's verbs to the ``assay`` app."""
