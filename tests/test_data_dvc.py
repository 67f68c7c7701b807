"""Data components tracked by DVC: real DVC repositories (no git) with a local remote, made in temp dirs.

The repositories are built with DVC's own API (``Repo.init(no_scm=True)``, ``add``, ``push``, a ``dvc.yaml`` stage
reproduced into ``dvc.lock``), independently of assay's adapter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from assay.manifests.yamlio import dump_yaml, read_yaml_file
from assay.mixtures.check import check_data
from conftest import DEMO, run_assay

os.environ["DVC_NO_ANALYTICS"] = "1"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def jsonl(path: Path, n: int, words: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": " ".join(["word"] * words)}) + "\n" for _ in range(n)))


def tracked_repo(tmp_path: Path):
    """A DVC repo (no git) 'data-repo' tracking a.jsonl (its own .dvc file) and the folder shards/ (two files)."""
    from dvc.repo import Repo

    repo_dir = tmp_path / "data-repo"
    repo_dir.mkdir()
    repo = Repo.init(str(repo_dir), no_scm=True)
    jsonl(repo_dir / "a.jsonl", 3)
    jsonl(repo_dir / "shards" / "s0.jsonl", 2)
    jsonl(repo_dir / "shards" / "s1.jsonl", 5)
    repo.add([str(repo_dir / "a.jsonl"), str(repo_dir / "shards")])
    return repo_dir, repo


@pytest.fixture
def dvc_release(tmp_path):
    """manifest.yaml + tokenizer.json beside a DVC repo 'data-repo' with a local remote 'store'.

    Tracked: a.jsonl (own .dvc file), shards/ (a tracked folder with two files), gen.jsonl (a dvc.yaml stage out,
    recorded in dvc.lock).
    """
    repo_dir, repo = tracked_repo(tmp_path)
    (repo_dir / "dvc.yaml").write_text(
        dump_yaml(
            {
                "stages": {
                    "gen": {
                        "cmd": f"{sys.executable} -c \"import json; open('gen.jsonl','w').write(json.dumps({{'text': 'word word'}}) + chr(10))\"",
                        "outs": ["gen.jsonl"],
                    }
                }
            }
        )
    )
    with contextlib.chdir(repo_dir):  # DVC resolves stage targets against the working directory
        repo.reproduce("gen")
    store = tmp_path / "store"
    store.mkdir()
    with repo.config.edit() as conf:
        conf["remote"]["store"] = {"url": str(store)}
        conf["core"]["remote"] = "store"
    repo.push()
    repo.close()
    shutil.copy(DEMO / "release" / "tokenizer.json", tmp_path / "tokenizer.json")
    files = ["a.jsonl", "shards/s0.jsonl", "shards/s1.jsonl", "gen.jsonl"]
    manifest = tmp_path / "assay.yaml"
    manifest.write_text(
        dump_yaml(
            {
                "apiVersion": "assay/v1",
                "kind": "Release",
                "release": {"name": "dvc-data", "version": "1"},
                "data": {
                    "tokenizer": "tokenizer.json",
                    "components": [
                        {
                            "name": "corpus",
                            "source": "dvc://data-repo",
                            "documents": 11,
                            "tokens": 3 * 4 + 2 * 4 + 5 * 4 + 2,
                            "files": [
                                {"path": f, "sha256": sha(repo_dir / f), "size": (repo_dir / f).stat().st_size}
                                for f in files
                            ],
                        }
                    ],
                },
            }
        )
    )
    return manifest, repo_dir, store


def corpus(result):
    return result.components[0]


def set_remote(manifest: Path, remote: str) -> None:
    text = manifest.read_text().replace("source: dvc://data-repo", f"source: dvc://data-repo\n    remote: {remote}")
    manifest.write_text(text)


def test_dvc_md5_maps_to_sha256_from_the_workspace(dvc_release):
    manifest, repo_dir, _ = dvc_release
    r = check_data(manifest)
    c = corpus(r)
    assert r.ok and c.status == "pass", r.model_dump_json(indent=1)
    files = {f.path: f for f in c.files}
    for rel, f in files.items():
        assert f.how == "dvc-workspace"
        assert f.dvc_md5 == md5(repo_dir / rel) == f.md5  # DVC's record, and the md5 of the bytes read
        assert f.sha256 == sha(repo_dir / rel)
    assert files["a.jsonl"].dvc_file == "a.jsonl.dvc"
    assert files["shards/s1.jsonl"].dvc_file == "shards.dvc"  # a file inside a tracked folder
    assert files["gen.jsonl"].dvc_file == "dvc.lock"  # a pipeline out
    assert c.measured["documents"] == 11 and c.measured["tokens"] == 42


def test_workspace_edited_after_dvc_add_contradicts_dvc(dvc_release):
    manifest, repo_dir, _ = dvc_release
    jsonl(repo_dir / "shards" / "s0.jsonl", 2, words=5)
    r = check_data(manifest)
    f = {f.path: f for f in corpus(r).files}["shards/s0.jsonl"]
    assert not r.ok and f.status == "mismatch" and "shards.dvc records" in f.message
    proc = run_assay("data", "check", str(manifest))
    assert proc.returncode == 1 and "s0.jsonl" in proc.stdout


def test_reads_from_the_remote_when_the_workspace_and_cache_are_gone(dvc_release):
    manifest, repo_dir, _ = dvc_release
    for rel in ("a.jsonl", "shards", "gen.jsonl"):
        p = repo_dir / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    shutil.rmtree(repo_dir / ".dvc" / "cache")
    r = check_data(manifest)
    c = corpus(r)
    assert r.ok, r.model_dump_json(indent=1)
    assert {f.how for f in c.files} == {"dvc-remote"} and c.measured["tokens"] == 42


def test_reads_the_cache_when_the_workspace_is_gone(dvc_release):
    manifest, repo_dir, _ = dvc_release
    (repo_dir / "a.jsonl").unlink()
    r = check_data(manifest)
    assert r.ok and {f.path: f.how for f in corpus(r).files}["a.jsonl"] == "dvc-cache"


def test_a_named_remote_is_read_even_with_a_workspace_and_its_tampering_is_caught(dvc_release):
    manifest, repo_dir, store = dvc_release
    set_remote(manifest, "store")
    r = check_data(manifest)
    assert r.ok and {f.how for f in corpus(r).files} == {"dvc-remote"}
    m = md5(repo_dir / "a.jsonl")
    obj = store / "files" / "md5" / m[:2] / m[2:]
    obj.chmod(0o644)
    obj.write_bytes(obj.read_bytes().replace(b"word", b"ward", 1))
    proc = run_assay("data", "check", str(manifest), "--json")
    assert proc.returncode == 1, proc.stderr
    files = {f["path"]: f for f in json.loads(proc.stdout)["components"][0]["files"]}
    assert files["a.jsonl"]["status"] == "mismatch" and files["a.jsonl"]["how"] == "dvc-remote"
    assert files["a.jsonl"]["dvc_md5"] == m and files["a.jsonl"]["md5"] != m
    assert files["shards/s0.jsonl"]["status"] == "ok"


def test_unknown_remote_and_missing_repo_are_bad_input(dvc_release, tmp_path):
    manifest, repo_dir, _ = dvc_release
    set_remote(manifest, "nowhere")
    proc = run_assay("data", "check", str(manifest))
    assert proc.returncode == 2 and "nowhere" in proc.stderr
    manifest.write_text(
        manifest.read_text().replace("dvc://data-repo", "dvc://no-such-repo").replace("    remote: nowhere\n", "")
    )
    proc = run_assay("data", "check", str(manifest))
    assert proc.returncode == 2 and "not a DVC repository" in proc.stderr


def test_untracked_file_is_reported(dvc_release):
    manifest, repo_dir, _ = dvc_release
    jsonl(repo_dir / "loose.jsonl", 1)
    doc, _ = read_yaml_file(manifest)
    doc["data"]["components"][0]["files"].append({"path": "loose.jsonl", "sha256": sha(repo_dir / "loose.jsonl")})
    manifest.write_text(dump_yaml(doc))
    r = check_data(manifest)
    f = {f.path: f for f in corpus(r).files}["loose.jsonl"]
    assert f.status == "missing" and "not tracked by DVC" in f.message and not r.ok


def test_a_recipe_reads_a_dvc_component_from_the_remote(dvc_release):
    """Recipe inputs may be DVC-tracked components: fetched through DVC (here: only the remote has them), then hashed."""
    from assay.recipes.rebuild import rebuild_release

    manifest, repo_dir, _ = dvc_release
    files = ["a.jsonl", "shards/s0.jsonl", "shards/s1.jsonl", "gen.jsonl"]
    joined = b"".join((repo_dir / f).read_bytes() for f in files)
    doc, _ = read_yaml_file(manifest)
    doc["recipes"] = [
        {
            "name": "concat",
            "step": "cmd",
            "cmd": "cat $ASSAY_INPUTS > all.jsonl",
            "inputs": [{"component": "corpus"}],
            "outputs": [{"path": "all.jsonl", "sha256": hashlib.sha256(joined).hexdigest()}],
        }
    ]
    manifest.write_text(dump_yaml(doc))
    for rel in ("a.jsonl", "shards", "gen.jsonl"):
        p = repo_dir / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    shutil.rmtree(repo_dir / ".dvc" / "cache")
    r = rebuild_release(manifest)
    assert r.ok, r.model_dump_json(indent=1)
    assert [i.ref for i in r.recipes[0].inputs] == [f"corpus/{f}" for f in files]
    assert r.recipes[0].outputs[0].reached == "bit-exact"


def forge_folder_listing(repo_dir: Path, put, rel: str = "shards/s1.jsonl") -> tuple[str, str, bytes]:
    """Rewrite the remote's listing of ``shards/`` so ``rel`` has the md5 of tampered bytes, also put in the remote.

    ``put(key, data)`` writes an object under the remote's root (``files/md5/ab/cdef…``).  Returns the recorded
    listing hash (``<md5>.dir``), the forged listing's md5 and the tampered bytes.
    """
    import yaml

    recorded = yaml.safe_load((repo_dir / "shards.dvc").read_text())["outs"][0]["md5"]
    listing = json.loads(put.get(f"files/md5/{recorded[:2]}/{recorded[2:]}"))
    tampered = b'{"text": "forged words here"}\n'
    forged_md5 = hashlib.md5(tampered).hexdigest()
    put(f"files/md5/{forged_md5[:2]}/{forged_md5[2:]}", tampered)
    for e in listing:
        if e["relpath"] == rel.split("/", 1)[1]:
            e["md5"] = forged_md5
    forged = json.dumps(listing, sort_keys=True).encode()
    put(f"files/md5/{recorded[:2]}/{recorded[2:]}", forged)  # same key: the listing DVC loads
    return recorded, hashlib.md5(forged).hexdigest(), tampered


def unpin(manifest: Path, path: str) -> None:
    """Drop a file's sha256 pin, so DVC's md5 is the only check on its bytes."""
    doc, _ = read_yaml_file(manifest)
    for f in doc["data"]["components"][0]["files"]:
        if f["path"] == path:
            del f["sha256"], f["size"]
    manifest.write_text(dump_yaml(doc))


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def __call__(self, key: str, data: bytes) -> None:
        p = self.root / key
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.exists():
            p.chmod(0o644)  # DVC leaves pushed objects read-only
        p.write_bytes(data)


def test_a_rewritten_folder_listing_in_the_remote_is_refused(dvc_release):
    """DVC loads a folder's .dir listing from the remote without checking its md5; assay checks it."""
    manifest, repo_dir, store = dvc_release
    unpin(manifest, "shards/s1.jsonl")  # only DVC's md5 stands between the remote and the report
    shutil.rmtree(repo_dir / "shards")
    shutil.rmtree(repo_dir / ".dvc" / "cache")
    r = check_data(manifest)  # untampered: the listing's md5 is the recorded one
    files = {f.path: f for f in corpus(r).files}
    assert files["shards/s0.jsonl"].status == "ok" and files["shards/s0.jsonl"].how == "dvc-remote"
    assert (
        files["shards/s1.jsonl"].status == "unpinned"
        and files["shards/s1.jsonl"].dvc_md5 == files["shards/s1.jsonl"].md5
    )

    recorded, forged_md5, tampered = forge_folder_listing(repo_dir, LocalStore(store))
    r = check_data(manifest)
    c = corpus(r)
    files = {f.path: f for f in c.files}
    assert not r.ok and c.status == "fail"
    for path in ("shards/s0.jsonl", "shards/s1.jsonl"):  # every file of the folder
        f = files[path]
        assert f.status == "mismatch" and f.how == "not-read" and f.dvc_file == "shards.dvc", f
        assert f"listing of folder shards (remote store) has md5 {forged_md5}" in f.message
        assert f"shards.dvc records {recorded}" in f.message
        assert f.dvc_md5 is None and f.md5 is None  # nothing from the forged listing is reported as DVC's
    assert hashlib.md5(tampered).hexdigest() not in r.model_dump_json()
    assert files["a.jsonl"].status == "ok" and files["gen.jsonl"].status == "ok"

    set_remote(manifest, "store")  # a named remote: its listing is checked the same way
    proc = run_assay("data", "check", str(manifest), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    files = {f["path"]: f for f in json.loads(proc.stdout)["components"][0]["files"]}
    assert (
        files["shards/s1.jsonl"]["status"] == "mismatch"
        and "listing of folder shards" in files["shards/s1.jsonl"]["message"]
    )


def test_a_rewritten_folder_listing_in_the_cache_is_refused(dvc_release):
    manifest, repo_dir, _ = dvc_release
    recorded, forged_md5, _ = forge_folder_listing(repo_dir, LocalStore(repo_dir / ".dvc" / "cache"))
    r = check_data(manifest)
    files = {f.path: f for f in corpus(r).files}
    assert not r.ok and files["a.jsonl"].status == "ok"
    for path in ("shards/s0.jsonl", "shards/s1.jsonl"):
        assert files[path].status == "mismatch" and files[path].dvc_md5 is None
        assert (
            f"listing of folder shards (cache) has md5 {forged_md5}, but shards.dvc records {recorded}"
            in files[path].message
        )


# --- DVC 2 (legacy) outs: no `hash:` key, md5-dos2unix -------------------------------------------------------------

LEGACY_TEXT = b'{"text": "word word"}\r\n{"text": "word word word"}\r\n'  # CRLF: its legacy md5 is not its md5


def legacy_md5(data: bytes) -> str:
    """The legacy md5 as DVC computes it (dos2unix for text), by DVC's own function."""
    import io

    from dvc_data.hashfile.hash import fobj_md5

    return fobj_md5(io.BytesIO(data), name="md5-dos2unix")


def put_legacy(root: Path, oid: str, data: bytes) -> None:
    """Where DVC 3 keeps legacy (md5-dos2unix) objects: ``<cache or remote>/ab/cdef…``, not under ``files/md5/``."""
    LocalStore(root)(f"{oid[:2]}/{oid[2:]}", data)


@pytest.fixture
def legacy_release(dvc_release):
    """dvc_release plus DVC-2-style outs written by hand: legacy.jsonl (CRLF) and a folder old/ with a legacy listing.

    Their objects are in the cache and the remote 'store' in the legacy layout; the manifest pins their sha256.
    """
    import yaml

    manifest, repo_dir, store = dvc_release
    (repo_dir / "legacy.jsonl").write_bytes(LEGACY_TEXT)
    m = legacy_md5(LEGACY_TEXT)
    (repo_dir / "legacy.jsonl.dvc").write_text(
        yaml.safe_dump({"outs": [{"md5": m, "size": len(LEGACY_TEXT), "path": "legacy.jsonl"}]})
    )
    folder = {"o0.jsonl": b'{"text": "word"}\r\n', "sub/o1.jsonl": b'{"text": "word word word word"}\n'}
    entries = []
    for rel, data in folder.items():
        (repo_dir / "old" / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo_dir / "old" / rel).write_bytes(data)
        entries.append({"md5": legacy_md5(data), "relpath": rel})
    listing = json.dumps(sorted(entries, key=lambda e: e["relpath"]), sort_keys=True).encode()  # as DVC 2 wrote it
    dir_md5 = legacy_md5(listing) + ".dir"
    (repo_dir / "old.dvc").write_text(
        yaml.safe_dump(
            {"outs": [{"md5": dir_md5, "size": sum(map(len, folder.values())), "nfiles": len(folder), "path": "old"}]}
        )
    )
    for root in (repo_dir / ".dvc" / "cache", store):
        put_legacy(root, m, LEGACY_TEXT)
        put_legacy(root, dir_md5, listing)
        for data in folder.values():
            put_legacy(root, legacy_md5(data), data)
    doc, _ = read_yaml_file(manifest)
    comp = doc["data"]["components"][0]
    for rel in ("legacy.jsonl", "old/o0.jsonl", "old/sub/o1.jsonl"):
        comp["files"].append({"path": rel, "sha256": sha(repo_dir / rel), "size": (repo_dir / rel).stat().st_size})
    comp["documents"] += 4
    comp["tokens"] += 2 + 3 + 1 + 4
    manifest.write_text(dump_yaml(doc))
    return manifest, repo_dir, store, m, dir_md5


LEGACY = ("legacy.jsonl", "old/o0.jsonl", "old/sub/o1.jsonl")


def test_dvc2_legacy_outs_are_checked_with_dos2unix_md5(legacy_release):
    manifest, repo_dir, _, m, _ = legacy_release
    assert m != md5(repo_dir / "legacy.jsonl")  # CRLF: the legacy md5 is not the plain one
    r = check_data(manifest)
    c = corpus(r)
    assert r.ok and c.status == "pass", r.model_dump_json(indent=1)
    files = {f.path: f for f in c.files}
    for rel in LEGACY:
        f = files[rel]
        assert f.status == "ok" and f.how == "dvc-workspace", f
        assert f.dvc_md5 == f.md5 == legacy_md5((repo_dir / rel).read_bytes()) and f.sha256 == sha(repo_dir / rel)
        assert f"DVC md5-dos2unix {f.dvc_md5}" in f.message and f.sha256 in f.message
        assert f.dvc_hash == "md5-dos2unix"
    assert files["legacy.jsonl"].dvc_file == "legacy.jsonl.dvc" and files["old/sub/o1.jsonl"].dvc_file == "old.dvc"
    assert files["a.jsonl"].message is None  # DVC 3 outs: plain md5, as before
    assert c.measured["documents"] == 15 and c.measured["tokens"] == 52


def test_dvc2_legacy_outs_are_read_from_the_legacy_cache_and_remote_layout(legacy_release):
    manifest, repo_dir, _, m, _ = legacy_release
    (repo_dir / "legacy.jsonl").unlink()
    shutil.rmtree(repo_dir / "old")
    r = check_data(manifest)
    assert r.ok, r.model_dump_json(indent=1)
    assert {f.path: f.how for f in corpus(r).files if f.path in LEGACY} == dict.fromkeys(LEGACY, "dvc-cache")
    shutil.rmtree(repo_dir / ".dvc" / "cache")
    proc = run_assay("data", "check", str(manifest), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = {f["path"]: f for f in json.loads(proc.stdout)["components"][0]["files"]}
    for rel in LEGACY:
        assert (
            files[rel]["status"] == "ok"
            and files[rel]["how"] == "dvc-remote"
            and "md5-dos2unix" in files[rel]["message"]
        )
    assert files["legacy.jsonl"]["dvc_md5"] == files["legacy.jsonl"]["md5"] == m


def test_tampered_dvc2_legacy_bytes_are_caught(legacy_release):
    manifest, repo_dir, store, m, _ = legacy_release
    set_remote(manifest, "store")
    unpin(manifest, "legacy.jsonl")  # DVC's legacy md5 alone must catch changed words
    put_legacy(store, m, LEGACY_TEXT.replace(b"word", b"ward", 1))
    proc = run_assay("data", "check", str(manifest), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    files = {f["path"]: f for f in json.loads(proc.stdout)["components"][0]["files"]}
    f = files["legacy.jsonl"]
    assert f["status"] == "mismatch" and f["how"] == "dvc-remote" and f["dvc_md5"] == m and f["md5"] != m
    assert f"have md5-dos2unix {f['md5']}, but legacy.jsonl.dvc records {m}" in f["message"]
    assert files["old/o0.jsonl"]["status"] == "ok"

    # CRLF -> LF leaves the legacy md5 unchanged (DVC sees the same file); only the sha256 pin catches it.
    doc, _ = read_yaml_file(manifest)
    for e in doc["data"]["components"][0]["files"]:
        e.pop("size") if e["path"] == "old/o0.jsonl" else None
    manifest.write_text(dump_yaml(doc))
    data = (repo_dir / "old" / "o0.jsonl").read_bytes()
    put_legacy(store, legacy_md5(data), data.replace(b"\r\n", b"\n"))
    r = check_data(manifest)
    f = {f.path: f for f in corpus(r).files}["old/o0.jsonl"]
    assert f.status == "mismatch" and f.md5 == f.dvc_md5 and "!= pinned" in f.message


def test_a_rewritten_dvc2_legacy_listing_is_refused(legacy_release):
    manifest, _, store, _, dir_md5 = legacy_release
    set_remote(manifest, "store")
    key = f"{dir_md5[:2]}/{dir_md5[2:]}"
    listing = json.loads((store / key).read_bytes())
    tampered = b'{"text": "forged"}\r\n'
    put_legacy(store, legacy_md5(tampered), tampered)
    listing[0]["md5"] = legacy_md5(tampered)
    forged = json.dumps(listing, sort_keys=True).encode()
    LocalStore(store)(key, forged)
    r = check_data(manifest)
    files = {f.path: f for f in corpus(r).files}
    assert not r.ok and files["legacy.jsonl"].status == "ok"
    for rel in ("old/o0.jsonl", "old/sub/o1.jsonl"):
        f = files[rel]
        assert f.status == "mismatch" and f.dvc_md5 is None and f.dvc_file == "old.dvc", f
        assert (
            f"listing of folder old (remote store) has md5 {legacy_md5(forged)}, but old.dvc records {dir_md5}"
            in f.message
        )


def test_a_dvc2_lock_out_is_legacy_too(dvc_release):
    """A dvc.lock out with no `hash:` (written by DVC 2) records md5-dos2unix; gen.jsonl has no CRLF, so same value."""
    manifest, repo_dir, _ = dvc_release
    lock = repo_dir / "dvc.lock"
    lock.write_text("".join(line for line in lock.read_text().splitlines(keepends=True) if line.strip() != "hash: md5"))
    r = check_data(manifest)
    f = {f.path: f for f in corpus(r).files}["gen.jsonl"]
    assert r.ok and f.status == "ok" and f.dvc_file == "dvc.lock", r.model_dump_json(indent=1)
    assert f.dvc_md5 == f.md5 == md5(repo_dir / "gen.jsonl") and "DVC md5-dos2unix" in f.message
