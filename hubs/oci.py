"""OCI registries as a hub: ``oci://host[:port]/repo:tag`` or ``oci://host[:port]/repo@sha256:<hex>``.

A package is a CNCF **ModelPack** artifact (modelpack/model-spec ``docs/spec.md``, ``docs/config.md``): an OCI image
manifest with ``artifactType application/vnd.cncf.model.manifest.v1+json``, a ModelPack config blob, and one
**raw** layer per file, its path in the ``org.cncf.model.filepath`` annotation.  Raw (not tar) layers are the point:
a raw layer's digest *is* the file's sha256 (= the Hugging Face LFS oid = the digest in assay's lock), so the
registry's own content addressing pins every file, and a lock made from a registry can be checked against a lock
made from a folder or a Hub.  Tar layers (the KitOps and oras CLI default) hash the archive, not the file: refused.

Trust: a registry is content-addressed on upload (a PUT whose bytes do not hash to ``?digest=`` is refused) but
serves whatever its storage holds, and clients such as oras-py 0.2.43 write pulled blobs without checking them
(oras-py#247).  So :meth:`OciHub.open` streams bytes unverified *on purpose*: the transfer engine
(``hubs/transfer.py``) hashes while writing and compares with the lock, which catches a tampered blob.  The
manifest, which this module parses, is hashed here and checked against ``Docker-Content-Digest`` and a pinned URI.

Plain ``requests`` rather than oras-py: we need the exact manifest bytes (its digest is the revision), Range
requests, HEAD-before-upload and one-line errors without oras-py's 5 retries with multi-second sleeps.
Credentials: ``ASSAY_OCI_USERNAME``/``ASSAY_OCI_PASSWORD``, else ``$DOCKER_CONFIG/config.json`` (default
``~/.docker/config.json``) ``auths[host].auth``; Basic and Bearer-token (``WWW-Authenticate`` realm) challenges are
answered.  Plain http is used for loopback hosts, or for any host with ``ASSAY_OCI_INSECURE=1``; https otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from ..manifests.errors import InputError, PathEscapeError
from ..manifests.paths import check_relpath
from ..manifests.uris import SourceURI, parse_source_uri
from .base import (
    LOCK_NAME,
    MANIFEST_NAME,
    Chunks,
    FileTransfer,
    HubError,
    PushFile,
    PushResult,
    RemoteFile,
    Resolved,
    TransferError,
)

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
_MP = "application/vnd.cncf.model."
WEIGHT, WEIGHT_CONFIG, DOC = _MP + "weight.v1.raw", _MP + "weight.config.v1.raw", _MP + "doc.v1.raw"
CODE, DATASET = _MP + "code.v1.raw", _MP + "dataset.v1.raw"
# assay.yaml and assay.lock.yaml travel as ModelPack *doc* layers (by path, not by a private media type): ModelPack's
# list of layer types is closed, so this keeps the artifact conformant for modctl & co, which unpack docs to their
# filepath -- the package root, where assay expects its manifest and lock.
ROLE_TYPES = {
    "weights": WEIGHT,
    "config": WEIGHT_CONFIG,
    "tokenizer": WEIGHT_CONFIG,
    "processor": WEIGHT_CONFIG,
    "docs": DOC,
    "code": CODE,
    "data": DATASET,
    "eval-log": DOC,
    "other": DOC,
}
FILEPATH, TITLE = "org.cncf.model.filepath", "org.opencontainers.image.title"
DESCRIPTION = "org.opencontainers.image.description"
_PACKED = re.compile(r"(\.tar|tar\+[a-z0-9]+|\.gzip|\.zstd)$")  # tar / compressed layers: digest != file sha256
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20  # download stream granularity
MAX_MANIFEST = 4 << 20  # the distribution spec's limit for manifests


def _why(exc: BaseException) -> str:
    """One line from a requests exception (whose str() is a nested repr several hundred characters long)."""
    m = re.search(r"\[Errno -?\d+\] [^'\")]+|Read timed out|Connection broken: [A-Za-z]+", str(exc))
    return m.group(0).strip() if m else type(exc).__name__


def _errors(resp: requests.Response) -> str:
    """The registry's error, e.g. ``404 MANIFEST_UNKNOWN: manifest unknown``."""
    try:
        err = resp.json()["errors"][0]
        return f"{resp.status_code} {err.get('code', '')}: {err.get('message', '')}".strip()
    except (ValueError, KeyError, IndexError, TypeError):
        return f"{resp.status_code} {resp.reason}"


def _credentials(host: str) -> tuple[str, str] | None:
    user, password = os.environ.get("ASSAY_OCI_USERNAME"), os.environ.get("ASSAY_OCI_PASSWORD")
    if user and password:
        return user, password
    cfg = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        auths = json.loads(cfg.read_text()).get("auths") or {}
    except (OSError, ValueError, AttributeError):
        return None
    for key in (host, f"https://{host}", f"http://{host}", f"{host}/v2/", f"https://{host}/v2/"):
        entry = auths.get(key)
        if isinstance(entry, dict) and entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return (user, password) if user else None
    return None


def _insecure_opt_in() -> bool:
    return os.environ.get("ASSAY_OCI_INSECURE") == "1"


class _Registry:
    """HTTP to one registry host: scheme choice, auth challenges, one-line errors."""

    def __init__(self, host: str, timeout: tuple[float, float]) -> None:
        self.host = host
        insecure = host.rsplit(":", 1)[0] in ("127.0.0.1", "localhost") or _insecure_opt_in()
        self.base = f"{'http' if insecure else 'https'}://{host}"
        self.session = requests.Session()
        self.timeout = timeout
        self.auth: str | None = None  # Authorization header value; never printed

    def url(self, repo: str, tail: str) -> str:
        return f"{self.base}/v2/{repo}/{tail}"

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict | None = None,
        data: bytes | Callable[[], bytes] | None = None,
        stream: bool = False,
        error: type[Exception] = HubError,
    ) -> requests.Response:
        """Send, answering one 401 challenge; ``data`` may be a factory so a retried body is fresh."""
        for attempt in (0, 1):
            hdrs = dict(headers or {})
            if self.auth:
                hdrs["Authorization"] = self.auth
            try:
                resp = self.session.request(
                    method,
                    url,
                    headers=hdrs,
                    data=data() if callable(data) else data,
                    stream=stream,
                    timeout=self.timeout,
                    allow_redirects=True,
                )
            except requests.RequestException as exc:
                raise error(f"cannot reach OCI registry {self.host}: {_why(exc)}") from None
            if resp.status_code != 401 or attempt or not self._authenticate(resp):
                break
            resp.close()
        if resp.status_code in (401, 403):
            raise HubError(
                f"OCI registry {self.host} refused {method} {url.split('/v2/', 1)[-1]} ({_errors(resp)}); "
                "set ASSAY_OCI_USERNAME/ASSAY_OCI_PASSWORD or log in with `docker login`"
            )
        return resp

    def _authenticate(self, resp: requests.Response) -> bool:
        scheme, _, params = resp.headers.get("WWW-Authenticate", "").partition(" ")
        creds = _credentials(self.host)
        if scheme.lower() == "basic":
            if not creds:
                return False
            self.auth = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            return True
        if scheme.lower() != "bearer":
            return False
        p = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if not p.get("realm"):
            return False
        cleartext_ok = urlsplit(p["realm"]).hostname in ("127.0.0.1", "localhost") or _insecure_opt_in()
        if creds and not (p["realm"].startswith("https://") or cleartext_ok):
            creds = None  # never send a password in clear text to a remote token service
        try:
            r = self.session.get(
                p["realm"], params={k: p[k] for k in ("service", "scope") if k in p}, auth=creds, timeout=self.timeout
            )
            answer = r.json() if r.status_code == 200 else {}
            token = answer.get("token") or answer.get("access_token")
        except (requests.RequestException, ValueError, AttributeError):
            return False
        if token:
            self.auth = f"Bearer {token}"
        return bool(token)


class OciHub:
    """The OCI-registry hub (``scheme = "oci"``); see the module docstring for the artifact layout."""

    scheme = "oci"

    def __init__(
        self,
        *,
        chunked_threshold: int = 64 << 20,
        upload_chunk: int = 16 << 20,
        timeout: tuple[float, float] = (10.0, 120.0),
    ) -> None:
        self.chunked_threshold = chunked_threshold  # uploads above this size use PATCH chunks (bounded memory)
        self.upload_chunk = upload_chunk
        self.timeout = timeout
        self._registries: dict[str, _Registry] = {}

    def _registry(self, uri: SourceURI) -> _Registry:
        if uri.host not in self._registries:
            self._registries[uri.host] = _Registry(uri.host, self.timeout)
        return self._registries[uri.host]

    def resolve(self, uri: SourceURI) -> Resolved:
        reg, ref = self._registry(uri), uri.revision or "latest"
        resp = reg.request("GET", reg.url(uri.repo, f"manifests/{ref}"), headers={"Accept": MANIFEST_TYPE}, stream=True)
        with resp:
            if resp.status_code == 404:
                raise HubError(f"{uri}: manifest {ref} not found in {uri.host}/{uri.repo} ({_errors(resp)})")
            if resp.status_code != 200:
                raise HubError(f"{uri}: cannot read manifest {ref} ({_errors(resp)})")
            try:
                body = resp.raw.read(MAX_MANIFEST + 1, decode_content=True)
            except Exception as exc:  # noqa: BLE001 -- urllib3 errors, not wrapped by requests on raw reads
                raise HubError(f"{uri}: reading manifest {ref} broke off: {_why(exc)}") from None
            if len(body) > MAX_MANIFEST:
                raise HubError(f"{uri}: manifest {ref} is larger than {MAX_MANIFEST} bytes")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        stated = resp.headers.get("Docker-Content-Digest")
        if stated and stated != digest:
            raise HubError(f"{uri}: manifest bytes hash to {digest} but the registry states {stated}")
        if ref.startswith("sha256:") and ref != digest:
            raise HubError(f"{uri}: manifest bytes hash to {digest}, not the pinned {ref}")
        try:
            manifest = json.loads(body)
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list):
            raise HubError(f"{uri}: manifest {digest} is not an OCI image manifest (no layers list)")
        if manifest.get("mediaType", MANIFEST_TYPE) != MANIFEST_TYPE:
            raise HubError(f"{uri}: {manifest.get('mediaType')} is not a single OCI image manifest (an index?)")
        files = [_layer_file(uri, layer) for layer in manifest["layers"]]
        if len({f.path for f in files}) != len(files):
            raise HubError(f"{uri}: manifest {digest} names the same file path in two layers")
        return Resolved(uri=str(uri), revision=digest, files=files)

    def open(self, resolved: Resolved, file: RemoteFile, offset: int = 0) -> Chunks:
        """Stream ``file``'s blob from ``offset``, unverified (the transfer engine hashes; see the module doc)."""
        uri = parse_source_uri(resolved.uri)
        reg, digest = self._registry(uri), file.locator or f"sha256:{file.sha256}"
        if file.size is not None and offset >= file.size:
            # Distribution 2.8 answers 416 here with the blob's Content-Length and a short body: a broken response.
            if offset == file.size:
                return Chunks(offset=offset, iterator=iter(()))
            raise HubError(f"cannot resume {file.path} at byte {offset}: the blob has {file.size} bytes")
        headers = {"Range": f"bytes={offset}-"} if offset > 0 else {}
        resp = reg.request(
            "GET", reg.url(uri.repo, f"blobs/{digest}"), headers=headers, stream=True, error=TransferError
        )
        if resp.status_code == 404:
            resp.close()
            raise HubError(f"blob {digest} ({file.path}) not found in {uri.host}/{uri.repo}")
        start = 0
        if resp.status_code == 206:
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            start = int(m.group(1)) if m else -1
            if start != offset:
                resp.close()
                got = resp.headers.get("Content-Range")
                raise TransferError(f"{uri.host} answered range {got!r} for bytes={offset}- of {file.path}")
        elif resp.status_code != 200:
            resp.close()
            raise HubError(f"cannot download {file.path} ({digest}) from {uri.host}/{uri.repo}: {_errors(resp)}")
        return Chunks(offset=start, iterator=_stream(resp, f"{file.path} from {uri.host}"), close=resp.close)

    def push(self, uri: SourceURI, files: list[PushFile], *, message: str, create: bool = False) -> PushResult:
        """Push ``files`` as one ModelPack artifact tagged ``uri``'s tag; blobs already there are not re-sent.

        ``create`` is accepted for the Hub protocol only: registries create repositories on first push.
        The config and manifest are canonical JSON with no timestamps, so pushing the same files with the same
        message gives the same manifest digest.
        """
        t0 = time.monotonic()
        if not uri.revision or uri.revision.startswith("sha256:"):
            raise InputError(f"{uri}: a push needs a tag (oci://host/repo:tag), not a digest")
        files = sorted(files, key=lambda f: f.path.encode())
        for f, prev in zip(files, [None, *files], strict=False):  # each file with the one before it
            check_relpath(f.path)
            if prev is not None and prev.path == f.path:
                raise InputError(f"path {f.path!r} appears twice in the package")
            if not _HEX.match(f.sha256 or ""):
                raise InputError(f"{f.path}: sha256 {f.sha256!r} is not 64 lowercase hex digits")
            if Path(f.local).stat().st_size != f.size:
                raise InputError(f"{f.local} changed since it was hashed (size is not {f.size})")
        layers = [
            {
                "mediaType": ROLE_TYPES.get(f.role, DOC),
                "digest": f"sha256:{f.sha256}",
                "size": f.size,
                "annotations": {FILEPATH: f.path, TITLE: f.path},
            }
            for f in files
        ]
        config = canonical_json(modelpack_config(uri, files, [f"sha256:{f.sha256}" for f in files]))
        cfg_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        cfg_desc = {"mediaType": CONFIG_TYPE, "digest": cfg_digest, "size": len(config)}
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "config": cfg_desc,
            "layers": layers,
            **({"annotations": {DESCRIPTION: message}} if message else {}),
        }
        body = canonical_json(manifest)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()

        reg = self._registry(uri)
        sent = self._upload(reg, uri, cfg_digest, len(config), lambda: config, "the ModelPack config")
        transfers = []
        for f in files:
            # Monolithic bodies are read whole (at most chunked_threshold bytes), so a retried request resends them.
            body_of = lambda f=f: Path(f.local).read_bytes()  # noqa: E731
            n = self._upload(reg, uri, f"sha256:{f.sha256}", f.size, body_of, f.path, f.local)
            transfers.append(
                FileTransfer(
                    path=f.path,
                    size=f.size,
                    sha256=f.sha256,
                    expected_sha256=f.sha256,
                    status="uploaded" if n is not None else "exists",
                    bytes_transferred=n or 0,
                )
            )
        murl = reg.url(uri.repo, f"manifests/{uri.revision}")
        head = reg.request("HEAD", murl, headers={"Accept": MANIFEST_TYPE})
        if not (head.status_code == 200 and head.headers.get("Docker-Content-Digest") == digest):
            resp = reg.request("PUT", murl, headers={"Content-Type": MANIFEST_TYPE}, data=body)
            if resp.status_code != 201:
                raise HubError(f"{uri}: registry refused the manifest ({_errors(resp)})")
            if resp.headers.get("Docker-Content-Digest", digest) != digest:
                raise HubError(f"{uri}: registry stored manifest {resp.headers['Docker-Content-Digest']}, not {digest}")
            sent = (sent or 0) + len(body)
        total = (sent or 0) + sum(t.bytes_transferred for t in transfers)
        return PushResult(
            to=str(uri),
            revision=digest,
            release_digest=_lock_digest(files),
            files=transfers,
            ok=True,
            seconds=time.monotonic() - t0,
            bytes_transferred=total,
        )

    def _upload(
        self,
        reg: _Registry,
        uri: SourceURI,
        digest: str,
        size: int,
        body: bytes | Callable[[], bytes],
        what: str,
        local: Path | None = None,
    ) -> int | None:
        """Upload one blob unless the repository has it; returns the bytes sent, or None when it existed."""
        head = reg.request("HEAD", reg.url(uri.repo, f"blobs/{digest}"))
        if head.status_code == 200:
            if int(head.headers.get("Content-Length", size)) != size:
                stated = head.headers["Content-Length"]
                raise HubError(f"{uri}: registry holds {digest} ({what}) with {stated} bytes, not {size}")
            return None
        resp = reg.request("POST", reg.url(uri.repo, "blobs/uploads/"), headers={"Content-Length": "0"})
        if resp.status_code != 202 or "Location" not in resp.headers:
            raise HubError(f"{uri}: cannot start an upload of {what} ({_errors(resp)})")
        location = requests.compat.urljoin(reg.base, resp.headers["Location"])
        if local is not None and size > self.chunked_threshold:
            with open(local, "rb") as fh:
                for start in range(0, size, self.upload_chunk):
                    chunk = fh.read(self.upload_chunk)
                    resp = reg.request(
                        "PATCH",
                        location,
                        data=chunk,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(len(chunk)),
                            "Content-Range": f"{start}-{start + len(chunk) - 1}",
                        },
                    )
                    if resp.status_code != 202 or "Location" not in resp.headers:
                        raise HubError(f"{uri}: chunk at byte {start} of {what} refused ({_errors(resp)})")
                    location = requests.compat.urljoin(reg.base, resp.headers["Location"])
            body = b""
        sep = "&" if "?" in location else "?"
        resp = reg.request(
            "PUT", f"{location}{sep}digest={digest}", data=body, headers={"Content-Type": "application/octet-stream"}
        )
        if resp.status_code == 400 and "DIGEST_INVALID" in resp.text:
            raise HubError(f"{uri}: the registry refused {what}: its bytes do not hash to {digest}")
        if resp.status_code != 201:
            raise HubError(f"{uri}: upload of {what} failed ({_errors(resp)})")
        return size


def _stream(resp: requests.Response, what: str) -> Iterator[bytes]:
    try:
        for chunk in resp.iter_content(CHUNK):
            if chunk:
                yield chunk
    except requests.RequestException as exc:
        raise TransferError(f"download of {what} broke off: {_why(exc)}") from None
    finally:
        resp.close()


def _layer_file(uri: SourceURI, layer: object) -> RemoteFile:
    """A manifest layer as a file, refusing what assay cannot pin: packed layers, odd digests, unsafe paths."""
    if not isinstance(layer, dict):
        raise HubError(f"{uri}: malformed layer descriptor {layer!r}")
    digest, size, mtype = layer.get("digest"), layer.get("size"), str(layer.get("mediaType", ""))
    ann = layer.get("annotations") or {}
    path = ann.get(FILEPATH) or ann.get(TITLE) if isinstance(ann, dict) else None
    if not isinstance(digest, str) or not _DIGEST.match(digest) or not isinstance(size, int) or size < 0:
        raise HubError(f"{uri}: layer {digest!r} has no sha256 digest and size (assay pins files by sha256)")
    if not isinstance(path, str):
        raise HubError(f"{uri}: layer {digest} has no {FILEPATH} or {TITLE} annotation naming its file")
    if _PACKED.search(mtype):
        raise HubError(
            f"{uri}: layer {path} ({digest}) is a packed layer ({mtype}); its digest is not the file's "
            "sha256, and assay reads only raw layers (ModelPack *.v1.raw)"
        )
    try:
        check_relpath(path)
    except PathEscapeError as exc:
        raise HubError(f"{uri}: registry layer {digest} names an unsafe path: {exc}") from None
    return RemoteFile(path=path, size=size, sha256=digest.split(":", 1)[1], locator=digest)


def canonical_json(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _read_yaml(files: list[PushFile], name: str) -> dict:
    """Best effort: the assay manifest or lock among the pushed files (whoever wrote them validated them)."""
    try:
        local = next(f.local for f in files if f.path == name)
        data = yaml.safe_load(Path(local).read_text(encoding="utf-8"))
    except (StopIteration, OSError, ValueError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _lock_digest(files: list[PushFile]) -> str | None:
    d = _read_yaml(files, LOCK_NAME).get("release_digest")
    return d if isinstance(d, str) and _DIGEST.match(d) else None


def _param_size(n: object) -> str | None:
    """ModelPack's ``paramSize``: ``<count with ≤1 decimal><K|M|B|T|Q>``, e.g. 119520 -> ``119.5K``."""
    for scale, letter in ((10**15, "Q"), (10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if isinstance(n, int) and not isinstance(n, bool) and n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + letter
    return None


def modelpack_config(uri: SourceURI, files: list[PushFile], diff_ids: list[str]) -> dict:
    """The ModelPack config: descriptor from the assay manifest when present, no timestamps (idempotent pushes)."""
    doc = _read_yaml(files, MANIFEST_NAME)
    rel = _mapping(doc.get("release"))
    descriptor = {
        "name": rel.get("name") or uri.repo.rsplit("/", 1)[-1],
        "version": rel.get("version") or uri.revision,
        "vendor": rel.get("publisher"),
        "description": rel.get("description"),
        "docURL": rel.get("homepage"),
        "licenses": [rel["license"]] if rel.get("license") else None,
        "revision": _lock_digest(files),
    }
    weights = {Path(f.path).suffix.lower() for f in files if f.role == "weights"} - {".json"}
    params = _mapping(_mapping(doc.get("claims")).get("parameters"))
    config = {
        "format": {".safetensors": "safetensors", ".gguf": "gguf", ".onnx": "onnx"}.get(weights.pop())
        if len(weights) == 1
        else None,
        "paramSize": _param_size(params.get("total")),
    }
    return {
        "descriptor": {k: v if isinstance(v, list) else str(v) for k, v in descriptor.items() if v},
        "config": {k: v for k, v in config.items() if v},
        "modelfs": {"type": "layers", "diffIds": diff_ids},
    }
