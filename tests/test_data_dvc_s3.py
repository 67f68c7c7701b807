"""Data components read from an S3-compatible DVC remote: a real S3 server (moto, as a subprocess on 127.0.0.1) and
real DVC repositories (no git), pushed with DVC's own API, with the workspace and the local cache deleted so that
the bucket holds the only copy.

Needs the test extra's ``dvc-s3`` and ``moto[server]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

import boto3  # noqa: E402 - with dvc-s3 and moto[server], from the test extra

from assay.manifests.yamlio import dump_yaml
from assay.mixtures.check import check_data
from conftest import DEMO, run_assay
from test_data_dvc import corpus, set_remote, sha, tracked_repo

os.environ["DVC_NO_ANALYTICS"] = "1"

KEY_ID = "assay-test-key-id"
SECRET = "assay-test-secret-0f3c9d"  # must never appear in assay's output
REGION = "us-east-1"
FILES = ["a.jsonl", "shards/s0.jsonl", "shards/s1.jsonl"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `python -m moto.server`, but on Linux it first asks for SIGTERM when its parent (pytest) dies, so a killed test
# run leaves no server behind (prctl in the child itself: no preexec_fn in a process that has threads).
SERVER = """
import signal, sys
if sys.platform.startswith("linux"):
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
from moto.server import main
main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def moto_s3(tmp_path_factory):
    """URL of a moto S3 server on 127.0.0.1 (a child process, stopped and reaped after the module)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION=REGION)
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    for _attempt in range(3):  # the free port may be taken between probing and binding it
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", SERVER, "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + 20
        up = False
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an HTTP proxy
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with direct.open(f"{url}/moto-api/", timeout=1):
                    up = True
                    break
            except OSError:
                time.sleep(0.05)
        if up:
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail(f"moto_server did not start: {log.read_text()[-2000:]}")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    """Dummy credentials and a region; no profile, config file or endpoint of the machine's own leaks in."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for var in ("NO_PROXY", "no_proxy"):  # botocore honours HTTP(S)_PROXY; the server is local
        monkeypatch.setenv(var, ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost"])))


@dataclass
class S3Release:
    manifest: Path
    repo_dir: Path
    bucket: str
    prefix: str  # the remote is s3://<bucket>/<prefix>
    s3: object  # boto3 S3 client on the moto server
    data: dict[str, bytes]  # the tracked files' bytes (the workspace copies are deleted)

    def key(self, path: str) -> str:
        m = md5_bytes(self.data[path])
        return f"{self.prefix}/files/md5/{m[:2]}/{m[2:]}"


def md5_bytes(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def edit_remote(repo_dir: Path, name: str, level: str | None = None, **values: str) -> None:
    from dvc.repo import Repo

    repo = Repo(str(repo_dir))
    try:
        with repo.config.edit(level) as conf:
            conf["remote"].setdefault(name, {}).update(values)
    finally:
        repo.close()


@pytest.fixture
def s3_release(tmp_path, moto_s3) -> S3Release:
    """manifest.yaml + tokenizer.json beside a DVC repo 'data-repo' whose default remote 's3store' is
    s3://<fresh bucket>/dvc-store on the moto server; pushed, then the workspace copies and the cache deleted."""

    bucket = f"assay-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    repo_dir, repo = tracked_repo(tmp_path)
    with repo.config.edit() as conf:
        conf["remote"]["s3store"] = {"url": f"s3://{bucket}/dvc-store", "endpointurl": moto_s3}
        conf["core"]["remote"] = "s3store"
    assert repo.push() == 4  # 3 files + the folder's .dir listing
    repo.close()
    data = {f: (repo_dir / f).read_bytes() for f in FILES}
    shutil.copy(DEMO / "release" / "tokenizer.json", tmp_path / "tokenizer.json")
    manifest = tmp_path / "assay.yaml"
    manifest.write_text(
        dump_yaml(
            {
                "apiVersion": "assay/v1",
                "kind": "Release",
                "release": {"name": "dvc-s3-data", "version": "1"},
                "data": {
                    "tokenizer": "tokenizer.json",
                    "components": [
                        {
                            "name": "corpus",
                            "source": "dvc://data-repo",
                            "documents": 10,
                            "tokens": 3 * 4 + 2 * 4 + 5 * 4,
                            "bytes": sum(map(len, data.values())),
                            "files": [{"path": f, "sha256": sha(repo_dir / f), "size": len(data[f])} for f in FILES],
                        }
                    ],
                },
            }
        )
    )
    for rel in ("a.jsonl", "shards"):
        p = repo_dir / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    shutil.rmtree(repo_dir / ".dvc" / "cache")
    return S3Release(manifest, repo_dir, bucket, "dvc-store", s3, data)


def test_an_s3_remote_holding_the_only_copy_verifies_through_dvc(s3_release):
    rel = s3_release
    keys = {o["Key"] for o in rel.s3.list_objects_v2(Bucket=rel.bucket)["Contents"]}
    assert {rel.key(f) for f in FILES} <= keys  # pushed by DVC under its own layout
    r = check_data(rel.manifest)
    c = corpus(r)
    assert r.ok and c.status == "pass", r.model_dump_json(indent=1)
    files = {f.path: f for f in c.files}
    for path, f in files.items():
        assert f.status == "ok" and f.how == "dvc-remote"
        assert f.dvc_md5 == f.md5 == md5_bytes(rel.data[path])  # DVC's record, and the md5 of the bytes read from S3
        assert f.sha256 == f.expected_sha256 and f.size == len(rel.data[path])
    assert files["a.jsonl"].dvc_file == "a.jsonl.dvc" and files["shards/s0.jsonl"].dvc_file == "shards.dvc"
    assert c.measured["documents"] == 10 and c.measured["tokens"] == 40  # recounted from the bytes fetched
    assert c.measured["bytes"] == sum(map(len, rel.data.values()))
    assert {k.field: k.verdict for k in c.counts} == {"tokens": "pass", "documents": "pass", "bytes": "pass"}
    assert not (rel.repo_dir / "a.jsonl").exists() and not (rel.repo_dir / ".dvc" / "cache").exists()

    proc = run_assay("data", "check", str(rel.manifest), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    comp = json.loads(proc.stdout)["components"][0]
    assert comp["status"] == "pass"
    assert {f["path"]: (f["how"], f["md5"], f["sha256"]) for f in comp["files"]} == {
        p: ("dvc-remote", md5_bytes(b), hashlib.sha256(b).hexdigest()) for p, b in rel.data.items()
    }


def test_an_object_tampered_in_or_deleted_from_the_bucket_fails_naming_the_file(s3_release):
    rel = s3_release
    set_remote(rel.manifest, "s3store")  # the named remote: only the bucket is read
    tampered = rel.data["shards/s1.jsonl"].replace(b"word", b"ward", 1)
    rel.s3.put_object(Bucket=rel.bucket, Key=rel.key("shards/s1.jsonl"), Body=tampered)  # same key, other bytes
    rel.s3.delete_object(Bucket=rel.bucket, Key=rel.key("a.jsonl"))
    r = check_data(rel.manifest)
    files = {f.path: f for f in corpus(r).files}
    bad = files["shards/s1.jsonl"]
    assert not r.ok and corpus(r).status == "fail"
    assert bad.status == "mismatch" and bad.how == "dvc-remote" and "shards.dvc records" in bad.message
    assert bad.md5 == md5_bytes(tampered) != bad.dvc_md5
    assert files["a.jsonl"].status == "missing" and "remote s3store" in files["a.jsonl"].message
    assert files["shards/s0.jsonl"].status == "ok"

    proc = run_assay("data", "check", str(rel.manifest))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "s1.jsonl" in proc.stdout and "a.jsonl" in proc.stdout


def test_credentials_from_dvc_config_local_are_used_and_never_printed(s3_release, monkeypatch):
    """Secrets belong in .dvc/config.local (``dvc remote modify --local``); assay passes nothing itself."""
    rel = s3_release
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    r = check_data(rel.manifest)  # no credentials anywhere: each file is unreadable, not a crash
    assert not r.ok and {f.status for f in corpus(r).files} == {"unreadable"}
    assert all("remote s3store" in f.message and "NoCredentialsError" in f.message for f in corpus(r).files)

    edit_remote(rel.repo_dir, "s3store", "local", access_key_id=KEY_ID, secret_access_key=SECRET)
    assert SECRET not in (rel.repo_dir / ".dvc" / "config").read_text()
    proc = run_assay("data", "check", str(rel.manifest), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert {f["how"] for f in json.loads(proc.stdout)["components"][0]["files"]} == {"dvc-remote"}


def test_an_unreachable_endpoint_is_unreadable_not_a_crash_and_secrets_are_cut_out(s3_release, monkeypatch):
    rel = s3_release
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's retries would take seconds per file
    # botocore names the URL it could not reach; a secret in it (here the AWS secret key) must not be printed
    edit_remote(rel.repo_dir, "s3store", endpointurl=f"http://127.0.0.1:{free_port()}/{SECRET}")
    proc = run_assay("data", "check", str(rel.manifest), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and SECRET not in proc.stdout + proc.stderr
    files = json.loads(proc.stdout)["components"][0]["files"]
    assert {f["status"] for f in files} == {"unreadable"}
    for f in files:
        assert "remote s3store" in f["message"] and "EndpointConnectionError" in f["message"], f
        assert "/***/" in f["message"], f


def test_a_remote_whose_dvc_plugin_is_missing_is_bad_input(s3_release):
    rel = s3_release
    edit_remote(rel.repo_dir, "gcs", url="gs://some-bucket/store")
    set_remote(rel.manifest, "gcs")
    # Whether or not dvc-gs happens to be installed, the CLI runs as if it were not.
    code = "import sys; sys.modules['dvc_gs'] = None; from assay.cli.main import main; main(sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, "data", "check", str(rel.manifest)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "dvc-gs" in proc.stderr and "Traceback" not in proc.stderr


class BucketStore:
    def __init__(self, rel: S3Release) -> None:
        self.rel = rel

    def get(self, key: str) -> bytes:
        return self.rel.s3.get_object(Bucket=self.rel.bucket, Key=f"{self.rel.prefix}/{key}")["Body"].read()

    def __call__(self, key: str, data: bytes) -> None:
        self.rel.s3.put_object(Bucket=self.rel.bucket, Key=f"{self.rel.prefix}/{key}", Body=data)


def test_a_folder_listing_rewritten_in_the_bucket_is_refused(s3_release):
    """The forged listing names tampered bytes put beside it; DVC would report their md5 as its record."""
    from test_data_dvc import forge_folder_listing, unpin

    rel = s3_release
    unpin(rel.manifest, "shards/s1.jsonl")
    recorded, forged_md5, tampered = forge_folder_listing(rel.repo_dir, BucketStore(rel))
    r = check_data(rel.manifest)
    files = {f.path: f for f in corpus(r).files}
    assert not r.ok and files["a.jsonl"].status == "ok"
    for path in ("shards/s0.jsonl", "shards/s1.jsonl"):
        f = files[path]
        assert f.status == "mismatch" and f.dvc_md5 is None and f.md5 is None, f
        assert (
            f"listing of folder shards (remote s3store) has md5 {forged_md5}, but shards.dvc records {recorded}"
            in f.message
        )
    assert md5_bytes(tampered) not in r.model_dump_json()
