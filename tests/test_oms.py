"""OMS / OpenSSF model-signing compatibility: assay sign ⇄ model_signing verify, model_signing sign ⇄ assay verify.

Key-based and offline; also: unsupported or empty signatures never pass, bad options are exit 2, git paths,
single-file models.  Upstream's own reference signatures (every version and mode) are in test_oms_upstream.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import model_signing
import pytest
from assay.attest import keys
from assay.attest.oms import OMS_PREDICATE_TYPE, sign_model, verify_model_signature
from assay.manifests.errors import InputError
from test_attest_support import make_release, run_assay


@pytest.fixture
def ec_keys(tmp_path):
    return keys.generate_keypair(tmp_path / "keys", "ecdsa-p256")


@pytest.fixture
def model(tmp_path) -> Path:
    return make_release(tmp_path / "tiny-model")


def _statement(sig: Path) -> dict:
    bundle = json.loads(sig.read_text())
    return json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))


def _ms_verify(model: Path, sig: Path, pub: str) -> None:
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(model, sig)


# ---------------------------------------------------------------------------------------------------------------
# assay sign → assay verify, and the format


def test_sign_writes_oms_v1_bundle_and_verifies(model, ec_keys):
    res = sign_model(model, ec_keys.private_key)
    sig = model / "model.sig"
    assert res.signature == str(sig) and sig.exists() and res.keyid == ec_keys.keyid
    bundle = json.loads(sig.read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
    st = _statement(sig)
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == OMS_PREDICATE_TYPE == "https://model_signing/signature/v1.0"
    names = sorted(r["name"] for r in st["predicate"]["resources"])
    assert names == ["config.json", "eval/results.json", "model.safetensors", "tokenizer.json"]  # model.sig excluded
    assert "model.sig" in st["predicate"]["serialization"]["ignore_paths"]
    # the OMS root digest: sha256 over the files' raw digests sorted by name
    digests = {p: hashlib.sha256((model / p).read_bytes()).digest() for p in names}
    assert st["subject"] == [
        {"name": "tiny-model", "digest": {"sha256": hashlib.sha256(b"".join(digests[n] for n in names)).hexdigest()}}
    ]
    assert res.root_digest == st["subject"][0]["digest"]["sha256"]

    v = verify_model_signature(model, sig, ec_keys.public_key)
    assert v.ok and v.problems == [] and v.predicate_type == OMS_PREDICATE_TYPE, v.problems
    assert {f.name: f.status for f in v.files} == {n: "ok" for n in names}


def test_tampered_file_missing_file_extra_file(model, ec_keys):
    sign_model(model, ec_keys.private_key)
    (model / "tokenizer.json").write_text('{"model": {"vocab": {"b": 0}}}\n')
    v = verify_model_signature(model, model / "model.sig", ec_keys.public_key)
    assert not v.ok and v.reasons == ["file-mismatch"] and v.problems[0].where == "tokenizer.json"
    (model / "eval" / "results.json").unlink()
    (model / "backdoor.py").write_text("import os\n")
    v = verify_model_signature(model, model / "model.sig", ec_keys.public_key)
    assert sorted((p.code, p.where) for p in v.problems) == [
        ("extra-file", "backdoor.py"),
        ("file-mismatch", "tokenizer.json"),
        ("missing-file", "eval/results.json"),
    ]


def test_wrong_key_and_tampered_signature(model, ec_keys, tmp_path):
    sign_model(model, ec_keys.private_key)
    sig = model / "model.sig"
    other = keys.generate_keypair(tmp_path / "other", "ecdsa-p256")
    assert verify_model_signature(model, sig, other.public_key).reasons == ["wrong-key"]

    bundle = json.loads(sig.read_text())
    st = _statement(sig)
    st["predicate"]["resources"][0]["digest"] = "0" * 64  # forge a digest, keep the old signature
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    sig.write_text(json.dumps(bundle))
    assert verify_model_signature(model, sig, ec_keys.public_key).reasons == ["bad-signature"]

    sig.write_text("not a signature")
    assert verify_model_signature(model, sig, ec_keys.public_key).reasons == ["malformed-signature"]


def test_ed25519_key_is_bad_input(model, tmp_path):
    ed = keys.generate_keypair(tmp_path / "ed", "ed25519")
    with pytest.raises(InputError, match="ECDSA"):
        sign_model(model, ed.private_key)
    with pytest.raises(InputError, match="no such model folder"):
        sign_model(tmp_path / "nope", ed.private_key)


# ---------------------------------------------------------------------------------------------------------------
# Interop through model-signing's Python API


def test_assay_signed_verifies_with_model_signing_api(model, ec_keys, tmp_path):
    sig = tmp_path / "out" / "tiny.sig"  # a signature outside the folder
    sign_model(model, ec_keys.private_key, sig)
    _ms_verify(model, sig, ec_keys.public_key)
    (model / "config.json").write_text("{}\n")
    with pytest.raises(ValueError, match="config.json"):
        _ms_verify(model, sig, ec_keys.public_key)


def test_model_signing_signed_verifies_with_assay(model, ec_keys):
    sig = model / "model.sig"
    (
        model_signing.signing.Config()
        .use_elliptic_key_signer(private_key=ec_keys.private_key)
        .set_hashing_config(model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"]))
        .sign(model, sig)
    )
    v = verify_model_signature(model, sig, ec_keys.public_key)
    assert v.ok, v.problems
    (model / "model.safetensors").write_bytes(b"\x00" * 10)
    v = verify_model_signature(model, sig, ec_keys.public_key)
    assert v.reasons == ["file-mismatch"] and v.problems[0].where == "model.safetensors"


def test_model_signing_shard_serialization_verifies_with_assay(model, ec_keys, tmp_path):
    """The hashing configuration is read from the signed predicate: shards of 4 KiB, blake2 (which model-signing
    1.1.1's own verifier cannot guess back: it records "blake2b" and its Config only takes "blake2")."""
    sig = tmp_path / "sharded.sig"
    (
        model_signing.signing.Config()
        .use_elliptic_key_signer(private_key=ec_keys.private_key)
        .set_hashing_config(
            model_signing.hashing.Config().use_shard_serialization(shard_size=4096, hashing_algorithm="blake2")
        )
        .sign(model, sig)
    )
    assert _statement(sig)["predicate"]["serialization"]["method"] == "shards"
    assert verify_model_signature(model, sig, ec_keys.public_key).ok


# ---------------------------------------------------------------------------------------------------------------
# A signature made by model-transparency v1.1.0 (tests/fixtures/oms/v1.1.0-elliptic-key, see its README): P-384 key,
# files signme-1 / signme-2, ignore-me ignored.  Every upstream case is in test_oms_upstream.py.

FIX = Path(__file__).parent / "fixtures" / "oms"


def test_model_transparency_v1_1_0_signature_verifies_with_assay(tmp_path):
    d = tmp_path / "v1.1.0-elliptic-key"
    shutil.copytree(FIX / "v1.1.0-elliptic-key", d)
    pub = FIX / "keys" / "certificate" / "signing-key-pub.pem"
    v = verify_model_signature(d, d / "model.sig", pub)
    assert v.ok and v.verdict == "pass", v.problems
    assert v.root_digest == "92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4"
    assert sorted(f.name for f in v.files) == ["signme-1", "signme-2"]
    (d / "signme-2").write_bytes(b"signme-2!")
    v = verify_model_signature(d, d / "model.sig", pub)
    assert v.reasons == ["file-mismatch"] and v.problems[0].where == "signme-2" and v.verdict == "fail"


# ---------------------------------------------------------------------------------------------------------------
# Interop through model-signing's own command line, and assay's command line (exit codes 0 / 1 / 2)


def test_cli_both_ways_with_model_signing_cli(model, ec_keys, tmp_path):
    ms = [sys.executable, "-m", "model_signing"]
    # assay sign → model_signing verify key
    r = run_assay("sign", str(model), "--key", ec_keys.private_key, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["signature"] == str(model / "model.sig")
    p = subprocess.run(
        [*ms, "verify", "key", "--signature", str(model / "model.sig"), "--public_key", ec_keys.public_key, str(model)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert p.returncode == 0, p.stdout + p.stderr

    # model_signing sign key → assay verify --signature
    other = make_release(tmp_path / "other-model")
    p = subprocess.run(
        [*ms, "sign", "key", "--private_key", ec_keys.private_key, "--signature", str(other / "model.sig"), str(other)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    r = run_assay("verify", str(other), "--signature", str(other / "model.sig"), "--key", ec_keys.public_key, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["ok"] is True

    (other / "config.json").write_text("{}\n")
    r = run_assay("verify", str(other), "--signature", str(other / "model.sig"), "--key", ec_keys.public_key)
    assert r.returncode == 1 and "file-mismatch" in r.stdout and "config.json" in r.stdout

    ed = keys.generate_keypair(tmp_path / "ed", "ed25519")
    r = run_assay("sign", str(model), "--key", ed.private_key)
    assert r.returncode == 2 and r.stderr.startswith("assay: error:") and "ECDSA" in r.stderr


# ---------------------------------------------------------------------------------------------------------------
# Fail closed: unsupported, malformed or empty signatures never pass; bad options are exit 2


def _rewrite(sig: Path, out: Path, *, bundle=None, statement=None, payload_type=None) -> Path:
    b = json.loads(sig.read_text())
    if statement is not None:
        st = _statement(sig)
        statement(st)
        b["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    if payload_type is not None:
        b["dsseEnvelope"]["payloadType"] = payload_type
    if bundle is not None:
        bundle(b)
    out.write_text(json.dumps(b))
    return out


def test_unsupported_or_malformed_signatures_never_pass(model, ec_keys, tmp_path):
    sig = tmp_path / "good.sig"
    sign_model(model, ec_keys.private_key, sig)
    assert verify_model_signature(model, sig, ec_keys.public_key).verdict == "pass"

    def message_signature(b):
        b["messageSignature"] = {"signature": "AA=="}
        del b["dsseEnvelope"]

    variants = {
        "predicate": (
            _rewrite(sig, tmp_path / "p.sig", statement=lambda st: st.update(predicateType="x/v9")),
            "unsupported-format",
        ),
        "statement": (
            _rewrite(sig, tmp_path / "s.sig", statement=lambda st: st.update(_type="x/Statement/v0")),
            "unsupported-format",
        ),
        "payload-type": (_rewrite(sig, tmp_path / "t.sig", payload_type="text/plain"), "unsupported-format"),
        "bundle-v0.1": (
            _rewrite(
                sig,
                tmp_path / "m.sig",
                bundle=lambda b: b.update(mediaType="application/vnd.dev.sigstore.bundle+json;version=0.1"),
            ),
            "unsupported-format",
        ),
        "message-signature": (_rewrite(sig, tmp_path / "ms.sig", bundle=message_signature), "unsupported-format"),
        "no-material": (
            _rewrite(sig, tmp_path / "nm.sig", bundle=lambda b: b.update(verificationMaterial={})),
            "malformed-signature",
        ),
        "no-signatures": (
            _rewrite(sig, tmp_path / "ns.sig", bundle=lambda b: b["dsseEnvelope"].update(signatures=[])),
            "malformed-signature",
        ),
    }
    (tmp_path / "empty.sig").write_bytes(b"")
    (tmp_path / "obj.sig").write_text("{}")
    variants["empty"] = (tmp_path / "empty.sig", "malformed-signature")
    variants["object"] = (tmp_path / "obj.sig", "malformed-signature")
    for name, (path, reason) in variants.items():
        v = verify_model_signature(model, path, ec_keys.public_key)
        assert not v.ok and v.verdict == "fail" and v.reasons == [reason], (name, v.problems)


def test_signature_over_no_files_is_not_a_pass(tmp_path, ec_keys):
    """model-signing accepts a signature of an empty folder; it vouches for no file, so assay does not pass it."""
    empty = tmp_path / "empty-model"
    empty.mkdir()
    sig = tmp_path / "empty.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=ec_keys.private_key).sign(empty, sig)
    _ms_verify(empty, sig, ec_keys.public_key)  # model-signing: fine
    v = verify_model_signature(empty, sig, ec_keys.public_key)
    assert not v.ok and v.verdict == "fail" and v.reasons == ["no-files-signed"]


def test_single_file_model(tmp_path, ec_keys):
    weights = make_release(tmp_path / "m") / "model.safetensors"
    sig = tmp_path / "weights.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=ec_keys.private_key).sign(weights, sig)
    v = verify_model_signature(weights, sig, ec_keys.public_key)
    assert v.ok and v.verdict == "pass" and [f.name for f in v.files] == ["."], v.problems
    assert v.model_name == "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])
    v = verify_model_signature(weights, sig, ec_keys.public_key)
    assert v.reasons == ["file-mismatch"] and v.problems[0].where == "."


def test_git_paths(tmp_path, ec_keys):
    """Like model-signing: .git, .gitattributes, .github, .gitignore are left out by default; a signature that
    signed them (signed with ignore_git_paths=False) has them checked unless told otherwise."""
    model = make_release(tmp_path / "m")
    (model / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    sig = tmp_path / "with-git.sig"
    (
        model_signing.signing.Config()
        .use_elliptic_key_signer(private_key=ec_keys.private_key)
        .set_hashing_config(model_signing.hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=False))
        .sign(model, sig)
    )
    v = verify_model_signature(model, sig, ec_keys.public_key)
    assert v.ok and ".gitattributes" in [f.name for f in v.files], v.problems
    (model / ".gitattributes").write_text("changed\n")
    assert verify_model_signature(model, sig, ec_keys.public_key).reasons == ["file-mismatch"]
    v = verify_model_signature(model, sig, ec_keys.public_key, ignore_git_paths=True)
    assert [(p.code, p.where) for p in v.problems] == [("missing-file", ".gitattributes")]

    sig2 = tmp_path / "without-git.sig"  # model-signing's default: git paths left out (and recorded as ignored)
    model_signing.signing.Config().use_elliptic_key_signer(private_key=ec_keys.private_key).sign(model, sig2)
    assert verify_model_signature(model, sig2, ec_keys.public_key).ok
    assert verify_model_signature(model, sig2, ec_keys.public_key, ignore_git_paths=False).ok


def _assay_main(capsys, *args: str) -> tuple[int, str, str]:
    from assay.cli.main import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_bad_options_are_one_line_exit_2(capsys, model, ec_keys, tmp_path):
    sig = tmp_path / "m.sig"
    sign_model(model, ec_keys.private_key, sig)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    base = ["verify", str(model), "--signature", str(sig)]
    bad = {
        "identity without issuer": [*base, "--identity", "me@example.com"],
        "two modes": [*base, "--key", ec_keys.public_key, "--certificate-chain", ec_keys.public_key],
        "key in sigstore mode": [*base, "--key", ec_keys.public_key, "--identity", "a", "--issuer", "b"],
        "unknown mode": [*base, "--mode", "pkcs11"],
        "staging in key mode": [*base, "--key", ec_keys.public_key, "--use-staging"],
        "ignore outside": [*base, "--key", ec_keys.public_key, "--ignore", "../x"],
        "ignore absolute outside": [*base, "--key", ec_keys.public_key, "--ignore", str(tmp_path)],
        "chain not PEM": [*base, "--certificate-chain", str(not_pem)],
        "no such chain": [*base, "--certificate-chain", str(tmp_path / "nope.pem")],
        "trust config not JSON": [*base, "--identity", "a", "--issuer", "b", "--trust-config", str(not_pem)],
        "ignore on a single file": [
            "verify",
            str(model / "config.json"),
            "--signature",
            str(sig),
            "--key",
            ec_keys.public_key,
            "--ignore",
            "x",
        ],
        "no such model": ["verify", str(tmp_path / "nope"), "--signature", str(sig), "--key", ec_keys.public_key],
        "identity without --signature": ["verify", str(model), "--identity", "me@example.com"],
    }
    for name, args in bad.items():
        code, out, err = _assay_main(capsys, *args)
        assert code == 2 and err.startswith("assay: error:") and err.count("\n") == 1 and out == "", (name, err)


def test_cli_mode_mismatch_and_aliases(capsys, model, ec_keys, tmp_path):
    """--public-key / --ignore-paths / --identity-provider spell upstream's options; a key signature checked in
    certificate mode is a named rejection (exit 1), not an exception."""
    sig = model / "model.sig"
    sign_model(model, ec_keys.private_key)
    (model / "notes.txt").write_text("added after signing\n")
    code, out, _ = _assay_main(
        capsys,
        "verify",
        str(model),
        "--signature",
        str(sig),
        "--public-key",
        ec_keys.public_key,
        "--ignore-paths",
        "notes.txt",
        "--json",
    )
    assert code == 0 and json.loads(out)["verdict"] == "pass"
    code, out, _ = _assay_main(
        capsys, "verify", str(model), "--signature", str(sig), "--public-key", ec_keys.public_key, "--json"
    )
    assert code == 1 and [p["code"] for p in json.loads(out)["problems"]] == ["extra-file"]
    ca = FIX / "keys" / "certificate" / "ca-cert.pem"
    code, out, _ = _assay_main(
        capsys,
        "verify",
        str(model),
        "--signature",
        str(sig),
        "--certificate-chain",
        str(ca),
        "--ignore",
        "notes.txt",
        "--json",
    )
    res = json.loads(out)
    assert code == 1 and res["verdict"] == "fail" and res["signed_mode"] == "key" and res["method"] == "certificate"
    assert [p["code"] for p in res["problems"]] == ["mode-mismatch"] and "--key" in res["problems"][0]["message"]
    code, out, _ = _assay_main(
        capsys,
        "verify",
        str(model),
        "--signature",
        str(sig),
        "--identity",
        "a@b.c",
        "--identity-provider",
        "https://issuer.example",
        "--json",
    )
    assert code == 1 and [p["code"] for p in json.loads(out)["problems"]] == ["mode-mismatch"]
    code, out, _ = _assay_main(
        capsys, "verify", str(model), "--signature", str(sig), "--key", ec_keys.public_key, "--ignore", "notes.txt"
    )
    assert code == 0 and "signature verified" in out and "key mode" in out


# ---------------------------------------------------------------------------------------------------------------
# Certificate mode with a chain made here (upstream's own certificate signatures are in test_oms_upstream.py)


def _pki(tmp_path: Path, *, leaf_usage: bool = True):
    """A root CA, an intermediate and an ECDSA P-256 leaf key + certificate, written as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)

    def cert(subject, subject_key, issuer, issuer_key, ca: bool, usage: bool):
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(subject_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), True)
        elif usage:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    root_k, int_k, leaf_k = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = cert("test-root", root_k, "test-root", root_k, True, True)
    inter = cert("test-int", int_k, "test-root", root_k, True, True)
    leaf = cert("test-signer", leaf_k, "test-int", int_k, False, leaf_usage)
    pem = serialization.Encoding.PEM
    out = {}
    for name, c in (("root", root), ("int", inter), ("leaf", leaf)):
        out[name] = tmp_path / f"{name}.pem"
        out[name].write_bytes(c.public_bytes(pem))
    out["key"] = tmp_path / "leaf.key"
    out["key"].write_bytes(leaf_k.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return out


def _cert_sign(model: Path, sig: Path, pki: dict) -> None:
    (
        model_signing.signing.Config()
        .use_certificate_signer(private_key=pki["key"], signing_certificate=pki["leaf"], certificate_chain=[pki["int"]])
        .sign(model, sig)
    )


def test_certificate_mode(model, tmp_path):
    pki = _pki(tmp_path)
    sig = tmp_path / "cert.sig"
    _cert_sign(model, sig, pki)
    v = verify_model_signature(model, sig, certificate_chain=[pki["root"]])
    assert v.ok and v.verdict == "pass" and v.method == v.signed_mode == "certificate", v.problems
    assert v.signer == "CN=test-signer"
    (tmp_path / "other").mkdir()
    other = _pki(tmp_path / "other")  # another root CA
    v = verify_model_signature(model, sig, certificate_chain=[other["root"]])
    assert v.reasons == ["untrusted-certificate"] and v.verdict == "fail"
    v = verify_model_signature(model, sig, public_key=pki["key"])  # right key, wrong mode
    assert v.reasons == ["mode-mismatch"]
    (model / "config.json").write_text("{}\n")
    v = verify_model_signature(model, sig, certificate_chain=[pki["root"]])
    assert [(p.code, p.where) for p in v.problems] == [("file-mismatch", "config.json")]


def test_certificate_not_for_signing_is_untrusted(model, tmp_path):
    pki = _pki(tmp_path, leaf_usage=False)  # neither KeyUsage digitalSignature nor EKU codeSigning
    sig = tmp_path / "cert.sig"
    _cert_sign(model, sig, pki)
    v = verify_model_signature(model, sig, certificate_chain=[pki["root"]])
    assert v.reasons == ["untrusted-certificate"] and "codeSigning" in v.problems[0].message
    assert any("KeyUsage" in w for w in v.warnings)  # model-signing's log lines become warnings, not stray output
    with pytest.raises(ValueError, match="cannot be used for signing"):  # what model-signing itself says
        model_signing.verifying.Config().use_certificate_verifier(certificate_chain=[pki["root"]]).verify(model, sig)
