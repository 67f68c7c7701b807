"""CLI verbs of the attestation and signing work: ``assay keygen``, ``assay attest verify``, ``assay sign``.

Like every verb module, this imports only typer at module level; the library code (``assay.attest``: cryptography,
model-signing) is imported inside the verbs.  ``signature_verify_verb`` is the body of ``assay verify --signature``
(the option lives on the ``verify`` verb in main.py and calls it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

JsonOpt = typer.Option(False, "--json", help="Print the result as JSON on stdout.")


def register(app: typer.Typer) -> None:
    """Add this module's verbs to the ``assay`` app."""

    @app.command()
    def keygen(
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for <name>.key / <name>.pub (default: $ASSAY_KEY_DIR or ~/.config/assay/keys)."),
        key_type: str = typer.Option("ecdsa-p256", "--type", help="ed25519 or ecdsa-p256 (ECDSA also signs OMS model signatures)."),
        name: str = typer.Option("assay", "--name", help="Base name of the key files."),
        force: bool = typer.Option(False, "--force", help="Replace existing key files."),
        json_out: bool = JsonOpt,
    ) -> None:
        """Make a signing key pair: <name>.key (PKCS#8 PEM, mode 0600; encrypted if $ASSAY_KEY_PASSWORD is set) and <name>.pub.

        Example: assay keygen --out ./keys --type ed25519
        """
        from ..attest.keys import generate_keypair
        from . import render

        result = generate_keypair(out, key_type, name=name, overwrite=force)
        render.emit(result, json_out, _keygen_table)

    attest_app = typer.Typer(name="attest", no_args_is_help=True,
                             help="Signed in-toto attestations of audit results (DSSE).\n\n"
                                  "Example: assay attest verify audit-out/attestation.dsse.json --dir ./release --key assay.pub")
    app.add_typer(attest_app, name="attest")

    @attest_app.command("verify")
    def attest_verify(
        attestation: Path = typer.Argument(..., help="The attestation: a DSSE envelope (attestation.dsse.json) or a Sigstore bundle."),
        dir: Optional[Path] = typer.Option(None, "--dir", help="Release folder: every subject must be there with its sha256."),
        manifest: Optional[Path] = typer.Option(None, "--manifest", help="Or: a release manifest; subjects are found where its sources put them."),
        key: Optional[Path] = typer.Option(None, "--key", help="Public key PEM (default: the assay keygen default key)."),
        predicate_type: Optional[str] = typer.Option(None, "--predicate-type", help="Require this predicateType."),
        lenient_format: bool = typer.Option(False, "--lenient-format", help="Accept an envelope re-serialised by another tool (the signature is still checked)."),
        identity: Optional[str] = typer.Option(None, "--identity", help="Sigstore keyless: the expected signer identity (needs a network)."),
        issuer: Optional[str] = typer.Option(None, "--issuer", help="Sigstore keyless: the expected OIDC issuer."),
        signature_only: bool = typer.Option(False, "--signature-only", help="Check only the signature and predicate; without it, subjects not checked against files (no --dir / --manifest) fail."),
        json_out: bool = JsonOpt,
    ) -> None:
        """Check an attestation: its signature, its subjects against the release files (sha256), and its predicate.

        Example: assay attest verify audit-out/attestation.dsse.json --dir ./tiny-vlm --key ~/.config/assay/keys/assay.pub
        """
        from ..attest.verify import verify_attestation
        from . import render

        result = verify_attestation(attestation, root=dir, public_key=key, expected_predicate_type=predicate_type,
                                    lenient_format=lenient_format, identity=identity, oidc_issuer=issuer,
                                    manifest=manifest, signature_only=signature_only)
        render.emit(result, json_out, _attestation_table)
        raise typer.Exit(0 if result.ok else 1)

    @app.command()
    def sign(
        model_dir: Path = typer.Argument(..., help="Model folder to sign."),
        key: Optional[Path] = typer.Option(None, "--key", help="ECDSA private key PEM (default: the assay keygen default key)."),
        signature: Optional[Path] = typer.Option(None, "--signature", help="Signature file to write (default: MODEL_DIR/model.sig)."),
        ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Folder-relative path not to sign (repeatable)."),
        ignore_git_paths: bool = typer.Option(True, "--ignore-git-paths/--no-ignore-git-paths", help="Leave .git, .gitattributes, .github, .gitignore out (model-signing's default)."),
        sigstore: bool = typer.Option(False, "--sigstore", help="Sign keyless with Sigstore instead of a key (needs a network; untested offline)."),
        identity_token: Optional[str] = typer.Option(None, "--identity-token", help="Sigstore: an OIDC identity token to use."),
        json_out: bool = JsonOpt,
    ) -> None:
        """Sign a model folder in the OpenSSF model-signing (OMS v1.0) format: a Sigstore bundle that model_signing verifies.

        Example: assay sign ./tiny-vlm --key ~/.config/assay/keys/assay.key   # writes ./tiny-vlm/model.sig
        """
        from ..attest.oms import sign_model
        from . import render

        result = sign_model(model_dir, key, signature, ignore_paths=ignore or (), ignore_git_paths=ignore_git_paths,
                            sigstore=sigstore, identity_token=identity_token)
        render.emit(result, json_out, _sign_table)


def signature_verify_verb(model_dir: Path, signature: Optional[Path], key: Optional[Path], *, json_out: bool,
                          identity: Optional[str] = None, issuer: Optional[str] = None,
                          ignore: Optional[List[str]] = None, certificate_chain: Optional[List[Path]] = None,
                          trust_config: Optional[Path] = None, use_staging: bool = False,
                          ignore_git_paths: Optional[bool] = None, mode: Optional[str] = None) -> None:
    """Body of ``assay verify MODEL --signature SIG [--key PUB | --certificate-chain CA.pem | --identity ID --issuer
    URL]``: verify, print, exit 0 only on a pass, 1 on a failed or not-checked verdict (2 via InputError)."""
    from ..attest.oms import verify_model_signature
    from . import render

    result = verify_model_signature(model_dir, signature, key, mode=mode, certificate_chain=certificate_chain or (),
                                    identity=identity, oidc_issuer=issuer, use_staging=use_staging,
                                    trust_config=trust_config, ignore_paths=ignore or (),
                                    ignore_git_paths=ignore_git_paths)
    render.emit(result, json_out, _signature_table)
    raise typer.Exit(0 if result.ok and result.verdict == "pass" else 1)


# --------------------------------------------------------------------------------------------------------------
# Tables (rich, through assay.cli.render's lazy consoles)

def _e(text: Any) -> str:
    from rich.markup import escape

    return escape(str(text))


def _problems(problems: list[Any]) -> None:
    from .render import out

    for p in problems:
        where = f"{p.path}: " if p.path else ""
        out.print(f"[bold red]  FAILED[/] {_e(f'[{p.reason}] {where}{p.message}')}", markup=True, highlight=False)


def _warnings(warnings: list[str]) -> None:
    from .render import out

    for w in warnings:
        out.print(f"[yellow] warning[/] {_e(w)}", markup=True, highlight=False)


def _keygen_table(r: Any) -> None:
    from .render import out

    out.print(f"[green]made[/] {r.key_type} key pair{' (encrypted)' if r.encrypted else ''}", highlight=False)
    out.print(f"  private key  {_e(r.private_key)}", highlight=False)
    out.print(f"  public key   {_e(r.public_key)}", highlight=False)
    out.print(f"  keyid        {r.keyid}", highlight=False)


_SUBJECT_STYLE = {"ok": "green", "not-checked": "yellow"}


def _attestation_table(r: Any) -> None:
    from .render import Table, out

    sig = ("[green]ok[/]" + (f" (keyid {r.signer[:16]}…)" if r.signer and r.format == "dsse" else
                             f" ({_e(r.signer)})" if r.signer else "")) if r.signature_ok else "[bold red]fails[/]"
    out.print(f"attestation  {_e(r.attestation)} ({r.format})", highlight=False)
    out.print(f"signature    {sig}", highlight=False)
    if r.predicate_type:
        out.print(f"predicate    {_e(r.predicate_type)}" + (f" — verdict {_e(r.verdict)}" if r.verdict else ""),
                  highlight=False)
    if r.subjects:
        t = Table(title=_e(f"subjects ({'checked against ' + r.root if r.subjects_checked else 'not checked'})"),
                  title_justify="left")
        t.add_column("subject", overflow="fold")
        t.add_column("status")
        t.add_column("sha256", overflow="fold")
        for s in r.subjects:
            style = _SUBJECT_STYLE.get(s.status, "bold red")
            t.add_row(_e(s.name), f"[{style}]{s.status}[/]", (s.expected_sha256 or "")[:16] + "…")
        out.print(t)
    _warnings(r.warnings)
    _problems(r.problems)
    out.print("[green]attestation verified[/]" if r.ok else "[bold red]attestation does NOT verify[/]")


def _sign_table(r: Any) -> None:
    from .render import out

    out.print(f"signed {_e(r.model_dir)} ({len(r.files)} files) → [bold]{_e(r.signature)}[/]", highlight=False)
    out.print(f"  format       Sigstore bundle, {r.predicate_type}", highlight=False)
    out.print(f"  root digest  sha256:{r.root_digest}", highlight=False)
    if r.keyid:
        out.print(f"  key          {_e(r.key)} (keyid {r.keyid[:16]}…)", highlight=False)


def _signature_table(r: Any) -> None:
    from .render import Table, out

    out.print(f"signature    {_e(r.signature)} (OMS, {r.method} mode)", highlight=False)
    if r.signer:
        out.print(f"signer       {_e(r.signer)}", highlight=False)
    if r.files:
        t = Table(title=_e(f"files of {r.model_dir}"), title_justify="left")
        t.add_column("file", overflow="fold")
        t.add_column("status")
        t.add_column("digest", overflow="fold")
        for f in r.files:
            style = "green" if f.status == "ok" else "bold red"
            t.add_row(_e(f.name), f"[{style}]{f.status}[/]", f"{f.algorithm}:{f.digest[:16]}…")
        out.print(t)
    _warnings(r.warnings)
    _problems(r.problems)
    out.print("[green]signature verified[/]" if r.ok and r.verdict == "pass" else
              "[bold yellow]signature NOT CHECKED[/]" if r.verdict == "not-checked" else
              "[bold red]signature does NOT verify[/]")
