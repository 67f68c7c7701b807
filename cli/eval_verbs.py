"""CLI verbs of the evaluations work: ``assay rescore``, ``assay rerun``.

Like every verb module, this imports only typer at module level; the library code is imported inside the verbs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add this module's verbs to the ``assay`` app."""
    _register_rescore(app)


# ------------------------------------------------------------------------------------------------------ rescore
def _register_rescore(app: typer.Typer) -> None:
    @app.command()
    def rescore(
        manifest: Optional[Path] = typer.Argument(None, help="Release manifest whose evals to re-score (or use --log)."),
        log: Optional[Path] = typer.Option(None, "--log", help="Re-score a log file or folder without a manifest."),
        format: str = typer.Option("auto", "--format", help="Log format with --log: auto, lm-eval, inspect, "  # noqa: A002
                                   "vlmevalkit, eureka, eee or assay."),
        dir: Optional[Path] = typer.Option(None, "--dir", help="Folder holding the release files (with MANIFEST)."),  # noqa: A002
        audit: bool = typer.Option(True, "--audit/--no-audit", help="Also run the strict-scorer audit."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout (with --log: a list of "
                                      "{task, metric, filter, reported, recomputed, n})."),
    ) -> None:
        """Recompute every aggregate from the per-sample records with the harness's own semantics; compare with the
        harness's aggregates and the published claims.  No model needed.  Exit 1 names the samples that differ.

        Example: assay rescore --log results/ --format lm-eval --json
        """
        import sys

        from ..manifests.errors import InputError
        from . import render_evals

        if (manifest is None) == (log is None):
            raise InputError("give either a MANIFEST or --log PATH")
        if log is not None:
            from ..evals.rescore import rescore_log, rows_json

            results = rescore_log(log, format, audit=audit)
            if json_out:
                import json

                sys.stdout.write(json.dumps(rows_json(results), indent=2) + "\n")
                render_evals.findings_to_stderr(results)
            else:
                render_evals.log_tables(results)
            raise typer.Exit(0 if all(r.ok for r in results) else 1)
        from ..evals.claims import rescore_manifest

        report = rescore_manifest(manifest, root=dir, audit=audit)  # type: ignore[arg-type]
        if json_out:
            sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        else:
            render_evals.report_tables(report)
        raise typer.Exit(0 if report.ok else 1)
