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
    _register_rerun(app)


# ------------------------------------------------------------------------------------------------------ rescore
def _register_rescore(app: typer.Typer) -> None:
    @app.command()
    def rescore(
        manifest: Optional[Path] = typer.Argument(None, help="Release manifest whose evals to re-score "
                                                  "(or use --log)."),
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
            from ..evals.rescore import rescore_path, rows_json

            scanned = rescore_path(log, format, audit=audit)
            results = scanned.logs
            if json_out:
                import json

                sys.stdout.write(json.dumps(rows_json(results), indent=2) + "\n")
                render_evals.findings_to_stderr(results, scanned.skipped)
            else:
                render_evals.log_tables(results, scanned.skipped)
            raise typer.Exit(0 if scanned.ok else 1)
        from ..evals.claims import rescore_manifest

        report = rescore_manifest(manifest, root=dir, audit=audit)  # type: ignore[arg-type]
        if json_out:
            sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        else:
            render_evals.report_tables(report)
        raise typer.Exit(0 if report.ok else 1)


# ------------------------------------------------------------------------------------------------------ rerun
def _register_rerun(app: typer.Typer) -> None:
    @app.command()
    def rerun(
        manifest: Path = typer.Argument(..., help="Release manifest whose evals (with published logs) to re-run."),
        backend: str = typer.Option("transformers", "--backend", help="transformers (in-process) or openai "
                                    "(an OpenAI-compatible server: vLLM, SGLang, TGI, transformers serve)."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Re-run a stratified, seeded subset of N "
                                            "items per benchmark (a cheap audit)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the --limit subset and of the verdict's bootstrap."),
        stratify: str = typer.Option("auto", "--stratify", help="Stratum field of --limit: auto, none, or a "
                                     "sample field such as meta.subject."),
        device: str = typer.Option("auto", "--device", help="transformers: auto (CUDA when available), cuda, cpu…"),
        dtype: Optional[str] = typer.Option(None, "--dtype", help="transformers: bfloat16, float16 or float32 "
                                            "(default: bf16 on GPU, fp32 on CPU)."),
        batch_size: int = typer.Option(8, "--batch-size", min=1, help="transformers: requests per batch."),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="openai: server URL, e.g. "
                                               "http://127.0.0.1:8000/v1 (key from ASSAY_OPENAI_API_KEY)."),
        model: Optional[str] = typer.Option(None, "--model", help="openai: model name (default: the one served)."),
        concurrency: int = typer.Option(8, "--concurrency", min=1, help="openai: requests in flight."),
        timeout: float = typer.Option(600.0, "--timeout", min=0.001, help="openai: seconds per request."),
        retries: int = typer.Option(4, "--retries", min=0, help="openai: retries of a failed request."),
        trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="transformers: run the release's "
                                               "auto_map code, only after a strict verification of its code files."),
        verify: bool = typer.Option(True, "--verify/--no-verify", help="transformers: verify the release before "
                                    "loading it (incremental)."),
        benchmark: Optional[list[str]] = typer.Option(None, "--benchmark", "-b", help="Only these evals (repeatable)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for the re-run logs (default: "
                                           "<manifest folder>/.assay/rerun)."),
        dir: Optional[Path] = typer.Option(None, "--dir", help="Folder holding the release files."),  # noqa: A002
        images: Optional[Path] = typer.Option(None, "--images", help="Folder of images named <sha256>[.ext]."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    ) -> None:
        """Regenerate the published eval outputs under the pinned decoding settings, score them with the same scorer
        and decide per benchmark: reproduced, not reproduced or inconclusive.  Exit 1 unless all reproduce.

        Example: assay rerun release/assay.yaml --backend openai --base-url http://127.0.0.1:8000/v1 --limit 200
        """
        import sys

        from ..evals.rerun import rerun as do_rerun

        def progress(name: str, done: int, total: int) -> None:
            if sys.stderr.isatty() and not json_out:
                sys.stderr.write(f"\r{name}: {done}/{total} requests" + ("\n" if done >= total else ""))
                sys.stderr.flush()

        result = do_rerun(manifest, backend=backend, limit=limit, seed=seed, stratify=stratify, device=device,
                          dtype=dtype, batch_size=batch_size, base_url=base_url, model=model, concurrency=concurrency,
                          timeout=timeout, retries=retries, trust_remote_code=trust_remote_code, verify=verify,
                          benchmarks=benchmark, out=out, root=dir, images=images, progress=progress)
        if json_out:
            sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        else:
            _rerun_table(result)
        raise typer.Exit(0 if result.ok else 1)


def _rerun_table(r) -> None:
    from rich.markup import escape

    from . import render

    def pts(v) -> str:
        return "-" if v is None else f"{v:.2f}"

    style = {"reproduced": "green", "not-reproduced": "bold red", "inconclusive": "yellow", "not-checked": "bold yellow"}
    b = r.backend
    where = b.get("base_url") or b.get("model") or "-"
    render.out.print(f"[bold]{r.release}[/]: re-run with {b.get('backend', '?')} ({where}"
                     + (f", {b['device']}, {b['dtype']}" if b.get("device") else "") + f") in {r.seconds:.1f} s")
    t = render.Table(title_justify="left")
    for col in ("benchmark", "items", "repeats", "published log", "re-run", "diff [CI]", "margin", "verdict",
                "same output", "failed"):
        t.add_column(col, justify="right" if col in ("items", "repeats", "published log", "re-run", "margin",
                                                     "same output", "failed") else "left")
    for bench in r.benchmarks:
        v = bench.verdict or {}
        verdict = v.get("verdict") or "not-checked"  # no verdict: nothing was compared (see the findings)
        if verdict == "inconclusive" and v.get("n_needed"):
            verdict += f" (n≈{v['n_needed']})"
        ci = f"{pts(v.get('diff'))} [{pts(v.get('ci_low'))}, {pts(v.get('ci_high'))}]" if v.get("diff") is not None else "-"
        agree = v.get("output_agreement")
        t.add_row(bench.name, f"{bench.selected_items}/{bench.reference_items}", str(bench.repeats),
                  pts(v.get("reference_score")), pts(v.get("rerun_score")), ci, pts(v.get("margin")),
                  f"[{style[v.get('verdict') or 'not-checked']}]{verdict}[/]", "-" if agree is None else f"{agree:.0%}",
                  str(bench.n_failed))
    render.out.print(t)
    for bench in r.benchmarks:
        if bench.log:
            render.out.print(escape(f"  {bench.name}: re-run log {bench.log}")
                             + (f" (stratified by {bench.stratify})" if bench.limit and bench.stratify else ""))
        if bench.assumed:
            render.out.print(f"  {bench.name}: [yellow]assumed[/] {', '.join(bench.assumed)} (neither pinned nor logged)")
    sev = {"error": "bold red", "warning": "yellow", "info": "cyan"}
    for f in r.findings:
        render.out.print(f"[{sev.get(f.severity, '')}]{f.severity:>7}[/] {escape(f'[{f.code}] {f.message}')}")
    render.out.print("[green]reproduced[/]" if r.ok else "[bold red]not reproduced[/]")
