"""Sigstore keyless signing of attestations (a network is required; UNTESTED offline — no test in the suite runs it).

Signing: an OIDC identity token (``identity_token``, an ambient CI credential, or the interactive browser flow) buys
a short-lived Fulcio certificate; the statement is signed as a DSSE envelope and logged in Rekor; the result is a
Sigstore bundle (``application/vnd.dev.sigstore.bundle.v0.3+json``) holding that envelope.  Verification checks the
bundle against Sigstore's trust root and an identity policy (expected signer identity + OIDC issuer) and returns the
payload.  This mirrors what ``model_signing``'s Sigstore signer does for model signatures.
"""

from __future__ import annotations

from ..manifests.errors import InputError

BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"


def _sigstore():
    try:
        from sigstore import dsse, models, oidc, sign
        from sigstore.verify import Verifier, policy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError("Sigstore keyless signing needs the 'sigstore' package (pip install model-signing)") from exc
    return dsse, models, oidc, sign, Verifier, policy


def sign_statement_keyless(payload: bytes, *, identity_token: str | None = None, use_staging: bool = False) -> bytes:
    """Sign statement bytes keyless with Sigstore; returns the bundle's JSON bytes."""
    dsse, models, oidc, sign, _, _ = _sigstore()
    trust = models.ClientTrustConfig.staging() if use_staging else models.ClientTrustConfig.production()
    ctx = sign.SigningContext.from_trust_config(trust)
    if identity_token:
        token = oidc.IdentityToken(identity_token)
    else:
        ambient = oidc.detect_credential()
        token = (
            oidc.IdentityToken(ambient)
            if ambient
            else oidc.Issuer(trust.signing_config.get_oidc_url()).identity_token()
        )
    with ctx.signer(token) as signer:
        bundle = signer.sign_dsse(dsse.Statement(payload))
    return (bundle.to_json() + "\n").encode("utf-8")


def verify_bundle_keyless(
    data: bytes, *, identity: str, oidc_issuer: str, use_staging: bool = False
) -> tuple[str, bytes]:
    """Verify a Sigstore bundle holding a DSSE envelope; returns (payloadType, payload).  Raises on failure."""
    _, models, _, _, Verifier, policy = _sigstore()
    bundle = models.Bundle.from_json(data)
    verifier = Verifier.staging() if use_staging else Verifier.production()
    return verifier.verify_dsse(bundle, policy.Identity(identity=identity, issuer=oidc_issuer))
