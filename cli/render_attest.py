"""Tables for ``assay keygen``, ``attest verify``, ``sign`` and ``verify --signature`` (rich, through cli.render's
lazy consoles; imported only by those verbs)."""

from __future__ import annotations

from typing import Any


def _e(text: Any) -> str:
    from rich.markup import escape

    return escape(str(text))


def _problems(problems: list[Any]) -> None:
    from .render import out

    for p in problems:
        where = f"{p.where}: " if p.where else ""
        out.print(f"[bold red]  FAILED[/] {_e(f'[{p.code}] {where}{p.message}')}", markup=True, highlight=False)


def _warnings(warnings: list[str]) -> None:
    from .render import out

    for w in warnings:
        out.print(f"[yellow] warning[/] {_e(w)}", markup=True, highlight=False)


def keygen_table(r: Any) -> None:
    from .render import out

    out.print(f"[green]made[/] {r.key_type} key pair{' (encrypted)' if r.encrypted else ''}", highlight=False)
    out.print(f"  private key  {_e(r.private_key)}", highlight=False)
    out.print(f"  public key   {_e(r.public_key)}", highlight=False)
    out.print(f"  keyid        {r.keyid}", highlight=False)


_SUBJECT_STYLE = {"ok": "green", "not-checked": "yellow"}


def attestation_table(r: Any) -> None:
    from .render import Table, out

    sig = (
        (
            "[green]ok[/]"
            + (
                f" (keyid {r.signer[:16]}…)"
                if r.signer and r.format == "dsse"
                else f" ({_e(r.signer)})"
                if r.signer
                else ""
            )
        )
        if r.signature_ok
        else "[bold red]fails[/]"
    )
    out.print(f"attestation  {_e(r.attestation)} ({r.format})", highlight=False)
    out.print(f"signature    {sig}", highlight=False)
    if r.predicate_type:
        out.print(
            f"predicate    {_e(r.predicate_type)}" + (f" — verdict {_e(r.verdict)}" if r.verdict else ""),
            highlight=False,
        )
    if r.subjects:
        t = Table(
            title=_e(f"subjects ({'checked against ' + r.root if r.subjects_checked else 'not checked'})"),
            title_justify="left",
        )
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


def sign_table(r: Any) -> None:
    from .render import out

    out.print(f"signed {_e(r.model_dir)} ({len(r.files)} files) → [bold]{_e(r.signature)}[/]", highlight=False)
    out.print(f"  format       Sigstore bundle, {r.predicate_type}", highlight=False)
    out.print(f"  root digest  sha256:{r.root_digest}", highlight=False)
    if r.keyid:
        out.print(f"  key          {_e(r.key)} (keyid {r.keyid[:16]}…)", highlight=False)


def signature_table(r: Any) -> None:
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
    out.print(
        "[green]signature verified[/]"
        if r.ok and r.verdict == "pass"
        else "[bold yellow]signature NOT CHECKED[/]"
        if r.verdict == "not-checked"
        else "[bold red]signature does NOT verify[/]"
    )
