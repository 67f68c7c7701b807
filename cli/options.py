"""The options that more than one ``assay`` verb takes, defined once (typer ``Annotated`` aliases).

A verb declares ``json_out: JsonFlag = False`` instead of repeating ``typer.Option(False, "--json", help=...)``, so
the same flag reads the same in every ``--help``.  Defaults stay in each verb's signature (they are the verb's
behaviour).  Where two verbs share a flag name with a genuinely different meaning (``--out`` is a report folder for
``audit`` and a key folder for ``keygen``; ``--key`` is a private key for ``sign`` and a public one for ``attest
verify``), each meaning has its own alias with accurate help; ``tests/test_cli_shape.py`` checks that every flag used
by two or more verbs comes from here.  Options only one verb has stay beside that verb.

Like the rest of the CLI this imports only typer (start-up time: ``assay --help`` runs in CI loops).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# ---------------------------------------------------------------------------------------------------- output
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
FilesFlag = Annotated[
    bool,
    typer.Option(
        "--files",
        help="List every file (and every claim) in the terminal, not only those that fail or were not checked.",
    ),
]
QuietFlag = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress bar (there is none when stderr is not a terminal or CI is set)."),
]
SchemaJsonFlag = Annotated[
    bool, typer.Option("--json/--no-json", help="JSON Schema is JSON; the flag exists for uniformity.")
]

# ---------------------------------------------------------------------------------------------------- arguments
ManifestArg = Annotated[Path, typer.Argument(help="Release manifest (YAML), with its lock X.lock.yaml beside it.")]
OptionalManifestArg = Annotated[
    Path | None, typer.Argument(help="Release manifest (YAML), with its lock X.lock.yaml beside it.")
]

# ---------------------------------------------------------------------------------------------------- release files
ReleaseDirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="Folder holding the release files (default: the folders the manifest's sources name)."),
]
StrictFlag = Annotated[bool, typer.Option("--strict", help="Re-hash every file; never trust the incremental state.")]
Blake3Flag = Annotated[
    bool,
    typer.Option(
        "--blake3", help="Also compute BLAKE3 digests (in addition to SHA-256); assay lock records them in the lock."
    ),
]
ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Where files are hashed and recounted: local (threads) or ray (one Ray task per file; "
        "needs the ray extra).",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address", help="With --executor ray: an existing cluster (default: RAY_ADDRESS or a local instance)."
    ),
]

# --workers: three different pools
HashWorkersOpt = Annotated[int | None, typer.Option("--workers", min=1, help="Hashing threads (default: all cores).")]
TransferWorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Parallel transfers.")]
RecountWorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Local executor: files recounted at once.")]

# ---------------------------------------------------------------------------------------------------- hubs
PullToOpt = Annotated[Path | None, typer.Option("--to", help="Destination folder (default: ./<release or repo name>).")]
PushToOpt = Annotated[
    str, typer.Option("--to", help="Destination: hf://org/repo, oci://host/repo:tag or dir://hub#package:tag.")
]

# ---------------------------------------------------------------------------------------------------- outputs
InitOutOpt = Annotated[
    Path | None, typer.Option("--out", help="Write assay.yaml + assay.lock.yaml here (default: PATH).")
]
KeysOutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Folder for <name>.key / <name>.pub (default: $ASSAY_KEY_DIR or ~/.config/assay/keys)."),
]
AuditOutOpt = Annotated[Path, typer.Option("--out", help="Folder for report.json / report.md / report.html.")]
RerunOutOpt = Annotated[
    Path | None, typer.Option("--out", help="Folder for the re-run logs (default: <manifest folder>/.assay/rerun).")
]
ExportOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Output file (folder for eval-results / eee). Default: one-file formats print to stdout; "
        "eval-results -> ./.eval_results, eee -> ./<release>-eee.",
    ),
]

# --report: a flag of `schema`, an input file elsewhere
SchemaReportFlag = Annotated[bool, typer.Option("--report", help="Print the audit report's (report.json) schema.")]
PushReportOpt = Annotated[
    Path | None, typer.Option("--report", help="An audit report (report.json) to publish with the release.")
]
ExportReportOpt = Annotated[
    Path | None,
    typer.Option("--report", help="An audit report (report.json): reproduced scores with CIs, audit findings."),
]

# --format / --log: what `rescore --log` reads, what `export` writes
LogFormatOpt = Annotated[
    str,
    typer.Option("--format", help="Log format with --log: auto, lm-eval, inspect, vlmevalkit, eureka, eee or assay."),
]
EXPORT_FORMATS_HELP = "cyclonedx, model-index, eval-results, eee, kitfile or modelpack"
ExportFormatOpt = Annotated[str, typer.Option("--format", "-f", help=f"Output format: {EXPORT_FORMATS_HELP}.")]
RescoreLogOpt = Annotated[Path | None, typer.Option("--log", help="Re-score a log file or folder without a manifest.")]
ExportLogOpt = Annotated[
    Path | None,
    typer.Option(
        "--log",
        help="Instead of a manifest: an assay log (*.assay.jsonl, e.g. a re-run) to export as eee or eval-results.",
    ),
]

# --name / --force: a release's or a key pair's
ReleaseNameOpt = Annotated[str | None, typer.Option("--name", help="Release name (default: the folder name).")]
KeyNameOpt = Annotated[str, typer.Option("--name", help="Base name of the key files.")]
InitForceFlag = Annotated[bool, typer.Option("--force", help="Overwrite an existing assay.yaml.")]
KeygenForceFlag = Annotated[bool, typer.Option("--force", help="Replace existing key files.")]

# ---------------------------------------------------------------------------------------------------- keys, signatures
AuditKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key",
        help="Private key (PEM) that signs attestation.dsse.json (default: the assay keygen key, made if missing).",
    ),
]
SignKeyOpt = Annotated[
    Path | None, typer.Option("--key", help="ECDSA private key PEM (default: the assay keygen default key).")
]
AttestKeyOpt = Annotated[
    Path | None, typer.Option("--key", help="Public key PEM (default: the assay keygen default key).")
]
AttestDirOpt = Annotated[
    Path | None, typer.Option("--dir", help="Release folder: every subject must be there with its sha256.")
]
AttestIdentityOpt = Annotated[
    str | None, typer.Option("--identity", help="Sigstore keyless: the expected signer identity (needs a network).")
]
AttestIssuerOpt = Annotated[str | None, typer.Option("--issuer", help="Sigstore keyless: the expected OIDC issuer.")]
SignOutOpt = Annotated[
    Path | None, typer.Option("--signature", help="Signature file to write (default: MODEL_DIR/model.sig).")
]
SignIgnoreOpt = Annotated[
    list[str] | None, typer.Option("--ignore", help="Folder-relative path not to sign (repeatable).")
]
SignIgnoreGitFlag = Annotated[
    bool,
    typer.Option(
        "--ignore-git-paths/--no-ignore-git-paths",
        help="Leave .git, .gitattributes, .github, .gitignore out (model-signing's default).",
    ),
]

# `assay verify MODEL --signature SIG ...`: options that are valid only with --signature
SignatureOpt = Annotated[
    Path | None,
    typer.Option(
        "--signature",
        help="Instead: verify this OMS / model-signing signature of the model (folder or single file) "
        "given as MANIFEST (see assay sign).",
    ),
]
SignaturePublicKeyOpt = Annotated[
    Path | None,
    typer.Option("--key", "--public-key", help="With --signature, key mode: the signer's ECDSA public key (PEM)."),
]
SignatureIdentityOpt = Annotated[
    str | None, typer.Option("--identity", help="With --signature, Sigstore mode: the expected signer identity.")
]
SignatureIssuerOpt = Annotated[
    str | None,
    typer.Option("--issuer", "--identity-provider", help="With --signature, Sigstore mode: the expected OIDC issuer."),
]
SignatureIgnoreOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore",
        "--ignore-paths",
        help="With --signature: a path in the model folder the signer left out (repeatable).",
    ),
]
SignatureIgnoreGitOpt = Annotated[
    bool | None,
    typer.Option(
        "--ignore-git-paths/--no-ignore-git-paths",
        help="With --signature: leave .git, .gitattributes, .github, .gitignore out (default: yes, unless the "
        "signature signed them).",
    ),
]

# How a model is re-run: `assay rerun` and the re-run step of `assay audit`
RerunBackendOpt = Annotated[
    str,
    typer.Option(
        "--backend",
        help="transformers (in-process) or openai "
        "(an OpenAI-compatible server: vLLM, SGLang, TGI, transformers serve).",
    ),
]
RerunDeviceOpt = Annotated[str, typer.Option("--device", help="transformers: auto (CUDA when available), cuda, cpu…")]
RerunDtypeOpt = Annotated[
    str | None,
    typer.Option("--dtype", help="transformers: bfloat16, float16 or float32 (default: bf16 on GPU, fp32 on CPU)."),
]
RerunBaseUrlOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--base-url",
        metavar="URL",
        help="openai: server URL, e.g. http://127.0.0.1:8000/v1 (key from ASSAY_OPENAI_API_KEY); repeat it for a "
        "fleet of replicas (requests spread, a failed one retried on another endpoint).",
    ),
]
RerunBaseUrlsFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--base-urls",
        metavar="FILE",
        help="openai: a file of server URLs, one a line (# comments), added to --base-url.",
    ),
]
RerunModelOpt = Annotated[str | None, typer.Option("--model", help="openai: model name (default: the one served).")]
RerunConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", min=1, help="openai: requests in flight, per endpoint.")
]
RerunTimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.001, help="openai: seconds per request.")]
RerunRetriesOpt = Annotated[int, typer.Option("--retries", min=0, help="openai: retries of a failed request.")]
RerunHarnessPythonOpt = Annotated[
    Path | None,
    typer.Option(
        "--harness-python",
        metavar="PATH",
        help="evals with run: the Python interpreter that has the harness at the pinned version "
        "(default: the venv ~/.cache/assay/harnesses/<harness>-<version>).",
    ),
]
RerunInstallHarnessFlag = Annotated[
    bool,
    typer.Option(
        "--install-harness",
        help="evals with run: create the harness's venv at the pinned version with pip when it is missing.",
    ),
]
RerunTrustRemoteCodeFlag = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code",
        help="transformers: run the release's auto_map code, only after a strict verification of its code files.",
    ),
]
