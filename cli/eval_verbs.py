"""CLI verbs of the evaluations work: ``assay rescore``, ``assay rerun``.

Like every verb module, this imports only typer at module level; the library code is imported inside the verbs and
the tables live in ``cli/render_evals.py``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .app import finish
from .options import JsonFlag, LogFormatOpt, ReleaseDirOpt, RerunOutOpt, RescoreLogOpt


def rescore(
    manifest: Path | None = typer.Argument(None, help="Release manifest whose evals to re-score (or use --log)."),
    log: RescoreLogOpt = None,
    format: LogFormatOpt = "auto",  # noqa: A002
    dir: ReleaseDirOpt = None,  # noqa: A002
    audit: bool = typer.Option(True, "--audit/--no-audit", help="Also run the strict-scorer audit."),
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
    manifest: Path = typer.Argument(..., help="Release manifest whose evals (with published logs) to re-run."),
    backend: str = typer.Option("transformers", "--backend", help="transformers (in-process) or openai "
                                "(an OpenAI-compatible server: vLLM, SGLang, TGI, transformers serve)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Re-run a stratified, seeded subset of N "
                                        "items per benchmark (a cheap audit)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --limit subset and of the verdict's bootstrap."),
    stratify: str = typer.Option("auto", "--stratify", help="Stratum field of --limit: auto, none, or a "
                                 "sample field such as meta.subject."),
    device: str = typer.Option("auto", "--device", help="transformers: auto (CUDA when available), cuda, cpu…"),
    dtype: str | None = typer.Option(None, "--dtype", help="transformers: bfloat16, float16 or float32 "
                                        "(default: bf16 on GPU, fp32 on CPU)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="transformers: requests per batch."),
    base_url: str | None = typer.Option(None, "--base-url", help="openai: server URL, e.g. "
                                           "http://127.0.0.1:8000/v1 (key from ASSAY_OPENAI_API_KEY)."),
    model: str | None = typer.Option(None, "--model", help="openai: model name (default: the one served)."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="openai: requests in flight."),
    timeout: float = typer.Option(600.0, "--timeout", min=0.001, help="openai: seconds per request."),
    retries: int = typer.Option(4, "--retries", min=0, help="openai: retries of a failed request."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="transformers: run the release's "
                                           "auto_map code, only after a strict verification of its code files."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="transformers: verify the release before "
                                "loading it (incremental)."),
    benchmark: list[str] | None = typer.Option(None, "--benchmark", "-b", help="Only these evals (repeatable)."),
    out: RerunOutOpt = None,
    dir: ReleaseDirOpt = None,  # noqa: A002
    images: Path | None = typer.Option(None, "--images", help="Folder of images named <sha256>[.ext]."),
    json_out: JsonFlag = False,
) -> None:
    """Regenerate the published eval outputs under the pinned decoding settings, score them with the same scorer
    and decide per benchmark: reproduced, not reproduced or inconclusive.  Exit 1 unless all reproduce.

    Example: assay rerun release/assay.yaml --backend openai --base-url http://127.0.0.1:8000/v1 --limit 200
    """
    from ..evals.rerun import rerun as do_rerun
    from . import render, render_evals

    result = do_rerun(manifest, backend=backend, limit=limit, seed=seed, stratify=stratify, device=device,
                      dtype=dtype, batch_size=batch_size, base_url=base_url, model=model, concurrency=concurrency,
                      timeout=timeout, retries=retries, trust_remote_code=trust_remote_code, verify=verify,
                      benchmarks=benchmark, out=out, root=dir, images=images,
                      progress=render_evals.rerun_progress(json_out))
    render.emit(result, json_out, render_evals.rerun_table)
    finish(result.ok)


def register(app: typer.Typer) -> None:
    """Add this module's verbs to the ``assay`` app."""
    app.command("rescore")(rescore)
    app.command("rerun")(rerun)
