"""OpenSSF model signing (OMS, model-signing v1.0 predicate) through the ``model-signing`` package itself.

``assay sign`` and ``assay verify --signature`` do not re-implement the format: they call ``model_signing``'s
public API (``model_signing.signing.Config().use_elliptic_key_signer`` / ``use_sigstore_signer``,
``model_signing.hashing.Config``, ``model_signing.verifying.Config().use_elliptic_key_verifier`` /
``use_sigstore_verifier``), so a folder signed by either tool verifies in the other (tested both ways, and against
a signature file from model-transparency's own test data).

The signature file (default ``<MODEL_DIR>/model.sig``) is a Sigstore bundle (``application/vnd.dev.sigstore.bundle.
v0.3+json``) holding a DSSE envelope holding an in-toto Statement v1 with ``predicateType
https://model_signing/signature/v1.0``: one subject (the folder name, sha256 over the files' digests sorted by name)
and a predicate listing every file's digest and the serialization (method, hash type, symlinks, ignored paths).
A signature inside the folder is left out of what it signs (its path is recorded among the signed ignore_paths).

Key-based OMS signatures need an elliptic-curve key (P-256, P-384 or P-521): model-signing's key signer takes no
ed25519 keys.  Sigstore keyless (``sigstore=True`` / ``identity`` + ``oidc_issuer``) needs a network and is
untested offline.

What assay adds: inputs are checked first (one-line errors, exit 2), model-signing's exceptions become a
:class:`~.results.SignatureResult` with named reasons, the hashing configuration is taken from the signed predicate
(files or shards, any hash type), and stray prints of model-signing never reach ``--json`` output.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

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
        raise InputError(f"{path}: an {kt} key; OMS/model-signing key signatures need an ECDSA key (P-256, P-384 or "
                         f"P-521) — make one with: assay keygen --type ecdsa-p256")


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
        raise _Malformed(f"not an OMS signature (Sigstore bundle with a DSSE in-toto statement): "
                         f"{type(exc).__name__}: {exc}") from None
    if not isinstance(bundle, dict) or not isinstance(st, dict):
        raise _Malformed("not an OMS signature: bundle or statement is not a JSON object")
    if not isinstance(ser, dict) or not isinstance(resources, list) or not isinstance(subjects, list):
        raise _Malformed("not an OMS v1.0 predicate (serialization / resources / subject)")
    return st


def _resources(st: dict) -> list[ResourceCheck]:
    out = []
    for r in st.get("predicate", {}).get("resources", []):
        if isinstance(r, dict):
            out.append(ResourceCheck(name=str(r.get("name")), algorithm=str(r.get("algorithm")),
                                     digest=str(r.get("digest"))))
    return out


def _subject(st: dict) -> tuple[str | None, str | None]:
    subj = st.get("subject") or [{}]
    s = subj[0] if isinstance(subj[0], dict) else {}
    digest = s.get("digest") if isinstance(s.get("digest"), dict) else {}
    return s.get("name"), digest.get("sha256")


# --------------------------------------------------------------------------------------------------------------
# Signing

def sign_model(model_dir: Path | str, private_key: Path | str | None = None, signature: Path | str | None = None,
               *, password: str | None = None, ignore_paths: Iterable[str] = (), ignore_git_paths: bool = True,
               sigstore: bool = False, identity_token: str | None = None, use_staging: bool = False,
               oidc_issuer: str | None = None) -> SignResult:
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
    ignored = [p for p in ignore_paths]
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
        cfg.use_sigstore_signer(identity_token=identity_token, use_staging=use_staging, oidc_issuer=oidc_issuer,
                                use_ambient_credentials=True)
    else:
        key_file = Path(private_key) if private_key is not None else default_private_key()
        if private_key is None and not key_file.exists():
            raise InputError(f"no signing key: pass --key PRIVKEY, or make one with `assay keygen` "
                             f"(looked for {key_file})")
        key = load_private_key(key_file, password)
        _need_ec(key, key_file)
        kid = keyid(key)
        pw = password if password is not None else (os.environ.get("ASSAY_KEY_PASSWORD") or None)
        cfg.use_elliptic_key_signer(private_key=key_file, password=pw.encode() if pw else None)  # type: ignore[arg-type]
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
    return SignResult(model_dir=str(mdir), signature=str(sig_path), method="sigstore" if sigstore else "key",
                      key=str(key_file) if key_file else None, keyid=kid, predicate_type=st.get("predicateType", ""),
                      model_name=name or "", root_digest=root or "",
                      serialization=st["predicate"]["serialization"], files=_resources(st))


# --------------------------------------------------------------------------------------------------------------
# Verification

def _hashing_config_for(ms: Any, serialization: dict, extra_ignored: list[str], resources: list[ResourceCheck]) -> Any:
    """The hashing configuration the signer used, as recorded in the signed predicate (like model-signing's guess),
    plus paths the verifier must also ignore (the signature file itself when it sits in the folder)."""
    method = serialization.get("method")
    signed_ignored = [str(p) for p in serialization.get("ignore_paths", [])]
    git_signed = any(r.name in _GIT_PATHS or r.name.split("/")[0] in _GIT_PATHS for r in resources)
    hash_type = serialization.get("hash_type", "sha256")
    # The predicate records the engine's name ("blake2b") but hashing.Config takes "blake2": model-signing 1.1.1's
    # own guess passes the recorded name through and cannot verify its own blake2 signatures; assay maps it.
    hash_type = _HASH_TYPE_NAMES.get(hash_type, hash_type)
    kwargs = {"hashing_algorithm": hash_type, "allow_symlinks": bool(serialization.get("allow_symlinks", False))}
    cfg = ms.hashing.Config()
    if method == "files":
        cfg.use_file_serialization(**kwargs)
    elif method == "shards":
        size = serialization["shard_size"]  # a protobuf Struct number: JSON may carry it as 4096.0
        if isinstance(size, float) and size.is_integer():
            size = int(size)
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise _Malformed(f"shard_size {size!r} is not a positive integer")
        cfg.use_shard_serialization(shard_size=size, **kwargs)
    else:
        raise _Malformed(f"unknown serialization method {method!r}")
    return cfg.set_ignored_paths(paths=signed_ignored + extra_ignored, ignore_git_paths=not git_signed)


def verify_model_signature(model_dir: Path | str, signature: Path | str | None = None,
                           public_key: Path | str | None = None, *, identity: str | None = None,
                           oidc_issuer: str | None = None, use_staging: bool = False,
                           ignore_paths: Iterable[str] = (), ignore_unsigned_files: bool = False) -> SignatureResult:
    """Verify an OMS (model-signing v1.0) signature of a model folder with model-signing's verifier.

    ``signature``: default ``<model_dir>/model.sig``.  ``public_key``: PEM ECDSA public key (a private key PEM is
    accepted; default: the `assay keygen` default public key).  With ``identity`` + ``oidc_issuer`` the signature
    is checked as a Sigstore keyless bundle instead (network; untested offline).

    Returns ``ok`` and, on failure, problems named: ``malformed-signature``, ``wrong-key``, ``bad-signature``,
    ``file-mismatch``, ``missing-file``, ``extra-file``, ``verification-failed``.  Bad input (no such folder,
    signature or key file; a key that is not ECDSA) raises InputError.
    """
    ms = _model_signing()
    mdir = _check_model_dir(model_dir)
    sig_path = Path(signature) if signature is not None else mdir / DEFAULT_SIGNATURE_NAME
    try:
        data = sig_path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{sig_path}: no such signature file") from None
    except OSError as exc:
        raise InputError(f"{sig_path}: cannot read signature: {exc.strerror or exc}") from None
    keyless = identity is not None or oidc_issuer is not None
    if keyless and not (identity and oidc_issuer):
        raise InputError("Sigstore verification needs both --identity and --issuer")
    key_file: Path | None = None
    key = None
    if not keyless:
        key_file = Path(public_key) if public_key is not None else default_public_key()
        if public_key is None and not key_file.exists():
            raise InputError(f"no public key: pass --key PUBKEY (looked for the assay keygen default {key_file})")
        key = load_public_key(key_file)
        _need_ec(key, key_file)

    res = SignatureResult(model_dir=str(mdir), signature=str(sig_path), method="sigstore" if keyless else "key",
                          key=str(key_file) if key_file else None, keyid=keyid(key) if key is not None else None,
                          identity=identity)

    def fail(reason: str, message: str, path: str | None = None) -> SignatureResult:
        res.problems.append(Problem(reason=reason, message=message, path=path))
        res.ok = False
        return res

    try:
        st = read_oms_statement(data)
    except _Malformed as exc:
        return fail("malformed-signature", str(exc))
    resources = _resources(st)
    extra_ignored = [p for p in ignore_paths]
    rel_sig = _rel_inside(mdir, sig_path)
    if rel_sig is not None:
        extra_ignored.append(rel_sig)
    try:
        hashing_cfg = _hashing_config_for(ms, st["predicate"]["serialization"], extra_ignored, resources)
    except (_Malformed, KeyError, TypeError, ValueError) as exc:
        return fail("malformed-signature", f"serialization: {exc}")

    cfg = ms.verifying.Config()
    with tempfile.TemporaryDirectory(prefix="assay-verify-") as tmp:
        if keyless:
            cfg.use_sigstore_verifier(identity=identity or "", oidc_issuer=oidc_issuer or "", use_staging=use_staging)
        else:
            pub = Path(tmp) / "key.pub"  # the public half as plain SPKI PEM (a private key or an annotated PEM work)
            pub.write_bytes(public_pem(key))
            cfg.use_elliptic_key_verifier(public_key=pub)
        cfg.set_hashing_config(hashing_cfg).set_ignore_unsigned_files(ignore_unsigned_files)
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                cfg.verify(mdir, sig_path)
        except Exception as exc:  # noqa: BLE001 - model-signing signals every failure by raising; classify it
            _classify(exc, res, resources, fail, lambda: hashing_cfg.hash(mdir))
            res.warnings += [ln for ln in printed.getvalue().splitlines() if ln.strip()]
            return res
    res.warnings += [ln for ln in printed.getvalue().splitlines() if ln.strip()]
    res.predicate_type = st.get("predicateType")
    res.model_name, res.root_digest = _subject(st)
    res.serialization = st["predicate"]["serialization"]
    res.files = [r.model_copy(update={"status": "ok"}) for r in resources]
    res.ok = True
    return res


def _classify(exc: Exception, res: SignatureResult, resources: list[ResourceCheck], fail: Any, rehash: Any) -> None:
    from cryptography.exceptions import InvalidSignature

    msg = str(exc) or type(exc).__name__
    if isinstance(exc, InvalidSignature):
        fail("bad-signature", "the signature does not verify with this key: the signed statement was changed, or "
                              "another key signed it")
        return
    if not isinstance(exc, ValueError):
        fail("malformed-signature" if "validation" in type(exc).__name__.lower() or isinstance(exc, (KeyError, TypeError))
             else "verification-failed", f"{type(exc).__name__}: {msg}")
        return
    if msg.startswith("Key mismatch"):
        fail("wrong-key", "the signature names another public key (verification material hint differs)")
    elif msg.startswith("Signature mismatch"):
        # The signature itself verified, so the signed resources are authentic; the folder differs from them.
        # Name each file: re-hash with the same model-signing hashing configuration and compare.
        res.predicate_type = OMS_PREDICATE_TYPE
        signed = {r.name: r for r in resources}
        try:
            actual = {rd.identifier: rd.digest.digest_hex for rd in rehash().resource_descriptors()}
        except Exception as exc2:  # noqa: BLE001  # pragma: no cover - the folder changed again under us
            fail("file-mismatch", f"{msg} ({exc2})")
            return
        for name in sorted(set(signed) | set(actual)):
            if name not in actual:
                signed[name].status = "missing"
                fail("missing-file", "signed but not in the folder", name)
            elif name not in signed:
                resources.append(ResourceCheck(name=name, algorithm="-", digest=actual[name], status="extra"))
                fail("extra-file", "in the folder but not signed", name)
            elif actual[name] != signed[name].digest:
                signed[name].status = "mismatch"
                fail("file-mismatch", f"digest {actual[name]} != signed {signed[name].digest}", name)
            else:
                signed[name].status = "ok"
        if not res.problems:
            fail("file-mismatch", msg)
        res.files = resources
    elif "media type" in msg or "Predicate type" in msg or "Expected" in msg or "inconsistent" in msg:
        fail("malformed-signature", msg)
    else:
        fail("verification-failed", msg)
