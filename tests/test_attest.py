"""Attestations: keys, DSSE (spec test vector), in-toto statements, write → verify, every kind of tampering."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from assay.attest import dsse, keys
from assay.attest.attestation import write_attestation
from assay.attest.statement import (
    AUDIT_PREDICATE_TYPE,
    STATEMENT_TYPE,
    TEST_RESULT_PREDICATE_TYPE,
    build_statement,
    statement_bytes,
    test_result_predicate,
)
from assay.attest.verify import verify_attestation
from assay.manifests.errors import InputError
from test_attest_support import file_digests, make_release, run_assay

PASS = {
    "verdict": "pass",
    "release": {"name": "tiny", "version": "0.1.0"},
    "claims": [{"id": "sha256", "verdict": "pass"}],
}


@pytest.fixture(params=["ed25519", "ecdsa-p256"])
def keypair(request, tmp_path):
    return keys.generate_keypair(tmp_path / f"keys-{request.param}", request.param)


@pytest.fixture
def release(tmp_path) -> Path:
    return make_release(tmp_path / "release")


@pytest.fixture
def attested(tmp_path, release, keypair):
    out = write_attestation(
        file_digests(release), PASS, keypair.private_key, tmp_path / "out" / "attestation.dsse.json"
    )
    return out, release, keypair


# ---------------------------------------------------------------------------------------------------------------
# DSSE: the spec's test vector, computed exactly


def test_pae_spec_vector_and_its_signature():
    """secure-systems-lab/dsse protocol.md, "Test Vectors": PAE bytes, and the spec's ECDSA P-256 signature over it."""
    assert (
        dsse.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    x = 46950820868899156662930047687818585632848591499744589407958293238635476079160
    y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
    d = 97358161215184420915383655311931858321456579547487070936769975997791359926199
    priv = ec.derive_private_key(d, ec.SECP256R1())
    assert (priv.public_key().public_numbers().x, priv.public_key().public_numbers().y) == (x, y)
    raw = base64.b64decode("A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==")
    der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    msg = dsse.pae("http://example.com/HelloWorld", base64.b64decode("aGVsbG8gd29ybGQ="))
    assert keys.verify_bytes(priv.public_key(), der, msg)
    assert not keys.verify_bytes(priv.public_key(), der, dsse.pae("http://example.com/HelloWorld", b"hello world!"))


def test_pae_lengths_are_bytes_and_empty_body():
    assert dsse.pae("application/vnd.exämple+json", b"{}") == "DSSEv1 29 application/vnd.exämple+json 2 {}".encode()
    assert dsse.pae("t", b"") == b"DSSEv1 1 t 0 "
    assert dsse.pae("", b"x") == b"DSSEv1 0  1 x"


def test_envelope_sign_verify_and_keyid(keypair):
    priv = keys.load_private_key(keypair.private_key)
    pub = keys.load_public_key(keypair.public_key)
    der = keys.spki_der(pub)
    assert keys.keyid(priv) == keys.keyid(pub) == hashlib.sha256(der).hexdigest() == keypair.keyid
    env = dsse.sign_envelope(b'{"a":1}', "application/vnd.in-toto+json", priv)
    assert env["signatures"][0]["keyid"] == keypair.keyid
    v = dsse.verify_envelope(env, pub)
    assert (v.payload, v.payload_type, v.keyids) == (b'{"a":1}', "application/vnd.in-toto+json", (keypair.keyid,))
    swapped = dict(env, payloadType="application/vnd.example.other+json")  # the type is authenticated
    with pytest.raises(dsse.DsseError) as e:
        dsse.verify_envelope(swapped, pub)
    assert e.value.reason == "bad-signature"


def test_envelope_url_safe_base64_accepted_but_non_canonical_refused(tmp_path):
    priv = keys.generate_key("ed25519")
    payload = b"\xfb\xff\xbf>?"  # standard base64 "+/+/Pj8=", URL-safe "-_-_Pj8="
    env = dsse.sign_envelope(payload, "application/vnd.in-toto+json", priv)
    url = dict(
        env,
        payload=base64.urlsafe_b64encode(payload).decode(),
        signatures=[
            {"keyid": "", "sig": base64.urlsafe_b64encode(base64.b64decode(env["signatures"][0]["sig"])).decode()}
        ],
    )
    assert dsse.verify_envelope(url, priv.public_key()).payload == payload
    # "aGk=" is "hi"; "aGl=" decodes to the same bytes through unused bits: one signature, two texts — refused.
    env2 = dsse.sign_envelope(b"hi", "t", priv)
    assert env2["payload"] == "aGk="
    with pytest.raises(dsse.DsseError) as e:
        dsse.verify_envelope(dict(env2, payload="aGl="), priv.public_key())
    assert e.value.reason == "malformed-envelope"


def test_envelope_threshold_counts_distinct_keys():
    a, b = keys.generate_key("ed25519"), keys.generate_key("ecdsa-p256")
    env = dsse.sign_envelope(b"x", "t", [a, b])
    assert set(dsse.verify_envelope(env, [a.public_key(), b.public_key()], threshold=2).keyids) == {
        keys.keyid(a),
        keys.keyid(b),
    }
    twice = dict(env, signatures=[env["signatures"][0], env["signatures"][0]])
    with pytest.raises(dsse.DsseError):
        dsse.verify_envelope(twice, [a.public_key(), b.public_key()], threshold=2)


# ---------------------------------------------------------------------------------------------------------------
# Statements


def test_build_statement_shape_and_determinism(release):
    files = file_digests(release)
    st = build_statement(list(reversed(files)), AUDIT_PREDICATE_TYPE, PASS)
    assert st["_type"] == STATEMENT_TYPE == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == "https://assay.dev/attestation/audit/v1"
    assert [s["name"] for s in st["subject"]] == sorted(n for n, _ in files)
    assert st["subject"][0] == {"name": "config.json", "digest": {"sha256": dict(files)["config.json"]}}
    assert statement_bytes(st) == statement_bytes(build_statement(files, AUDIT_PREDICATE_TYPE, PASS))


@pytest.mark.parametrize(
    "files,predicate,match",
    [
        ([("../etc/passwd", "0" * 64)], PASS, "escapes"),
        ([("/abs", "0" * 64)], PASS, "absolute"),
        ([("a", "xyz")], PASS, "sha256"),
        ([("a", "0" * 64), ("a", "1" * 64)], PASS, "twice"),
        ([], PASS, "at least one subject"),
        ([("a", "0" * 64)], {"verdict": "maybe"}, "verdict"),
        ([("a", "0" * 64)], {"verdict": "pass", "x": float("nan")}, "plain JSON"),
    ],
)
def test_build_statement_refuses_bad_input(files, predicate, match):
    with pytest.raises(InputError, match=match):
        build_statement(files, AUDIT_PREDICATE_TYPE, predicate)


def test_test_result_predicate():
    pred = test_result_predicate(
        "PASSED",
        configuration=[{"name": "assay.yaml", "digest": {"sha256": "0" * 64}}],
        passed=["sha256", "claims"],
        url="https://example.org/run/1",
    )
    st = build_statement([("a", "0" * 64)], TEST_RESULT_PREDICATE_TYPE, pred)
    assert st["predicate"]["result"] == "PASSED" and st["predicate"]["passedTests"] == ["sha256", "claims"]
    with pytest.raises(InputError, match="result"):
        test_result_predicate("OK")


# ---------------------------------------------------------------------------------------------------------------
# write_attestation → verify_attestation


def test_round_trip(attested):
    out, release, kp = attested
    assert out.name == "attestation.dsse.json"
    env = json.loads(out.read_text())
    assert env["payloadType"] == "application/vnd.in-toto+json" and env["signatures"][0]["keyid"] == kp.keyid
    st = json.loads(base64.b64decode(env["payload"]))
    assert st["predicate"] == PASS and len(st["subject"]) == 4
    r = verify_attestation(out, release, kp.public_key)
    assert r.ok and r.signature_ok and r.subjects_checked and r.verdict == "pass", r.problems
    assert [s.status for s in r.subjects] == ["ok"] * 4 and r.signer == kp.keyid
    assert r.predicate == PASS
    # without --dir the subjects are not checked: fail closed, unless only the signature was asked for
    r2 = verify_attestation(out, None, kp.public_key)
    assert not r2.ok and r2.reasons == ["subjects-not-checked"] and r2.signature_ok
    r3 = verify_attestation(out, None, kp.public_key, signature_only=True)
    assert r3.ok and not r3.subjects_checked and {s.status for s in r3.subjects} == {"not-checked"}


def test_tampered_payload_fails(attested):
    out, release, kp = attested
    env = json.loads(out.read_text())
    st = json.loads(base64.b64decode(env["payload"]))
    st["predicate"]["verdict"] = "pass"
    st["subject"][0]["digest"]["sha256"] = "0" * 64  # point a subject at other bytes
    env["payload"] = base64.b64encode(statement_bytes(st)).decode()
    out.write_bytes(dsse.dumps_envelope(env))
    r = verify_attestation(out, release, kp.public_key)
    assert not r.ok and r.reasons == ["bad-signature"] and not r.signature_ok and r.predicate is None


def test_every_byte_of_the_attestation_matters(attested):
    """Change each byte of the file in turn (flip its low bit; also make it a space): no edited file verifies."""
    out, _release, kp = attested
    data = out.read_bytes()
    for i in range(len(data)):
        for new in (data[i] ^ 0x01, ord(" ")):
            if new == data[i]:
                continue
            out.write_bytes(data[:i] + bytes([new]) + data[i + 1 :])
            r = verify_attestation(out, None, kp.public_key, signature_only=True)
            assert not r.ok, f"byte {i} changed to {new!r} still verifies"
            assert r.reasons[0] in {"malformed-envelope", "non-canonical-envelope", "bad-signature", "wrong-key"}


def test_reformatted_envelope_is_named_and_lenient_format_accepts_it(attested):
    out, release, kp = attested
    out.write_text(json.dumps(json.loads(out.read_text())))  # same JSON meaning, other bytes
    r = verify_attestation(out, release, kp.public_key)
    assert not r.ok and r.reasons == ["non-canonical-envelope"] and r.signature_ok
    r = verify_attestation(out, release, kp.public_key, lenient_format=True)
    assert r.ok and r.warnings


def test_tampered_file_fails_naming_it(attested):
    out, release, kp = attested
    with open(release / "model.safetensors", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00")
    r = verify_attestation(out, release, kp.public_key)
    assert not r.ok and r.reasons == ["subject-mismatch"] and r.problems[0].where == "model.safetensors"
    assert {s.name: s.status for s in r.subjects}["model.safetensors"] == "mismatch"


def test_missing_subject_fails(attested):
    out, release, kp = attested
    (release / "eval" / "results.json").unlink()
    r = verify_attestation(out, release, kp.public_key)
    assert not r.ok and r.reasons == ["missing-subject"] and r.problems[0].where == "eval/results.json"


def test_extra_file_is_a_warning(attested):
    out, release, kp = attested
    (release / "notes.txt").write_text("not attested\n")
    r = verify_attestation(out, release, kp.public_key)
    assert r.ok and any("notes.txt" in w for w in r.warnings)


def test_symlinked_subject_outside_root_is_unsafe(attested, tmp_path):
    out, release, kp = attested
    outside = tmp_path / "outside.json"
    outside.write_bytes((release / "config.json").read_bytes())
    (release / "config.json").unlink()
    os.symlink(outside, release / "config.json")
    r = verify_attestation(out, release, kp.public_key)
    assert not r.ok and r.reasons == ["unsafe-path"]


def test_wrong_key_fails(attested, tmp_path):
    out, release, kp = attested
    other = keys.generate_keypair(tmp_path / "other", "ecdsa-p256")
    r = verify_attestation(out, release, other.public_key)
    assert not r.ok and r.reasons == ["wrong-key"] and not r.signature_ok
    # the same wrong key, with the keyid hint stripped: the signature itself does not verify
    env = json.loads(out.read_text())
    env["signatures"][0]["keyid"] = ""
    out.write_bytes(dsse.dumps_envelope(env))
    assert verify_attestation(out, release, other.public_key).reasons == ["bad-signature"]
    assert verify_attestation(out, release, kp.public_key).ok  # keyid is only a hint


def test_failed_audit_attestation_is_authentic_but_fails(tmp_path, release, keypair):
    out = write_attestation(
        file_digests(release),
        {"verdict": "fail", "failed": ["evals.chartqa"]},
        keypair.private_key,
        tmp_path / "a.json",
    )
    r = verify_attestation(out, release, keypair.public_key)
    assert r.signature_ok and not r.ok and r.reasons == ["audit-failed"] and r.verdict == "fail"
    r = verify_attestation(out, release, keypair.public_key, expected_predicate_type=TEST_RESULT_PREDICATE_TYPE)
    assert "predicate-type-mismatch" in r.reasons


def test_test_result_attestation(tmp_path, release, keypair):
    out = write_attestation(
        file_digests(release),
        test_result_predicate("WARNED", passed=["a"], warned=["b"]),
        keypair.private_key,
        tmp_path / "t.json",
        predicate_type=TEST_RESULT_PREDICATE_TYPE,
    )
    r = verify_attestation(out, release, keypair.public_key, expected_predicate_type=TEST_RESULT_PREDICATE_TYPE)
    assert r.ok and r.verdict == "warn" and any("WARNED" in w for w in r.warnings)


def test_bad_inputs_raise_input_error(tmp_path, attested):
    out, release, kp = attested
    with pytest.raises(InputError, match="no such attestation"):
        verify_attestation(tmp_path / "nope.json", release, kp.public_key)
    with pytest.raises(InputError, match="no such public key"):
        verify_attestation(out, release, tmp_path / "nope.pub")
    with pytest.raises(InputError, match="not a directory"):
        verify_attestation(out, release / "config.json", kp.public_key)
    with pytest.raises(InputError, match="public key; signing needs the private key"):
        write_attestation([("a", "0" * 64)], PASS, kp.public_key, tmp_path / "x.json")


def test_keygen_files_and_default_key(tmp_path, monkeypatch, release):
    monkeypatch.setenv("ASSAY_KEY_DIR", str(tmp_path / "kd"))
    kp = keys.generate_keypair()
    assert kp.key_type == "ecdsa-p256" and Path(kp.private_key) == tmp_path / "kd" / "assay.key"
    assert stat.S_IMODE(os.stat(kp.private_key).st_mode) == 0o600
    with pytest.raises(InputError, match="already exists"):
        keys.generate_keypair()
    out = write_attestation(file_digests(release), PASS, None, tmp_path / "a.json")  # default key
    assert verify_attestation(out, release).ok  # default public key
    # an encrypted key needs its password
    monkeypatch.setenv("ASSAY_KEY_PASSWORD", "s3cret")
    enc = keys.generate_keypair(tmp_path / "enc", "ed25519")
    assert enc.encrypted and b"ENCRYPTED" in Path(enc.private_key).read_bytes()
    monkeypatch.delenv("ASSAY_KEY_PASSWORD")
    with pytest.raises(InputError, match="ASSAY_KEY_PASSWORD"):
        keys.load_private_key(enc.private_key)
    assert keys.keyid(keys.load_private_key(enc.private_key, "s3cret")) == enc.keyid


# ---------------------------------------------------------------------------------------------------------------
# Interoperability: securesystemslib (the DSSE authors' Python implementation) reads and writes the same envelopes


def test_securesystemslib_interop(tmp_path, release):
    import securesystemslib.dsse as sslib_dsse  # arrives with model-signing (sigstore -> tuf)
    from securesystemslib.signer import CryptoSigner, SSlibKey

    kp = keys.generate_keypair(tmp_path / "k", "ecdsa-p256")
    priv = keys.load_private_key(kp.private_key)
    sslib_key = SSlibKey.from_crypto(priv.public_key(), keyid=kp.keyid)
    # assay → securesystemslib
    out = write_attestation(file_digests(release), PASS, kp.private_key, tmp_path / "a.json")
    env = sslib_dsse.Envelope.from_dict(json.loads(out.read_text()))
    assert kp.keyid in env.verify([sslib_key], 1)
    # securesystemslib → assay (its JSON layout differs: verify with --lenient-format semantics)
    st = build_statement(file_digests(release), AUDIT_PREDICATE_TYPE, PASS)
    env2 = sslib_dsse.Envelope(payload=statement_bytes(st), payload_type="application/vnd.in-toto+json", signatures={})
    env2.sign(CryptoSigner(priv, sslib_key))
    (tmp_path / "s.json").write_text(json.dumps(env2.to_dict()))
    r = verify_attestation(tmp_path / "s.json", release, kp.public_key, lenient_format=True)
    assert r.ok, r.problems


# ---------------------------------------------------------------------------------------------------------------
# CLI: assay keygen / assay attest verify (exit codes 0 / 1 / 2)


def test_cli_keygen_and_attest_verify(tmp_path, release):
    r = run_assay("keygen", "--out", str(tmp_path / "k"), "--type", "ed25519", "--json")
    assert r.returncode == 0, r.stderr
    kg = json.loads(r.stdout)
    assert kg["key_type"] == "ed25519" and Path(kg["public_key"]).exists()
    out = write_attestation(file_digests(release), PASS, kg["private_key"], tmp_path / "a.json")

    r = run_assay("attest", "verify", str(out), "--dir", str(release), "--key", kg["public_key"], "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["ok"] is True

    def reasons(*args: str) -> tuple[int, list[str]]:
        r = run_assay("attest", "verify", *args, "--json")
        return r.returncode, [p["code"] for p in json.loads(r.stdout)["problems"]]

    other = keys.generate_keypair(tmp_path / "other", "ed25519")
    assert reasons(str(out), "--dir", str(release), "--key", other.public_key) == (1, ["wrong-key"])

    (release / "tokenizer.json").write_text("{}\n")
    r = run_assay("attest", "verify", str(out), "--dir", str(release), "--key", kg["public_key"])
    assert r.returncode == 1 and "subject-mismatch" in r.stdout and "tokenizer.json" in r.stdout
    (release / "tokenizer.json").unlink()
    assert reasons(str(out), "--dir", str(release), "--key", kg["public_key"]) == (1, ["missing-subject"])

    env = json.loads(out.read_text())
    st = json.loads(base64.b64decode(env["payload"]))
    st["predicate"]["verdict"] = "pass"
    st["predicate"]["note"] = "edited"
    env["payload"] = base64.b64encode(statement_bytes(st)).decode()
    out.write_bytes(dsse.dumps_envelope(env))
    assert reasons(str(out), "--key", kg["public_key"]) == (1, ["bad-signature"])

    r = run_assay("attest", "verify", str(tmp_path / "missing.json"), "--key", kg["public_key"])
    assert r.returncode == 2 and r.stderr.startswith("assay: error:") and "no such attestation" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    r = run_assay("keygen", "--out", str(tmp_path / "k"), "--type", "rsa")
    assert r.returncode == 2 and "unknown key type" in r.stderr
