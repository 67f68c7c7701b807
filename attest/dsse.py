"""DSSE (Dead Simple Signing Envelope) v1: pre-authentication encoding, envelope signing and strict verification.

Protocol [secure-systems-lab/dsse protocol.md]::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body     (LEN = decimal *byte* length)
    SIGNATURE       = Sign(PAE(UTF8(PAYLOAD_TYPE), SERIALIZED_BODY))

Envelope [envelope.md]: ``{"payload": b64, "payloadType": str, "signatures": [{"keyid": str, "sig": b64}]}``.

Strictness (assay never trusts a file): the envelope must be a JSON object with exactly these keys and no duplicate
keys; base64 may use the standard or URL-safe alphabet (verifiers must accept either) but must be *canonical*
(re-encoding the decoded bytes gives the same text, so no two strings carry one signature); a signature whose
non-empty keyid names another key is not tried with this key (the spec allows filtering by keyid, and it makes an
edited keyid fail rather than pass unnoticed).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .keys import PrivateKey, PublicKey, keyid, sign_bytes, verify_bytes

PAYLOAD_TYPE_INTOTO = "application/vnd.in-toto+json"
ENVELOPE_KEYS = ("payload", "payloadType", "signatures")


class DsseError(Exception):
    """Verification failed; ``reason`` is a short name (malformed-envelope, bad-signature, wrong-key, …)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    payload: bytes
    payload_type: str
    keyids: tuple[str, ...]  # keyids (sha256 of SPKI DER) of the public keys whose signatures verified


def pae(payload_type: str | bytes, payload: bytes) -> bytes:
    """DSSEv1 pre-authentication encoding; LEN is the byte length (UTF-8 for a str type)."""
    t = payload_type.encode("utf-8") if isinstance(payload_type, str) else bytes(payload_type)
    body = bytes(payload)
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: Any, what: str) -> bytes:
    """Standard or URL-safe base64 (padded or not), refused unless canonical."""
    if not isinstance(text, str):
        raise DsseError("malformed-envelope", f"{what} is not a base64 string")
    urlsafe = "-" in text or "_" in text
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = (
            base64.urlsafe_b64decode(padded.encode("ascii"))
            if urlsafe
            else base64.b64decode(padded.encode("ascii"), validate=True)
        )
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise DsseError("malformed-envelope", f"{what} is not valid base64") from None
    again = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode("ascii")
    if again != padded or ("=" in text and text != padded):
        raise DsseError("malformed-envelope", f"{what} is not canonical base64")
    return raw


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise DsseError("malformed-envelope", f"duplicate JSON key {k!r}")
        out[k] = v
    return out


def loads_json_strict(data: bytes, what: str, reason: str) -> Any:
    """UTF-8 JSON with no duplicate keys and no NaN/Infinity; failures raise DsseError(reason)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DsseError(reason, f"{what} is not UTF-8") from None

    def bad_constant(name: str) -> Any:
        raise DsseError(reason, f"{what} contains {name}, which is not JSON")

    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=bad_constant)
    except DsseError as exc:
        raise DsseError(reason, f"{what}: {exc}") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DsseError(reason, f"{what} is not valid JSON: {exc}") from None


def parse_envelope(data: bytes) -> dict:
    """Parse and structurally check an envelope file (no signature check)."""
    env = loads_json_strict(data, "envelope", "malformed-envelope")
    if not isinstance(env, dict):
        raise DsseError("malformed-envelope", "envelope is not a JSON object")
    extra = sorted(set(env) - set(ENVELOPE_KEYS))
    missing = [k for k in ENVELOPE_KEYS if k not in env]
    if missing:
        raise DsseError("malformed-envelope", f"envelope lacks {', '.join(missing)}")
    if extra:
        raise DsseError("malformed-envelope", f"envelope has unknown key(s) {', '.join(extra)}")
    if not isinstance(env["payloadType"], str):
        raise DsseError("malformed-envelope", "payloadType is not a string")
    sigs = env["signatures"]
    if not isinstance(sigs, list) or not sigs:
        raise DsseError("malformed-envelope", "signatures is not a non-empty list")
    for i, s in enumerate(sigs):
        if not isinstance(s, dict) or "sig" not in s or set(s) - {"sig", "keyid"}:
            raise DsseError("malformed-envelope", f"signatures[{i}] is not {{keyid, sig}}")
        if not isinstance(s.get("keyid", ""), str):
            raise DsseError("malformed-envelope", f"signatures[{i}].keyid is not a string")
    return env


def dumps_envelope(env: dict) -> bytes:
    """The canonical file form assay writes: 2-space indented JSON, keys in spec order, trailing newline."""
    ordered = {
        "payloadType": env["payloadType"],
        "payload": env["payload"],
        "signatures": [{"keyid": s.get("keyid", ""), "sig": s["sig"]} for s in env["signatures"]],
    }
    return (json.dumps(ordered, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def sign_envelope(payload: bytes, payload_type: str, keys: PrivateKey | Sequence[PrivateKey]) -> dict:
    """Sign ``payload`` with one or more private keys; each signature carries its key's keyid."""
    if not isinstance(keys, (list, tuple)):
        keys = [keys]  # type: ignore[list-item]
    message = pae(payload_type, payload)
    return {
        "payloadType": payload_type,
        "payload": b64encode(payload),
        "signatures": [{"keyid": keyid(k), "sig": b64encode(sign_bytes(k, message))} for k in keys],
    }


def verify_envelope(env: dict, keys: PublicKey | Iterable[PublicKey], *, threshold: int = 1) -> Verified:
    """Verify a parsed envelope against trusted public keys: at least ``threshold`` distinct keys must have signed.

    Raises DsseError with reason ``malformed-envelope``, ``wrong-key`` (no signature names or verifies with a
    trusted key and every signature names some other key) or ``bad-signature``.
    """
    if not isinstance(keys, (list, tuple)):
        keys = [keys]  # type: ignore[list-item]
    trusted = {keyid(k): k for k in keys}
    if not trusted:
        raise DsseError("wrong-key", "no trusted public key given")
    if threshold < 1:
        raise ValueError("threshold must be >= 1")
    payload = b64decode_strict(env.get("payload"), "payload")
    payload_type = env.get("payloadType")
    if not isinstance(payload_type, str):
        raise DsseError("malformed-envelope", "payloadType is not a string")
    message = pae(payload_type, payload)
    accepted: list[str] = []
    named_other = 0
    for i, s in enumerate(env.get("signatures") or []):
        sig = b64decode_strict(s.get("sig"), f"signatures[{i}].sig")
        hint = s.get("keyid") or ""
        candidates = [(kid, k) for kid, k in trusted.items() if not hint or hint == kid]
        if hint and not candidates:
            named_other += 1
        for kid, k in candidates:
            if kid not in accepted and verify_bytes(k, sig, message):
                accepted.append(kid)
                break
    if len(accepted) >= threshold:
        return Verified(payload, payload_type, tuple(accepted))
    nsig = len(env.get("signatures") or [])
    ids = ", ".join(k[:16] + "…" for k in trusted)
    if named_other == nsig and not accepted:
        return_reason, msg = "wrong-key", f"signed by another key: no signature names key {ids}"
    else:
        return_reason, msg = (
            "bad-signature",
            (
                f"{len(accepted)} of {threshold} required signature(s) verify with "
                f"key {ids}: the payload or payloadType was changed, or another key "
                f"signed it"
            ),
        )
    raise DsseError(return_reason, msg)
