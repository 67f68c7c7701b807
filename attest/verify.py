"""Verifying attestations: the signature, then the subjects against files on disk, then the predicate.

Order matters: nothing inside an envelope is believed before its signature verifies, so a bad signature stops the
check (subjects and predicate of an unauthenticated payload are not reported).  Every failure is a
:class:`~.results.Problem` (a core Finding) with a named ``code``:

==========================  ===================================================================================
malformed-envelope          not JSON, duplicate keys, missing/unknown keys, non-canonical base64
non-canonical-envelope      the file is not byte-for-byte the form assay writes (an edit that kept the JSON
                            meaning, e.g. whitespace); ``lenient_format=True`` turns this into a warning
bad-signature               no signature verifies with the trusted key (payload or payloadType changed)
wrong-key                   every signature names (keyid) another key
unsupported-payload-type    not ``application/vnd.in-toto+json``
malformed-statement         the payload is not an in-toto Statement v1
predicate-type-mismatch     not the predicate type the caller asked for
malformed-predicate         a known predicate type without its required fields
audit-failed / test-failed  a valid attestation of a failed audit (verdict fail / result FAILED)
missing-subject             a subject file is absent from the release folder
subject-mismatch            a subject file's sha256 differs
unsafe-path                 a subject name is absolute, has '..', or resolves outside the folder through a symlink
unreadable-subject          a subject file cannot be read
unsupported-digest          a subject has no sha256 digest
==========================  ===================================================================================

Bad *input* (no such attestation or key file, a key that is not a key, ``root`` not a folder) raises InputError
(exit 2); a file that is there but does not verify is a failed check (exit 1).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..manifests.errors import InputError, PathEscapeError
from ..manifests.fsio import read_input
from ..manifests.paths import check_relpath, resolve_inside
from .dsse import (
    PAYLOAD_TYPE_INTOTO,
    DsseError,
    dumps_envelope,
    loads_json_strict,
    parse_envelope,
    verify_envelope,
)
from .keys import default_public_key, load_public_key
from .results import AttestationResult, Problem, SubjectCheck
from .statement import STATEMENT_TYPE, check_predicate, predicate_outcome

_SKIP_DIRS = {".git", ".assay", ".cache", "__pycache__"}


def _public_key_path(public_key: Path | str | None) -> Path:
    if public_key is not None:
        return Path(public_key)
    default = default_public_key()
    if not default.exists():
        raise InputError(f"no public key: pass --key PUBKEY (looked for the assay keygen default {default})")
    return default


def verify_attestation(
    attestation: Path | str,
    root: Path | str | None = None,
    public_key: Path | str | None = None,
    *,
    expected_predicate_type: str | None = None,
    lenient_format: bool = False,
    identity: str | None = None,
    oidc_issuer: str | None = None,
    use_staging: bool = False,
    workers: int | None = None,
    manifest: Path | str | None = None,
    signature_only: bool = False,
) -> AttestationResult:
    """Verify an attestation file (a DSSE envelope, or a Sigstore bundle when ``identity``/``oidc_issuer`` are given).

    ``root``: the release folder; every subject must be there with its sha256 (files hashed with
    ``assay.verify.hashing.hash_many``).  Without ``root`` (or ``manifest``) the subjects cannot be checked, which
    fails (``subjects-not-checked``: no evidence, no pass) unless ``signature_only`` says that only the signature and
    the predicate are wanted; the subjects are then listed as ``not-checked``.
    A predicate type assay cannot interpret fails (``unsupported-predicate``) unless the caller named that type in
    ``expected_predicate_type``: then its content is the caller's to judge.
    ``manifest``: instead of ``root``, a release manifest: each subject is looked for where the manifest's sources put
    that artifact (a release whose files come from several ``dir://`` sources).
    ``public_key``: PEM public key (a private key PEM works too); default: the `assay keygen` default public key.
    """
    path = Path(attestation)
    data = read_input(path, "attestation")
    root_path = Path(root) if root is not None else None
    if root_path is not None and manifest is not None:
        raise InputError("give --dir or --manifest, not both")
    if root_path is not None and not root_path.is_dir():
        raise InputError(f"{root_path}: not a directory (--dir must be the release folder)")
    roots: dict[str, Path] | None = None
    if manifest is not None:
        from ..manifests.release import load_release

        roots = {p: Path(r) for p, r in load_release(manifest).roots().items()}
    keyless = identity is not None or oidc_issuer is not None
    if keyless and not (identity and oidc_issuer):
        raise InputError("Sigstore verification needs both --identity and --issuer")
    key_path = None if keyless else _public_key_path(public_key)
    key = None if key_path is None else load_public_key(key_path)

    where = str(root_path) if root_path else (f"the folders of {manifest}" if manifest is not None else None)
    res = AttestationResult(
        attestation=str(path), format="unknown", root=where, key=str(key_path) if key_path else None
    )

    def fail(reason: str, message: str, p: str | None = None) -> AttestationResult:
        res.problems.append(Problem(severity="error", code=reason, message=message, where=p))
        res.ok = False
        return res

    # 1. Signature ------------------------------------------------------------------------------------------
    try:
        if keyless:
            res.format = "sigstore-bundle"
            from .sigstore_keyless import verify_bundle_keyless

            try:
                payload_type, payload = verify_bundle_keyless(
                    data, identity=identity or "", oidc_issuer=oidc_issuer or "", use_staging=use_staging
                )
            except Exception as exc:  # noqa: BLE001 - sigstore raises several error types; all mean "does not verify"
                return fail("bad-signature", f"Sigstore bundle does not verify: {exc}")
            res.signer = identity
        else:
            env = parse_envelope(data)
            res.format = "dsse"
            if dumps_envelope(env) != data:
                msg = (
                    "the file is not byte-for-byte the canonical envelope assay writes (edited, or written by "
                    "another tool)"
                )
                if lenient_format:
                    res.warnings.append(msg)
                else:
                    fail("non-canonical-envelope", msg + "; pass --lenient-format to accept a re-serialised envelope")
            if key is None:  # not keyless: the key was loaded above
                raise InputError("no public key to verify the envelope with")
            verified = verify_envelope(env, key)
            payload_type, payload = verified.payload_type, verified.payload
            res.signer = verified.keyids[0]
    except DsseError as exc:
        if exc.reason == "malformed-envelope" and b'"mediaType"' in data and b"sigstore" in data:
            exc = DsseError(exc.reason, f"{exc} (this looks like a Sigstore bundle: pass --identity and --issuer)")
        return fail(exc.reason, str(exc))
    res.signature_ok = True
    res.payload_type = payload_type

    # 2. Statement ------------------------------------------------------------------------------------------
    if payload_type != PAYLOAD_TYPE_INTOTO:
        return fail("unsupported-payload-type", f"payloadType {payload_type!r} is not {PAYLOAD_TYPE_INTOTO}")
    try:
        st = loads_json_strict(payload, "statement", "malformed-statement")
    except DsseError as exc:
        return fail(exc.reason, str(exc))
    problems = _statement_problems(st)
    if problems:
        return fail("malformed-statement", "; ".join(problems))
    res.predicate_type = st["predicateType"]
    res.predicate = st["predicate"]

    # 3. Predicate ------------------------------------------------------------------------------------------
    if expected_predicate_type and st["predicateType"] != expected_predicate_type:
        fail(
            "predicate-type-mismatch", f"predicateType is {st['predicateType']!r}, expected {expected_predicate_type!r}"
        )
    pproblems = check_predicate(st["predicateType"], st["predicate"])
    if pproblems:
        fail("malformed-predicate", "; ".join(pproblems))
    else:
        outcome = predicate_outcome(st["predicateType"], st["predicate"])
        res.verdict = outcome
        if outcome is None and expected_predicate_type is None:
            fail(
                "unsupported-predicate",
                f"predicate type {st['predicateType']} is not one assay can interpret, so "
                "its content was not checked; name it with --predicate-type to accept it "
                "on its signature and subjects alone",
            )
        elif outcome is None:
            res.warnings.append(
                f"predicate type {st['predicateType']} (as required) is not one assay interprets: its "
                f"content was not checked"
            )
        elif outcome == "fail":
            kind = "audit-failed" if "verdict" in st["predicate"] else "test-failed"
            fail(kind, "the attestation is authentic and records a FAILED result")
        elif outcome == "warn":
            res.warnings.append("the test-result predicate records WARNED")

    # 4. Subjects -------------------------------------------------------------------------------------------
    subject_root: dict[str, Path] | Path | None = roots if roots is not None else root_path
    if subject_root is None:
        res.subjects = [
            SubjectCheck(name=s["name"], status="not-checked", expected_sha256=s["digest"].get("sha256"))
            for s in st["subject"]
        ]
        if signature_only:
            res.warnings.append("subjects not checked against files (--signature-only)")
        else:
            fail(
                "subjects-not-checked",
                "the subjects were not checked against any files: pass --dir RELEASE or "
                "--manifest MANIFEST (or --signature-only to check the signature alone)",
            )
    else:
        res.subjects_checked = True
        res.subjects = _check_subjects(subject_root, st["subject"], workers)
        names = {s.name for s in res.subjects}
        for s in res.subjects:
            if s.status != "ok":
                reason = {
                    "missing": "missing-subject",
                    "mismatch": "subject-mismatch",
                    "unsafe-path": "unsafe-path",
                    "unreadable": "unreadable-subject",
                    "unsupported-digest": "unsupported-digest",
                }[s.status]
                fail(reason, s.message or s.status, s.name)
        extra = _extra_files(root_path, names) if root_path is not None else []
        if extra:
            shown = ", ".join(extra[:10]) + (f" and {len(extra) - 10} more" if len(extra) > 10 else "")
            res.warnings.append(f"{len(extra)} file(s) in {root_path} are not subjects: {shown}")
    res.ok = not res.problems
    return res


def _statement_problems(st: object) -> list[str]:
    if not isinstance(st, dict):
        return ["the payload is not a JSON object"]
    out = []
    if st.get("_type") != STATEMENT_TYPE:
        out.append(f"_type is {st.get('_type')!r}, not {STATEMENT_TYPE}")
    if set(st) - {"_type", "subject", "predicateType", "predicate"}:
        out.append(
            "unknown statement field(s): "
            f"{', '.join(sorted(set(st) - {'_type', 'subject', 'predicateType', 'predicate'}))}"
        )
    if not isinstance(st.get("predicateType"), str) or not st.get("predicateType"):
        out.append("predicateType is not a non-empty string")
    st.setdefault("predicate", {})  # optional in Statement v1
    if not isinstance(st["predicate"], dict):
        out.append("predicate is not a JSON object")
    subjects = st.get("subject")
    if not isinstance(subjects, list) or not subjects:
        out.append("subject is not a non-empty list")
        return out
    seen: set[str] = set()
    for i, s in enumerate(subjects):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not isinstance(s.get("digest"), dict):
            out.append(f"subject[{i}] is not {{name, digest}}")
            continue
        if not s["digest"] or not all(isinstance(k, str) and isinstance(v, str) for k, v in s["digest"].items()):
            out.append(f"subject[{i}].digest is not a non-empty map of algorithm to hex")
        if s["name"] in seen:
            out.append(f"subject {s['name']!r} is listed twice")
        seen.add(s["name"])
    return out


def _check_subjects(root: Path | dict[str, Path], subjects: list[dict], workers: int | None) -> list[SubjectCheck]:
    """Hash every subject where it lives: under one folder, or (a dict) under each artifact's own root."""
    from ..verify.hashing import hash_many

    checks: dict[str, SubjectCheck] = {}
    jobs = []
    for s in subjects:
        name, sha = s["name"], s["digest"].get("sha256")
        chk = SubjectCheck(name=name, status="ok", expected_sha256=sha.lower() if isinstance(sha, str) else None)
        checks[name] = chk
        if chk.expected_sha256 is None:
            chk.status, chk.message = (
                "unsupported-digest",
                (f"no sha256 digest (has {', '.join(s['digest'])}); assay checks sha256"),
            )
            continue
        base = root.get(name) if isinstance(root, dict) else root
        if base is None:
            chk.status, chk.message = "missing", "not an artifact of the manifest"
            continue
        try:
            check_relpath(name)
            target = resolve_inside(base, name)
        except PathEscapeError as exc:
            chk.status, chk.message = "unsafe-path", str(exc)
            continue
        try:
            st = os.stat(target)
        except FileNotFoundError:
            chk.status, chk.message = "missing", "no such file in the release folder"
            continue
        except OSError as exc:
            chk.status, chk.message = "unreadable", exc.strerror or str(exc)
            continue
        if not os.path.isfile(target):
            chk.status, chk.message = "unreadable", "not a regular file"
            continue
        jobs.append((name, target, st.st_size))
    for name, digest in hash_many(jobs, workers=workers).items():
        chk = checks[name]
        if isinstance(digest, OSError):
            chk.status, chk.message = "unreadable", digest.strerror or str(digest)
            continue
        chk.sha256, chk.size = digest.sha256, digest.size
        if digest.sha256 != chk.expected_sha256:
            chk.status = "mismatch"
            chk.message = f"sha256 {digest.sha256} != attested {chk.expected_sha256}"
    return [checks[s["name"]] for s in subjects]


def _extra_files(root: Path, names: set[str]) -> list[str]:
    extra = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        rel = Path(dirpath).relative_to(root)
        for f in sorted(filenames):
            p = (rel / f).as_posix()
            if p not in names:
                extra.append(p)
    return extra
