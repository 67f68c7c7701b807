"""CLI verbs of the release core: ``schema``, ``init``, ``lock``, ``verify``, ``inspect``, ``pull``, ``push``,
``audit``, ``diff``.

Each verb parses its arguments, calls one library function, renders the typed result (``cli.render``) and picks the
exit code.  Like every verb module, this imports only typer at module level; the library code is imported inside
the verbs (``verify``, ``inspect``, ``init`` and ``lock`` never import torch, transformers or dvc).
"""

# No `from __future__ import annotations`: typer evaluates these annotations on every run (see main.py).

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .app import finish
from .options import (
    AuditKeyOpt,
    AuditOutOpt,
    Blake3Flag,
    ExecutorOpt,
    FilesFlag,
    HashWorkersOpt,
    InitForceFlag,
    InitOutOpt,
    JsonFlag,
    ManifestArg,
    PullToOpt,
    PushReportOpt,
    PushToOpt,
    QuietFlag,
    RayAddressOpt,
    ReleaseDirOpt,
    ReleaseNameOpt,
    RerunBackendOpt,
    RerunBaseUrlOpt,
    RerunBaseUrlsFileOpt,
    RerunConcurrencyOpt,
    RerunDeviceOpt,
    RerunDtypeOpt,
    RerunHarnessPythonOpt,
    RerunInstallHarnessFlag,
    RerunModelOpt,
    RerunRetriesOpt,
    RerunTimeoutOpt,
    RerunTrustRemoteCodeFlag,
    SchemaJsonFlag,
    SchemaReportFlag,
    SignatureIdentityOpt,
    SignatureIgnoreGitOpt,
    SignatureIgnoreOpt,
    SignatureIssuerOpt,
    SignatureOpt,
    SignaturePublicKeyOpt,
    StrictFlag,
    TransferWorkersOpt,
)

if TYPE_CHECKING:
    from ..verify.results import VerifyResult

# Options only these verbs take, one alias each (the shared ones are in cli/options.py).
# schema
SchemaLockFlag = Annotated[bool, typer.Option("--lock", help="Print the lock file's schema instead of the manifest's.")]

# init
InitPathArg = Annotated[Path, typer.Argument(help="Model folder to package.")]
InitVersionOpt = Annotated[str, typer.Option("--version", help="Release version.")]
InitPublisherOpt = Annotated[str | None, typer.Option("--publisher", help="Publisher of the release.")]
InitLicenseOpt = Annotated[str | None, typer.Option("--license", help="SPDX licence identifier.")]

# lock
LockManifestArg = Annotated[Path, typer.Argument(help="Release manifest (YAML).")]

# verify
VerifyManifestArg = Annotated[
    Path, typer.Argument(help="Release manifest (YAML); its lock X.lock.yaml is used when present.")
]
VerifyCertificateChainOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--certificate-chain",
        help="With --signature, certificate mode: a PEM file of trusted CA certificates (repeatable).",
    ),
]
VerifyTrustConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--trust-config",
        help="With --signature, Sigstore mode: a ClientTrustConfig JSON (offline; default: fetch Sigstore's, needs "
        "the network).",
    ),
]
VerifyUseStagingFlag = Annotated[
    bool, typer.Option("--use-staging", help="With --signature, Sigstore mode: Sigstore's staging instance.")
]
VerifyLoadFlag = Annotated[
    bool,
    typer.Option(
        "--load",
        help="Also audit the model as loaded: transformers loads it in a subprocess, offline, after a strict "
        "verification; every loaded tensor is compared with the checkpoint's by content hash, and every file opened "
        "and network attempt is recorded.",
    ),
]
VerifyModeOpt = Annotated[
    str | None,
    typer.Option("--mode", help="With --signature: key, certificate or sigstore (default: from the options given)."),
]

# inspect
InspectFileArg = Annotated[
    Path,
    typer.Argument(
        help="A weights file: .safetensors, a shard index, or a pickle-format checkpoint; or a model "
        "folder or .py file: its remote code, audited statically (never executed)."
    ),
]

# pull
PullSourceArg = Annotated[
    str,
    typer.Argument(
        help="A manifest with its lock, or a hub URI (hf://org/repo@rev, oci://host/repo:tag, dir://hub#pkg:tag)."
    ),
]
PullOnlyOpt = Annotated[
    list[str] | None, typer.Option("--only", help="Fetch only files matching these glob patterns (repeatable).")
]

# push
PushCreateFlag = Annotated[bool, typer.Option("--create", help="Create the repository / hub if it does not exist.")]

# audit
AuditSourceOpt = Annotated[
    str | None, typer.Option("--from", help="Pull the release from this hub URI first (else: local files).")
]
AuditSkipOpt = Annotated[
    list[str] | None, typer.Option("--skip", help="Skip a step: pull, verify, load, data, rebuild, rescore, rerun.")
]
AuditRerunLimitOpt = Annotated[
    int | None, typer.Option("--rerun-limit", min=1, help="Re-run at most N samples per benchmark.")
]
AuditSignFlag = Annotated[bool, typer.Option("--sign/--no-sign", help="Write the signed attestation.")]

# diff
DiffAArg = Annotated[str, typer.Argument(help="A manifest (its lock beside it is used), a lock file, or a hub URI.")]
DiffBArg = Annotated[str, typer.Argument(help="The other release, same forms.")]


def schema(
    lock: SchemaLockFlag = False,
    report: SchemaReportFlag = False,
    json_out: SchemaJsonFlag = True,
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


def init(
    path: InitPathArg,
    out: InitOutOpt = None,
    name: ReleaseNameOpt = None,
    version: InitVersionOpt = "0.1.0",
    publisher: InitPublisherOpt = None,
    license: InitLicenseOpt = None,
    force: InitForceFlag = False,
    files: FilesFlag = False,
    quiet: QuietFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Package an existing model folder: hash files, recognise roles, read safetensors headers, write manifest + lock.

    Example: assay init ./my-model --publisher "Example Lab" --license apache-2.0
    """
    from ..audit.packaging import init_release
    from . import render

    with render.progress("hashing", json_out, quiet) as prog:
        result = init_release(
            path, out=out, name=name, version=version, publisher=publisher, license=license, force=force, progress=prog
        )
    render.emit(result, json_out, lambda r: render.init_table(r, files))
    finish(result.ok)


def lock(
    manifest: LockManifestArg,
    dir: ReleaseDirOpt = None,
    blake3: Blake3Flag = False,
    files: FilesFlag = False,
    quiet: QuietFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Resolve every source to an exact revision and write X.lock.yaml beside X.yaml (sha256 + size per file).

    Example: assay lock manifests/examples/tiny-vlm/assay.yaml
    """
    from ..audit.locking import lock_release
    from . import render

    with render.progress("hashing", json_out, quiet) as prog:
        result = lock_release(manifest, root=dir, blake3=blake3, progress=prog)
    render.emit(result, json_out, lambda r: render.lock_table(r, files))
    finish(result.ok)


def verify(
    manifest: VerifyManifestArg,
    dir: ReleaseDirOpt = None,
    strict: StrictFlag = False,
    blake3: Blake3Flag = False,
    workers: HashWorkersOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    signature: SignatureOpt = None,
    key: SignaturePublicKeyOpt = None,
    certificate_chain: VerifyCertificateChainOpt = None,
    identity: SignatureIdentityOpt = None,
    issuer: SignatureIssuerOpt = None,
    trust_config: VerifyTrustConfigOpt = None,
    use_staging: VerifyUseStagingFlag = False,
    ignore: SignatureIgnoreOpt = None,
    ignore_git_paths: SignatureIgnoreGitOpt = None,
    mode: VerifyModeOpt = None,
    load: VerifyLoadFlag = False,
    trust_remote_code: RerunTrustRemoteCodeFlag = False,
    files: FilesFlag = False,
    quiet: QuietFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Verify every file by sha256 and every structural claim (safetensors headers, shards, parameters, dtypes).

    Example: assay verify manifests/examples/tiny-vlm/assay.yaml --strict
    (with --load: also load the model and compare it, tensor by tensor, with its checkpoint)
    (or, for an OpenSSF model-signing signature: assay verify ./model --signature ./model/model.sig --key assay.pub)
    """
    if trust_remote_code and not load:
        from ..manifests.errors import InputError

        raise InputError("--trust-remote-code: only with --load")
    if signature is not None:
        if load:
            from ..manifests.errors import InputError

            raise InputError("--load: not with --signature")
        from .attest_verbs import signature_verify_verb

        signature_verify_verb(
            manifest,
            signature,
            key,
            json_out=json_out,
            certificate_chain=certificate_chain,
            identity=identity,
            issuer=issuer,
            trust_config=trust_config,
            use_staging=use_staging,
            ignore=ignore,
            ignore_git_paths=ignore_git_paths,
            mode=mode,
            files=files,
        )
        return
    signature_only = {
        "--certificate-chain": certificate_chain,
        "--identity": identity,
        "--issuer": issuer,
        "--trust-config": trust_config,
        "--use-staging": use_staging,
        "--ignore": ignore,
        "--ignore-git-paths": ignore_git_paths is not None,
        "--mode": mode,
    }
    if any(signature_only.values()):
        from ..manifests.errors import InputError

        raise InputError(f"{', '.join(k for k, v in signature_only.items() if v)}: only with --signature")
    from ..verify.release import verify_release
    from . import render

    with render.progress("verifying", json_out, quiet) as prog:
        result = verify_release(
            manifest,
            root=dir,
            strict=strict or load,
            blake3=blake3,
            workers=workers,
            progress=prog,
            executor=executor,
            ray_address=ray_address,
        )
    if load:  # strict above, so the load's gate reuses this verification instead of hashing again
        _verify_and_load(manifest, dir, result, trust_remote_code, json_out, files)
    render.emit(result, json_out, lambda r: render.verify_table(r, files))
    finish(result.ok)


def _verify_and_load(
    manifest: Path, dir: Path | None, result: "VerifyResult", trust_remote_code: bool, json_out: bool, files: bool
) -> None:
    """``verify --load``: the model as loaded (verify/loaded.py) after the verification; exits."""
    import json

    from ..verify.loaded import audit_loaded
    from . import render
    from .render_loaded import loaded_table

    loaded = audit_loaded(manifest, root=dir, trust_remote_code=trust_remote_code, verification=result)
    if json_out:
        doc = {
            "verify": result.model_dump(mode="json"),
            "load": {**loaded.model_dump(mode="json"), "verdict": loaded.verdict},
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        render.verify_table(result, files)
        loaded_table(loaded)
    finish(result.ok and loaded.ok)


def inspect(
    file: InspectFileArg,
    json_out: JsonFlag = False,
) -> None:
    """Summarise one weights file (tensors, dtypes, parameters) with the strict structural verdict; or list a model
    folder's remote code (or one .py file's): imports, downloads and their pins, unpickling, exec, processes, writes.

    Example: assay inspect model.safetensors --json; assay inspect ./model-folder
    """
    from . import render

    if file.is_dir() or file.suffix == ".py":
        from ..verify.remote_code import inspect_remote_code

        audit = inspect_remote_code(file)
        render.emit(audit, json_out, render.remote_code_table)
        finish(audit.ok)
    from ..verify.inspection import inspect_file

    result = inspect_file(file)
    render.emit(result, json_out, render.inspect_table)
    finish(result.ok)


def pull(
    source: PullSourceArg,
    to: PullToOpt = None,
    only: PullOnlyOpt = None,
    workers: TransferWorkersOpt = 4,
    files: FilesFlag = False,
    quiet: QuietFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Fetch exactly the locked files of a release, hashing while writing; bad bytes are deleted, interrupted pulls
    resume.

    Example: assay pull oci://127.0.0.1:5000/models/tiny-vlm:0.1.0 --to ./tiny-vlm --only '*.json'
    """
    from ..hubs.pull import pull as do_pull
    from . import render

    with render.progress("pulling", json_out, quiet) as prog:
        result = do_pull(source, to=to, only=only, workers=workers, progress=prog)
    render.emit(result, json_out, lambda r: render.transfer_table(r, files))
    finish(result.ok)


def push(
    manifest: ManifestArg,
    to: PushToOpt,
    dir: ReleaseDirOpt = None,
    create: PushCreateFlag = False,
    report: PushReportOpt = None,
    files: FilesFlag = False,
    quiet: QuietFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Upload a verified release (artifacts + assay.yaml + assay.lock.yaml) to a hub; unchanged blobs are not re-sent.
    The release must verify against its lock first.

    Example: assay push manifests/examples/tiny-vlm/assay.yaml --to dir://./hub#tiny-vlm:0.1.0 --create
    """
    from ..hubs.push import push as do_push
    from . import render

    with render.progress("checking", json_out, quiet) as prog:
        result = do_push(manifest, to, root=dir, create=create, report=report, progress=prog)
    render.emit(result, json_out, lambda r: render.transfer_table(r, files))
    finish(result.ok)


def audit(
    manifest: ManifestArg,
    source: AuditSourceOpt = None,
    out: AuditOutOpt = Path("audit-out"),
    skip: AuditSkipOpt = None,
    rerun_limit: AuditRerunLimitOpt = None,
    dir: ReleaseDirOpt = None,
    key: AuditKeyOpt = None,
    sign: AuditSignFlag = True,
    backend: RerunBackendOpt = "transformers",
    base_url: RerunBaseUrlOpt = None,
    base_urls: RerunBaseUrlsFileOpt = None,
    model: RerunModelOpt = None,
    device: RerunDeviceOpt = "auto",
    dtype: RerunDtypeOpt = None,
    concurrency: RerunConcurrencyOpt = 8,
    timeout: RerunTimeoutOpt = 600.0,
    retries: RerunRetriesOpt = 4,
    trust_remote_code: RerunTrustRemoteCodeFlag = False,
    harness_python: RerunHarnessPythonOpt = None,
    install_harness: RerunInstallHarnessFlag = False,
    files: FilesFlag = False,
    quiet: QuietFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Audit a release end to end and write a report with a verdict per claim; exit 0 only if every claim holds.

    The re-run options (--backend, --base-url, --base-urls, --model, --device, --dtype, --concurrency, --timeout,
    --retries, --trust-remote-code, --harness-python, --install-harness) are those of assay rerun, passed to the
    audit's re-run step.

    Example: assay audit manifests/examples/tiny-vlm/assay.yaml --out audit-out
    """
    from ..audit.run import run_audit
    from ..audit.steps import RerunOptions
    from ..evals.backends import base_url_list
    from . import render

    rerun = RerunOptions(
        limit=rerun_limit,
        backend=backend,
        base_url=base_url_list(base_url, base_urls) or None,
        model=model,
        device=device,
        dtype=dtype,
        concurrency=concurrency,
        timeout=timeout,
        retries=retries,
        trust_remote_code=trust_remote_code,
        harness_python=str(harness_python) if harness_python else None,
        install_harness=install_harness,
    )

    with render.progress("auditing", json_out, quiet) as prog:
        result = run_audit(
            manifest,
            out=out,
            source=source,
            skip=set(skip or ()),
            rerun=rerun,
            release_dir=dir,
            key=key,
            sign=sign,
            progress=prog,
        )
    render.emit(result, json_out, lambda r: render.audit_summary(r, out, files))
    finish(result.verdict == "pass")


def diff(
    a: DiffAArg,
    b: DiffBArg,
    json_out: JsonFlag = False,
) -> None:
    """Show what changed between two releases: files, claims, published scores, sources and release digests.

    Exits 0 when the releases are identical and 1 when they differ, like diff(1).

    Example: assay diff manifests/examples/tiny-vlm/assay.yaml manifests/examples/tiny-vlm/assay.failing.yaml
    """
    from ..audit.diff import diff_releases
    from . import render

    result = diff_releases(a, b)
    render.emit(result, json_out, render.diff_table)
    finish(result.identical)


def register(app: typer.Typer) -> None:
    """Add this module's verbs to the ``assay`` app."""
    for verb in (schema, init, lock, verify, inspect, pull, push, audit, diff):
        app.command(verb.__name__)(verb)
