"""OMS / OpenSSF model-signing compatibility: assay sign ⇄ model_signing verify, model_signing sign ⇄ assay verify.

Everything is key-based and offline (Sigstore keyless needs a network).  Includes a signature file made by
model-transparency's own v1.1.0 release (its test data), verified by assay.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from assay.attest import keys
from assay.attest.oms import OMS_PREDICATE_TYPE, sign_model, verify_model_signature
from assay.manifests.errors import InputError
from test_attest_support import make_release, run_assay

import model_signing  # noqa: E402 - a required dependency


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
    assert st["subject"] == [{"name": "tiny-model",
                              "digest": {"sha256": hashlib.sha256(b"".join(digests[n] for n in names)).hexdigest()}}]
    assert res.root_digest == st["subject"][0]["digest"]["sha256"]

    v = verify_model_signature(model, sig, ec_keys.public_key)
    assert v.ok and v.problems == [] and v.predicate_type == OMS_PREDICATE_TYPE, v.problems
    assert {f.name: f.status for f in v.files} == {n: "ok" for n in names}


def test_tampered_file_missing_file_extra_file(model, ec_keys):
    sign_model(model, ec_keys.private_key)
    (model / "tokenizer.json").write_text('{"model": {"vocab": {"b": 0}}}\n')
    v = verify_model_signature(model, model / "model.sig", ec_keys.public_key)
    assert not v.ok and v.reasons == ["file-mismatch"] and v.problems[0].path == "tokenizer.json"
    (model / "eval" / "results.json").unlink()
    (model / "backdoor.py").write_text("import os\n")
    v = verify_model_signature(model, model / "model.sig", ec_keys.public_key)
    assert sorted((p.reason, p.path) for p in v.problems) == [
        ("extra-file", "backdoor.py"), ("file-mismatch", "tokenizer.json"), ("missing-file", "eval/results.json")]


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
    (model_signing.signing.Config().use_elliptic_key_signer(private_key=ec_keys.private_key)
     .set_hashing_config(model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"]))
     .sign(model, sig))
    v = verify_model_signature(model, sig, ec_keys.public_key)
    assert v.ok, v.problems
    (model / "model.safetensors").write_bytes(b"\x00" * 10)
    v = verify_model_signature(model, sig, ec_keys.public_key)
    assert v.reasons == ["file-mismatch"] and v.problems[0].path == "model.safetensors"


def test_model_signing_shard_serialization_verifies_with_assay(model, ec_keys, tmp_path):
    """The hashing configuration is read from the signed predicate: shards of 4 KiB, blake2 (which model-signing
    1.1.1's own verifier cannot guess back: it records "blake2b" and its Config only takes "blake2")."""
    sig = tmp_path / "sharded.sig"
    (model_signing.signing.Config().use_elliptic_key_signer(private_key=ec_keys.private_key)
     .set_hashing_config(model_signing.hashing.Config().use_shard_serialization(shard_size=4096,
                                                                                 hashing_algorithm="blake2"))
     .sign(model, sig))
    assert _statement(sig)["predicate"]["serialization"]["method"] == "shards"
    assert verify_model_signature(model, sig, ec_keys.public_key).ok


# ---------------------------------------------------------------------------------------------------------------
# A signature made by model-transparency v1.1.0 (sigstore/model-transparency scripts/tests/v1.1.0-elliptic-key at
# commit a93b667b, Apache-2.0): P-384 key, files signme-1 / signme-2, ignore-me ignored.

_MT_SIG = (
    '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"e8450d'
    'ec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"},"tlogEntries":[]},"dsseEnvelope":{"payload":"ewogICJf'
    'dHlwZSI6ICJodHRwczovL2luLXRvdG8uaW8vU3RhdGVtZW50L3YxIiwKICAic3ViamVjdCI6IFsKICAgIHsKICAgICAgIm5hbWUiOiAidjEuMS4wLW'
    'VsbGlwdGljLWtleSIsCiAgICAgICJkaWdlc3QiOiB7CiAgICAgICAgInNoYTI1NiI6ICI5Mjc0NTExMGIxYWI0MzY4NDcxY2JlMzE2NjRlMTAxNzRl'
    'OTU0YjExM2EzZGYzMzNkYjg2MDMxN2IyYzZkZWM0IgogICAgICB9CiAgICB9CiAgXSwKICAicHJlZGljYXRlVHlwZSI6ICJodHRwczovL21vZGVsX3'
    'NpZ25pbmcvc2lnbmF0dXJlL3YxLjAiLAogICJwcmVkaWNhdGUiOiB7CiAgICAicmVzb3VyY2VzIjogWwogICAgICB7CiAgICAgICAgImFsZ29yaXRo'
    'bSI6ICJzaGEyNTYiLAogICAgICAgICJuYW1lIjogInNpZ25tZS0xIiwKICAgICAgICAiZGlnZXN0IjogImJjOWE3MTdkYjYwNjRhMzJjYmU5ZWFlNm'
    'ZjNDA2NTFkZDZkMzZlZjE3NTcxODNmNTkwZWZmMmIxNzY1ZDdlYmMiCiAgICAgIH0sCiAgICAgIHsKICAgICAgICAiYWxnb3JpdGhtIjogInNoYTI1'
    'NiIsCiAgICAgICAgIm5hbWUiOiAic2lnbm1lLTIiLAogICAgICAgICJkaWdlc3QiOiAiMzJkY2IxZjhlMWFlNTJkNTk2M2U1NmE2YmEwNmFiNThiND'
    'I0YzE1ZWQyYTZiNzBkMmZlY2ExZDA4OTM3MDAyOCIKICAgICAgfQogICAgXSwKICAgICJzZXJpYWxpemF0aW9uIjogewogICAgICAiYWxsb3dfc3lt'
    'bGlua3MiOiBmYWxzZSwKICAgICAgIm1ldGhvZCI6ICJmaWxlcyIsCiAgICAgICJoYXNoX3R5cGUiOiAic2hhMjU2IiwKICAgICAgImlnbm9yZV9wYX'
    'RocyI6IFsKICAgICAgICAiLmdpdCIsCiAgICAgICAgIm1vZGVsLnNpZyIsCiAgICAgICAgImlnbm9yZS1tZSIsCiAgICAgICAgIi5naXRhdHRyaWJ1'
    'dGVzIiwKICAgICAgICAiLmdpdGlnbm9yZSIsCiAgICAgICAgIi5naXRodWIiCiAgICAgIF0KICAgIH0KICB9Cn0=","payloadType":"applicati'
    'on/vnd.in-toto+json","signatures":[{"sig":"MGUCMQCVqSw64cBnPHqbyadq+OIgwQSg7WW8Mztp3dJ++atQsxzbtwafJJ164u7WEXmx5hE'
    'CMBSiShuN7OTLec6wLXpHUjFIQA/hhiBCjSzM9Q2cIUZpDmv+tWs1AkNxstJDbNl0lQ==","keyid":""}]}}'
)
_MT_PUB = """-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEsu6rZGBTjxtvRWPMixT+3HyndV0J0Ybt
aHZUcO4DEK+OJHO/4e32bb/fbJKSpRgcBsIpKLcVijUomyFOERbd7u+BTPSUjGZD
Qq6J7lTvp/EAXQGOKxW9RP0MGX3qAkvi
-----END PUBLIC KEY-----
"""


def test_model_transparency_v1_1_0_signature_verifies_with_assay(tmp_path):
    d = tmp_path / "v1.1.0-elliptic-key"
    d.mkdir()
    (d / "signme-1").write_bytes(b"signme-1\n")
    (d / "signme-2").write_bytes(b"signme-2")
    (d / "ignore-me").write_bytes(b"")
    (d / "model.sig").write_text(_MT_SIG)
    (tmp_path / "pub.pem").write_text(_MT_PUB)
    v = verify_model_signature(d, d / "model.sig", tmp_path / "pub.pem")
    assert v.ok, v.problems
    assert v.root_digest == "92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4"
    assert sorted(f.name for f in v.files) == ["signme-1", "signme-2"]
    (d / "signme-2").write_bytes(b"signme-2!")
    v = verify_model_signature(d, d / "model.sig", tmp_path / "pub.pem")
    assert v.reasons == ["file-mismatch"] and v.problems[0].path == "signme-2"


# ---------------------------------------------------------------------------------------------------------------
# Interop through model-signing's own command line, and assay's command line (exit codes 0 / 1 / 2)


def test_cli_both_ways_with_model_signing_cli(model, ec_keys, tmp_path):
    ms = [sys.executable, "-m", "model_signing"]
    # assay sign → model_signing verify key
    r = run_assay("sign", str(model), "--key", ec_keys.private_key, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["signature"] == str(model / "model.sig")
    p = subprocess.run([*ms, "verify", "key", "--signature", str(model / "model.sig"), "--public_key",
                        ec_keys.public_key, str(model)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr

    # model_signing sign key → assay verify --signature
    other = make_release(tmp_path / "other-model")
    p = subprocess.run([*ms, "sign", "key", "--private_key", ec_keys.private_key, "--signature",
                        str(other / "model.sig"), str(other)], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
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
