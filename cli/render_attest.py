"""Tables for ``assay keygen``, ``attest verify``, ``sign`` and ``verify --signature`` (rich, through cli.render's
lazy consoles; imported only by those verbs)."""

from __future__ import annotations

from typing import Any


def _e(text: Any) -> str:
    from rich.markup import escape

    return escape(str(text))


def _problems(problems: list[Any]) -> None:
    from .render import items

    items([("[bold red]FAILED[/]", _e(f"[{p.code}] {p.where + ': ' if p.where else ''}{p.message}")) for p in problems])


def _warnings(warnings: list[str]) -> None:
    from .render import items

    items([("[yellow]warning[/]", _e(w)) for w in warnings])


def keygen_table(r: Any) -> None:
    from .render import out

    out.print(f"[green]made[/] {r.key_type} key pair{' (encrypted)' if r.encrypted else ''}", highlight=False)
    out.print(f"  private key  {_e(r.private_key)}", highlight=False)
    out.print(f"  public key   {_e(r.public_key)}", highlight=False)
    out.print(f"  keyid        {r.keyid}", highlight=False)


_SUBJECT_STYLE = {"ok": "green", "not-checked": "yellow", "signed": "green"}


def _subjects(rows: list[tuple[str, str, str]], title: str) -> None:
    """A subjects / files table fitted to the terminal: the name shortened in the middle, nothing wraps."""
    from .render import fit, mid, out, rule_grid

    w = {"name": max(len(n) for n, _, _ in rows), "status": max(len(s) for _, s, _ in rows), "sha256": 17}
    room, cols = fit(w, "name", optional=("sha256",))
    t = rule_grid(_e(title))
    for c in cols:
        t.add_column(c, no_wrap=True)
    for name, status, digest in rows:
        style = _SUBJECT_STYLE.get(status, "bold red")
        cells = {"name": _e(mid(name, room)), "status": f"[{style}]{status}[/]", "sha256": _e(digest)}
        t.add_row(*(cells[c] for c in cols))
    out.print(t)


def attestation_table(r: Any, files: bool = False) -> None:
    """``assay attest verify``: the verdict line, the subjects that do not match (all with ``files``), problems,
    warnings, then the signature and predicate."""
    from .render import out, plural, verdict_line

    bad = [s for s in r.subjects if s.status != "ok"]
    checked = "checked against " + r.root if r.subjects_checked else "not checked against files"
    if r.ok:
        verdict_line("pass", f"attestation verified: signature ok, {plural(len(r.subjects), 'subject')} ({checked})")
    else:
        why = "signature fails" if not r.signature_ok else ", ".join(sorted({p.code for p in r.problems})) or "fails"
        verdict_line(
            "fail",
            f"attestation does not verify: {why}" + (f"; {len(bad)} of {len(r.subjects)} subjects" if bad else ""),
        )
    shown = r.subjects if files else bad
    if shown:
        _subjects(
            [(s.name, s.status, (s.expected_sha256 or "")[:16] + "…") for s in shown],
            f"subjects ({checked})" if files else f"subjects that do not match ({len(bad)} of {len(r.subjects)})",
        )
    _problems(r.problems)
    _warnings(r.warnings)
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


def sign_table(r: Any) -> None:
    from .render import out

    out.print(f"signed {_e(r.model_dir)} ({len(r.files)} files) → [bold]{_e(r.signature)}[/]", highlight=False)
    out.print(f"  format       Sigstore bundle, {r.predicate_type}", highlight=False)
    out.print(f"  root digest  sha256:{r.root_digest}", highlight=False)
    if r.keyid:
        out.print(f"  key          {_e(r.key)} (keyid {r.keyid[:16]}…)", highlight=False)


def signature_table(r: Any, files: bool = False) -> None:
    """``assay verify --signature``: the verdict line, the files that do not match (all with ``files``), problems,
    warnings, then the signature's mode and signer."""
    from .render import out, plural, verdict_line

    bad = [f for f in r.files if f.status in ("mismatch", "missing", "extra")]
    if r.ok and r.verdict == "pass":
        verdict_line("pass", f"signature verified: {plural(len(r.files), 'file')} match")
    elif r.verdict == "not-checked":
        verdict_line("not-checked", "signature not checked: " + (", ".join(p.code for p in r.problems) or "-"))
    else:
        verdict_line(
            "fail",
            "signature does not verify"
            + (f": {len(bad)} of {plural(len(r.files), 'file')} do not match" if bad else "")
            + (f" ({', '.join(sorted({p.code for p in r.problems}))})" if r.problems else ""),
        )
    shown = r.files if files else bad
    if shown:
        _subjects(
            [(f.name, f.status, f"{f.algorithm}:{f.digest[:16]}…") for f in shown],
            f"files of {r.model_dir}" if files else f"files that do not match ({len(bad)} of {len(r.files)})",
        )
    _problems(r.problems)
    _warnings(r.warnings)
    out.print(f"signature    {_e(r.signature)} (OMS, {r.method} mode)", highlight=False)
    if r.signer:
        out.print(f"signer       {_e(r.signer)}", highlight=False)
