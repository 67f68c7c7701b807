"""The static remote-code audit (assay.verify.remote_code): Phi-4-Reasoning-Vision-15B's real remote code, and edge
cases written here.  Nothing under audit is ever imported or executed."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.verify.remote_code import RemoteCodeAudit, analyse_source, audit_folder, audit_remote_code

PHI4 = Path(__file__).parent / "fixtures" / "phi-4-rv"
HEX = "0123456789abcdef" * 2 + "01234567"
assert len(HEX) == 40


def audit(files: dict[str, str | bytes], entries: list[str] | None = None, **kw) -> RemoteCodeAudit:
    """Audit an in-memory release: ``files`` path -> source; ``entries`` default to modeling.py."""
    data = {p: (t.encode() if isinstance(t, str) else t) for p, t in files.items()}
    names = entries if entries is not None else ["modeling.py"]
    return audit_remote_code({p: ["config.json:auto_map"] for p in names}, data.get, set(data), **kw)


def calls(a: RemoteCodeAudit, path: str = "modeling.py"):
    return next(f for f in a.files if f.path == path).calls


def codes(a: RemoteCodeAudit, severity: str | None = None) -> list[str]:
    return [f.code for f in a.findings if severity is None or f.severity == severity]


# -------------------------------------------------------------------------------------- the real Phi-4-RV code
@pytest.fixture(scope="module")
def phi4(tmp_path_factory) -> RemoteCodeAudit:
    rel = tmp_path_factory.mktemp("phi4")
    for name in (
        "config.json",
        "preprocessor_config.json",
        "generation_config.json",
        "modeling_phi4_visionr.py",
        "processing_phi4_visionr.py",
    ):
        shutil.copy2(PHI4 / name, rel / name)
    return audit_folder(rel)


def _line(name: str, n: int) -> str:
    return (PHI4 / name).read_text(encoding="utf-8").splitlines()[n - 1]


def test_phi4_unpinned_siglip2_download_is_found_with_its_line(phi4):
    modeling = next(f for f in phi4.files if f.path == "modeling_phi4_visionr.py")
    assert modeling.status == "analyzed" and modeling.role == "auto_map"
    hit = next(c for c in modeling.calls if c.line == 430)
    assert "Siglip2VisionModel.from_pretrained(" in _line("modeling_phi4_visionr.py", 430)
    assert hit.source.startswith("Siglip2VisionModel.from_pretrained(") and "vision_tower_path" in hit.source
    assert hit.name == "transformers.Siglip2VisionModel.from_pretrained"
    assert (hit.kind, hit.code, hit.severity) == ("hub", "unpinned-download", "error")
    assert (hit.target_kind, hit.pin, hit.revision) == ("variable", "absent", None)
    # the variable is traced to the config value it most likely holds: the repository named in config.json
    assert hit.candidates == ["google/siglip2-so400m-patch16-naflex (config.json:mm_vision_tower)"]
    assert phi4.config_repos == {"config.json:mm_vision_tower": "google/siglip2-so400m-patch16-naflex"}
    assert any(
        f.code == "unpinned-download"
        and f.where == "modeling_phi4_visionr.py:430"
        and "not the locked release" in f.message
        for f in modeling.findings
    )
    # every unpinned hub call of the vision tower and of the processor's image processor is found
    unpinned = {(c.file, c.line) for f in phi4.files for c in f.calls if c.code == "unpinned-download"}
    assert unpinned == {
        ("modeling_phi4_visionr.py", 127),
        ("modeling_phi4_visionr.py", 147),
        ("modeling_phi4_visionr.py", 398),
        ("modeling_phi4_visionr.py", 430),
        ("processing_phi4_visionr.py", 274),
        ("processing_phi4_visionr.py", 287),
    }


def test_phi4_torch_load_of_the_adapter_is_unpickling(phi4):
    hit = next(c for c in calls(phi4, "modeling_phi4_visionr.py") if c.kind == "unpickling")
    assert hit.line == 609 and "torch.load(model_args.pretrain_mm_mlp_adapter" in _line("modeling_phi4_visionr.py", 609)
    assert (hit.name, hit.code, hit.severity) == ("torch.load", "unpickling", "error")
    assert "weights_only" in hit.what


def test_phi4_loads_of_the_release_itself_are_listed_not_flagged(phi4):
    own = [c for f in phi4.files for c in f.calls if c.target_kind == "release"]
    # super().from_pretrained in the model, AutoTokenizer/AutoConfig in the processor: the caller's path and revision
    assert {(c.file, c.line) for c in own} == {
        ("modeling_phi4_visionr.py", 961),
        ("processing_phi4_visionr.py", 249),
        ("processing_phi4_visionr.py", 253),
    }
    assert all(c.severity == "info" and c.pin == "inherited" for c in own)


def test_phi4_imports_and_the_transitive_module(phi4):
    proc = next(f for f in phi4.files if f.path == "processing_phi4_visionr.py")
    rel = next(i for i in proc.imports if i.module == ".modeling_phi4_visionr")
    assert (rel.line, rel.status, rel.resolved) == (258, "release", "modeling_phi4_visionr.py")
    modeling = next(f for f in phi4.files if f.path == "modeling_phi4_visionr.py")
    assert set(modeling.named_by) == {"config.json:auto_map", "processing_phi4_visionr.py"}
    assert {"torch", "safetensors.torch", "transformers", "transformers.models.siglip2.image_processing_siglip2"} <= {
        i.module for i in modeling.imports
    }
    assert all(i.status == "external" for i in modeling.imports)


def test_phi4_claims_fail(phi4):
    rows = {r.subject: r for r in phi4.to_claims()}
    assert set(rows) == {"modeling_phi4_visionr.py", "processing_phi4_visionr.py"}
    assert all(r.kind == "remote-code" and r.verdict == "fail" for r in rows.values())
    assert "unpinned-download" in rows["modeling_phi4_visionr.py"].message
    assert "unpickling" in rows["modeling_phi4_visionr.py"].message
    assert rows["modeling_phi4_visionr.py"].measured["unpickling"] == 1
    assert not phi4.ok


# ------------------------------------------------------------------------------------------- hub calls and pins
@pytest.mark.parametrize(
    ("revision", "pin", "code"),
    [
        (f'"{HEX}"', "pinned", "pinned-download"),
        ('"main"', "branch", "unpinned-download"),
        ('"v1.0"', "branch", "unpinned-download"),
        ("None", "absent", "unpinned-download"),
        ("rev", "unknown", "unpinned-download"),
        (f'"{HEX.upper()}"', "branch", "unpinned-download"),  # the hub's commit ids are lower-case hex
        (f'"{HEX[:12]}"', "branch", "unpinned-download"),  # a short sha is resolved like a branch name
    ],
)
def test_revision_pins(revision, pin, code):
    src = f"from transformers import AutoModel\nm = AutoModel.from_pretrained('org/other', revision={revision})\n"
    (c,) = calls(audit({"modeling.py": src}))
    assert (c.pin, c.code, c.target_kind, c.target) == (pin, code, "repo-id", "'org/other'")
    assert c.severity == ("warning" if pin == "pinned" else "error")


def test_no_revision_is_unpinned_and_a_module_constant_pins():
    src = (
        f'REV = "{HEX}"\nREPO = "org/other"\nimport transformers\n'
        "a = transformers.AutoModel.from_pretrained(REPO, revision=REV)\n"
        "b = transformers.AutoModel.from_pretrained('org/other')\n"
    )
    a, b = calls(audit({"modeling.py": src}))
    assert (a.pin, a.code, a.target_kind) == ("pinned", "pinned-download", "repo-id")
    assert (b.pin, b.code) == ("absent", "unpinned-download")


def test_a_constant_shadowed_by_a_parameter_does_not_pin():
    src = (
        f'REV = "{HEX}"\nimport transformers\n'
        "def load(REV):\n    return transformers.AutoModel.from_pretrained('org/x', revision=REV)\n"
    )
    (c,) = calls(audit({"modeling.py": src}))
    assert (c.pin, c.code) == ("unknown", "unpinned-download")
    src = f'REV = "{HEX}"\nif x:\n    REV = "main"\nimport transformers\ntransformers.AutoModel.from_pretrained("o/x", revision=REV)\n'
    (c,) = calls(audit({"modeling.py": src}))
    assert (c.pin, c.code) == ("unknown", "unpinned-download")


def test_hub_calls_through_aliases_and_attribute_chains():
    src = (
        """
import huggingface_hub as hh
from huggingface_hub import hf_hub_download as dl, snapshot_download
from transformers import AutoModelForCausalLM as AM
import transformers.models.auto as auto
dl("org/a", "weights.bin")
hh.hf_hub_download(repo_id="org/b", filename="x")
snapshot_download("org/c", revision="%s")
AM.from_pretrained("org/d")
auto.AutoModel.from_pretrained("org/e", local_files_only=True)
"""
        % HEX
    )
    got = {(c.line, c.name, c.code) for c in calls(audit({"modeling.py": src}))}
    assert got == {
        (6, "huggingface_hub.hf_hub_download", "unpinned-download"),
        (7, "huggingface_hub.hf_hub_download", "unpinned-download"),
        (8, "huggingface_hub.snapshot_download", "pinned-download"),
        (9, "transformers.AutoModelForCausalLM.from_pretrained", "unpinned-download"),
        (10, "transformers.models.auto.AutoModel.from_pretrained", "unpinned-download"),
    }


def test_trust_remote_code_of_another_repository_is_dynamic_exec():
    src = f"import transformers as t\nt.AutoModel.from_pretrained('org/x', revision='{HEX}', trust_remote_code=True)\n"
    got = [(c.kind, c.code, c.severity) for c in calls(audit({"modeling.py": src}))]
    assert got == [("dynamic-exec", "dynamic-exec", "error"), ("hub", "pinned-download", "warning")]
    off = "import transformers as t\nt.AutoModel.from_pretrained(p, trust_remote_code=False)\n"
    assert [c.code for c in calls(audit({"modeling.py": off}))] == ["unpinned-download"]


def test_hub_targets_local_paths_and_the_release():
    src = """
import os
from pathlib import Path
from transformers import AutoModel, PreTrainedModel
class M(PreTrainedModel):
    @classmethod
    def from_pretrained(cls, path_or_id, *args, **kwargs):
        sub = AutoModel.from_pretrained(os.path.join(path_or_id, "sub"))
        other = AutoModel.from_pretrained(Path(path_or_id) / "vision")
        me = super().from_pretrained(path_or_id, *args, **kwargs)
        cfg = AutoModel.from_pretrained(self.config._name_or_path)
        return me
    def load(self, name, pretrained_model_name_or_path="org/tower"):
        AutoModel.from_pretrained(self.config.vision_config._name_or_path)
        return AutoModel.from_pretrained(pretrained_model_name_or_path)
"""
    got = {c.line: (c.target_kind, c.code) for c in calls(audit({"modeling.py": src}))}
    assert got == {
        8: ("local-path", "local-load"),
        9: ("local-path", "local-load"),
        10: ("release", "release-load"),
        11: ("release", "release-load"),
        14: ("variable", "unpinned-download"),
        15: ("variable", "unpinned-download"),
    }
    (fixed,) = calls(audit({"modeling.py": "import transformers as t\nt.AutoModel.from_pretrained('/opt/m')\n"}))
    assert (fixed.target_kind, fixed.code, fixed.severity) == ("local-path", "local-load", "warning")


# --------------------------------------------------------------------------------------------------- unpickling
def test_unpickling_through_aliases():
    src = """
import torch as T
from torch import load as tl
import pickle, joblib, dill, marshal, shelve
import numpy as np
fn = T.load
T.load(f)
tl(f, weights_only=False)
fn(f)
getattr(T, "load")(f)
T.load(f, weights_only=True)
T.load(f, weights_only=flag)
pickle.loads(b)
pickle.Unpickler(fh).load()
joblib.load(p)
dill.load(fh)
marshal.loads(b)
shelve.open(p)
np.load(p)
np.load(p, allow_pickle=True)
np.load(p, allow_pickle=ok)
"""
    got = [(c.line, c.name, c.severity) for c in calls(audit({"modeling.py": src})) if c.kind == "unpickling"]
    assert got == [
        (7, "torch.load", "error"),
        (8, "torch.load", "error"),
        (9, "torch.load", "error"),
        (10, "torch.load", "error"),
        (11, "torch.load", "info"),
        (12, "torch.load", "error"),
        (13, "pickle.loads", "error"),
        (14, "pickle.Unpickler", "error"),
        (14, "pickle.Unpickler().load", "error"),
        (15, "joblib.load", "error"),
        (16, "dill.load", "error"),
        (17, "marshal.loads", "error"),
        (18, "shelve.open", "error"),
        (19, "numpy.load", "info"),
        (20, "numpy.load", "error"),
        (21, "numpy.load", "error"),
    ]


# ---------------------------------------------------------------------------------------- execution, processes
def test_exec_eval_subprocess_and_what_is_not_them():
    src = """
import os, re, subprocess as sp, importlib, pty, builtins
from os import system as shell
exec(code)
eval("1+1")
compile(src, "f", "exec")
builtins.exec(code)
__import__(name)
importlib.import_module(name)
sp.run(["ls"])
shell("ls")
os.popen("ls")
os.execv("/bin/sh", [])
pty.spawn("/bin/sh")
getattr(os, name)("ls")
model.eval()
re.compile("x")
torch.compile(model)
importlib.import_module("json")
__import__("math")
"""
    a = audit({"modeling.py": src})
    got = [(c.line, c.code) for c in calls(a)]
    assert got == [
        (4, "dynamic-exec"),
        (5, "dynamic-exec"),
        (6, "dynamic-exec"),
        (7, "dynamic-exec"),
        (8, "dynamic-exec"),
        (9, "dynamic-exec"),
        (10, "subprocess"),
        (11, "subprocess"),
        (12, "subprocess"),
        (13, "subprocess"),
        (14, "subprocess"),
        (15, "dynamic-exec"),
    ]
    dynamic = [i.module for i in a.files[0].imports if i.dynamic]
    assert dynamic == ["json", "math"]


def test_network_calls():
    src = """
import requests, httpx, socket
import urllib.request
from urllib.parse import quote
from urllib.request import urlopen as get
requests.get("https://example.org/x")
httpx.post(u)
socket.create_connection(("h", 1))
urllib.request.urlretrieve(u, p)
get(u)
quote("a b")
"""
    got = [(c.line, c.code) for c in calls(audit({"modeling.py": src}))]
    assert got == [
        (6, "network-call"),
        (7, "network-call"),
        (8, "network-call"),
        (9, "network-call"),
        (10, "network-call"),
    ]


# -------------------------------------------------------------------------------------------------------- writes
def test_writes_inside_and_outside_the_cache():
    src = """
import os, shutil, tempfile
from pathlib import Path
from PIL import Image
open("out.txt", "w")
open(p, "ab")
open(p, mode)
open(p)
open(p, "rb")
open(os.path.join(cache_dir, "x.bin"), "wb")
open(os.path.join(tempfile.mkdtemp(), "x"), "w")
Path(p).write_text("x")
Path(__file__).with_name("x.json").write_text("x")
os.remove(p)
shutil.rmtree(d)
shutil.copy(src, dst)
Image.open("photo.png")
Image.open(fp)
Path(p).open("w")
"""
    got = [(c.line, c.code) for c in calls(audit({"modeling.py": src}))]
    assert got == [
        (5, "write-outside-cache"),
        (6, "write-outside-cache"),
        (7, "write-outside-cache"),
        (10, "write-in-cache"),
        (11, "write-in-cache"),
        (12, "write-outside-cache"),
        (13, "write-in-cache"),
        (14, "write-outside-cache"),
        (15, "write-outside-cache"),
        (16, "write-outside-cache"),
        (19, "write-outside-cache"),
    ]
    a = audit({"modeling.py": src})
    assert {f.severity for f in a.findings} == {"warning", "info"}
    assert a.ok and a.to_claims()[0].verdict == "pass"  # writes are warnings: reported, they do not fail the code
    shutil_copy = next(c for c in calls(a) if c.line == 16)
    assert shutil_copy.target == "dst"


# ------------------------------------------------------------------------------ the release: imports and claims
def test_transitive_relative_imports_are_analysed():
    files = {
        "modeling.py": "from .utils import helper\nimport sibling\nfrom . import blocks\n",
        "utils.py": "from .deep.net import fetch\n",
        "deep/__init__.py": "",
        "deep/net.py": "import requests\ndef fetch(u):\n    return requests.get(u)\n",
        "sibling.py": "import os\nos.system('id')\n",
        "blocks.py": "X = 1\n",
        "unused.py": "exec(x)\n",
    }
    a = audit(files)
    by = {f.path: f for f in a.files}
    assert set(by) == {"modeling.py", "utils.py", "deep/__init__.py", "deep/net.py", "sibling.py", "blocks.py"}
    assert by["deep/net.py"].role == "imported" and by["deep/net.py"].named_by == ["utils.py"]
    assert [c.code for c in by["deep/net.py"].calls] == ["network-call"]
    assert [c.code for c in by["sibling.py"].calls] == ["subprocess"]
    assert {i.module: i.status for i in by["modeling.py"].imports} == {
        ".utils": "release",
        "sibling": "release",
        ".": "release",
    }
    verdicts = {r.subject: r.verdict for r in a.to_claims()}
    assert verdicts == {
        "modeling.py": "pass",
        "utils.py": "pass",
        "deep/__init__.py": "pass",
        "deep/net.py": "fail",
        "sibling.py": "fail",
        "blocks.py": "pass",
    }
    assert not a.ok


def test_a_release_module_that_is_missing_fails_closed():
    a = audit({"modeling.py": "from .configuration import Cfg\nfrom .. import up\n"})
    imp = {i.module: (i.status, i.resolved) for i in a.files[0].imports}
    assert imp == {".configuration": ("missing", "configuration.py"), "..": ("missing", ".. (above the release root)")}
    assert codes(a, "error") == ["not-analyzed", "not-analyzed"]
    (row,) = a.to_claims()
    assert row.verdict == "fail" and "not-analyzed" in row.message


def test_an_auto_map_file_the_release_lacks_fails():
    a = audit({"other.py": "x = 1\n"}, entries=["modeling.py"])
    (row,) = a.to_claims()
    assert a.files[0].status == "missing" and row.verdict == "fail"


def test_foreign_code_is_not_checked_and_needs_the_network():
    a = audit_remote_code({}, {}.get, set(), foreign=["org/repo--modeling.Model"])
    (row,) = a.to_claims()
    assert row.verdict == "not-checked" and row.needs == ["network"] and not a.ok


def test_syntax_error_is_not_analyzed():
    a = audit({"modeling.py": "def broken(:\n    pass\n"})
    (rf,) = a.files
    assert rf.status == "not-analyzed" and "SyntaxError" in (rf.reason or "")
    assert codes(a) == ["not-analyzed"]
    (row,) = a.to_claims()
    assert row.verdict == "not-checked" and row.verdict != "pass"


def test_an_empty_audit_passes_nothing():
    a = audit_remote_code({}, {}.get, set())
    assert a.files == [] and a.to_claims() == []


def test_a_clean_file_passes_only_as_the_verified_bytes():
    src = b"import torch\nclass M(torch.nn.Module):\n    pass\n"
    sha = hashlib.sha256(src).hexdigest()
    (row,) = audit({"modeling.py": src}, verified={"modeling.py": sha}).to_claims()
    assert row.verdict == "pass" and row.evidence[0].sha256 == sha and row.kind == "remote-code"
    (row,) = audit({"modeling.py": src}, verified={"modeling.py": None}).to_claims()
    assert row.verdict == "not-checked"  # the file did not verify: its analysis is not evidence about the release
    (row,) = audit({"modeling.py": src}, verified={"modeling.py": "0" * 64}).to_claims()
    assert row.verdict == "not-checked"


def test_source_encodings_follow_the_coding_cookie():
    src = "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\nimport os\nos.system(NAME)\n".encode("latin-1")
    a = audit({"modeling.py": src})
    assert [c.code for c in calls(a)] == ["subprocess"]
    bad = audit({"modeling.py": b"# -*- coding: no-such-codec -*-\nx = 1\n"})
    assert bad.files[0].status == "not-analyzed"


def test_nothing_is_executed(tmp_path):
    sentinel = tmp_path / "ran"
    src = f"open({str(sentinel)!r}, 'w').write('ran')\nimport os\nos.system('touch {sentinel}')\nraise SystemExit(3)\n"
    (tmp_path / "modeling.py").write_text(src)
    (tmp_path / "config.json").write_text('{"auto_map": {"AutoModel": "modeling.M"}}')
    a = audit_folder(tmp_path)
    assert not sentinel.exists()
    assert [(c.kind, c.line) for c in calls(a)] == [("write", 1), ("subprocess", 3)]


# ------------------------------------------------------------------------------------------------------ fuzzing
SNIPPETS = [
    "import os",
    "from . import x",
    "from .m import y as z",
    "import torch as T",
    "T.load(f)",
    "exec(",
    "eval(x)",
    ")",
    "(",
    "def f(a, *b, **c):",
    "    return a",
    "class C:",
    "  pass",
    "x = getattr(os, n)(1)",
    "open(p, 'w')",
    "A.from_pretrained(n, revision=r, **kw)",
    "\\",
    "'''",
    "@dec",
    "lambda: 0",
    "async def g(): await h()",
    "f'{x!r}'",
    "getattr(getattr(a, 'b'), c)()",
    "from .. import q",
    "import a.b.c as d",
    "d.e.f(g)(h)[i](j)",
    "\x00",
    "# coding: utf-8",
    "\t",
    "match x:\n    case 1: pass",
    "x: int = 1",
    "global g",
    "*a, b = c",
    "yield from z",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=400),
        st.text(max_size=400).map(str.encode),
        st.lists(st.sampled_from(SNIPPETS), max_size=25).map(lambda xs: "\n".join(xs).encode()),
    )
)
def test_arbitrary_source_never_raises(data):
    rf, _ = analyse_source("modeling.py", data)
    assert rf.status in ("analyzed", "not-analyzed")
    assert (rf.status == "not-analyzed") == any(f.code == "not-analyzed" for f in rf.findings)
    a = audit({"modeling.py": data, "m.py": data})
    for row in a.to_claims():
        assert row.verdict in ("pass", "fail", "not-checked")
        if row.verdict == "pass":
            assert not any(f.is_error for f in a.findings if f.where and f.where.split(":")[0] == row.subject)


def test_deep_nesting_is_not_analyzed_not_a_crash():
    rf, _ = analyse_source("modeling.py", ("(" * 5000 + ")" * 5000).encode())
    assert rf.status == "not-analyzed"


# ------------------------------------------------------------------------------------ the release, as verify sees it
def test_audit_release_code_reads_only_artifacts(tmp_path):
    from assay.verify.remote_code import audit_release_code

    for name in ("config.json", "modeling_phi4_visionr.py", "processing_phi4_visionr.py"):
        shutil.copy2(PHI4 / name, tmp_path / name)
    files = {n: tmp_path / n for n in ("config.json", "modeling_phi4_visionr.py")}  # the processor is not listed
    sha = hashlib.sha256((tmp_path / "modeling_phi4_visionr.py").read_bytes()).hexdigest()
    a = audit_release_code(files, {"config.json": "x", "modeling_phi4_visionr.py": sha})
    assert a is not None
    rows = {r.subject: r for r in a.to_claims()}
    assert rows["processing_phi4_visionr.py"].verdict == "fail"  # named by auto_map, not an artifact
    assert rows["modeling_phi4_visionr.py"].verdict == "fail"
    assert all(r.id.startswith("remote-code-audit:") for r in rows.values())
    assert audit_release_code({"config.json": tmp_path / "config.json"}, {}) is not None
    (tmp_path / "plain.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    assert audit_release_code({"config.json": tmp_path / "plain.json"}) is None  # no auto_map: no remote code


def test_tokenizer_lists_foreign_refs_and_dynamic_relative_imports(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(
        '{"auto_map": {"AutoTokenizer": ["tokenization_x.XTokenizer", null], '
        '"AutoConfig": "org/other--configuration_o.OConfig"}}'
    )
    (tmp_path / "tokenization_x.py").write_text(
        "import importlib\nhelpers = importlib.import_module('.helpers', package=__package__)\n"
    )
    (tmp_path / "helpers.py").write_text("import pickle\npickle.load(open('vocab.pkl', 'rb'))\n")
    a = audit_folder(tmp_path)
    by = {f.path: f for f in a.files}
    assert set(by) == {"tokenization_x.py", "helpers.py", "org/other--configuration_o.OConfig"}
    assert by["tokenization_x.py"].named_by == ["tokenizer_config.json:auto_map"]
    assert [(i.module, i.dynamic, i.status) for i in by["tokenization_x.py"].imports] == [
        ("importlib", False, "external"),
        (".helpers", True, "release"),
    ]
    assert [c.code for c in by["helpers.py"].calls] == ["unpickling"]
    assert by["org/other--configuration_o.OConfig"].role == "foreign"
    assert {r.subject: r.verdict for r in a.to_claims()} == {
        "tokenization_x.py": "pass",
        "helpers.py": "fail",
        "org/other--configuration_o.OConfig": "not-checked",
    }


def test_inspect_remote_code_inputs(tmp_path):
    from assay.manifests.errors import InputError
    from assay.verify.remote_code import inspect_remote_code

    with pytest.raises(InputError, match="no remote code to audit"):
        inspect_remote_code(tmp_path)  # an empty folder: nothing analysed is no verdict
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a Python file"):
        inspect_remote_code(tmp_path / "notes.txt")
    with pytest.raises(InputError, match="no such file"):
        inspect_remote_code(tmp_path / "absent.py")
    (tmp_path / "m.py").write_text("from .gone import x\n")
    a = inspect_remote_code(tmp_path / "m.py")
    assert [f.named_by for f in a.files] == [["command line"]] and not a.ok


def test_call_sources_are_the_text_as_written():
    import ast

    src = "x = 'é'; import os; os.system('ç' +\n    'ü')  # ß\nimport subprocess\nsubprocess.run(['é',\n 'x'])\n"
    got = [c.source for c in calls(audit({"modeling.py": src}))]
    want = [
        ast.get_source_segment(src, n)
        for n in ast.walk(ast.parse(src))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    ]
    assert got == want == ["os.system('ç' +\n    'ü')", "subprocess.run(['é',\n 'x'])"]
    text = (PHI4 / "modeling_phi4_visionr.py").read_text(encoding="utf-8")
    phi = audit_folder(PHI4)
    assert all(c.source in text for f in phi.files if f.path.startswith("modeling") for c in f.calls)


# ------------------------------------------------------------------------------------- verify, the gate and the CLI
UNPINNED = "from transformers import AutoModel\n\nTOWER = AutoModel.from_pretrained('org/tower')\n"
CLEAN = "from transformers import PreTrainedModel\n\nclass M(PreTrainedModel):\n    pass\n"
PICKLING = "import torch\n\nSTATE = torch.load('adapter.bin')\n"


def _package_code(folder: Path, code: str) -> Path:
    """A release folder with a config whose auto_map names modeling_m.py, packaged by ``assay init``."""
    import json

    from conftest import run_assay

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["M"], "auto_map": {"AutoModel": "modeling_m.M"}}))
    (folder / "modeling_m.py").write_text(code)
    proc = run_assay("init", str(folder), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # init packages what is there; verify judges it
    return folder / "assay.yaml"


def test_verify_fails_on_an_unpinned_download_and_lists_it(tmp_path):
    import json

    from conftest import run_assay

    manifest = _package_code(tmp_path / "rel", UNPINNED)
    proc = run_assay("verify", str(manifest), "--json")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    (rf,) = out["remote_code"]["files"]
    assert rf["path"] == "modeling_m.py" and rf["calls"][0]["code"] == "unpinned-download"
    assert rf["calls"][0]["line"] == 3 and rf["calls"][0]["source"] == "AutoModel.from_pretrained('org/tower')"
    assert out["remote_code"]["ok"] is False
    assert any(f["code"] == "unpinned-download" and f["where"] == "modeling_m.py:3" for f in out["findings"])
    # verify's own remote-code note (the file is an artifact and verified) stays beside the audit's finding
    assert any(f["code"] == "remote-code" and f["where"] == "modeling_m.py" for f in out["findings"])
    text = run_assay("verify", str(manifest))
    assert text.returncode == 1
    flat = " ".join(text.stdout.split())
    assert "modeling_m.py:3" in flat and "unpinned-download" in flat and "org/tower" in flat


def test_verify_passes_clean_remote_code_with_an_audit_claim(tmp_path):
    from assay.verify.release import verify_release

    manifest = _package_code(tmp_path / "rel", CLEAN)
    r = verify_release(manifest, strict=True)
    assert r.ok and r.remote_code is not None and r.remote_code.ok
    rows = [c for c in r.to_claims() if c.id == "remote-code-audit:modeling_m.py"]
    assert (
        len(rows) == 1
        and rows[0].verdict == "pass"
        and rows[0].evidence[0].sha256 == hashlib.sha256(CLEAN.encode()).hexdigest()
    )


def test_verify_claim_rows_fail_without_duplicate_structure_rows(tmp_path):
    from assay.verify.release import verify_release

    r = verify_release(_package_code(tmp_path / "rel", PICKLING), strict=True)
    rows = r.to_claims()
    audit_rows = [c for c in rows if c.kind == "remote-code" and c.id.startswith("remote-code-audit:")]
    assert [c.verdict for c in audit_rows] == ["fail"] and "unpickling" in (audit_rows[0].message or "")
    assert not [c for c in rows if c.id.startswith("structure:unpickling")]


def test_the_trust_remote_code_gate_refuses_what_the_audit_blocks(tmp_path):
    from assay.manifests.errors import CheckFailed
    from assay.verify.remote_code import NETWORK_CODES
    from assay.verify.trust import check_remote_code

    unpinned = _package_code(tmp_path / "a", UNPINNED)
    with pytest.raises(CheckFailed, match="unpinned-download"):
        check_remote_code(unpinned)
    # a caller that runs the code with the network closed (the as-loaded probe) observes downloads instead
    assert check_remote_code(unpinned, allow=NETWORK_CODES) == ["modeling_m.py"]
    pickling = _package_code(tmp_path / "b", PICKLING)
    with pytest.raises(CheckFailed, match="unpickling"):
        check_remote_code(pickling, allow=NETWORK_CODES)  # closing the network does not make unpickling safe
    assert check_remote_code(_package_code(tmp_path / "c", CLEAN)) == ["modeling_m.py"]


def test_inspect_cli_on_phi4_folder_and_file(tmp_path):
    import json

    from conftest import run_assay

    rel = tmp_path / "phi4"
    rel.mkdir()
    for name in ("config.json", "preprocessor_config.json", "modeling_phi4_visionr.py", "processing_phi4_visionr.py"):
        shutil.copy2(PHI4 / name, rel / name)
    proc = run_assay("inspect", str(rel), env={"COLUMNS": "200"})
    assert proc.returncode == 1, proc.stderr
    flat = " ".join(proc.stdout.split())
    assert "modeling_phi4_visionr.py:430" in flat and "modeling_phi4_visionr.py:609" in flat
    assert "unpinned-download" in flat and "google/siglip2-so400m-patch16-naflex" in flat and flat.startswith("FAIL ")
    out = json.loads(run_assay("inspect", str(rel), "--json").stdout)
    assert out["ok"] is False and {f["path"] for f in out["files"]} == {
        "modeling_phi4_visionr.py",
        "processing_phi4_visionr.py",
    }
    one = run_assay("inspect", str(rel / "processing_phi4_visionr.py"), "--json")
    assert one.returncode == 1 and [f["path"] for f in json.loads(one.stdout)["files"]] == [
        "processing_phi4_visionr.py",
        "modeling_phi4_visionr.py",
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = run_assay("inspect", str(empty))
    assert bad.returncode == 2 and "no remote code" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_the_gate_refuses_a_verification_without_the_audit(tmp_path):
    from assay.manifests.errors import CheckFailed
    from assay.verify.release import verify_release
    from assay.verify.trust import check_remote_code

    manifest = _package_code(tmp_path / "rel", CLEAN)
    vr = verify_release(manifest, strict=True)
    assert check_remote_code(manifest, verification=vr) == ["modeling_m.py"]
    with pytest.raises(CheckFailed, match="not audited"):  # e.g. a result from before the audit existed
        check_remote_code(manifest, verification=vr.model_copy(update={"remote_code": None}))
