"""OpenSSF model signing (OMS, model-signing v1.0 predicate) through the ``model-signing`` package itself.

``assay sign`` and ``assay verify --signature`` do not re-implement the format: they call ``model_signing``'s
public API (``model_signing.signing.Config().use_elliptic_key_signer`` / ``use_sigstore_signer``,
``model_signing.hashing.Config``, ``model_signing.verifying.Config().use_elliptic_key_verifier`` /
``use_certificate_verifier`` / ``use_sigstore_verifier``), so a model signed by either tool verifies in the other
(tested both ways, and against every signature in model-transparency's own test data, tests/fixtures/oms/).

The signature file (default ``<MODEL_DIR>/model.sig``) is a Sigstore bundle (``application/vnd.dev.sigstore.bundle.
v0.3+json``) holding a DSSE envelope holding an in-toto Statement v1 with ``predicateType
https://model_signing/signature/v1.0``: one subject (the model name, sha256 over the files' digests sorted by name)
and a predicate listing every file's digest and the serialization (method, hash type, symlinks, ignored paths).
model-signing v0.2 signatures (``predicateType https://model_signing/Digests/v0.1``: one subject per file) still
verify.  A model is a folder or a single file (whose one resource is named ``.``).  A signature inside the folder is
left out of what it signs (its path is recorded among the signed ignore_paths).

Verification modes are model-signing's: ``key`` (an ECDSA public key), ``certificate`` (the bundle carries the
signing certificate and its intermediates; the verifier gives the trusted CA certificates) and ``sigstore``
(keyless: identity + OIDC issuer, checked against Sigstore's trust root, which model-signing fetches over the
network unless a ClientTrustConfig file is given; offline and without one the verdict is ``not-checked``).  The mode
a bundle was signed in is read from its verification material first, so verifying in the wrong mode is a named
``mode-mismatch`` instead of model-signing's exception (1.1.x raises ``AttributeError`` for a certificate bundle in
key mode).

Key-based OMS signatures need an elliptic-curve key (P-256, P-384 or P-521): model-signing's key signer takes no
ed25519 keys.  Sigstore keyless signing (``sigstore=True``) needs a network and is untested offline.

What assay adds: inputs are checked first (one-line errors, exit 2), model-signing's exceptions become a
:class:`~.results.SignatureResult` with a verdict and named reasons, the hashing configuration is taken from the
signed predicate (files or shards, any hash type), and stray prints and log lines of model-signing never reach
``--json`` output.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..manifests.errors import InputError
from ..manifests.fsio import write_bytes_atomic
from .keys import (
    default_private_key,
    default_public_key,
    key_type,
    keyid,
    load_private_key,
    load_public_key,
    public_pem,
)
from .results import Problem, ResourceCheck, SignatureResult, SignResult

OMS_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
DEFAULT_SIGNATURE_NAME = "model.sig"
_GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
_HASH_TYPE_NAMES = {"blake2b": "blake2"}


def _model_signing():
    try:
        import model_signing.hashing
        import model_signing.signing
        import model_signing.verifying
    except ImportError as exc:
        raise InputError(f"OMS signing needs the 'model-signing' package (and pyOpenSSL): {exc}") from None
    return model_signing


def _check_model_dir(model_dir: Path | str) -> Path:
    p = Path(model_dir)
    if not p.exists():
        raise InputError(f"{p}: no such model folder")
    if not p.is_dir():
        raise InputError(f"{p}: not a directory (OMS signs a model folder)")
    return p


def _rel_inside(model_dir: Path, path: Path) -> str | None:
    """``path`` relative to ``model_dir`` (POSIX) when it lies inside it, else None."""
    try:
        return Path(os.path.realpath(path)).relative_to(os.path.realpath(model_dir)).as_posix()
    except ValueError:
        return None


def _need_ec(key: Any, path: Path) -> None:
    kt = key_type(key)
    if not kt.startswith("ecdsa-"):
        raise InputError(
            f"{path}: an {kt} key; OMS/model-signing key signatures need an ECDSA key (P-256, P-384 or "
            f"P-521) — make one with: assay keygen --type ecdsa-p256"
        )


# --------------------------------------------------------------------------------------------------------------
# Reading a signature file (structure only; model-signing does the cryptography)


class _Malformed(Exception):
    pass


def read_oms_statement(data: bytes) -> dict:
    """The in-toto statement inside an OMS signature file (unverified), checked for the v1.0 shape."""
    try:
        bundle = json.loads(data.decode("utf-8"))
        env = bundle["dsseEnvelope"]
        payload = base64.b64decode(env["payload"], validate=True)
        st = json.loads(payload.decode("utf-8"))
        pred = st["predicate"]
        ser = pred["serialization"]
        resources = pred["resources"]
        subjects = st["subject"]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise _Malformed(
            f"not an OMS signature (Sigstore bundle with a DSSE in-toto statement): {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(bundle, dict) or not isinstance(st, dict):
        raise _Malformed("not an OMS signature: bundle or statement is not a JSON object")
    if not isinstance(ser, dict) or not isinstance(resources, list) or not isinstance(subjects, list):
        raise _Malformed("not an OMS v1.0 predicate (serialization / resources / subject)")
    return st


def _resources(st: dict) -> list[ResourceCheck]:
    out = []
    for r in st.get("predicate", {}).get("resources", []):
        if isinstance(r, dict):
            out.append(
                ResourceCheck(name=str(r.get("name")), algorithm=str(r.get("algorithm")), digest=str(r.get("digest")))
            )
    return out


def _subject(st: dict) -> tuple[str | None, str | None]:
    subj = st.get("subject") or [{}]
    s = subj[0] if isinstance(subj[0], dict) else {}
    d = s.get("digest")
    digest = d if isinstance(d, dict) else {}
    return s.get("name"), digest.get("sha256")


# --------------------------------------------------------------------------------------------------------------
# Signing


def sign_model(
    model_dir: Path | str,
    private_key: Path | str | None = None,
    signature: Path | str | None = None,
    *,
    password: str | None = None,
    ignore_paths: Iterable[str] = (),
    ignore_git_paths: bool = True,
    sigstore: bool = False,
    identity_token: str | None = None,
    use_staging: bool = False,
    oidc_issuer: str | None = None,
) -> SignResult:
    """Sign a model folder with model-signing (OMS v1.0); writes the Sigstore-bundle signature file.

    ``private_key``: PEM ECDSA private key (default: the `assay keygen` default key); ``signature``: output path
    (default ``<model_dir>/model.sig``, left out of the signed files); ``ignore_paths``: folder-relative paths not
    to sign (recorded in the signature, as model-signing does); ``sigstore=True``: keyless signing (network).
    """
    ms = _model_signing()
    mdir = _check_model_dir(model_dir)
    sig_path = Path(signature) if signature is not None else mdir / DEFAULT_SIGNATURE_NAME
    if sig_path.is_dir():
        raise InputError(f"{sig_path}: is a directory; --signature names the signature file")
    ignored = list(ignore_paths)
    for p in ignored:
        if Path(p).is_absolute() or ".." in Path(p).parts:
            raise InputError(f"ignore path {p!r} must be relative to the model folder")
    rel_sig = _rel_inside(mdir, sig_path)
    if rel_sig is not None:
        ignored.append(rel_sig)
    hashing_cfg = ms.hashing.Config().set_ignored_paths(paths=ignored, ignore_git_paths=ignore_git_paths)
    cfg = ms.signing.Config().set_hashing_config(hashing_cfg)
    key_file: Path | None = None
    kid = None
    if sigstore:
        cfg.use_sigstore_signer(
            identity_token=identity_token,
            use_staging=use_staging,
            oidc_issuer=oidc_issuer,
            use_ambient_credentials=True,
        )
    else:
        key_file = Path(private_key) if private_key is not None else default_private_key()
        if private_key is None and not key_file.exists():
            raise InputError(
                f"no signing key: pass --key PRIVKEY, or make one with `assay keygen` (looked for {key_file})"
            )
        key = load_private_key(key_file, password)
        _need_ec(key, key_file)
        kid = keyid(key)
        pw = password if password is not None else (os.environ.get("ASSAY_KEY_PASSWORD") or None)
        cfg.use_elliptic_key_signer(private_key=key_file, password=pw.encode() if pw else None)
    with tempfile.TemporaryDirectory(prefix="assay-sign-") as tmp:
        tmp_sig = Path(tmp) / DEFAULT_SIGNATURE_NAME
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                cfg.sign(mdir, tmp_sig)
        except ValueError as exc:  # e.g. a symlink in the folder, which model-signing refuses
            raise InputError(f"{mdir}: model-signing refused to sign: {exc}") from None
        data = tmp_sig.read_bytes()
    write_bytes_atomic(sig_path, data)
    st = read_oms_statement(data)
    name, root = _subject(st)
    return SignResult(
        model_dir=str(mdir),
        signature=str(sig_path),
        method="sigstore" if sigstore else "key",
        key=str(key_file) if key_file else None,
        keyid=kid,
        predicate_type=st.get("predicateType", ""),
        model_name=name or "",
        root_digest=root or "",
        serialization=st["predicate"]["serialization"],
        files=_resources(st),
    )


# --------------------------------------------------------------------------------------------------------------
# Verification: what the signature file is (structure only), which mode verifies it, then model-signing verifies

VerifyMode = Literal["key", "certificate", "sigstore"]
VERIFY_MODES: tuple[str, ...] = ("key", "certificate", "sigstore")
COMPAT_PREDICATE_TYPE = "https://model_signing/Digests/v0.1"  # model-signing v0.2's predicate, still verified
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
_SIGSTORE_BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
_MODE_HINT = {
    "key": "verify it with --key PUBKEY",
    "certificate": "verify it with --certificate-chain CA.pem (the signer's root / intermediate certificates)",
    "sigstore": "verify it with --identity SIGNER --issuer OIDC_ISSUER (Sigstore keyless)",
}
_MODE_WHAT = {
    "key": "with a plain key",
    "certificate": "in certificate mode (a key with an X.509 certificate chain)",
    "sigstore": "with Sigstore keyless signing",
}


class _Unverifiable(Exception):
    """The signature cannot be verified as given; ``reason`` is the named reason reported."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class OmsBundle:
    """What an OMS signature file holds, read without verifying anything (model-signing verifies)."""

    media_type: str
    signed_mode: VerifyMode
    tlog_entries: int
    payload_type: str
    statement: dict
    predicate_type: str
    key_hint: str | None
    embedded_key_pem: bytes | None  # pre-1.1 key bundles carry the public key itself (publicKey.rawBytes)
    leaf_certificate_der: bytes | None


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise _Unverifiable("malformed-signature", f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise _Unverifiable("malformed-signature", f"{what} is not valid base64") from None


def read_oms_bundle(data: bytes) -> OmsBundle:
    """Read an OMS signature file: a Sigstore bundle holding a DSSE envelope of an in-toto statement.

    Raises :class:`_Unverifiable` with reason ``malformed-signature`` (not that shape) or ``unsupported-format`` (a
    bundle, payload, statement or predicate type that model-signing does not verify).
    """
    try:
        bundle = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Unverifiable(
            "malformed-signature", f"not JSON ({type(exc).__name__}): not an OMS signature (a Sigstore bundle)"
        ) from None
    if not isinstance(bundle, dict) or not isinstance(bundle.get("mediaType"), str):
        raise _Unverifiable("malformed-signature", "not a Sigstore bundle (no mediaType)")
    media_type = bundle["mediaType"]
    if not media_type.startswith(_SIGSTORE_BUNDLE_PREFIX):
        raise _Unverifiable("unsupported-format", f"media type {media_type!r} is not a Sigstore bundle")
    vm = bundle.get("verificationMaterial")
    if not isinstance(vm, dict):
        raise _Unverifiable("malformed-signature", "the bundle has no verificationMaterial")
    tlog = vm.get("tlogEntries") or []
    tlog_n = len(tlog) if isinstance(tlog, list) else 0
    hint = embedded = leaf = None
    if isinstance(vm.get("publicKey"), dict):
        mode: VerifyMode = "key"
        pk = vm["publicKey"]
        hint = pk.get("hint") if isinstance(pk.get("hint"), str) and pk.get("hint") else None
        if pk.get("rawBytes"):
            embedded = _b64(pk["rawBytes"], "verificationMaterial.publicKey.rawBytes")
    elif isinstance(vm.get("x509CertificateChain"), dict):
        # model-signing's certificate mode writes the chain and no transparency-log entry; Sigstore bundles
        # v0.1/v0.2 carried a chain too, with log entries.
        mode = "sigstore" if tlog_n else "certificate"
        certs = vm["x509CertificateChain"].get("certificates")
        if not isinstance(certs, list) or not certs or not isinstance(certs[0], dict):
            raise _Unverifiable("malformed-signature", "the bundle's certificate chain is empty")
        leaf = _b64(certs[0].get("rawBytes"), "the signing certificate")
    elif isinstance(vm.get("certificate"), dict):
        mode = "sigstore"
        leaf = _b64(vm["certificate"].get("rawBytes"), "the signing certificate")
    else:
        raise _Unverifiable(
            "malformed-signature",
            "the bundle's verificationMaterial holds no public key hint, certificate or certificate chain",
        )
    env = bundle.get("dsseEnvelope")
    if not isinstance(env, dict):
        what = "a message signature" if "messageSignature" in bundle else "no DSSE envelope"
        raise _Unverifiable("unsupported-format", f"the bundle holds {what}; OMS signatures are DSSE envelopes")
    sigs = env.get("signatures")
    if not isinstance(sigs, list) or not sigs or not isinstance(sigs[0], dict) or not sigs[0].get("sig"):
        raise _Unverifiable("malformed-signature", "the DSSE envelope holds no signature")
    payload_type = env.get("payloadType")
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise _Unverifiable("unsupported-format", f"DSSE payload type {payload_type!r} is not {IN_TOTO_PAYLOAD_TYPE}")
    try:
        st = json.loads(_b64(env.get("payload"), "the DSSE payload").decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise _Unverifiable("malformed-signature", "the DSSE payload is not JSON") from None
    if not isinstance(st, dict) or not isinstance(st.get("subject"), list):
        raise _Unverifiable("malformed-signature", "the DSSE payload is not an in-toto statement")
    if st.get("_type") != IN_TOTO_STATEMENT_TYPE:
        raise _Unverifiable("unsupported-format", f"statement type {st.get('_type')!r} is not {IN_TOTO_STATEMENT_TYPE}")
    ptype = st.get("predicateType")
    if ptype == OMS_PREDICATE_TYPE:
        pred = st.get("predicate")
        if (
            not isinstance(pred, dict)
            or not isinstance(pred.get("serialization"), dict)
            or not isinstance(pred.get("resources"), list)
            or len(st["subject"]) != 1
        ):
            raise _malformed("not an OMS v1.0 predicate (one subject; serialization and resources)")
    elif ptype == COMPAT_PREDICATE_TYPE:
        if not all(isinstance(s, dict) and isinstance(s.get("digest"), dict) for s in st["subject"]):
            raise _malformed("an OMS v0.2 statement whose subjects are not name + sha256 digest")
    else:
        raise _Unverifiable(
            "unsupported-format",
            f"predicate type {ptype!r} is neither OMS v1.0 ({OMS_PREDICATE_TYPE}) nor v0.2 ({COMPAT_PREDICATE_TYPE})",
        )
    return OmsBundle(
        media_type=media_type,
        signed_mode=mode,
        tlog_entries=tlog_n,
        payload_type=payload_type,
        statement=st,
        predicate_type=ptype,
        key_hint=hint,
        embedded_key_pem=embedded,
        leaf_certificate_der=leaf,
    )


def _malformed(message: str) -> _Unverifiable:
    return _Unverifiable("malformed-signature", message)


def _signed_resources(b: OmsBundle) -> list[ResourceCheck]:
    if b.predicate_type == COMPAT_PREDICATE_TYPE:  # v0.2: every file is a subject (sha256)
        return [
            ResourceCheck(name=str(s.get("name")), algorithm="sha256", digest=str(s["digest"].get("sha256")))
            for s in b.statement["subject"]
        ]
    return _resources(b.statement)


def _serialization(b: OmsBundle) -> dict:
    if b.predicate_type == COMPAT_PREDICATE_TYPE:  # what model-signing assumes for v0.2 signatures
        return {"method": "files", "hash_type": "sha256", "allow_symlinks": False}
    return b.statement["predicate"]["serialization"]


def _hashing_config_for(ms: Any, serialization: dict, ignored: list[str], ignore_git_paths: bool) -> Any:
    """The hashing configuration the signer used, as the signed predicate records it (model-signing's own
    ``_guess_hashing_config`` does the same, with two bugs assay avoids: it passes the recorded hash name
    ``blake2b`` where its API takes ``blake2``, and a ``shard_size`` read back as a float)."""
    method = serialization.get("method")
    hash_type = serialization.get("hash_type", "sha256")
    hash_type = _HASH_TYPE_NAMES.get(hash_type, hash_type)
    if hash_type not in ("sha256", "blake2", "blake3"):
        raise _Unverifiable(
            "unsupported-format", f"hash type {serialization.get('hash_type')!r} is not one model-signing verifies"
        )
    kwargs = {"hashing_algorithm": hash_type, "allow_symlinks": bool(serialization.get("allow_symlinks", False))}
    cfg = ms.hashing.Config()
    if method == "files":
        cfg.use_file_serialization(**kwargs)
    elif method == "shards":
        size = serialization.get("shard_size")  # a protobuf Struct number: JSON may carry it as 4096.0
        if isinstance(size, float) and size.is_integer():
            size = int(size)
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise _Unverifiable("malformed-signature", f"shard_size {size!r} is not a positive integer")
        cfg.use_shard_serialization(shard_size=size, **kwargs)
    else:
        raise _Unverifiable("unsupported-format", f"serialization method {method!r} is neither files nor shards")
    signed_ignored = [str(p) for p in serialization.get("ignore_paths", []) if isinstance(p, str)]
    return cfg.set_ignored_paths(paths=signed_ignored + ignored, ignore_git_paths=ignore_git_paths)


def _check_model_path(model_path: Path | str) -> Path:
    p = Path(model_path)
    if not p.exists():
        raise InputError(f"{p}: no such model file or folder")
    if not (p.is_dir() or p.is_file()):
        raise InputError(f"{p}: neither a file nor a folder")
    return p


def _ignore_rel(model: Path, path: str) -> str:
    """An ``--ignore`` path as model-signing takes it: relative to the model folder (an absolute path must lie in
    it).  model-signing's CLI resolves relative paths against the working directory and silently drops those
    outside the model; assay takes them relative to the model folder and refuses the rest (exit 2)."""
    p = Path(path)
    if p.is_absolute():
        rel = _rel_inside(model, p)
        if rel is None:
            raise InputError(f"ignore path {path!r} is not inside the model folder {model}")
        return rel
    if ".." in p.parts:
        raise InputError(f"ignore path {path!r} must stay inside the model folder (no '..')")
    return p.as_posix()


def _choose_mode(
    mode: str | None,
    public_key: Any,
    certificate_chain: list[Path],
    identity: str | None,
    oidc_issuer: str | None,
    trust_config: Any,
    use_staging: bool,
) -> VerifyMode:
    sigstore_opts = identity is not None or oidc_issuer is not None or trust_config is not None or use_staging
    if mode is None:
        mode = "sigstore" if sigstore_opts else "certificate" if certificate_chain else "key"
    if mode not in VERIFY_MODES:
        raise InputError(f"unknown verification mode {mode!r} (key, certificate or sigstore)")
    given = {
        "--key": public_key is not None,
        "--certificate-chain": bool(certificate_chain),
        "--identity/--issuer": identity is not None or oidc_issuer is not None,
        "--trust-config": trust_config is not None,
        "--use-staging": use_staging,
    }
    allowed = {
        "key": {"--key"},
        "certificate": {"--certificate-chain"},
        "sigstore": {"--identity/--issuer", "--trust-config", "--use-staging"},
    }[mode]
    clash = [opt for opt, on in given.items() if on and opt not in allowed]
    if clash:
        raise InputError(
            f"{' and '.join(clash)} cannot be used in {mode} mode (one mode at a time: --key, "
            f"--certificate-chain, or --identity with --issuer)"
        )
    if mode == "sigstore" and not (identity and oidc_issuer):
        raise InputError("Sigstore verification needs both --identity and --issuer")
    return mode  # type: ignore[return-value]


def verify_model_signature(
    model_dir: Path | str,
    signature: Path | str | None = None,
    public_key: Path | str | None = None,
    *,
    mode: str | None = None,
    certificate_chain: Iterable[Path | str] = (),
    identity: str | None = None,
    oidc_issuer: str | None = None,
    use_staging: bool = False,
    trust_config: Path | str | None = None,
    ignore_paths: Iterable[str] = (),
    ignore_git_paths: bool | None = None,
    ignore_unsigned_files: bool = False,
) -> SignatureResult:
    """Verify an OMS (model-signing) signature of a model folder or single model file with model-signing.

    The modes are model-signing's (``model_signing verify key|certificate|sigstore``), chosen by the options:
    ``public_key`` (key; the default, with the `assay keygen` default public key), ``certificate_chain`` (trust
    anchor PEM files: the root and any intermediate CA certificates the bundle does not carry) or ``identity`` +
    ``oidc_issuer`` (Sigstore keyless; ``trust_config`` is a Sigstore ClientTrustConfig JSON for offline use,
    otherwise the trust root is fetched from Sigstore's TUF repository, which needs the network).

    ``signature``: default ``<model_dir>/model.sig``; a signature inside the model folder is never hashed.
    ``ignore_paths``: paths (relative to the model folder) the signer left out; those the signature records are
    ignored anyway.  ``ignore_git_paths``: leave ``.git``, ``.gitattributes``, ``.github``, ``.gitignore`` out (as
    model-signing does by default); None: yes, unless the signature signed such a file.

    Returns a :class:`SignatureResult` whose ``verdict`` is ``pass`` only when model-signing verified the
    signature and every file; otherwise ``fail`` or ``not-checked`` with named problems: ``malformed-signature``,
    ``unsupported-format``, ``mode-mismatch``, ``wrong-key``, ``bad-signature``, ``untrusted-certificate``,
    ``identity-mismatch``, ``sigstore-failed``, ``inconsistent-manifest``, ``file-mismatch``, ``missing-file``,
    ``extra-file``, ``no-files-signed``, ``symlink``, ``verification-failed``, ``not-checked``.  Bad input (no such
    model, signature, key, certificate or trust-config file; conflicting options) raises InputError.
    """
    ms = _model_signing()
    model = _check_model_path(model_dir)
    is_dir = model.is_dir()
    folder = model if is_dir else model.parent
    sig_path = Path(signature) if signature is not None else folder / DEFAULT_SIGNATURE_NAME
    try:
        data = sig_path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{sig_path}: no such signature file") from None
    except OSError as exc:
        raise InputError(f"{sig_path}: cannot read signature: {exc.strerror or exc}") from None
    chain = [Path(c) for c in certificate_chain]
    the_mode = _choose_mode(mode, public_key, chain, identity, oidc_issuer, trust_config, use_staging)
    ignored = [_ignore_rel(model, p) for p in ignore_paths]
    if ignored and not is_dir:
        raise InputError(f"{model} is a single file: --ignore applies to a model folder")

    key = key_file = None
    if the_mode == "key":
        key_file = Path(public_key) if public_key is not None else default_public_key()
        if public_key is None and not key_file.exists():
            raise InputError(f"no public key: pass --key PUBKEY (looked for the assay keygen default {key_file})")
        key = load_public_key(key_file)
        _need_ec(key, key_file)
    elif the_mode == "certificate":
        _check_pem_certificates(chain)
    trust_path = Path(trust_config) if trust_config is not None else None
    if trust_path is not None:
        _check_trust_config(trust_path)

    res = SignatureResult(
        model_dir=str(model),
        signature=str(sig_path),
        method=the_mode,
        key=str(key_file) if key_file else None,
        keyid=keyid(key) if key is not None else None,
        certificate_chain=[str(c) for c in chain],
        identity=identity,
        issuer=oidc_issuer,
    )

    def fail(reason: str, message: str, path: str | None = None) -> SignatureResult:
        res.problems.append(Problem(severity="error", code=reason, message=message, where=path))
        res.ok = False
        res.verdict = "not-checked" if all(p.code == "not-checked" for p in res.problems) else "fail"
        return res

    try:
        b = read_oms_bundle(data)
    except _Unverifiable as exc:
        return fail(exc.reason, str(exc))
    res.signed_mode = b.signed_mode
    res.predicate_type = b.predicate_type
    if b.signed_mode != the_mode:
        return fail(
            "mode-mismatch",
            f"the model was signed {_MODE_WHAT[b.signed_mode]}, not verifiable in "
            f"{the_mode} mode: {_MODE_HINT[b.signed_mode]}",
        )
    if the_mode != "sigstore" and b.media_type != BUNDLE_MEDIA_TYPE:
        return fail(
            "unsupported-format",
            f"bundle media type {b.media_type!r}: model-signing's {the_mode} mode verifies {BUNDLE_MEDIA_TYPE} only",
        )
    resources = _signed_resources(b)
    if is_dir:
        rel_sig = _rel_inside(model, sig_path)
        if rel_sig is not None:
            ignored.append(rel_sig)
    if ignore_git_paths is None:
        ignore_git_paths = not any(r.name.split("/")[0] in _GIT_PATHS for r in resources)
    try:
        hashing_cfg = _hashing_config_for(ms, _serialization(b), ignored, ignore_git_paths)
    except _Unverifiable as exc:
        return fail(exc.reason, str(exc))
    except (KeyError, TypeError, ValueError) as exc:
        return fail("malformed-signature", f"serialization settings: {type(exc).__name__}: {exc}")

    cfg = ms.verifying.Config()
    with tempfile.TemporaryDirectory(prefix="assay-verify-") as tmp:
        if the_mode == "sigstore":
            if trust_path is None:
                trust_path = Path(tmp) / "trust_config.json"
                why = _fetch_trust_config(trust_path, use_staging)
                if why is not None:
                    return fail(
                        "not-checked",
                        f"Sigstore verification needs the network to fetch Sigstore's "
                        f"trust root, and it could not be fetched ({why}); pass "
                        f"--trust-config CLIENT_TRUST_CONFIG.json to verify offline",
                    )
            cfg.use_sigstore_verifier(
                identity=identity or "", oidc_issuer=oidc_issuer or "", use_staging=use_staging, trust_config=trust_path
            )
        elif the_mode == "certificate":
            cfg.use_certificate_verifier(certificate_chain=chain)
        else:
            if key is None:  # the key mode loaded it above
                raise InputError("no public key to verify with")
            pub = Path(tmp) / "key.pub"  # the public half as plain SPKI PEM (a private key or an annotated PEM work)
            pub.write_bytes(public_pem(key))
            cfg.use_elliptic_key_verifier(public_key=pub)
        cfg.set_hashing_config(hashing_cfg).set_ignore_unsigned_files(ignore_unsigned_files)
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed), _captured_logs(res.warnings):
                cfg.verify(model, sig_path)
        except Exception as exc:  # noqa: BLE001 - model-signing signals every failure by raising; classify it
            res.warnings += [ln for ln in printed.getvalue().splitlines() if ln.strip()]
            _classify(exc, b, key, res, resources, fail, lambda: hashing_cfg.hash(model))
            return res
    res.warnings += [ln for ln in printed.getvalue().splitlines() if ln.strip()]
    if not resources:  # model-signing accepts a signature over nothing; it vouches for no file, so no pass
        return fail("no-files-signed", "the signature lists no file: it vouches for nothing in the model")
    if ignore_unsigned_files:
        res.warnings.append("files the signature does not list were not checked (ignore_unsigned_files)")
    res.model_name, res.root_digest = _subject(b.statement)
    if b.predicate_type == COMPAT_PREDICATE_TYPE:
        res.model_name, res.root_digest = None, None
        res.warnings.append("an OMS v0.2 signature (predicate Digests/v0.1): it names files, not the model")
    res.serialization = _serialization(b)
    res.signer = _leaf_subject(b) if the_mode == "certificate" else None
    res.files = [r.model_copy(update={"status": "ok"}) for r in resources]
    res.ok = True
    res.verdict = "pass"
    return res


def _check_pem_certificates(chain: list[Path]) -> None:
    from cryptography import x509

    for c in chain:
        try:
            data = c.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{c}: no such certificate file") from None
        except OSError as exc:
            raise InputError(f"{c}: cannot read: {exc.strerror or exc}") from None
        try:
            x509.load_pem_x509_certificates(data)
        except ValueError:
            raise InputError(f"{c}: not a PEM certificate (--certificate-chain takes PEM CA certificates)") from None


def _check_trust_config(path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such trust-config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read trust config: {exc}") from None
    try:
        from sigstore.models import ClientTrustConfig

        ClientTrustConfig.from_json(text)
    except Exception as exc:  # noqa: BLE001 - sigstore raises pydantic / protobuf / its own errors here
        raise InputError(f"{path}: not a Sigstore ClientTrustConfig JSON ({type(exc).__name__})") from None


def _fetch_trust_config(out: Path, use_staging: bool) -> str | None:
    """Fetch Sigstore's trust root the way model-signing does (sigstore-python's TUF client) into ``out``;
    returns None, or why it could not be fetched (offline, TUF failure)."""
    try:
        from sigstore.models import ClientTrustConfig

        with _captured_logs():
            tc = ClientTrustConfig.staging() if use_staging else ClientTrustConfig.production()
        out.write_text(_trust_config_json(tc), encoding="utf-8")
    except Exception as exc:  # noqa: BLE001 - any failure to get the trust root means: not checked here
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}".rstrip(": ")
    return None


def _trust_config_json(tc: Any) -> str:
    inner = getattr(tc, "_inner", tc)
    return inner.to_json() if hasattr(inner, "to_json") else inner.model_dump_json(by_alias=True)


@contextlib.contextmanager
def _captured_logs(into: list[str] | None = None):
    """model-signing and sigstore log warnings (e.g. a certificate without KeyUsage) through ``logging``; collect
    them (as result warnings) instead of letting them reach stderr or ``--json`` stdout as stray lines."""
    import logging

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if into is not None:
                into.append(f"{record.name}: {record.getMessage()}")

    handler = _Collect(logging.WARNING)
    saved = []
    for name in ("model_signing", "sigstore", "tuf"):
        lg = logging.getLogger(name)
        saved.append((lg, lg.propagate))
        lg.addHandler(handler)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, propagate in saved:
            lg.removeHandler(handler)
            lg.propagate = propagate


def _leaf_subject(b: OmsBundle) -> str | None:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(b.leaf_certificate_der or b"").subject.rfc4514_string()
    except ValueError:
        return None


def _classify(
    exc: Exception, b: OmsBundle, key: Any, res: SignatureResult, resources: list[ResourceCheck], fail: Any, rehash: Any
) -> None:
    """Turn what model-signing raised into a named reason (never its bare exception text)."""
    from cryptography.exceptions import InvalidSignature

    msg = str(exc) or type(exc).__name__
    kind = type(exc).__name__
    module = type(exc).__module__ or ""
    if isinstance(exc, InvalidSignature):
        # Bundles before model-signing 1.1 name no key (no hint) but carry the signer's public key itself.
        if (
            b.signed_mode == "key"
            and key is not None
            and b.key_hint is None
            and b.embedded_key_pem
            and _embedded_key_differs(b.embedded_key_pem, key)
        ):
            fail("wrong-key", "the signature carries another public key than the one given")
            return
        fail(
            "bad-signature", "the signature does not verify: the signed statement was changed, or another key signed it"
        )
    elif module.startswith("OpenSSL") and "X509StoreContext" in kind:
        fail(
            "untrusted-certificate",
            f"the signing certificate does not chain to the given --certificate-chain (OpenSSL: {msg})",
        )
    elif module.startswith("sigstore"):
        if re.search(r"\bSANs?\b|identity|issuer|OIDC", msg, re.IGNORECASE):
            fail(
                "identity-mismatch",
                f"the Sigstore certificate is not for --identity {res.identity!r} from --issuer {res.issuer!r} ({msg})",
            )
        else:
            fail("sigstore-failed", f"Sigstore verification failed: {msg}")
    elif not isinstance(exc, ValueError):
        fail("verification-failed", f"model-signing raised {kind}: {msg}")
    elif msg.startswith("Key mismatch"):
        fail("wrong-key", "the signature names another public key (verification material hint differs)")
    elif msg.startswith("Signing certificate cannot be used for signing"):
        fail("untrusted-certificate", "the signing certificate allows neither digitalSignature nor codeSigning")
    elif msg.startswith("Manifest is inconsistent"):
        fail("inconsistent-manifest", "the signed subject digest does not match the signed file digests")
    elif "symlink" in msg:
        fail("symlink", "the model holds a symbolic link, which the signature's settings do not allow")
    elif msg.startswith("Signature mismatch"):
        # The signature itself verified, so the signed resources are authentic; the model differs from them.
        # Name each file: re-hash with the same model-signing hashing configuration and compare.
        signed = {r.name: r for r in resources}
        try:
            actual = {rd.identifier: rd.digest.digest_hex for rd in rehash().resource_descriptors()}
        except Exception as exc2:  # noqa: BLE001  # pragma: no cover - the model changed again under us
            fail("file-mismatch", f"the model differs from the signed files, and re-hashing it failed: {exc2}")
            return
        for name in sorted(set(signed) | set(actual)):
            if name not in actual:
                signed[name].status = "missing"
                fail("missing-file", "signed but not in the model", name)
            elif name not in signed:
                resources.append(ResourceCheck(name=name, algorithm="-", digest=actual[name], status="extra"))
                fail("extra-file", "in the model but not signed", name)
            elif actual[name] != signed[name].digest:
                signed[name].status = "mismatch"
                fail("file-mismatch", f"digest {actual[name]} != signed {signed[name].digest}", name)
            else:
                signed[name].status = "ok"
        if not res.problems:
            fail("file-mismatch", "the model differs from the signed manifest")
        res.files = resources
    elif "media type" in msg or "Predicate type" in msg or "Expected" in msg:
        fail("unsupported-format", msg)
    else:
        fail("verification-failed", f"model-signing refused the signature: {msg}")


def _embedded_key_differs(pem: bytes, key: Any) -> bool:
    from cryptography.hazmat.primitives import serialization

    try:
        embedded = serialization.load_pem_public_key(pem)
    except ValueError:
        return False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return embedded.public_bytes(serialization.Encoding.PEM, spki) != public_pem(key)
