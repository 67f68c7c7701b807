"""Parity with ``model_signing verify`` on model-transparency's own reference signatures (tests/fixtures/oms/).

Every case upstream ships (v0.2.0 … v1.1.0; key, certificate and Sigstore modes; folders and single files) is
verified twice with the same options: by the installed model-signing's own command line (``model_signing verify
key|certificate|sigstore …``, its click command run in-process) and by ``assay verify MODEL --signature …`` (assay's
real entry point, in-process).  They must agree: what model-signing accepts assay accepts (exit 0, verdict pass);
what it rejects assay rejects (exit 1) with a named reason.  Tampered copies (a flipped byte, an extra file, a
removed file), wrong keys, wrong trust anchors and a signature verified in the wrong mode are rejected by both.

Sigstore keyless needs Sigstore's trust root: fetched over the network (TUF), which tests never use.  Offline
(simulated by making the trust-root fetch fail as it does without a network), model-signing fails and assay says
``not-checked`` (exit 1, never a pass).  With a ClientTrustConfig built from the trusted root that the installed
sigstore package ships, both verify the Sigstore cases offline, and must agree there too.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from model_signing import _cli as ms_cli

FIX = Path(__file__).parent / "fixtures" / "oms"
KEYS = FIX / "keys" / "certificate"
PUB = KEYS / "signing-key-pub.pem"
CA = KEYS / "ca-cert.pem"
IDENTITY = "stefanb@us.ibm.com"
ISSUER = "https://sigstore.verify.ibm.com/oauth2"


@dataclass(frozen=True)
class Case:
    name: str
    mode: str  # key | certificate | sigstore
    file: str = ""  # a single-file model: the file in the case folder upstream verifies
    ignore: tuple[str, ...] = ()  # what upstream's test passes as --ignore-paths

    def __str__(self) -> str:
        return self.name


# Exactly upstream's scripts/tests/test-verify-*.sh (see tests/fixtures/oms/README.md).
CASES = [
    Case("v0.2.0-certificate", "certificate"),
    Case("v0.3.1-certificate", "certificate"),
    Case("v0.3.1-elliptic-key", "key", file="signme-1"),
    Case("v0.3.1-sigstore", "sigstore"),
    Case("v1.0.0-certificate", "certificate"),
    Case("v1.0.0-elliptic-key", "key", file="signme-1"),
    Case("v1.0.0-sigstore", "sigstore"),
    Case("v1.0.1-certificate", "certificate", ignore=("ignore-me",)),
    Case("v1.0.1-elliptic-key", "key", ignore=("ignore-me",)),
    Case("v1.0.1-sigstore", "sigstore", ignore=("ignore-me",)),
    Case("v1.1.0-certificate", "certificate", ignore=("ignore-me",)),
    Case("v1.1.0-elliptic-key", "key", ignore=("ignore-me",)),
    Case("v1.1.0-sigstore", "sigstore", ignore=("ignore-me",)),
]
OFFLINE = [c for c in CASES if c.mode != "sigstore"]
SIGSTORE = [c for c in CASES if c.mode == "sigstore"]


def test_every_upstream_case_is_here():
    assert sorted(p.name for p in FIX.iterdir() if p.is_dir() and p.name.startswith("v")) == sorted(
        c.name for c in CASES
    )


# ---------------------------------------------------------------------------------------------------------------
# Running both tools with the same options


def _copy(case: Case, tmp_path: Path) -> Path:
    dst = tmp_path / case.name  # the folder name is the signed model name
    shutil.copytree(FIX / case.name, dst)
    return dst


def _options(
    case: Case,
    folder: Path,
    *,
    key: Path = PUB,
    chain: tuple[Path, ...] = (CA,),
    trust: Path | None = None,
    ignore: tuple[str, ...] | None = None,
    identity: str = IDENTITY,
    mode: str | None = None,
):
    """(model, model_signing args, assay args) for one verification of ``folder`` (a copy of ``case``)."""
    mode = mode or case.mode
    model = folder / case.file if case.file else folder
    sig = folder / "model.sig"
    ms = [mode, "--signature", str(sig)]
    assay = ["verify", str(model), "--signature", str(sig), "--json"]
    for p in case.ignore if ignore is None else ignore:
        ms += ["--ignore-paths", str(folder / p)]
        assay += ["--ignore", str(folder / p)]
    if mode == "key":
        ms += ["--public_key", str(key)]
        assay += ["--key", str(key)]
    elif mode == "certificate":
        for c in chain:
            ms += ["--certificate_chain", str(c)]
            assay += ["--certificate-chain", str(c)]
    else:
        ms += ["--identity", identity, "--identity_provider", ISSUER]
        assay += ["--identity", identity, "--issuer", ISSUER]
        if trust is not None:
            ms += ["--trust_config", str(trust)]
            assay += ["--trust-config", str(trust)]
    return model, [*ms, str(model)], assay


def _model_signing(args: list[str]) -> bool:
    r = CliRunner().invoke(ms_cli.main, ["verify", *args])
    ok = r.exit_code == 0
    assert ok == ("Verification succeeded" in r.output), r.output
    return ok


def _assay(capsys, args: list[str]) -> tuple[int, dict | None, str]:
    from assay.cli.main import main

    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code in (0, 1) else None), out.err


def _both(capsys, case: Case, folder: Path, **kw) -> tuple[bool, int, dict]:
    _, ms_args, assay_args = _options(case, folder, **kw)
    ms_ok = _model_signing(ms_args)
    code, res, err = _assay(capsys, assay_args)
    assert code in (0, 1) and res is not None, err
    return ms_ok, code, res


def _agree_accept(ms_ok: bool, code: int, res: dict) -> None:
    assert ms_ok, "model_signing rejected"
    assert code == 0 and res["ok"] is True and res["verdict"] == "pass" and res["problems"] == [], res


def _agree_reject(ms_ok: bool, code: int, res: dict, reason: str) -> None:
    assert not ms_ok, "model_signing accepted"
    assert code == 1 and res["ok"] is False and res["verdict"] != "pass", res
    assert reason in [p["code"] for p in res["problems"]], res["problems"]


# ---------------------------------------------------------------------------------------------------------------
# Key and certificate modes: fully offline


@pytest.mark.parametrize("case", OFFLINE, ids=str)
def test_upstream_case_verifies_in_both(capsys, tmp_path, case):
    folder = _copy(case, tmp_path)
    ms_ok, code, res = _both(capsys, case, folder)
    _agree_accept(ms_ok, code, res)
    assert res["method"] == res["signed_mode"] == case.mode
    signed = {f["name"] for f in res["files"]}
    assert signed == ({"."} if case.file else {"signme-1", "signme-2"})
    if case.mode == "certificate":
        assert res["signer"] == "CN=intermediate-ca"  # the leaf's subject in upstream's gen.sh


def _tamper(folder: Path, case: Case, how: str) -> str:
    """Change the copy; returns the reason assay must name."""
    target = folder / (case.file or "signme-1")
    if how == "flip":
        data = bytearray(target.read_bytes())
        data[0] ^= 0x01
        target.write_bytes(bytes(data))
        return "file-mismatch"
    if how == "extra":
        (folder / "extra.bin").write_bytes(b"not signed\n")
        return "extra-file"
    (folder / "signme-2").unlink()
    return "missing-file"


TAMPER = [(c, how) for c in OFFLINE for how in (("flip",) if c.file else ("flip", "extra", "remove"))]


@pytest.mark.parametrize(("case", "how"), TAMPER, ids=lambda v: str(v))
def test_tampered_copy_rejected_by_both(capsys, tmp_path, case, how):
    folder = _copy(case, tmp_path)
    reason = _tamper(folder, case, how)
    ms_ok, code, res = _both(capsys, case, folder)
    _agree_reject(ms_ok, code, res, reason)
    bad = [p for p in res["problems"] if p["code"] == reason]
    assert bad[0]["where"] == {"flip": case.file and "." or "signme-1", "extra": "extra.bin", "remove": "signme-2"}[how]


@pytest.mark.parametrize("case", [c for c in OFFLINE if c.file], ids=str)
def test_single_file_model_ignores_its_neighbours(capsys, tmp_path, case):
    """A single-file model is that file: a new file beside it is not part of the model, for either tool."""
    folder = _copy(case, tmp_path)
    (folder / "extra.bin").write_bytes(b"beside, not inside\n")
    _agree_accept(*_both(capsys, case, folder))


@pytest.mark.parametrize("case", [c for c in OFFLINE if c.ignore], ids=str)
def test_ignore_paths_needed_unless_signed(capsys, tmp_path, case):
    """v1.0.x signed with --ignore-paths but did not record it: without --ignore the ignored file is an extra
    file for both.  v1.1.0 records ignore paths in the signature: both verify without the option."""
    folder = _copy(case, tmp_path)
    ms_ok, code, res = _both(capsys, case, folder, ignore=())
    if case.name.startswith("v1.0."):
        _agree_reject(ms_ok, code, res, "extra-file")
        assert [p["where"] for p in res["problems"]] == ["ignore-me"]
    else:
        _agree_accept(ms_ok, code, res)


@pytest.mark.parametrize("case", [c for c in OFFLINE if c.mode == "key"], ids=str)
def test_wrong_public_key_rejected_by_both(capsys, tmp_path, case):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = tmp_path / "other.pub"  # the same curve as upstream's signing key, another key
    other.write_bytes(
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    folder = _copy(case, tmp_path)
    ms_ok, code, res = _both(capsys, case, folder, key=other)
    _agree_reject(ms_ok, code, res, "wrong-key")


def _self_signed_ca(tmp_path: Path) -> Path:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root-ca")])  # same name as upstream's root
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    out = tmp_path / "other-ca.pem"
    out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


@pytest.mark.parametrize("case", [c for c in OFFLINE if c.mode == "certificate"], ids=str)
def test_untrusted_chain_rejected_by_both(capsys, tmp_path, case):
    folder = _copy(case, tmp_path)
    ms_ok, code, res = _both(capsys, case, folder, chain=(_self_signed_ca(tmp_path),))
    _agree_reject(ms_ok, code, res, "untrusted-certificate")


def test_intermediate_alone_is_not_a_trust_anchor(capsys, tmp_path):
    case = next(c for c in CASES if c.name == "v1.1.0-certificate")
    folder = _copy(case, tmp_path)
    ms_ok, code, res = _both(capsys, case, folder, chain=(KEYS / "int-ca-cert.pem",))
    _agree_reject(ms_ok, code, res, "untrusted-certificate")


@pytest.mark.parametrize(
    ("case_name", "mode"),
    [
        ("v1.0.0-certificate", "key"),  # model-signing 1.1.x: AttributeError ('NoneType' … 'hint'); 1.0.x accepted
        ("v1.1.0-certificate", "key"),
        ("v1.1.0-elliptic-key", "certificate"),
        ("v1.1.0-sigstore", "key"),
        ("v1.1.0-sigstore", "certificate"),
    ],
)
def test_signature_verified_in_the_wrong_mode_is_a_named_rejection(capsys, tmp_path, case_name, mode):
    case = next(c for c in CASES if c.name == case_name)
    folder = _copy(case, tmp_path)
    ms_ok, code, res = _both(capsys, case, folder, mode=mode)
    _agree_reject(ms_ok, code, res, "mode-mismatch")
    assert res["signed_mode"] == case.mode and "AttributeError" not in json.dumps(res)


# ---------------------------------------------------------------------------------------------------------------
# Sigstore keyless


def _offline(monkeypatch):
    """What a machine without a network gets: sigstore's TUF refresh of the trust root fails (model-signing's
    verifier fetches it in its constructor; assay fetches it the same way first)."""
    from sigstore import errors
    from sigstore.models import ClientTrustConfig

    def no_network(*_a, **_k):
        raise errors.TUFError("Failed to refresh TUF metadata")

    monkeypatch.setattr(ClientTrustConfig, "production", classmethod(no_network))
    monkeypatch.setattr(ClientTrustConfig, "staging", classmethod(no_network))


@pytest.mark.parametrize("case", SIGSTORE, ids=str)
def test_sigstore_offline_is_not_checked(capsys, tmp_path, monkeypatch, case):
    _offline(monkeypatch)
    folder = _copy(case, tmp_path)
    ms_ok, code, res = _both(capsys, case, folder)
    assert not ms_ok
    assert code == 1 and res["ok"] is False and res["verdict"] == "not-checked", res
    assert [p["code"] for p in res["problems"]] == ["not-checked"]
    assert "--trust-config" in res["problems"][0]["message"]


def _bundled_trust_config(tmp_path: Path) -> Path | None:
    """A ClientTrustConfig (production) from the trusted root and signing config the sigstore package ships."""
    import importlib.resources

    store = importlib.resources.files("sigstore") / "_store"
    found = None
    for cand in store.iterdir():  # one folder per TUF repository (prod/ in sigstore 3.x)
        if (
            cand.is_dir()
            and (cand / "trusted_root.json").is_file()
            and (cand.name == "prod" or cand.name.endswith("sigstore.dev"))
        ):
            found = cand
    if found is None:
        return None
    doc = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads((found / "trusted_root.json").read_text()),
    }
    if (found / "signing_config.v0.2.json").is_file():
        doc["signingConfig"] = json.loads((found / "signing_config.v0.2.json").read_text())
    out = tmp_path / "trust_config.json"
    out.write_text(json.dumps(doc))
    return out


@pytest.fixture
def bundled_trust(tmp_path) -> Path:
    tc = _bundled_trust_config(tmp_path)
    if tc is None:
        pytest.skip("the installed sigstore package ships no trusted root")
    return tc


@pytest.mark.parametrize("case", SIGSTORE, ids=str)
def test_sigstore_offline_with_bundled_trust_root_agrees(capsys, tmp_path, monkeypatch, bundled_trust, case):
    _offline(monkeypatch)  # proves nothing is fetched
    folder = _copy(case, tmp_path)
    ms_ok, code, res = _both(capsys, case, folder, trust=bundled_trust)
    assert ms_ok == (code == 0), res
    _agree_accept(ms_ok, code, res)

    ms_ok, code, res = _both(capsys, case, folder, trust=bundled_trust, identity="someone-else@example.com")
    _agree_reject(ms_ok, code, res, "identity-mismatch")

    _tamper(folder, case, "flip")
    ms_ok, code, res = _both(capsys, case, folder, trust=bundled_trust)
    _agree_reject(ms_ok, code, res, "file-mismatch")


def test_sigstore_with_a_fetched_trust_root(capsys, tmp_path, monkeypatch, bundled_trust):
    """Online, the trust root comes from Sigstore's TUF repository (model-signing's default); simulated here by
    serving the bundled one from ClientTrustConfig.production, which both tools call."""
    from sigstore.models import ClientTrustConfig

    served = ClientTrustConfig.from_json(bundled_trust.read_text())
    monkeypatch.setattr(ClientTrustConfig, "production", classmethod(lambda cls, offline=False: served))
    case = next(c for c in SIGSTORE if c.name == "v1.1.0-sigstore")
    folder = _copy(case, tmp_path)
    _agree_accept(*_both(capsys, case, folder))
    _tamper(folder, case, "remove")
    ms_ok, code, res = _both(capsys, case, folder)
    _agree_reject(ms_ok, code, res, "missing-file")
