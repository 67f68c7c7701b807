"""CLI verbs of the evaluations work: ``assay rescore``, ``assay rerun``.

Like every verb module, this imports only typer at module level; the library code is imported inside the verbs and
the tables live in ``cli/render_evals.py``.
"""

# No `from __future__ import annotations`: typer evaluates these annotations on every run (see main.py).

from pathlib import Path
from typing import Annotated

import typer

from .app import finish
from .options import (
    JsonFlag,
    LogFormatOpt,
    QuietFlag,
    ReleaseDirOpt,
    RerunBackendOpt,
    RerunBaseUrlOpt,
    RerunBaseUrlsFileOpt,
    RerunConcurrencyOpt,
    RerunDeviceOpt,
    RerunDtypeOpt,
    RerunHarnessPythonOpt,
    RerunInstallHarnessFlag,
    RerunModelOpt,
    RerunOutOpt,
    RerunRetriesOpt,
    RerunTimeoutOpt,
    RerunTrustRemoteCodeFlag,
    RescoreLogOpt,
)

# Options only these verbs take, one alias each (the shared ones are in cli/options.py).
# rescore
RescoreManifestArg = Annotated[
    Path | None, typer.Argument(help="Release manifest whose evals to re-score (or use --log).")
]
RescoreAuditFlag = Annotated[bool, typer.Option("--audit/--no-audit", help="Also run the strict-scorer audit.")]

# rerun
RerunManifestArg = Annotated[Path, typer.Argument(help="Release manifest whose evals (with published logs) to re-run.")]
RerunLimitOpt = Annotated[
    int | None,
    typer.Option("--limit", min=1, help="Re-run a stratified, seeded subset of N items per benchmark (a cheap audit)."),
]
RerunSeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the --limit subset and of the verdict's bootstrap.")]
RerunStratifyOpt = Annotated[
    str,
    typer.Option("--stratify", help="Stratum field of --limit: auto, none, or a sample field such as meta.subject."),
]
RerunBatchSizeOpt = Annotated[int, typer.Option("--batch-size", min=1, help="transformers: requests per batch.")]
RerunVerifyFlag = Annotated[
    bool, typer.Option("--verify/--no-verify", help="transformers: verify the release before loading it (incremental).")
]
RerunBenchmarkOpt = Annotated[
    list[str] | None, typer.Option("--benchmark", "-b", help="Only these evals (repeatable).")
]
RerunImagesOpt = Annotated[Path | None, typer.Option("--images", help="Folder of images named <sha256>[.ext].")]


def rescore(
    manifest: RescoreManifestArg = None,
    log: RescoreLogOpt = None,
    format: LogFormatOpt = "auto",
    dir: ReleaseDirOpt = None,
    audit: RescoreAuditFlag = True,
    json_out: JsonFlag = False,
) -> None:
    """Recompute every aggregate from the per-sample records with the harness's own semantics; compare with the
    harness's aggregates and the published claims.  No model needed.  Exit 1 names the samples that differ.
    With --log, --json prints a list of {task, metric, filter, reported, recomputed, n} (findings go to stderr).

    Example: assay rescore --log results/ --format lm-eval --json
    """
    import sys

    from ..manifests.errors import InputError
    from . import render_evals

    if (manifest is None) == (log is None):
        raise InputError("give either a MANIFEST or --log PATH")
    if log is not None:
        from ..evals.rescore import rescore_path, rows_json

        scanned = rescore_path(log, format, audit=audit)
        if json_out:
            import json

            sys.stdout.write(json.dumps(rows_json(scanned.logs), indent=2) + "\n")
            render_evals.findings_to_stderr(scanned.logs, scanned.skipped)
        else:
            render_evals.log_tables(scanned.logs, scanned.skipped)
        finish(scanned.ok)
    from ..evals.claims import rescore_manifest
    from . import render

    report = rescore_manifest(manifest, root=dir, audit=audit)  # type: ignore[arg-type]
    render.emit(report, json_out, render_evals.report_tables)
    finish(report.ok)


def rerun(
    manifest: RerunManifestArg,
    backend: RerunBackendOpt = "transformers",
    limit: RerunLimitOpt = None,
    seed: RerunSeedOpt = 0,
    stratify: RerunStratifyOpt = "auto",
    device: RerunDeviceOpt = "auto",
    dtype: RerunDtypeOpt = None,
    batch_size: RerunBatchSizeOpt = 8,
    base_url: RerunBaseUrlOpt = None,
    base_urls: RerunBaseUrlsFileOpt = None,
    model: RerunModelOpt = None,
    concurrency: RerunConcurrencyOpt = 8,
    timeout: RerunTimeoutOpt = 600.0,
    retries: RerunRetriesOpt = 4,
    trust_remote_code: RerunTrustRemoteCodeFlag = False,
    harness_python: RerunHarnessPythonOpt = None,
    install_harness: RerunInstallHarnessFlag = False,
    verify: RerunVerifyFlag = True,
    benchmark: RerunBenchmarkOpt = None,
    out: RerunOutOpt = None,
    dir: ReleaseDirOpt = None,
    images: RerunImagesOpt = None,
    quiet: QuietFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Regenerate the published eval outputs under the pinned decoding settings, score them with the same scorer
    and decide per benchmark: pass (reproduced), fail (not reproduced) or inconclusive.  Exit 1 unless all pass.

    Example: assay rerun release/assay.yaml --backend openai --base-url http://127.0.0.1:8000/v1 --limit 200
    (a fleet: --base-url http://h1:8000/v1 --base-url http://h2:8000/v1, or --base-urls FILE; --concurrency is per
    endpoint)
    """
    from ..evals.backends import base_url_list
    from ..evals.harness_run import HarnessOptions
    from ..evals.rerun import rerun as do_rerun
    from . import render, render_evals

    with render_evals.rerun_progress(json_out, quiet) as prog:
        result = do_rerun(
            manifest,
            backend=backend,
            limit=limit,
            seed=seed,
            stratify=stratify,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            base_url=base_url_list(base_url, base_urls) or None,
            model=model,
            concurrency=concurrency,
            timeout=timeout,
            retries=retries,
            trust_remote_code=trust_remote_code,
            verify=verify,
            benchmarks=benchmark,
            out=out,
            root=dir,
            images=images,
            progress=prog,
            harness=HarnessOptions(python=str(harness_python) if harness_python else None, install=install_harness),
        )
    render.emit(result, json_out, render_evals.rerun_table)
    finish(result.ok)


def register(app: typer.Typer) -> None:
    """Add this module's verbs to the ``assay`` app."""
    app.command("rescore")(rescore)
    app.command("rerun")(rerun)
