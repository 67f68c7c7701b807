"""The ``assay`` command.  Each verb is a thin typer wrapper over a library function that returns a typed result.

Start-up matters (the CLI runs in CI loops): this module imports only typer; pydantic, rich, hashing and
everything heavier are imported inside the verbs, and torch / transformers / dvc only by verbs that need them.
Exit codes: 0 all checks hold, 1 a check failed, 2 bad input (one-line message, no traceback).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    name="assay",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Package and audit open model releases: verify every byte by hash and every structural claim.\n\n"
         "Example: assay verify manifests/examples/tiny-vlm/assay.yaml",
)

JsonOpt = typer.Option(False, "--json", help="Print the result as JSON on stdout.")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"assay {version('assay')}\n")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print assay's version and exit.")) -> None:
    """Package and audit open model releases: verify every byte by hash and every structural claim."""


def _finish(ok: bool) -> None:
    raise typer.Exit(0 if ok else 1)


@app.command()
def schema(
    lock: bool = typer.Option(False, "--lock", help="Print the lock file's schema instead of the manifest's."),
    report: bool = typer.Option(False, "--report", help="Print the audit report's (report.json) schema."),
    json_out: bool = typer.Option(True, "--json/--no-json", help="JSON Schema is JSON; the flag exists for uniformity."),
) -> None:
    """Print the JSON Schema of the release manifest (or of the lock).

    Example: assay schema > assay-manifest.schema.json
    """
    import json

    if lock:
        from ..manifests.lock import Lock

        data = Lock.model_json_schema(by_alias=True)
    elif report:
        from ..audit.model import report_json_schema

        data = report_json_schema()
    else:
        from ..manifests.schema import json_schema

        data = json_schema()
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


@app.command()
def init(
    path: Path = typer.Argument(..., help="Model folder to package."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write assay.yaml + assay.lock.yaml here (default: PATH)."),
    name: Optional[str] = typer.Option(None, "--name", help="Release name (default: the folder name)."),
    version: str = typer.Option("0.1.0", "--version", help="Release version."),
    publisher: Optional[str] = typer.Option(None, "--publisher"),
    license: Optional[str] = typer.Option(None, "--license", help="SPDX licence identifier."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing assay.yaml."),
    json_out: bool = JsonOpt,
) -> None:
    """Package an existing model folder: hash files, recognise roles, read safetensors headers, write manifest + lock.

    Example: assay init ./my-model --publisher "Example Lab" --license apache-2.0
    """
    from ..audit.packaging import init_release
    from . import render

    with render.progress("hashing", json_out) as prog:
        result = init_release(path, out=out, name=name, version=version, publisher=publisher, license=license,
                              force=force, progress=prog)
    render.emit(result, json_out, render.init_table)
    _finish(result.ok)


@app.command()
def lock(
    manifest: Path = typer.Argument(..., help="Release manifest (YAML)."),
    dir: Optional[Path] = typer.Option(None, "--dir", help="Local folder holding the release files."),
    blake3: bool = typer.Option(False, "--blake3", help="Also record BLAKE3 digests (in addition to SHA-256)."),
    json_out: bool = JsonOpt,
) -> None:
    """Resolve every source to an exact revision and write X.lock.yaml beside X.yaml (sha256 + size per file).

    Example: assay lock manifests/examples/tiny-vlm/assay.yaml
    """
    from ..audit.locking import lock_release
    from . import render

    with render.progress("hashing", json_out) as prog:
        result = lock_release(manifest, root=dir, blake3=blake3, progress=prog)
    render.emit(result, json_out, render.lock_table)
    _finish(result.ok)


@app.command()
def verify(
    manifest: Path = typer.Argument(..., help="Release manifest (YAML); its lock X.lock.yaml is used when present."),
    dir: Optional[Path] = typer.Option(None, "--dir", help="Folder holding the release files (default: the manifest's sources / folder)."),
    strict: bool = typer.Option(False, "--strict", help="Re-hash every file; never trust the incremental state."),
    blake3: bool = typer.Option(False, "--blake3", help="Also compute BLAKE3 digests (in addition to SHA-256)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Hashing threads (default: all cores)."),
    executor: str = typer.Option("local", "--executor", help="local (threads) or ray (one Ray task per file; pip install 'assay[ray]')."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="With --executor ray: an existing cluster (default: RAY_ADDRESS or a local instance)."),
    signature: Optional[Path] = typer.Option(None, "--signature", help="Instead: verify this OMS / model-signing signature of the model (folder or single file) given as MANIFEST (see assay sign)."),
    key: Optional[Path] = typer.Option(None, "--key", "--public-key", help="With --signature, key mode: the signer's ECDSA public key (PEM)."),
    certificate_chain: Optional[List[Path]] = typer.Option(None, "--certificate-chain", help="With --signature, certificate mode: a PEM file of trusted CA certificates (repeatable)."),
    identity: Optional[str] = typer.Option(None, "--identity", help="With --signature, Sigstore mode: the expected signer identity."),
    issuer: Optional[str] = typer.Option(None, "--issuer", "--identity-provider", help="With --signature, Sigstore mode: the expected OIDC issuer."),
    trust_config: Optional[Path] = typer.Option(None, "--trust-config", help="With --signature, Sigstore mode: a ClientTrustConfig JSON (offline; default: fetch Sigstore's, needs the network)."),
    use_staging: bool = typer.Option(False, "--use-staging", help="With --signature, Sigstore mode: Sigstore's staging instance."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", "--ignore-paths", help="With --signature: a path in the model folder the signer left out (repeatable)."),
    ignore_git_paths: Optional[bool] = typer.Option(None, "--ignore-git-paths/--no-ignore-git-paths", help="With --signature: leave .git, .gitattributes, .github, .gitignore out (default: yes, unless the signature signed them)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="With --signature: key, certificate or sigstore (default: from the options given)."),
    json_out: bool = JsonOpt,
) -> None:
    """Verify every file by sha256 and every structural claim (safetensors headers, shards, parameters, dtypes).

    Example: assay verify manifests/examples/tiny-vlm/assay.yaml --strict
    (or, for an OpenSSF model-signing signature: assay verify ./model --signature ./model/model.sig --key assay.pub)
    """
    if signature is not None:
        from .attest_verbs import signature_verify_verb

        signature_verify_verb(manifest, signature, key, json_out=json_out, certificate_chain=certificate_chain,
                              identity=identity, issuer=issuer, trust_config=trust_config, use_staging=use_staging,
                              ignore=ignore, ignore_git_paths=ignore_git_paths, mode=mode)
        return
    _signature_only = {"--certificate-chain": certificate_chain, "--identity": identity, "--issuer": issuer,
                       "--trust-config": trust_config, "--use-staging": use_staging, "--ignore": ignore,
                       "--ignore-git-paths": ignore_git_paths is not None, "--mode": mode}
    if any(_signature_only.values()):
        from ..manifests.errors import InputError

        raise InputError(f"{', '.join(k for k, v in _signature_only.items() if v)}: only with --signature")
    from ..verify.release import verify_release
    from . import render

    with render.progress("verifying", json_out) as prog:
        result = verify_release(manifest, root=dir, strict=strict, blake3=blake3, workers=workers, progress=prog,
                                executor=executor, ray_address=ray_address)
    render.emit(result, json_out, render.verify_table)
    _finish(result.ok)


@app.command()
def inspect(
    file: Path = typer.Argument(..., help="A weights file: .safetensors, a shard index, or a pickle-format checkpoint."),
    json_out: bool = JsonOpt,
) -> None:
    """Summarise one weights file (tensors, dtypes, parameters) with the strict structural verdict.

    Example: assay inspect model.safetensors --json
    """
    from ..verify.inspection import inspect_file
    from . import render

    result = inspect_file(file)
    render.emit(result, json_out, render.inspect_table)
    _finish(result.ok)


@app.command()
def pull(
    source: str = typer.Argument(..., help="A manifest with its lock, or a hub URI (hf://org/repo@rev, oci://host/repo:tag, dir://hub#pkg:tag)."),
    to: Optional[Path] = typer.Option(None, "--to", help="Destination folder (default: ./<release or repo name>)."),
    only: Optional[List[str]] = typer.Option(None, "--only", help="Fetch only files matching these glob patterns (repeatable)."),
    workers: int = typer.Option(4, "--workers", min=1, help="Parallel transfers."),
    json_out: bool = JsonOpt,
) -> None:
    """Fetch exactly the locked files of a release, hashing while writing; bad bytes are deleted, interrupted pulls resume.

    Example: assay pull oci://127.0.0.1:5000/models/tiny-vlm:0.1.0 --to ./tiny-vlm --only '*.json'
    """
    from ..hubs.pull import pull as do_pull
    from . import render

    with render.progress("pulling", json_out) as prog:
        result = do_pull(source, to=to, only=only, workers=workers, progress=prog)
    render.emit(result, json_out, render.transfer_table)
    _finish(result.ok)


@app.command()
def push(
    manifest: Path = typer.Argument(..., help="Release manifest; it must verify against its lock."),
    to: str = typer.Option(..., "--to", help="Destination: hf://org/repo, oci://host/repo:tag or dir://hub#package:tag."),
    dir: Optional[Path] = typer.Option(None, "--dir", help="Folder holding the release files."),
    create: bool = typer.Option(False, "--create", help="Create the repository / hub if it does not exist."),
    report: Optional[Path] = typer.Option(None, "--report", help="An audit report to publish with the release."),
    json_out: bool = JsonOpt,
) -> None:
    """Upload a verified release (artifacts + assay.yaml + assay.lock.yaml) to a hub; unchanged blobs are not re-sent.

    Example: assay push manifests/examples/tiny-vlm/assay.yaml --to dir://./hub#tiny-vlm:0.1.0 --create
    """
    from ..hubs.push import push as do_push
    from . import render

    with render.progress("checking", json_out) as prog:
        result = do_push(manifest, to, root=dir, create=create, report=report, progress=prog)
    render.emit(result, json_out, render.transfer_table)
    _finish(result.ok)


@app.command()
def audit(
    manifest: Path = typer.Argument(..., help="Release manifest with its lock."),
    source: Optional[str] = typer.Option(None, "--from", help="Pull the release from this hub URI first (else: local files)."),
    out: Path = typer.Option(Path("audit-out"), "--out", help="Folder for report.json / report.md / report.html."),
    skip: Optional[List[str]] = typer.Option(None, "--skip", help="Skip a step: pull, verify, data, rebuild, rescore, rerun."),
    rerun_limit: Optional[int] = typer.Option(None, "--rerun-limit", min=1, help="Re-run at most N samples per benchmark."),
    dir: Optional[Path] = typer.Option(None, "--dir", help="Folder holding the release files (default: the manifest's sources)."),
    key: Optional[Path] = typer.Option(None, "--key", help="Private key (PEM) that signs attestation.dsse.json (default: the assay keygen key, made if missing)."),
    sign: bool = typer.Option(True, "--sign/--no-sign", help="Write the signed attestation."),
    json_out: bool = JsonOpt,
) -> None:
    """Audit a release end to end and write a report with a verdict per claim; exit 0 only if every claim holds.

    Example: assay audit manifests/examples/tiny-vlm/assay.yaml --out audit-out
    """
    from ..audit.run import run_audit
    from . import render

    with render.progress("auditing", json_out) as prog:
        result = run_audit(manifest, out=out, source=source, skip=set(skip or ()), rerun_limit=rerun_limit,
                           release_dir=dir, key=key, sign=sign, progress=prog)
    render.emit(result, json_out, lambda r: render.audit_summary(r, out))
    _finish(result.verdict == "pass")


@app.command()
def diff(
    a: str = typer.Argument(..., help="A manifest (its lock beside it is used), a lock file, or a hub URI."),
    b: str = typer.Argument(..., help="The other release, same forms."),
    json_out: bool = JsonOpt,
) -> None:
    """Show what changed between two releases: files, claims, published scores, sources and release digests.

    Exits 0 when the releases are identical and 1 when they differ, like diff(1).

    Example: assay diff manifests/examples/tiny-vlm/assay.yaml manifests/examples/tiny-vlm/assay.failing.yaml
    """
    from ..audit.diff import diff_releases
    from . import render

    result = diff_releases(a, b)
    render.emit(result, json_out, render.diff_table)
    _finish(result.identical)


from . import attest_verbs, data_verbs, eval_verbs, export_verbs  # noqa: E402 - verb modules register onto the app

attest_verbs.register(app)
data_verbs.register(app)
eval_verbs.register(app)
export_verbs.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps assay errors to exit codes and one-line messages."""
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
