"""Sign the audit: an in-toto Statement over the release's files with the audit result as predicate, in DSSE.

The key is ``--key`` or the local key ``assay keygen`` makes (``$ASSAY_KEY_DIR`` or ``~/.config/assay/keys``); when
no local key exists yet, one is generated there (ECDSA P-256) and the report says so.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .model import AuditReport

ATTESTATION = "attestation.dsse.json"


def predicate_of(report: AuditReport, report_json: Path) -> dict:
    """The audit result as the statement's predicate: verdict, counts, every claim's verdict, the report's digest."""
    return {
        "verdict": report.verdict,
        "release": {
            "name": report.release.name,
            "version": report.release.version,
            "releaseDigest": report.release.release_digest,
            "manifestSha256": report.release.manifest_sha256,
        },
        "source": report.source,
        "counts": report.counts.model_dump(),
        "claims": [{"id": c.id, "verdict": c.verdict} for c in report.claims],
        "steps": [{"name": s.name, "status": s.status} for s in report.steps],
        "report": {
            "name": report_json.name,
            "digest": {"sha256": hashlib.sha256(report_json.read_bytes()).hexdigest()},
        },
        "generatedBy": report.generated_by,
    }


def attest_report(report: AuditReport, loaded, out: Path, key: Path | None) -> tuple[Path, str | None]:
    """Write ``<out>/attestation.dsse.json``; returns (path, note) where note tells of a newly generated key."""
    from ..attest.attestation import write_attestation
    from ..attest.keys import default_private_key, generate_keypair

    note = None
    if key is None and not default_private_key().exists():
        made = generate_keypair()
        note = f"generated a signing key: {made.private_key} (public key {made.public_key})"
    subjects = [(f.path, f.sha256) for f in loaded.lock.files]
    path = write_attestation(subjects, predicate_of(report, out / "report.json"), key, out / ATTESTATION)
    return path, note
