"""The allowlist pickle scan on public scanner corpora (picklescan, modelscan, fickling) and on real checkpoints.

Every sample a source repository calls malicious must fail (an error), and benign checkpoints written here by
torch.save / np.save must pass with no error. tests/fixtures/pickles/README.md names the sources; expected.json
holds each file's source label and the verdict assay must reach. Nothing is ever unpickled.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from assay.verify.content_scan import scan_content
from assay.verify.pickle_scan import scan_pickle_file
from assay.verify.sniff import sniff_file

ROOT = Path(__file__).parent / "fixtures" / "pickles"
EXPECTED: dict[str, dict] = json.loads((ROOT / "expected.json").read_text())


@pytest.fixture(scope="module")
def results():
    return {path: scan_content(ROOT / path) for path in EXPECTED}


def agreement_table(results) -> str:
    """Per source: malicious caught / n, benign passed / n, other (not a pickle) not passed / n."""
    rows = collections.defaultdict(lambda: collections.Counter())
    for path, exp in EXPECTED.items():
        src, ok = path.split("/")[0], results[path].ok
        label = exp["label"]
        rows[src][f"{label}_n"] += 1
        rows[src][f"{label}_hit"] += (not ok) if label != "benign" else ok
    lines = [f"{'source':12s} {'malicious caught':>17s} {'benign passed':>14s} {'not-a-pickle not passed':>24s}"]
    for src in sorted(rows):
        r = rows[src]
        lines.append(
            f"{src:12s} {r['malicious_hit']:>9d} / {r['malicious_n']:<5d} {r['benign_hit']:>6d} / {r['benign_n']:<5d} "
            f"{r['not-a-pickle_hit']:>14d} / {r['not-a-pickle_n']:<5d}"
        )
    return "\n".join(lines)


def test_fixture_manifest_covers_every_committed_sample():
    on_disk = {
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".md", ".json")
    }
    assert on_disk == set(EXPECTED)
    assert {e["label"] for e in EXPECTED.values()} == {"malicious", "benign", "not-a-pickle"}
    assert sum(e["label"] == "malicious" for e in EXPECTED.values()) >= 150


def test_every_malicious_sample_fails_and_verdicts_match_expected(results):
    table = agreement_table(results)
    print("\n" + table)
    malicious_passed = [p for p, e in EXPECTED.items() if e["label"] == "malicious" and results[p].ok]
    assert not malicious_passed, f"malicious samples passed:\n{malicious_passed}\n{table}"
    wrong = {
        p: (e["assay"], results[p].ok, results[p].reason)
        for p, e in EXPECTED.items()
        if (e["assay"] == "pass") != results[p].ok
    }
    assert not wrong, f"verdicts differ from expected.json:\n{wrong}\n{table}"


def test_failures_name_the_global_offset_and_opcode(results):
    pip = results["picklescan/data/malicious16.pkl"]
    assert pip.status == "scanned" and not pip.ok
    assert any("global pip.main at offset" in e and "(GLOBAL) is not in the allowlist" in e for e in pip.report.errors)
    for path, name in [
        ("picklescan/data2/GHSA-xp4f-hrf8-rxw7.pkl", "ensurepip._run_pip"),
        ("picklescan/data2/logging_FileHandler.pkl", "logging.FileHandler"),
        ("picklescan/data2/GHSA-vvpj-8cmc-gx39.pkl", "pkgutil.resolve_name"),
        ("picklescan/data2/GHSA-f745-w6jp-hpxx.pkl", "torch.utils.collect_env.run"),
        ("picklescan/data2/GHSA-fqq6-7vqf-w3fg.pkl", "doctest.debug_script"),
        ("picklescan/data2/GHSA-g38g-8gr9-h9xp-uuid.pkl", "uuid._get_command_stdout"),
        ("picklescan/data/malicious20.pkl", "venv.create"),
        ("picklescan/data/malicious18.pkl", "pydoc.pipepager"),
    ]:
        rep = results[path].report
        assert rep is not None and any(f"global {name} at offset" in e and "(STACK_GLOBAL)" in e for e in rep.errors), (
            path,
            rep.errors if rep else None,
        )


def test_content_not_name_decides(results):
    # a zip whose pickle member is called data.txt, an npy whose object payload reaches ssl
    assert results["picklescan/data/malicious1_wrong_ext.zip"].sniffed.pickle_bearing
    assert results["picklescan/data2/dns_exfiltration.npy"].sniffed.format == "npy"
    assert "ssl.get_server_certificate" in results["picklescan/data2/dns_exfiltration.npy"].report.dangerous
    # modelscan's unsafe_numpy.npy is a raw pickle under an .npy name
    assert results["modelscan/unsafe_numpy.npy"].sniffed.format == "pickle"
    assert results["picklescan/data/pytorch_model.bin"].sniffed.format == "torch-legacy"
    assert results["picklescan/data/new_pytorch_model.bin"].sniffed.format == "torch-zip"
    assert results["picklescan/data/malicious1.7z"].status == "not-scanned"


# ----------------------------------------------------------------------------- benign checkpoints written here


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.norm = torch.nn.LayerNorm(3)
        self.emb = torch.nn.Embedding(5, 2)
        self.register_buffer("steps", torch.tensor(7, dtype=torch.int64))


def checkpoints():
    torch.manual_seed(0)
    sd = Tiny().state_dict()
    yield "state_dict", sd
    yield "bf16", {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in sd.items()}
    yield (
        "int8+fp16",
        collections.OrderedDict(
            q=torch.randint(-128, 127, (4, 4), dtype=torch.int8),
            h=torch.randn(3, dtype=torch.float16),
            u=torch.zeros(2, dtype=torch.uint8),
            b=torch.ones(2, dtype=torch.bool),
        ),
    )
    yield (
        "parameters",
        {"p": torch.nn.Parameter(torch.randn(2, 2)), "frozen": torch.nn.Parameter(torch.ones(1), requires_grad=False)},
    )
    yield (
        "nested",
        {
            "model": sd,
            "optimizer": {"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": [{"lr": 1e-3, "params": [0]}]},
            "epoch": 3,
            "shape": torch.Size([2, 3]),
            "names": ["a", "b"],
            "pair": (1, 2.5),
            "flags": {1, 2},
            "blob": b"\x00\x01",
            "c": complex(1, 2),
            "none": None,
        },
    )
    yield "views", {"w": (t := torch.arange(12.0).reshape(3, 4)), "row": t[1], "t": t.T}


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("name, obj", list(checkpoints()), ids=[n for n, _ in checkpoints()])
def test_torch_save_checkpoints_pass(tmp_path, name, obj, zipped):
    path = tmp_path / "ckpt.bin"
    torch.save(obj, path, _use_new_zipfile_serialization=zipped)
    res = scan_content(path)
    assert res.sniffed.format == ("torch-zip" if zipped else "torch-legacy")
    assert res.status == "scanned" and res.ok, res.report.errors
    # the control: torch's own weights_only loader accepts the same file
    torch.load(path, weights_only=True)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_torch_save_with_newer_pickle_protocols_passes(tmp_path, protocol):
    path = tmp_path / "ckpt.pt"
    torch.save(dict(Tiny().state_dict()), path, pickle_protocol=protocol)
    res = scan_content(path)
    assert res.ok, res.report.errors
    assert res.report.pickles == ["ckpt/data.pkl"]


def test_torch_zip_checkpoint_named_zip_is_recognised(tmp_path):
    path = tmp_path / "weights.zip"
    torch.save({"w": torch.ones(2)}, path)
    assert sniff_file(path).format == "torch-zip"
    assert scan_content(path).ok


def test_numpy_files_pass(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    np.savez(tmp_path / "b.npz", x=np.ones(3), y=np.zeros((2, 2), dtype=np.int8))
    np.savez_compressed(tmp_path / "c.npz", x=np.ones(3))
    np.save(tmp_path / "o.npy", np.array([1, "two", (3,)], dtype=object))
    np.savez(tmp_path / "o.npz", o=np.array([{"k": 1}, None], dtype=object), n=np.ones(2))
    expect = {
        "a.npy": ("npy", "no-pickle"),
        "b.npz": ("npz", "scanned"),
        "c.npz": ("npz", "scanned"),
        "o.npy": ("npy", "scanned"),
        "o.npz": ("npz", "scanned"),
    }
    for name, (fmt, status) in expect.items():
        res = scan_content(tmp_path / name)
        assert (res.sniffed.format, res.status, res.ok) == (fmt, status, True), (name, res)
    report = scan_pickle_file(tmp_path / "o.npy")
    assert report.container == "npy" and report.pickles == ["<npy>"]
    assert {"numpy.ndarray", "numpy.dtype"} <= {f"{g.module}.{g.name}" for g in report.globals}


def test_object_npz_member_with_a_payload_fails(tmp_path):
    import io
    import zipfile

    good = io.BytesIO()
    np.save(good, np.ones(2))
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (118 - len(header)) + b"\n"
    evil = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"cos\nsystem\n(S'id'\ntR."
    path = tmp_path / "arrays.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("good.npy", good.getvalue())
        zf.writestr("evil.npy", evil)
    res = scan_content(path)
    assert res.sniffed.format == "npz" and not res.ok
    assert any(e.startswith("evil.npy: global os.system at offset 0 (GLOBAL)") for e in res.report.errors)


@pytest.mark.parametrize("name", ["config.json", "README.txt", "weights.safetensors.part", "noext"])
def test_a_malicious_pickle_under_any_name_is_still_a_pickle(tmp_path, name):
    path = tmp_path / name
    path.write_bytes((ROOT / "picklescan/data/malicious2_v0.pkl").read_bytes())  # protocol 0: no header at all
    res = scan_content(path)
    assert res.sniffed.pickle_bearing and res.status == "scanned" and not res.ok
    assert "posix.system" in res.report.dangerous
