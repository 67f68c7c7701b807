"""assay.attest: signed attestations of audit results (in-toto Statement v1 in DSSE) and OMS model signatures.

* :mod:`.keys`        — ed25519 / ECDSA key generation, PEM load/save, keyid = sha256 of the SubjectPublicKeyInfo DER.
* :mod:`.dsse`        — DSSE pre-authentication encoding (PAE), envelope signing and verification.
* :mod:`.statement`   — in-toto Statement v1: subjects (path + sha256) and the assay audit / in-toto test-result
                        predicates.
* :mod:`.attestation` — ``write_attestation``: statement → DSSE envelope → ``attestation.dsse.json``.
* :mod:`.verify`      — ``verify_attestation``: signature, subjects against files on disk, predicate.
* :mod:`.oms`         — OpenSSF model-signing (OMS v1.0) signatures through the ``model-signing`` package:
                        ``sign_model`` and ``verify_model_signature``.

Nothing heavy is imported here: ``cryptography`` loads with the submodules, ``model_signing`` only inside
:mod:`.oms`'s functions, ``sigstore`` only for keyless signing.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AUDIT_PREDICATE_TYPE",
    "OMS_PREDICATE_TYPE",
    "TEST_RESULT_PREDICATE_TYPE",
    "build_statement",
    "generate_keypair",
    "sign_model",
    "verify_attestation",
    "verify_model_signature",
    "write_attestation",
]

_LAZY = {
    "AUDIT_PREDICATE_TYPE": "statement",
    "TEST_RESULT_PREDICATE_TYPE": "statement",
    "build_statement": "statement",
    "write_attestation": "attestation",
    "verify_attestation": "verify",
    "OMS_PREDICATE_TYPE": "oms",
    "sign_model": "oms",
    "verify_model_signature": "oms",
    "generate_keypair": "keys",
}


def __getattr__(name: str) -> Any:  # PEP 562: `from assay.attest import write_attestation` without eager imports
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
