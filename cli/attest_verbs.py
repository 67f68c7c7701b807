"""CLI verbs of the attestation and signing work: ``assay keygen``, ``assay attest verify``, ``assay sign``.

Like every verb module, this imports only typer at module level; the library code (``assay.attest``: cryptography,
model-signing) is imported inside the verbs and the tables live in ``cli/render_attest.py``.
``signature_verify_verb`` is the body of ``assay verify --signature`` (the option lives on the ``verify`` verb in
release_verbs.py and calls it).
"""

# No `from __future__ import annotations`: typer evaluates these annotations on every run (see main.py).

from pathlib import Path
from typing import Annotated

import typer

from .app import finish, group
from .options import (
    AttestDirOpt,
    AttestIdentityOpt,
    AttestIssuerOpt,
    AttestKeyOpt,
    FilesFlag,
    JsonFlag,
    KeygenForceFlag,
    KeyNameOpt,
    KeysOutOpt,
    SignIgnoreGitFlag,
    SignIgnoreOpt,
    SignKeyOpt,
    SignOutOpt,
)

# Options only these verbs take, one alias each (the shared ones are in cli/options.py).
# keygen
KeygenKeyTypeOpt = Annotated[
    str, typer.Option("--type", help="ed25519 or ecdsa-p256 (ECDSA also signs OMS model signatures).")
]

# attest_verify
AttestVerifyAttestationArg = Annotated[
    Path, typer.Argument(help="The attestation: a DSSE envelope (attestation.dsse.json) or a Sigstore bundle.")
]
AttestVerifyManifestOpt = Annotated[
    Path | None,
    typer.Option("--manifest", help="Or: a release manifest; subjects are found where its sources put them."),
]
AttestVerifyPredicateTypeOpt = Annotated[
    str | None, typer.Option("--predicate-type", help="Require this predicateType.")
]
AttestVerifyLenientFormatFlag = Annotated[
    bool,
    typer.Option(
        "--lenient-format", help="Accept an envelope re-serialised by another tool (the signature is still checked)."
    ),
]
AttestVerifySignatureOnlyFlag = Annotated[
    bool,
    typer.Option(
        "--signature-only",
        help="Check only the signature and predicate; without it, subjects not checked against files "
        "(no --dir / --manifest) fail.",
    ),
]

# sign
SignModelDirArg = Annotated[Path, typer.Argument(help="Model folder to sign.")]
SignSigstoreFlag = Annotated[
    bool,
    typer.Option("--sigstore", help="Sign keyless with Sigstore instead of a key (needs a network; untested offline)."),
]
SignIdentityTokenOpt = Annotated[
    str | None, typer.Option("--identity-token", help="Sigstore: an OIDC identity token to use.")
]


def keygen(
    out: KeysOutOpt = None,
    key_type: KeygenKeyTypeOpt = "ecdsa-p256",
    name: KeyNameOpt = "assay",
    force: KeygenForceFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Make a signing key pair: <name>.key (PKCS#8 PEM, mode 0600; encrypted if $ASSAY_KEY_PASSWORD is set) and
    <name>.pub.

    Example: assay keygen --out ./keys --type ed25519
    """
    from ..attest.keys import generate_keypair
    from . import render, render_attest

    result = generate_keypair(out, key_type, name=name, overwrite=force)
    render.emit(result, json_out, render_attest.keygen_table)


def attest_verify(
    attestation: AttestVerifyAttestationArg,
    dir: AttestDirOpt = None,
    manifest: AttestVerifyManifestOpt = None,
    key: AttestKeyOpt = None,
    predicate_type: AttestVerifyPredicateTypeOpt = None,
    lenient_format: AttestVerifyLenientFormatFlag = False,
    identity: AttestIdentityOpt = None,
    issuer: AttestIssuerOpt = None,
    signature_only: AttestVerifySignatureOnlyFlag = False,
    files: FilesFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Check an attestation: its signature, its subjects against the release files (sha256), and its predicate.

    Example: assay attest verify audit-out/attestation.dsse.json --dir ./tiny-vlm --key ~/.config/assay/keys/assay.pub
    """
    from ..attest.verify import verify_attestation
    from . import render, render_attest

    result = verify_attestation(
        attestation,
        root=dir,
        public_key=key,
        expected_predicate_type=predicate_type,
        lenient_format=lenient_format,
        identity=identity,
        oidc_issuer=issuer,
        manifest=manifest,
        signature_only=signature_only,
    )
    render.emit(result, json_out, lambda r: render_attest.attestation_table(r, files))
    finish(result.ok)


def sign(
    model_dir: SignModelDirArg,
    key: SignKeyOpt = None,
    signature: SignOutOpt = None,
    ignore: SignIgnoreOpt = None,
    ignore_git_paths: SignIgnoreGitFlag = True,
    sigstore: SignSigstoreFlag = False,
    identity_token: SignIdentityTokenOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Sign a model folder in the OpenSSF model-signing (OMS v1.0) format: a Sigstore bundle that model_signing
    verifies.

    Example: assay sign ./tiny-vlm --key ~/.config/assay/keys/assay.key   # writes ./tiny-vlm/model.sig
    """
    from ..attest.oms import sign_model
    from . import render, render_attest

    result = sign_model(
        model_dir,
        key,
        signature,
        ignore_paths=ignore or (),
        ignore_git_paths=ignore_git_paths,
        sigstore=sigstore,
        identity_token=identity_token,
    )
    render.emit(result, json_out, render_attest.sign_table)


def signature_verify_verb(
    model_dir: Path,
    signature: Path | None,
    key: Path | None,
    *,
    json_out: bool,
    identity: str | None = None,
    issuer: str | None = None,
    ignore: list[str] | None = None,
    certificate_chain: list[Path] | None = None,
    trust_config: Path | None = None,
    use_staging: bool = False,
    ignore_git_paths: bool | None = None,
    mode: str | None = None,
    files: bool = False,
) -> None:
    """Body of ``assay verify MODEL --signature SIG [--key PUB | --certificate-chain CA.pem | --identity ID --issuer
    URL]``: verify, print, exit 0 only on a pass, 1 on a failed or not-checked verdict (2 via InputError)."""
    from ..attest.oms import verify_model_signature
    from . import render, render_attest

    result = verify_model_signature(
        model_dir,
        signature,
        key,
        mode=mode,
        certificate_chain=certificate_chain or (),
        identity=identity,
        oidc_issuer=issuer,
        use_staging=use_staging,
        trust_config=trust_config,
        ignore_paths=ignore or (),
        ignore_git_paths=ignore_git_paths,
    )
    render.emit(result, json_out, lambda r: render_attest.signature_table(r, files))
    finish(result.ok and result.verdict == "pass")


def register(app: typer.Typer) -> None:
    """Add this module's verbs to the ``assay`` app: ``keygen``, the ``attest`` group (``attest verify``), ``sign``."""
    app.command("keygen")(keygen)
    attest_app = group(
        "attest",
        "Signed in-toto attestations of audit results (DSSE).\n\n"
        "Example: assay attest verify audit-out/attestation.dsse.json --dir ./release --key assay.pub",
    )
    attest_app.command("verify")(attest_verify)
    app.add_typer(attest_app, name="attest")
    app.command("sign")(sign)
