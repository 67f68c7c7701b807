"""The OCI hub against a real registry: Debian's docker-registry (CNCF Distribution 2.8) on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import json
import random
import threading
from pathlib import Path

import pytest
import requests

from assay.hubs.base import HubError, PushFile, TransferError
from assay.hubs.oci import ARTIFACT_TYPE, CONFIG_TYPE, DOC, MANIFEST_TYPE, WEIGHT, WEIGHT_CONFIG, OciHub
from assay.manifests.uris import parse_source_uri
from support.registry_server import start_registry

REPO = "models/tiny-vlm"
ROLES = {  # path -> (role, expected layer media type)
    "model-00001-of-00002.safetensors": ("weights", WEIGHT),
    "model-00002-of-00002.safetensors": ("weights", WEIGHT),
    "config.json": ("config", WEIGHT_CONFIG),
    "tokenizer.json": ("tokenizer", WEIGHT_CONFIG),
    "README.md": ("docs", DOC),
    "modeling_tiny.py": ("code", "application/vnd.cncf.model.code.v1.raw"),
    "data/mix.jsonl": ("data", "application/vnd.cncf.model.dataset.v1.raw"),
    "evals/log.json": ("eval-log", DOC),
    "assay.yaml": ("other", DOC),
    "assay.lock.yaml": ("other", DOC),
}
LOCK_DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with start_registry(tmp_path_factory.mktemp("oci") / "storage") as reg:
        yield reg


def _pushfile(root: Path, path: str, data: bytes, role: str = "other") -> PushFile:
    local = root / path
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    return PushFile(path=path, local=local, size=len(data), sha256=hashlib.sha256(data).hexdigest(), role=role)


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> list[PushFile]:
    root, rnd = tmp_path_factory.mktemp("pkg"), random.Random(7)
    contents = {p: rnd.randbytes(4096 + i) for i, p in enumerate(ROLES)}
    contents["model-00002-of-00002.safetensors"] = rnd.randbytes(3 * 1024 * 1024 + 123)  # several 1 MiB chunks
    contents["assay.yaml"] = (
        b"apiVersion: assay/v1\nkind: Release\nrelease: {name: tiny-vlm, version: 0.1.0, "
        b"publisher: demo lab, license: apache-2.0}\nclaims: {parameters: {total: 119520}}\n"
    )
    contents["assay.lock.yaml"] = f"apiVersion: assay/v1\nkind: Lock\nrelease_digest: '{LOCK_DIGEST}'\n".encode()
    return [_pushfile(root, p, contents[p], ROLES[p][0]) for p in ROLES]


@pytest.fixture(scope="module")
def pushed(registry, package):
    return OciHub().push(parse_source_uri(f"oci://{registry.host}/{REPO}:0.1.0"), package, message="first release")


def _manifest(registry, repo: str, ref: str) -> bytes:
    r = requests.get(f"{registry.url}/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_TYPE}, timeout=10)
    assert r.status_code == 200, r.text
    return r.content


def _read(hub: OciHub, resolved, path: str, offset: int = 0) -> tuple[int, list[bytes]]:
    chunks = hub.open(resolved, resolved.file(path), offset)
    return chunks.offset, list(chunks.iterator)


def test_push_then_resolve_lists_every_file(registry, package, pushed):
    assert pushed.ok and pushed.revision.startswith("sha256:") and pushed.release_digest == LOCK_DIGEST
    assert {t.status for t in pushed.files} == {"uploaded"}
    assert pushed.bytes_transferred > sum(f.size for f in package)  # files + config + manifest
    resolved = OciHub().resolve(parse_source_uri(f"oci://{registry.host}/{REPO}:0.1.0"))
    assert resolved.revision == pushed.revision
    assert {f.path: (f.size, f.sha256) for f in resolved.files} == {f.path: (f.size, f.sha256) for f in package}
    assert all(f.locator == f"sha256:{f.sha256}" for f in resolved.files)


def test_manifest_is_modelpack_with_raw_layers(registry, package, pushed):
    raw = _manifest(registry, REPO, "0.1.0")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == pushed.revision
    m = json.loads(raw)
    assert (m["mediaType"], m["artifactType"], m["config"]["mediaType"]) == (MANIFEST_TYPE, ARTIFACT_TYPE, CONFIG_TYPE)
    assert m["annotations"]["org.opencontainers.image.description"] == "first release"
    by_path = {layer["annotations"]["org.cncf.model.filepath"]: layer for layer in m["layers"]}
    assert set(by_path) == set(ROLES)
    for path, layer in by_path.items():
        assert layer["mediaType"] == ROLES[path][1] and layer["mediaType"].endswith(".raw")
        assert layer["annotations"]["org.opencontainers.image.title"] == path
    config = requests.get(f"{registry.url}/v2/{REPO}/blobs/{m['config']['digest']}", timeout=10).json()
    assert config["descriptor"] == {
        "name": "tiny-vlm",
        "version": "0.1.0",
        "vendor": "demo lab",
        "licenses": ["apache-2.0"],
        "revision": LOCK_DIGEST,
    }
    assert config["config"] == {"format": "safetensors", "paramSize": "119.5K"}
    assert config["modelfs"] == {"type": "layers", "diffIds": [layer["digest"] for layer in m["layers"]]}


def test_repush_is_idempotent(registry, package, pushed):
    again = OciHub().push(
        parse_source_uri(f"oci://{registry.host}/{REPO}:0.1.0"), package[::-1], message="first release"
    )
    assert again.revision == pushed.revision
    assert {t.status for t in again.files} == {"exists"} and again.bytes_transferred == 0


def test_resolve_by_tag_and_by_digest_agree(registry, pushed):
    hub = OciHub()
    by_tag = hub.resolve(parse_source_uri(f"oci://{registry.host}/{REPO}:0.1.0"))
    by_digest = hub.resolve(parse_source_uri(f"oci://{registry.host}/{REPO}@{pushed.revision}"))
    assert by_digest.revision == by_tag.revision == pushed.revision and by_digest.files == by_tag.files


def test_open_streams_whole_file_and_ranges(registry, package, pushed):
    hub, big = OciHub(), package[1]
    resolved = hub.resolve(parse_source_uri(f"oci://{registry.host}/{REPO}@{pushed.revision}"))
    data = big.local.read_bytes()
    offset, chunks = _read(hub, resolved, big.path)
    assert offset == 0 and b"".join(chunks) == data and len(chunks) >= 4 and max(map(len, chunks)) <= 1 << 20
    offset, chunks = _read(hub, resolved, big.path, 1_234_567)  # the registry answers 206
    assert offset == 1_234_567 and b"".join(chunks) == data[1_234_567:]
    assert _read(hub, resolved, big.path, big.size) == (
        big.size,
        [],
    )  # complete: no request (Distribution's 416 is broken)


def test_chunked_upload(registry, package, tmp_path):
    hub, big = OciHub(chunked_threshold=1 << 20, upload_chunk=1 << 20), package[1]
    uri, methods = parse_source_uri(f"oci://{registry.host}/models/chunked:1"), []
    session = hub._registry(uri).session
    send = session.request
    session.request = lambda method, url, **kw: methods.append(method) or send(method, url, **kw)
    res = hub.push(uri, [big], message="")
    assert [(t.status, t.bytes_transferred) for t in res.files] == [("uploaded", big.size)]
    assert methods.count("PATCH") == 4  # 3 MiB + 123 bytes in 1 MiB chunks
    resolved = hub.resolve(parse_source_uri(f"oci://{registry.host}/models/chunked:1"))
    assert hashlib.sha256(b"".join(_read(hub, resolved, big.path)[1])).hexdigest() == big.sha256


def test_tampered_blob_is_served_as_is(registry, tmp_path):
    """The registry checks digests on upload, not when serving: the transfer engine's hash is what catches this."""
    hub, f = OciHub(), _pushfile(tmp_path, "w.safetensors", b"tamper me " * 500, "weights")
    uri = parse_source_uri(f"oci://{registry.host}/models/tamper:1")
    hub.push(uri, [f], message="")
    blob = registry.blob_path(f"sha256:{f.sha256}")
    blob.write_bytes(b"X" * f.size)  # same size, different bytes
    resolved = hub.resolve(uri)
    offset, chunks = _read(hub, resolved, f.path)
    served = b"".join(chunks)
    assert offset == 0 and len(served) == f.size and served == b"X" * f.size
    assert hashlib.sha256(served).hexdigest() != resolved.file(f.path).sha256
    # Nor does a re-push heal it: HEAD says the blob exists, so the good bytes are not sent again.
    assert hub.push(uri, [f], message="").files[0].status == "exists"


def test_tampered_manifest_is_refused(registry, tmp_path):
    hub, f = OciHub(), _pushfile(tmp_path, "a.txt", b"a", "docs")
    uri = parse_source_uri(f"oci://{registry.host}/models/tampered-manifest:1")
    digest = hub.push(uri, [f], message="aaaa").revision
    path = registry.blob_path(digest)
    path.write_bytes(path.read_bytes().replace(b"aaaa", b"bbbb"))
    with pytest.raises(HubError, match="hash to"):
        hub.resolve(uri)


def test_missing_tag_and_repo(registry, pushed):
    with pytest.raises(HubError, match="not found"):
        OciHub().resolve(parse_source_uri(f"oci://{registry.host}/{REPO}:9.9.9"))
    with pytest.raises(HubError, match="not found"):
        OciHub().resolve(parse_source_uri(f"oci://{registry.host}/models/absent@sha256:{'0' * 64}"))


@pytest.mark.parametrize(
    "change, error",
    [
        ({"org.cncf.model.filepath": "../x"}, "unsafe path"),
        ({"org.cncf.model.filepath": "/etc/passwd"}, "unsafe path"),
        ({"org.cncf.model.filepath": "a/../../x"}, "unsafe path"),
        ({"mediaType": "application/vnd.cncf.model.weight.v1.tar"}, "packed layer"),
    ],
)
def test_hand_made_manifest_is_refused(registry, pushed, change, error):
    m = json.loads(_manifest(registry, REPO, "0.1.0"))
    layer = m["layers"][0]
    layer.update({k: v for k, v in change.items() if k == "mediaType"})
    layer["annotations"].update({k: v for k, v in change.items() if k != "mediaType"})
    r = requests.put(
        f"{registry.url}/v2/{REPO}/manifests/evil",
        data=json.dumps(m),
        headers={"Content-Type": MANIFEST_TYPE},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    with pytest.raises(HubError, match=error):
        OciHub().resolve(parse_source_uri(f"oci://{registry.host}/{REPO}:evil"))


def test_push_refuses_bytes_that_do_not_match_sha256(registry, tmp_path):
    f = _pushfile(tmp_path, "x.bin", b"real bytes")
    f.sha256 = hashlib.sha256(b"other bytes").hexdigest()
    with pytest.raises(HubError, match="do not hash to"):
        OciHub().push(parse_source_uri(f"oci://{registry.host}/models/bad:1"), [f], message="")


def test_unreachable_registry(registry, pushed):
    dead = registry.host.split(":")[0] + ":1"  # nothing listens on port 1
    with pytest.raises(HubError, match="cannot reach OCI registry"):
        OciHub().resolve(parse_source_uri(f"oci://{dead}/{REPO}:0.1.0"))
    resolved = OciHub().resolve(parse_source_uri(f"oci://{registry.host}/{REPO}:0.1.0"))
    resolved.uri = f"oci://{dead}/{REPO}:0.1.0"
    with pytest.raises(TransferError, match="cannot reach OCI registry") as info:
        OciHub().open(resolved, resolved.files[0])
    assert "\n" not in str(info.value)


def test_oras_py_reads_the_artifact(registry, package, pushed, tmp_path):
    """Interoperability: a stock ORAS client pulls every file to its path (and, note, verifies none of them)."""
    import oras.provider as oras_provider  # a test dependency

    oras_provider.Registry(hostname=registry.host, insecure=True).pull(
        f"{registry.host}/{REPO}:0.1.0", outdir=str(tmp_path)
    )
    for f in package:
        assert (tmp_path / f.path).read_bytes() == f.local.read_bytes()


class _TokenServer(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self):  # noqa: N802
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps({"token": "t0ken"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_bearer_token_flow(tmp_path, monkeypatch):
    """Distribution's 'silly' auth challenges with a Bearer realm; the hub fetches a token with Basic credentials."""
    tokens = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenServer)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    realm = f"http://127.0.0.1:{tokens.server_port}/token"
    monkeypatch.setenv("ASSAY_OCI_USERNAME", "alice")
    monkeypatch.setenv("ASSAY_OCI_PASSWORD", "s3cret")
    try:
        with start_registry(tmp_path / "authed", auth={"silly": {"realm": realm, "service": "assay-test"}}) as reg:
            assert requests.get(f"{reg.url}/v2/", timeout=5).status_code == 401
            hub, f = OciHub(), _pushfile(tmp_path, "a.txt", b"hello", "docs")
            res = hub.push(parse_source_uri(f"oci://{reg.host}/models/private:1"), [f], message="")
            resolved = hub.resolve(parse_source_uri(f"oci://{reg.host}/models/private:1"))
            assert resolved.revision == res.revision and b"".join(_read(hub, resolved, "a.txt")[1]) == b"hello"
    finally:
        tokens.shutdown()
    path, authorization = _TokenServer.seen[0]
    assert path.startswith("/token?") and "service=assay-test" in path and "scope=repository" in path
    assert authorization == "Basic " + __import__("base64").b64encode(b"alice:s3cret").decode()
