"""Signing keys: ed25519 and ECDSA (P-256; P-384 / P-521 keys made elsewhere are accepted), PEM files, keyids.

* Private keys are PKCS#8 PEM (encrypted when a password is given), written with mode 0600 and never overwritten
  unless asked.  Public keys are SubjectPublicKeyInfo PEM.
* ``keyid`` = lowercase hex sha256 of the public key's SubjectPublicKeyInfo **DER** — stable across PEM formatting
  and the same for a private key and its public half.
* ECDSA signatures are DER-encoded (as Sigstore, model-signing and cosign write them) over SHA-256 for P-256,
  SHA-384 for P-384, SHA-512 for P-521.  Ed25519 signs the message itself (pure Ed25519).
* The default key folder is ``$ASSAY_KEY_DIR`` or ``~/.config/assay/keys``; ``assay keygen`` writes ``assay.key`` /
  ``assay.pub`` there and the audit signs with ``assay.key`` when no ``--key`` is given.
* A password for an encrypted private key comes from the ``password`` argument or ``$ASSAY_KEY_PASSWORD``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pydantic import BaseModel

from ..manifests.errors import InputError
from ..manifests.fsio import read_input, write_bytes_atomic

KeyType = Literal["ed25519", "ecdsa-p256"]
KEY_TYPES: tuple[str, ...] = ("ed25519", "ecdsa-p256")
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

_CURVE_HASH: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
_CURVE_NAME = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}
PASSWORD_ENV = "ASSAY_KEY_PASSWORD"


class KeygenResult(BaseModel):
    key_type: str
    private_key: str
    public_key: str
    keyid: str
    encrypted: bool
    ok: bool = True


# --------------------------------------------------------------------------------------------------------------
# Defaults


def default_key_dir() -> Path:
    env = os.environ.get("ASSAY_KEY_DIR")
    return Path(env) if env else Path.home() / ".config" / "assay" / "keys"


def default_private_key() -> Path:
    return default_key_dir() / "assay.key"


def default_public_key() -> Path:
    return default_key_dir() / "assay.pub"


def _password(password: str | bytes | None) -> bytes | None:
    if password is None:
        password = os.environ.get(PASSWORD_ENV) or None
    if isinstance(password, str):
        password = password.encode("utf-8")
    return password


# --------------------------------------------------------------------------------------------------------------
# Identity of keys


def key_type(key: object) -> str:
    """'ed25519', 'ecdsa-p256', 'ecdsa-p384' or 'ecdsa-p521'; anything else is refused (InputError)."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        name = _CURVE_NAME.get(key.curve.name)
        if name:
            return name
        raise InputError(f"unsupported elliptic curve {key.curve.name}; use ed25519 or ECDSA P-256/P-384/P-521")
    raise InputError(f"unsupported key type {type(key).__name__}; use ed25519 or ECDSA P-256/P-384/P-521")


def public_of(key: PrivateKey | PublicKey) -> PublicKey:
    return key.public_key() if isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)) else key


def spki_der(key: PrivateKey | PublicKey) -> bytes:
    return public_of(key).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem(key: PrivateKey | PublicKey) -> bytes:
    return public_of(key).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def keyid(key: PrivateKey | PublicKey) -> str:
    """sha256 (hex) of the public key's SubjectPublicKeyInfo DER."""
    return hashlib.sha256(spki_der(key)).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Generation and files


def generate_key(kind: str = "ecdsa-p256") -> PrivateKey:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise InputError(f"unknown key type {kind!r}; choose one of: {', '.join(KEY_TYPES)}")


def private_pem(key: PrivateKey, password: str | bytes | None = None) -> bytes:
    pw = _password(password)
    enc = serialization.BestAvailableEncryption(pw) if pw else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def _write_new(path: Path, data: bytes, mode: int, overwrite: bool) -> None:
    """Write a whole file atomically with ``mode``; refuse to replace one unless ``overwrite``."""
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (use --force to replace it)")
    write_bytes_atomic(path, data, mode)


def generate_keypair(
    out_dir: Path | str | None = None,
    key_type: str = "ecdsa-p256",
    *,
    name: str = "assay",
    password: str | bytes | None = None,
    overwrite: bool = False,
) -> KeygenResult:
    """Make a key pair: ``<out_dir>/<name>.key`` (PKCS#8 PEM, mode 0600) and ``<out_dir>/<name>.pub`` (SPKI PEM).

    ``out_dir`` defaults to :func:`default_key_dir`.  ECDSA P-256 is the default because it serves both
    attestations and OMS model signatures (model-signing's key signer takes elliptic-curve keys only).
    """
    if key_type not in KEY_TYPES:
        raise InputError(f"unknown key type {key_type!r}; choose one of: {', '.join(KEY_TYPES)}")
    if not name or "/" in name or name.startswith("."):
        raise InputError(f"bad key name {name!r}")
    out = Path(out_dir) if out_dir is not None else default_key_dir()
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: not a directory")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    priv_path, pub_path = out / f"{name}.key", out / f"{name}.pub"
    if not overwrite:
        for p in (priv_path, pub_path):
            if p.exists():
                raise InputError(f"{p}: already exists (use --force to replace it)")
    key = generate_key(key_type)
    pw = _password(password)
    _write_new(priv_path, private_pem(key, pw), 0o600, overwrite)
    _write_new(pub_path, public_pem(key), 0o644, overwrite)
    return KeygenResult(
        key_type=key_type, private_key=str(priv_path), public_key=str(pub_path), keyid=keyid(key), encrypted=bool(pw)
    )


def load_private_key(path: Path | str, password: str | bytes | None = None) -> PrivateKey:
    """A PEM private key (PKCS#8, or traditional EC); ed25519 or ECDSA P-256/P-384/P-521."""
    data = read_input(path, "private key file")
    pw = _password(password)
    try:
        key = serialization.load_pem_private_key(data, pw)
    except TypeError as exc:  # encrypted without a password, or a password for an unencrypted key
        hint = f" (set ${PASSWORD_ENV})" if pw is None else ""
        raise InputError(f"{path}: {exc}{hint}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if b"PUBLIC KEY" in data and b"PRIVATE KEY" not in data:
            msg = "this is a public key; signing needs the private key"
        raise InputError(f"{path}: not a usable PEM private key: {msg}") from None
    key_type(key)  # refuses RSA, DSA, unsupported curves
    return cast(PrivateKey, key)


def load_public_key(path: Path | str) -> PublicKey:
    """A PEM public key (SubjectPublicKeyInfo); a PEM private key is accepted too (its public half is used)."""
    data = read_input(path, "public key file")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        if b"PRIVATE KEY" in data:
            return public_of(load_private_key(path))
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a usable PEM public key: {msg}") from None
    key_type(key)  # refuses RSA, DSA, unsupported curves
    return cast(PublicKey, key)


# --------------------------------------------------------------------------------------------------------------
# Raw signatures


def sign_bytes(key: PrivateKey, message: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    return key.sign(message, ec.ECDSA(_CURVE_HASH[key.curve.name]()))


def verify_bytes(key: PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, ec.ECDSA(_CURVE_HASH[key.curve.name]()))
    except (InvalidSignature, ValueError):
        return False
    return True
