"""The hf:// hub against a real Hugging Face Hub API on 127.0.0.1: olah, offline, serving local git mirrors.

olah runs from its own virtual environment (``.venv-olah``; see tests/support/olah_server.py).  Pushing cannot be
exercised against olah (it is read-only), so commit planning is tested as a pure function and ``push`` with an API
object that reads the real olah tree and records the commit it would make.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]


from assay.hubs.base import HubError, PushFile, RemoteFile, Resolved, TransferError
from assay.hubs.hf import HfHub, build_commit_operations, git_blob_sha1
from assay.manifests.errors import InputError, PathEscapeError
from assay.manifests.uris import parse_source_uri
from support.olah_server import OlahError, commit_hf_files, git_hash_object, make_hf_repo, start_olah

REPO = "assay-test/tiny"
MIB = 1 << 20


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _weights(n: int, seed: int) -> bytes:
    out, block, i = bytearray(), hashlib.sha256(b"seed%d" % seed).digest(), 0
    while len(out) < n:
        out += hashlib.sha256(block + i.to_bytes(8, "little")).digest()
        i += 1
    return bytes(out[:n])


FILES = {
    "config.json": b'{"architectures": ["LlamaForCausalLM"], "hidden_size": 64}\n',
    "tokenizer.json": b'{"version": "1.0", "model": {"type": "WordLevel", "vocab": {"a": 0, "b": 1}}}\n' * 40,
    "model.safetensors": _weights(2 * MIB + 4321, 1),
    "sub/folder/extra.json": b'{"nested": true}\n',
}
LFS = {"model.safetensors"}


def _read(chunks) -> bytes:
    try:
        return b"".join(chunks.iterator)
    finally:
        if chunks.close:
            chunks.close()


# -- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def olah(tmp_path_factory):
    root = tmp_path_factory.mktemp("olah-mirrors")
    commit = make_hf_repo(root, REPO, FILES)
    with start_olah(root) as server:
        yield SimpleNamespace(server=server, root=root, endpoint=server.endpoint, commit=commit)


@pytest.fixture
def hub(olah, monkeypatch, tmp_path):
    """HfHub talking to olah: HF_ENDPOINT set, online (tests/run.sh exports HF_HUB_OFFLINE=1), no stored token."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", olah.endpoint)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    return HfHub()


def _uri(s: str):
    return parse_source_uri(s)


# -- resolve -------------------------------------------------------------------------------------------------------


def test_olah_starts_quickly_and_offline(olah):
    assert olah.endpoint.startswith("http://127.0.0.1:")
    assert olah.server.startup_seconds < 30


def test_missing_olah_binary_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_OLAH_CLI", str(tmp_path / "no-olah-cli"))
    with pytest.raises(OlahError, match="no-olah-cli"):
        start_olah(tmp_path / "mirrors")


def test_resolve_main_and_commit_give_the_same_commit(hub, olah):
    at_default = hub.resolve(_uri(f"hf://{REPO}"))
    at_main = hub.resolve(_uri(f"hf://{REPO}@main"))
    at_commit = hub.resolve(_uri(f"hf://{REPO}@{olah.commit}"))
    assert at_default.revision == at_main.revision == at_commit.revision == olah.commit
    assert at_main.files == at_commit.files == at_default.files
    assert at_main.uri == f"hf://{REPO}@main"


def test_resolve_lists_every_file_with_true_sizes_and_digests(hub, olah):
    r = hub.resolve(_uri(f"hf://{REPO}@main"))
    assert [f.path for f in r.files] == sorted([".gitattributes", *FILES])
    for path, data in FILES.items():
        f = r.file(path)
        assert f.size == len(data), path
        assert f.locator is None
        if path in LFS:
            assert f.sha256 == _sha(data)
            assert f.git_sha1 is None
        else:
            assert f.sha256 is None
            assert f.git_sha1 == git_hash_object(data) == git_blob_sha1(data)


def test_resolve_dataset_repo(hub, olah):
    commit = make_hf_repo(
        olah.root, "assay-test/data", {"train.jsonl": b'{"x": 1}\n', "shard.bin": b"\0" * 4096}, repo_type="dataset"
    )
    r = hub.resolve(_uri("hf://datasets/assay-test/data@main"))
    assert r.revision == commit
    assert r.file("shard.bin").sha256 == _sha(b"\0" * 4096)
    assert r.file("train.jsonl").git_sha1 == git_hash_object(b'{"x": 1}\n')
    with pytest.raises(HubError):  # the same name is no model
        hub.resolve(_uri("hf://assay-test/data@main"))


def test_git_blob_sha1_matches_git(tmp_path):
    for data in (b"", b"hello\n", FILES["tokenizer.json"], _weights(70_000, 2)):
        p = tmp_path / "f"
        p.write_bytes(data)
        want = git_hash_object(data)
        assert git_blob_sha1(data) == want
        assert git_blob_sha1(p) == want
        assert git_blob_sha1(str(p)) == want
        assert git_blob_sha1(memoryview(data)) == want


# -- open ----------------------------------------------------------------------------------------------------------


def test_open_streams_the_exact_bytes(hub):
    r = hub.resolve(_uri(f"hf://{REPO}@main"))
    for path, data in FILES.items():
        chunks = hub.open(r, r.file(path))
        assert chunks.offset == 0
        parts = list(chunks.iterator)
        assert _sha(b"".join(parts)) == _sha(data), path
        assert all(len(p) <= MIB for p in parts)
    big = hub.open(r, r.file("model.safetensors"))
    assert len([p for p in big.iterator]) >= 3  # streamed in ~1 MiB chunks, not one buffer


def test_open_with_offset_olah_ignores_range(hub):
    """olah answers a Range request with 200 and the whole file: Chunks.offset says 0."""
    r = hub.resolve(_uri(f"hf://{REPO}@main"))
    f = r.file("model.safetensors")
    chunks = hub.open(r, f, offset=MIB + 7)
    assert chunks.offset == 0
    assert _read(chunks) == FILES["model.safetensors"]


def test_new_commit_old_revision_keeps_old_digests(hub, olah):
    repo = "assay-test/moving"
    v1 = {"config.json": b'{"v": 1}\n', "model.safetensors": _weights(300_000, 3)}
    old = make_hf_repo(olah.root, repo, v1)
    before = hub.resolve(_uri(f"hf://{repo}@main"))
    v2 = {"config.json": b'{"v": 2}\n', "model.safetensors": _weights(300_000, 4)}
    new = commit_hf_files(olah.root, repo, v2, message="retrain")
    assert new != old

    at_old = hub.resolve(_uri(f"hf://{repo}@{old}"))
    at_main = hub.resolve(_uri(f"hf://{repo}@main"))
    assert at_old.revision == before.revision == old
    assert at_main.revision == new
    assert at_old.files == before.files
    assert at_old.file("model.safetensors").sha256 == _sha(v1["model.safetensors"])
    assert at_old.file("config.json").git_sha1 == git_blob_sha1(v1["config.json"])
    assert at_main.file("model.safetensors").sha256 == _sha(v2["model.safetensors"])
    assert at_main.file("config.json").git_sha1 == git_blob_sha1(v2["config.json"])
    # bytes come from the pinned commit, not from the branch
    assert _read(hub.open(at_old, at_old.file("model.safetensors"))) == v1["model.safetensors"]
    assert _read(hub.open(at_old, at_old.file("config.json"))) == v1["config.json"]
    assert _read(hub.open(at_main, at_main.file("model.safetensors"))) == v2["model.safetensors"]


# -- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri, says",
    [
        ("hf://assay-test/missing", "not found"),
        ("hf://assay-test/tiny@no-such-branch", "not found"),  # olah answers 401 RepoNotFound for an unknown branch
        ("hf://assay-test/tiny@" + "0" * 40, "HTTP 500"),  # ... and 500 for an unknown commit
    ],
)
def test_missing_repo_or_revision_is_a_hub_error(hub, uri, says):
    with pytest.raises(HubError) as e:
        hub.resolve(_uri(uri))
    msg = str(e.value)
    assert "\n" not in msg
    assert uri in msg and says in msg
    assert e.value.exit_code == 2


def test_missing_file_is_a_hub_error(hub, olah):
    r = Resolved(uri=f"hf://{REPO}@main", revision=olah.commit)
    with pytest.raises(HubError) as e:
        hub.open(r, RemoteFile(path="nope.bin", size=3))
    assert "\n" not in str(e.value) and "nope.bin" in str(e.value)
    assert "HTTP 500" in str(e.value)  # olah fails on a missing path (the Hub answers 404 EntryNotFound)


def test_unreachable_endpoint_is_a_hub_error(hub, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connection refused
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(HubError) as e:
        hub.resolve(_uri(f"hf://{REPO}"))
    assert f"127.0.0.1:{port}" in str(e.value) and "\n" not in str(e.value)


def test_offline_mode_refuses_to_resolve(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        hub.resolve(_uri(f"hf://{REPO}"))


def test_token_is_sent_but_never_shown(hub, monkeypatch):
    secret = "hf_" + "s3cr3t" * 6
    monkeypatch.setenv("HF_TOKEN", secret)
    assert hub.resolve(_uri(f"hf://{REPO}")).files
    with pytest.raises(HubError) as e:
        hub.resolve(_uri("hf://assay-test/missing"))
    assert secret not in str(e.value) and secret not in repr(hub)


# -- range and truncation against a server that honours Range ------------------------------------------------------


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    data = b""
    truncate = False

    def do_GET(self):  # noqa: N802
        data, rng = self.data, self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        if self.truncate:
            body = body[: len(body) // 2]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def range_server(hub, monkeypatch):
    handler = type("H", (_RangeHandler,), {"data": _weights(3 * MIB + 11, 5), "truncate": False})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{srv.server_address[1]}")
    yield handler
    srv.shutdown()
    srv.server_close()


def test_open_with_offset_on_a_range_server_resumes(hub, range_server):
    data = range_server.data
    r = Resolved(uri="hf://org/name@main", revision="a" * 40)
    f = RemoteFile(path="model.safetensors", size=len(data), sha256=_sha(data))
    chunks = hub.open(r, f, offset=MIB + 5)
    assert chunks.offset == MIB + 5
    assert _read(chunks) == data[MIB + 5 :]
    done = hub.open(r, f, offset=len(data))  # 416 at the end: nothing left to send
    assert done.offset == len(data) and _read(done) == b""


def test_truncated_stream_is_a_transfer_error(hub, range_server):
    range_server.truncate = True
    data = range_server.data
    r = Resolved(uri="hf://org/name@main", revision="a" * 40)
    chunks = hub.open(r, RemoteFile(path="model.safetensors", size=len(data)))
    with pytest.raises(TransferError, match="ended after"):
        _read(chunks)


# -- commit planning -----------------------------------------------------------------------------------------------


def _pushfiles(tmp_path: Path, files: dict[str, bytes]) -> list[PushFile]:
    out = []
    for rel, data in files.items():
        p = tmp_path / "pkg" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        out.append(PushFile(path=rel, local=p, size=len(data), sha256=_sha(data)))
    return out


def test_plan_new_repo_uploads_everything_in_order(tmp_path):
    files = _pushfiles(tmp_path, FILES)
    ops, transfers = build_commit_operations(None, files)
    assert [op.path_in_repo for op in ops] == list(FILES)
    assert [op.path_or_fileobj for op in ops] == [str(f.local) for f in files]
    assert [op.upload_info.sha256.hex() for op in ops] == [_sha(d) for d in FILES.values()]
    assert [op.upload_info.size for op in ops] == [len(d) for d in FILES.values()]
    assert [(t.path, t.status, t.bytes_transferred, t.sha256, t.expected_sha256) for t in transfers] == [
        (p, "uploaded", len(d), _sha(d), _sha(d)) for p, d in FILES.items()
    ]


def test_plan_skips_files_the_remote_has(tmp_path):
    files = _pushfiles(tmp_path, FILES)
    remote = [
        RemoteFile("config.json", len(FILES["config.json"]), git_sha1=git_blob_sha1(FILES["config.json"])),
        RemoteFile("tokenizer.json", len(FILES["tokenizer.json"]), git_sha1=git_blob_sha1(b"other" * 10)),
        RemoteFile("model.safetensors", len(FILES["model.safetensors"]), sha256=_sha(FILES["model.safetensors"])),
        RemoteFile("sub/folder/extra.json", 999, git_sha1=git_blob_sha1(FILES["sub/folder/extra.json"])),
        RemoteFile("README.md", 10, git_sha1="0" * 40),  # remote-only files are left alone (no deletions)
    ]
    ops, transfers = build_commit_operations(remote, files)
    assert [op.path_in_repo for op in ops] == ["tokenizer.json", "sub/folder/extra.json"]
    assert {t.path: t.status for t in transfers} == {
        "config.json": "exists",
        "tokenizer.json": "uploaded",
        "model.safetensors": "exists",
        "sub/folder/extra.json": "uploaded",
    }
    assert {t.path: t.bytes_transferred for t in transfers}["model.safetensors"] == 0
    assert all(type(op).__name__ == "CommitOperationAdd" for op in ops)


def test_plan_lfs_with_other_digest_or_size_is_uploaded(tmp_path):
    files = _pushfiles(tmp_path, {"model.safetensors": FILES["model.safetensors"]})
    n = len(FILES["model.safetensors"])
    for remote in (
        [RemoteFile("model.safetensors", n, sha256="f" * 64)],
        [RemoteFile("model.safetensors", n + 1, sha256=_sha(FILES["model.safetensors"]))],
        [RemoteFile("model.safetensors", n, git_sha1="0" * 40)],  # stored as plain git, other bytes
        [],
    ):
        ops, transfers = build_commit_operations(remote, files)
        assert [op.path_in_repo for op in ops] == ["model.safetensors"]
        assert transfers[0].status == "uploaded"


def test_plan_against_the_real_olah_tree(hub, tmp_path):
    """Pushing the bytes a repo already holds plans nothing; one changed file plans exactly that file."""
    remote = hub.resolve(_uri(f"hf://{REPO}@main")).files
    ops, transfers = build_commit_operations(remote, _pushfiles(tmp_path / "a", FILES))
    assert ops == [] and {t.status for t in transfers} == {"exists"}
    changed = dict(FILES, **{"tokenizer.json": FILES["tokenizer.json"] + b"\n"})
    ops, transfers = build_commit_operations(remote, _pushfiles(tmp_path / "b", changed))
    assert [op.path_in_repo for op in ops] == ["tokenizer.json"]


def test_plan_refuses_local_bytes_that_differ_from_the_package(tmp_path):
    files = _pushfiles(tmp_path, {"config.json": b"{}\n", "model.safetensors": b"x" * 1000, "w.bin": b"y" * 10})
    files[0].local.write_bytes(b"[]\n")  # same size, other bytes
    files[1].local.write_bytes(b"x" * 999)  # other size
    ops, transfers = build_commit_operations(None, files)
    assert [op.path_in_repo for op in ops] == ["w.bin"]
    assert [t.status for t in transfers] == ["mismatch", "mismatch", "uploaded"]
    assert transfers[0].sha256 == _sha(b"[]\n") and transfers[0].expected_sha256 == _sha(b"{}\n")
    # a plain-git remote with the changed bytes still does not count as "exists": the package pins other bytes
    ops, transfers = build_commit_operations([RemoteFile("config.json", 3, git_sha1=git_blob_sha1(b"[]\n"))], files[:1])
    assert ops == [] and transfers[0].status == "mismatch"


def test_plan_rejects_bad_input(tmp_path):
    (f,) = _pushfiles(tmp_path, {"a.json": b"{}"})
    with pytest.raises(InputError, match="twice"):
        build_commit_operations(None, [f, f])
    with pytest.raises(PathEscapeError):
        build_commit_operations(None, [PushFile(path="../x", local=f.local, size=2, sha256=f.sha256)])
    with pytest.raises(InputError, match="does not exist"):
        build_commit_operations(None, [PushFile(path="b", local=tmp_path / "nope", size=2, sha256=f.sha256)])


# -- push (the commit is recorded, not sent: olah is read-only) ----------------------------------------------------


class RecordingApi:
    """Reads through a real HfApi (olah) and records create_repo / create_branch / create_commit."""

    def __init__(self, endpoint: str | None):
        from huggingface_hub import HfApi

        self.real = HfApi(endpoint=endpoint, token=False) if endpoint else None
        self.calls: list[tuple[str, dict]] = []

    def repo_info(self, repo_id, **kw):
        if self.real is None:
            from huggingface_hub.errors import RepositoryNotFoundError
            import httpx2

            resp = httpx2.Response(404, request=httpx2.Request("GET", "http://127.0.0.1/api"))
            raise RepositoryNotFoundError("404 Repository Not Found", response=resp)
        return self.real.repo_info(repo_id, **kw)

    def list_repo_tree(self, repo_id, **kw):
        return self.real.list_repo_tree(repo_id, **kw)

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", dict(repo_id=repo_id, **kw)))

    def create_branch(self, repo_id, **kw):
        self.calls.append(("create_branch", dict(repo_id=repo_id, **kw)))

    def create_commit(self, repo_id, **kw):
        self.calls.append(("create_commit", dict(repo_id=repo_id, **kw)))
        return SimpleNamespace(oid="c" * 40)


def test_push_commits_only_changed_files_with_the_callers_message(hub, olah, tmp_path):
    api = RecordingApi(olah.endpoint)
    changed = dict(FILES, **{"config.json": b'{"hidden_size": 128}\n', "assay.yaml": b"apiVersion: assay/v1\n"})
    msg = "assay: tiny 1.0.1\n\nrelease digest sha256:abc"
    res = HfHub(api=api).push(_uri(f"hf://{REPO}@main"), _pushfiles(tmp_path, changed), message=msg)
    ((name, kw),) = api.calls
    assert name == "create_commit"
    assert kw["repo_id"] == REPO and kw["commit_message"] == msg and kw["revision"] == "main"
    assert kw["parent_commit"] == olah.commit and kw["repo_type"] is None
    assert [op.path_in_repo for op in kw["operations"]] == ["config.json", "assay.yaml"]
    assert res.ok and res.revision == "c" * 40 and res.to == f"hf://{REPO}@main"
    assert {t.path: t.status for t in res.files} == {
        "config.json": "uploaded",
        "tokenizer.json": "exists",
        "model.safetensors": "exists",
        "sub/folder/extra.json": "exists",
        "assay.yaml": "uploaded",
    }
    assert res.bytes_transferred == len(changed["config.json"]) + len(changed["assay.yaml"])


def test_push_of_unchanged_files_makes_no_commit(hub, olah, tmp_path):
    api = RecordingApi(olah.endpoint)
    res = HfHub(api=api).push(_uri(f"hf://{REPO}"), _pushfiles(tmp_path, FILES), message="again")
    assert api.calls == []
    assert res.ok and res.revision == olah.commit and res.bytes_transferred == 0
    assert {t.status for t in res.files} == {"exists"}


def test_push_with_create_to_a_new_repo(hub, tmp_path):
    api = RecordingApi(None)  # every repo is missing
    res = HfHub(api=api).push(
        _uri("hf://datasets/org/new@main"), _pushfiles(tmp_path, {"a.txt": b"a"}), message="first", create=True
    )
    assert [c[0] for c in api.calls] == ["create_repo", "create_commit"]
    assert api.calls[0][1] == {"repo_id": "org/new", "repo_type": "dataset", "exist_ok": True}
    assert api.calls[1][1]["parent_commit"] is None and api.calls[1][1]["repo_type"] == "dataset"
    assert res.ok and [t.status for t in res.files] == ["uploaded"]


def test_push_refusals(hub, olah, tmp_path):
    files = _pushfiles(tmp_path, {"a.txt": b"a"})
    with pytest.raises(HubError, match="not found"):
        HfHub(api=RecordingApi(None)).push(_uri("hf://org/new"), files, message="m")
    with pytest.raises(InputError, match="branch"):
        HfHub(api=RecordingApi(None)).push(_uri(f"hf://org/new@{'a' * 40}"), files, message="m")
    files[0].local.write_bytes(b"b")
    api = RecordingApi(olah.endpoint)
    res = HfHub(api=api).push(_uri(f"hf://{REPO}"), files, message="m")
    assert not res.ok and api.calls == [] and res.files[0].status == "mismatch"
