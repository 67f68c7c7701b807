"""Writing attestations: in-toto Statement v1 → DSSE envelope signed with a local key → ``attestation.dsse.json``.

With ``sigstore=True`` the statement is signed keyless through Sigstore (Fulcio certificate for an OIDC identity,
Rekor transparency-log entry) and the file is a Sigstore bundle holding the same DSSE envelope; that needs a network
and is untested offline (see :mod:`.sigstore_keyless`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Any

from ..manifests.errors import InputError
from ..manifests.fsio import write_bytes_atomic
from .dsse import PAYLOAD_TYPE_INTOTO, dumps_envelope, sign_envelope
from .keys import default_private_key, load_private_key
from .statement import AUDIT_PREDICATE_TYPE, build_statement, statement_bytes

ATTESTATION_FILENAME = "attestation.dsse.json"


def sign_statement(statement: dict, key_path: Path | str | None = None, *, password: str | None = None) -> dict:
    """DSSE envelope (dict) over the statement's deterministic bytes, signed with the PEM private key."""
    key = load_private_key(_key_or_default(key_path), password)
    return sign_envelope(statement_bytes(statement), PAYLOAD_TYPE_INTOTO, key)


def _key_or_default(key_path: Path | str | None) -> Path:
    if key_path is not None:
        return Path(key_path)
    default = default_private_key()
    if not default.exists():
        raise InputError(f"no signing key: pass --key PRIVKEY, or make one with `assay keygen` (looked for {default})")
    return default


def write_attestation(
    statement_subjects: Iterable[tuple[str | PurePath, str]] | Iterable[dict[str, Any]],
    predicate: dict,
    key_path: Path | str | None,
    out_path: Path | str,
    *,
    predicate_type: str = AUDIT_PREDICATE_TYPE,
    password: str | None = None,
    sigstore: bool = False,
    identity_token: str | None = None,
    use_staging: bool = False,
) -> Path:
    """Build the statement, sign it and write the envelope to ``out_path`` atomically; returns ``out_path``.

    ``statement_subjects``: ``(release-relative path, sha256 hex)`` pairs (or in-toto subject dicts).
    ``predicate``: the audit result; for the default predicate type it must carry ``verdict`` = pass | fail.
    ``key_path``: PEM private key (ed25519 or ECDSA); None means the `assay keygen` default key.
    Bad input (a bad path or digest, a missing key, a malformed predicate) raises InputError.
    """
    statement = build_statement(list(statement_subjects), predicate_type, predicate)
    out = Path(out_path)
    if sigstore:
        from .sigstore_keyless import sign_statement_keyless

        data = sign_statement_keyless(
            statement_bytes(statement), identity_token=identity_token, use_staging=use_staging
        )
    else:
        data = dumps_envelope(sign_statement(statement, key_path, password=password))
    write_bytes_atomic(out, data)
    return out
