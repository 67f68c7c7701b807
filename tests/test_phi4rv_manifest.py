"""The real Phi-4-Reasoning-Vision-15B manifest (``manifests/releases/phi-4-reasoning-vision-15b/assay.yaml``).

What is checked against what:

* the manifest validates offline (the loader) and against ``assay schema``'s JSON Schema, and a broken copy does not;
* its claims, decodings and remote-code list agree with Microsoft's own files (``tests/fixtures/phi-4-rv/``, copied
  from the GitHub repository): config.json, generation_config.json, the greedy examples, auto_map;
* every published score is there with its source: the 12 rows of the GitHub README's table (parsed from the
  committed README) and the model card's six model-index rows, ScreenSpot-V2 as the declared mean of its splits
  (the rescore engine's component-mean check), every score attested only;
* the mixture is attested only: nothing in the data check of it is a pass;
* offline, ``assay verify`` and ``assay audit`` of it pass nothing, exit 1, and name what each claim needs;
* a local folder with the release's real configs and code and sparse shards of the exact shapes
  (``support.phi4rv``) satisfies the structural claims (architecture, dtypes, parameters within the tolerance,
  remote code) by the same structure check ``assay verify`` runs, from headers only.  A strict ``assay verify`` of
  that folder hashes ~30 GB of holes (72 s on this project's 2-core machine), so the test runs the structure stage
  on the folder's headers, with the small files hashed, instead of hashing the shards.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_assay

from assay.manifests.errors import ManifestError
from assay.manifests.loader import load_manifest
from assay.manifests.schema import Manifest
from assay.manifests.uris import parse_source_uri

MANIFEST = ROOT / "manifests" / "releases" / "phi-4-reasoning-vision-15b" / "assay.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "phi-4-rv"
SHARDS = [f"model-{i:05d}-of-00007.safetensors" for i in range(1, 8)]
# The Hub model card's front matter model-index (not reachable offline; quoted from the card's README.md as shown in
# the Hub discussion #5 diff, and in shared/phi-4-rv.md): card dataset name -> (eval in the manifest, value).
CARD_MODEL_INDEX = {
    "AI2D": ("AI2D_TEST", 84.8),
    "ChartQA": ("ChartQA", 83.3),
    "MathVista (MINI)": ("MathVista_MINI", 75.2),
    "MMMU": ("MMMU_VAL", 54.3),
    "OCRBench": ("OCRBench", 76.0),
    "ScreenSpot-V2": ("ScreenSpot-V2", 88.2),
}
SCREENSPOT_SPLITS = ["ScreenSpot_v2_Desktop", "ScreenSpot_v2_Mobile", "ScreenSpot_v2_Web"]


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest(MANIFEST)


def fixture_json(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def readme_scores() -> dict[str, float]:
    """The GitHub README's "Benchmark Results" score table, as published (rows named by VLMEvalKit ids)."""
    text = (FIXTURES / "github-README.md").read_text()
    table = text.split("| **Benchmark**              | **Score** |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\|\s*([A-Za-z0-9_]+)\s*\|\s*([0-9.]+)\s*\|$", table, flags=re.MULTILINE)
    return {name: float(value) for name, value in rows}


def local_copy(tmp_path: Path, folder: Path | None = None) -> Path:
    """The manifest, with its Hub source replaced by a local folder (for the checks that read a release folder)."""
    folder = folder or (tmp_path / "release")
    folder.mkdir(exist_ok=True)
    text = MANIFEST.read_text().replace("uri: hf://microsoft/Phi-4-reasoning-vision-15B", f"uri: dir://{folder}")
    assert text != MANIFEST.read_text()
    out = tmp_path / "assay.yaml"
    out.write_text(text)
    return out


# ------------------------------------------------------------------------------------------------ the manifest itself
def test_release_identity(manifest):
    r = manifest.release
    assert (r.publisher, r.license, r.model_card) == ("Microsoft", "MIT", "README.md")
    assert r.paper is not None and r.paper.id == "arXiv:2603.03975"
    assert r.paper.title == "Phi-4-reasoning-vision-15B Technical Report"
    # the README's BibTeX cites another id and title: recorded, not hidden
    bibtex = (FIXTURES / "github-README.md").read_text().split("```bibtex", 1)[1]
    assert "arXiv:2511.19663" in bibtex and "Phi-4-Vision-Reasoning Technical Report" in bibtex
    assert "2511.19663" in r.paper.note and "Phi-4-Vision-Reasoning Technical Report" in r.paper.note
    assert r.base_model == "hf://microsoft/Phi-4-reasoning"


def test_source_is_pinned_only_by_the_lock(manifest):
    """The release commit is not knowable offline: no revision (never `main`), no invented sha256 or size; the lock
    pins them (and the header says so)."""
    (src,) = manifest.sources
    uri = parse_source_uri(src.uri)
    assert (uri.scheme, uri.repo, uri.revision) == ("hf", "microsoft/Phi-4-reasoning-vision-15B", None)
    assert all(a.sha256 is None and a.size is None for a in manifest.artifacts)
    assert "assay lock" in MANIFEST.read_text().split("apiVersion:", 1)[0]
    assert not MANIFEST.with_name("assay.lock.yaml").exists()


def test_artifacts_name_the_release_files(manifest):
    roles = {a.path: a.role.value for a in manifest.artifacts}
    for name in ("config.json", "generation_config.json"):
        assert roles[name] == "config"
    assert roles["preprocessor_config.json"] == "processor"
    assert roles["chat_template.jinja"] == "tokenizer"
    assert roles["modeling_phi4_visionr.py"] == roles["processing_phi4_visionr.py"] == "code"
    assert roles["README.md"] == roles["DATACARD.md"] == "docs"
    assert [p for p, r in roles.items() if r == "weights"] == ["model.safetensors.index.json", *SHARDS]
    # every file of the GitHub copy's huggingface-transformers/ that ships with the weights is listed
    for name in (
        "config.json",
        "generation_config.json",
        "preprocessor_config.json",
        "chat_template.jinja",
        "modeling_phi4_visionr.py",
        "processing_phi4_visionr.py",
    ):
        assert name in roles


def test_claims_agree_with_the_release_files(manifest):
    from support.phi4rv import phi4rv_tensors

    from assay.verify.structure import remote_code_modules

    config = fixture_json("config.json")
    claims = manifest.claims
    assert claims.architecture == config["architectures"][0] == "Phi4ForCausalLMV"
    assert config["dtype"] == "bfloat16" and claims.dtypes == ["BF16"]
    auto_map = set()
    for name in ("config.json", "preprocessor_config.json"):
        local, foreign = remote_code_modules(fixture_json(name), Path("."))
        assert foreign == []
        auto_map |= set(local)
    assert (
        sorted(claims.remote_code or [])
        == sorted(auto_map)
        == ["modeling_phi4_visionr.py", "processing_phi4_visionr.py"]
    )
    # "15B" rounded to whole billions allows +/- 0.5B: the tolerance covers that and not much more,
    # and the count derived from config.json lies inside it
    p = claims.parameters
    assert p is not None and p.total == 15_000_000_000
    assert 0.5 / 15 <= p.tolerance <= 0.034
    derived = sum(_numel(s) for s in phi4rv_tensors(config, fixture_json("preprocessor_config.json")).values())
    assert derived == 15_119_518_144
    assert abs(derived - p.total) <= p.tolerance * p.total
    assert claims.attested_only == []  # every structural claim can be measured once the files are pulled


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def test_both_decodings_named_from_their_sources(manifest):
    gen = fixture_json("generation_config.json")
    assert manifest.decodings is not None
    shipped = manifest.decodings["shipped"]
    assert shipped.name == "shipped" and "generation_config.json" in (shipped.source or "")
    assert (
        (shipped.do_sample, shipped.temperature, shipped.top_p)
        == (gen["do_sample"], gen["temperature"], gen["top_p"])
        == (True, 0.8, 0.95)
    )
    greedy = manifest.decodings["examples-greedy"]
    sample = (FIXTURES / "sample_inference.py").read_text()
    assert "do_sample=False" in sample
    assert f"max_new_tokens={greedy.max_new_tokens}," in sample
    assert (greedy.do_sample, greedy.temperature) == (False, 0.0)
    assert "do_sample=False" in (greedy.source or "")
    # which decoding produced the published scores is not published: no eval claims one
    assert all(ev.decoding is None for ev in manifest.evals)


# ------------------------------------------------------------------------------------------------ JSON Schema
def test_json_schema_accepts_the_manifest_and_rejects_a_broken_copy():
    import jsonschema

    proc = run_assay("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    defs = schema["$defs"]
    assert "decodings" in schema["properties"]
    assert {"paper", "base_model"} <= set(defs["ReleaseInfo"]["properties"])
    assert {"harness", "dataset", "decoding"} <= set(defs["EvalClaim"]["properties"])
    assert {"name", "source", "do_sample"} <= set(defs["Decoding"]["properties"])
    doc = yaml.safe_load(MANIFEST.read_text())
    jsonschema.validate(doc, schema)
    broken = json.loads(json.dumps(doc))
    broken["evals"][0]["harness"] = {"nmae": "vlmevalkit"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    broken = json.loads(json.dumps(doc))
    broken["claims"]["parameters"]["total"] = "about 15B"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


# ------------------------------------------------------------------------------------------------ published scores
def test_every_readme_score_is_declared_with_its_source(manifest):
    readme = readme_scores()
    assert len(readme) == 12
    evals = {e.name: e for e in manifest.evals}
    for name, value in readme.items():
        ev = evals[name]
        rows = [p for p in ev.published if (p.source or "").startswith("GitHub README table")]
        assert [p.value for p in rows] == [value], name
        assert name in (rows[0].source or "")
        # the README names rows by VLMEvalKit dataset ids: the harness is recorded for them
        assert ev.harness is not None and ev.harness.name == "vlmevalkit" and ev.dataset == name


def test_every_card_score_is_declared_with_its_source(manifest):
    evals = {e.name: e for e in manifest.evals}
    for card_name, (name, value) in CARD_MODEL_INDEX.items():
        rows = [p for p in evals[name].published if (p.source or "").startswith("card model-index")]
        assert [p.value for p in rows] == [value], name
        assert f"dataset {card_name} " in (rows[0].source or "") and "accuracy" in (rows[0].source or "")
    # card-only rows: the card names no harness, so none is recorded
    for name in ("ChartQA", "OCRBench", "ScreenSpot-V2"):
        assert evals[name].harness is None


def test_no_score_beyond_the_published_ones_and_none_checkable(manifest):
    names = {e.name for e in manifest.evals}
    assert names == set(readme_scores()) | {name for name, _ in CARD_MODEL_INDEX.values()}
    assert len(manifest.evals) == 15
    for ev in manifest.evals:
        assert ev.attested_only and not ev.logs, ev.name
        assert ev.published and all(p.source for p in ev.published), ev.name


def test_screenspot_v2_is_the_declared_mean_of_its_splits(manifest, tmp_path):
    """The rescore engine's component-mean check: 88.2 = mean(87.1, 88.6, 88.8) = 88.17 at the published decimals;
    with one split changed the same check no longer finds the mean."""
    from assay.evals.claims import rescore_manifest

    (ss,) = [e for e in manifest.evals if e.name == "ScreenSpot-V2"]
    assert ss.components == SCREENSPOT_SPLITS

    def screenspot(path: Path):
        report = rescore_manifest(path)
        (ev,) = [e for e in report.evals if e.name == "ScreenSpot-V2"]
        (chk,) = ev.claims
        return chk, report

    chk, report = screenspot(local_copy(tmp_path))
    assert "the declared mean of ScreenSpot_v2_Desktop, ScreenSpot_v2_Mobile, ScreenSpot_v2_Web (88.17)" in (
        chk.note or ""
    )
    assert {c.status for e in report.evals if e.name != "ScreenSpot-V2" for c in e.claims} == {"attested"}

    other = tmp_path / "changed"
    other.mkdir()
    changed = local_copy(other)
    changed.write_text(changed.read_text().replace("{value: 87.1,", "{value: 80.1,"))
    chk, _ = screenspot(changed)
    assert "declared mean" not in (chk.note or "") and chk.status == "attested"


# ------------------------------------------------------------------------------------------------ the mixture
def test_mixture_is_attested_only_and_nothing_in_it_passes(manifest, tmp_path):
    from assay.mixtures.check import check_data

    data = manifest.data
    assert data is not None and data.totals is not None and data.totals.tokens == 200_000_000_000
    assert (data.shares["cot"].value, data.shares["direct"].value) == (0.2, 0.8)
    assert all(c.source == "unavailable" and c.reason for c in data.components)
    r = check_data(local_copy(tmp_path))
    assert {c.status for c in r.components} == {"attested"}
    assert r.mixture and all(m.verdict != "pass" for m in r.mixture)
    assert not r.ok


# ------------------------------------------------------------------------------------------------ schema additions
BASE = """\
apiVersion: assay/v1
kind: Release
release: {name: x, version: "1"}
"""


def load_text(tmp_path: Path, text: str) -> Manifest:
    p = tmp_path / "m.yaml"
    p.write_text(BASE + text)
    return load_manifest(p)


def test_an_eval_names_a_decoding_and_gets_its_settings(tmp_path):
    m = load_text(
        tmp_path,
        """\
decodings:
  greedy: {source: README, do_sample: false, max_new_tokens: 64}
evals:
- {name: a, metric: acc, decoding: greedy}
- {name: b, metric: acc, decoding: {temperature: 0.7, top_p: 0.9, repeats: 4}}
""",
    )
    a, b = m.evals
    assert a.decoding is not None and a.decoding.name == "greedy"
    assert (a.decoding.temperature, a.decoding.max_new_tokens, a.decoding.source) == (0.0, 64, "README")
    assert b.decoding is not None and b.decoding.name is None and b.decoding.repeats == 4
    # a dumped manifest (settings written out beside the name) loads back to the same thing
    again = Manifest.model_validate(m.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert again.evals[0].decoding == a.decoding


def test_a_harness_run_names_a_decoding_and_gets_its_settings(tmp_path):
    run = "{harness: lm-eval, version: 0.4.13, task: t, dataset: {uri: 'dir://d', sha256: %s}, decoding: %s}"
    m = load_text(
        tmp_path,
        f"""\
decodings:
  greedy: {{do_sample: false, max_new_tokens: 8}}
evals:
- {{name: a, metric: acc, run: {run % ("a" * 64, "greedy")}}}
""",
    )
    assert m.evals[0].run is not None and m.evals[0].run.decoding is not None
    assert (m.evals[0].run.decoding.name, m.evals[0].run.decoding.temperature) == ("greedy", 0.0)
    with pytest.raises(ManifestError, match="run: decoding 'sampled' is not in decodings"):
        load_text(
            tmp_path,
            f"""\
decodings:
  greedy: {{do_sample: false}}
evals:
- {{name: a, metric: acc, run: {run % ("a" * 64, "sampled")}}}
""",
        )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("evals:\n- {name: a, metric: acc, decoding: greedy}\n", "decoding 'greedy' is not in decodings"),
        (
            "decodings:\n  greedy: {do_sample: false}\nevals:\n- {name: a, metric: acc, decoding: greedyy}\n",
            "decoding 'greedyy' is not in decodings (greedy)",
        ),
        (
            (
                "decodings:\n  greedy: {do_sample: false}\n"
                "evals:\n- {name: a, metric: acc, decoding: {name: greedy, temperature: 0.5}}\n"
            ),
            "differ from decodings.greedy",
        ),
        ("decodings:\n  greedy: {name: other}\n", "says its name is 'other'"),
        ("decodings:\n  greedy: {do_sample: false, temperature: 0.8}\n", "contradicts it"),
        ("decodings:\n  hot: {do_sample: true, temperature: 0}\n", "not a sampled decoding"),
        ("decodings:\n  greedy: {seed: 1, colour: red}\n", "unknown key 'colour'"),
        ("evals:\n- {name: a, metric: acc, harness: {name: 'vlm eval kit'}}\n", "harness.name"),
        ("release: {name: x, version: '1', paper: {note: only a note}}\n", "at least one of title, url or id"),
        ("release: {name: x, version: '1', base_model: 'hf://not a repo'}\n", "invalid Hugging Face URI"),
    ],
)
def test_schema_additions_refuse_what_they_cannot_mean(tmp_path, text, error):
    p = tmp_path / "m.yaml"
    p.write_text(
        (BASE if not text.startswith("release:") else BASE.replace('release: {name: x, version: "1"}\n', "")) + text
    )
    with pytest.raises(ManifestError) as exc:
        load_manifest(p)
    assert error in str(exc.value) or any(error in d for d in exc.value.details), exc.value.details


def test_counts_as_written_are_in_the_json_schema():
    """The loader accepts '15B'; so does the JSON Schema (it used to say integer only)."""
    import jsonschema

    schema = json.loads(run_assay("schema").stdout)
    doc = {
        "apiVersion": "assay/v1",
        "kind": "Release",
        "release": {"name": "x", "version": "1"},
        "claims": {"parameters": {"total": "15B"}},
        "data": {"totals": {"tokens": "200B"}},
    }
    jsonschema.validate(doc, schema)
    assert Manifest.model_validate(doc).claims.parameters.total == 15_000_000_000  # type: ignore[union-attr]
    doc["claims"]["parameters"]["total"] = "15 billion"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_older_manifests_stay_valid():
    demo = ROOT / "manifests" / "examples" / "tiny-vlm"
    for name in ("assay.yaml", "assay.failing.yaml"):
        m = load_manifest(demo / name)
        assert m.decodings is None and m.release.paper is None
        assert all(e.harness is None and e.dataset is None for e in m.evals)
        assert any(e.decoding is not None and e.decoding.name is None for e in m.evals)


# ------------------------------------------------------------------------------------------------ exact-shape release
@pytest.fixture(scope="module")
def sparse_release(tmp_path_factory):
    from support.phi4rv import build_phi4rv_release

    return build_phi4rv_release(tmp_path_factory.mktemp("phi4rv") / "release")


def test_sparse_release_has_the_derived_shape(sparse_release):
    r = sparse_release
    assert r.shards == SHARDS
    assert (r.tensors, r.parameters, r.data_bytes) == (695, 15_119_518_144, 30_239_036_288)
    total = sum((r.root / s).stat().st_size for s in r.shards)
    assert total > r.data_bytes  # headers on top of the data
    assert sum((r.root / s).stat().st_blocks * 512 for s in r.shards) < 10 * 2**20  # holes: ~no disk
    for name in ("config.json", "modeling_phi4_visionr.py", "processing_phi4_visionr.py"):
        assert (r.root / name).read_bytes() == (FIXTURES / name).read_bytes()
    # assay inspect reads the whole sharded checkpoint from its headers
    proc = run_assay("inspect", str(r.root / "model.safetensors.index.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["tensors"], out["parameters"], out["dtypes"]) == (695, 15_119_518_144, ["BF16"])


def _structure(manifest: Manifest, root: Path):
    """assay verify's structure stage (headers, shard index, remote code, claims) on ``root``, with every small file
    hashed (the code files count as verified) and the shards not hashed."""
    from assay.verify.structure import check_structure

    verified = {
        a.path: hashlib.sha256((root / a.path).read_bytes()).hexdigest()
        for a in manifest.artifacts
        if (root / a.path).is_file() and not a.path.endswith(".safetensors")
    }
    return check_structure(manifest, root, verified)


def test_structural_claims_hold_on_the_exact_shape(manifest, sparse_release):
    s = _structure(manifest, sparse_release.root)
    verdicts = {c.claim: (c.verdict, c.measured) for c in s.claims}
    assert verdicts == {
        "parameters.total": ("pass", 15_119_518_144),
        "dtypes": ("pass", ["BF16"]),
        "architecture": ("pass", "Phi4ForCausalLMV"),
        "remote_code": ("pass", ["modeling_phi4_visionr.py", "processing_phi4_visionr.py"]),
    }
    assert [f for f in s.findings if f.severity == "error"] == []
    assert {f.where for f in s.findings if f.code == "remote-code"} == {
        "modeling_phi4_visionr.py",
        "processing_phi4_visionr.py",
    }
    assert (s.stats.tensors, s.stats.safetensors_files) == (695, 7)


def test_structure_check_bites_on_a_missing_shard_and_a_wrong_claim(manifest, sparse_release, tmp_path):
    from support.phi4rv import build_phi4rv_release

    root = build_phi4rv_release(tmp_path / "release").root  # a fresh one: copying would fill the holes
    (root / SHARDS[-1]).unlink()
    # the last shard is the untied lm_head (513.8M parameters): without it 14.6B is still "15B" within the
    # tolerance, but the shard index names a shard that is not there
    s = _structure(manifest, root)
    assert any(f.code == "shard-index" and f.severity == "error" for f in s.findings)
    wrong = manifest.model_copy(deep=True)
    wrong.claims.dtypes = ["F16"]
    wrong.claims.architecture = "Phi3ForCausalLM"
    s = _structure(wrong, sparse_release.root)
    verdicts = {c.claim: c.verdict for c in s.claims}
    assert verdicts["dtypes"] == verdicts["architecture"] == "fail"


# ------------------------------------------------------------------------------------------------ offline verify/audit
def test_verify_offline_passes_nothing_and_names_what_each_claim_needs():
    """No network, no pulled files: every file is not checked (needs network to pull it and a lock to pin it), every
    structural claim is not checked (needs network), exit 1, no traceback."""
    proc = run_assay("verify", str(MANIFEST), "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    r = json.loads(proc.stdout)
    assert not r["ok"]
    assert [f["path"] for f in r["files"]] == [a["path"] for a in yaml.safe_load(MANIFEST.read_text())["artifacts"]]
    for f in r["files"]:
        assert (f["status"], f["how"], f["needs"]) == ("missing", "not-read", ["network", "lock"]), f
        assert "hf://microsoft/Phi-4-reasoning-vision-15B" in f["message"]
    claims = {c["claim"]: c for c in r["claims"]}
    assert set(claims) == {"parameters.total", "dtypes", "architecture", "remote_code"}
    for c in claims.values():
        assert c["verdict"] == "not-checked" and c["needs"] == ["network"], c
    # the table says the same to a person
    table = run_assay("verify", str(MANIFEST))
    assert table.returncode == 1 and "not-checked" in table.stdout and "Traceback" not in table.stderr


def test_audit_offline_reports_every_claim_unchecked_with_its_needs(tmp_path):
    proc = run_assay("audit", str(MANIFEST), "--out", str(tmp_path / "out"), "--no-sign", "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["verdict"] == "fail"
    claims = report["claims"]
    assert [c["id"] for c in claims if c["verdict"] == "pass"] == []
    by_id = {c["id"]: c for c in claims}
    manifest = load_manifest(MANIFEST)
    for a in manifest.artifacts:
        c = by_id[f"file:{a.path}"]
        assert (c["verdict"], c["needs"]) == ("not-checked", ["network", "lock"]), c
    for name in ("parameters.total", "dtypes", "architecture", "remote_code"):
        c = by_id[f"claim:{name}"]
        assert (c["verdict"], c["needs"]) == ("not-checked", ["network"]), c
    # every score is attested only: reported, never checked; checking it needs per-sample logs or a GPU re-run
    for ev in manifest.evals:
        c = by_id[f"eval:{ev.name}"]
        assert c["verdict"] == "attested" and c["needs"] == ["samples", "gpu"], c
    for comp in ("reasoning-sft", "direct-sft"):
        assert by_id[f"data:component:{comp}"]["verdict"] == "attested"
    mixture = [c for c in claims if c["id"].startswith(("data:totals", "data:share"))]
    assert len(mixture) == 3 and all(c["verdict"] == "not-checked" for c in mixture)
    # nothing that is not a pass goes without saying what it needs, except what is declared attested-only data
    for c in claims:
        if c["verdict"] != "pass" and not c["id"].startswith("data:"):
            assert c["needs"], c


def test_verify_of_a_partly_pulled_release_checks_what_is_here(demo):
    """The demo with its eval logs on a hub instead of a local folder: the model files are hashed and its claims
    measured as usual; each log is not checked (its pin is in the lock, so it needs only the network), and the
    release does not verify (exit 1)."""
    demo.write_text(demo.read_text().replace("uri: dir://evals", "uri: hf://example-org/tiny-vlm-evals"))
    proc = run_assay("verify", str(demo), "--json")
    assert proc.returncode == 1, proc.stderr
    r = json.loads(proc.stdout)
    files = {f["path"]: f for f in r["files"]}
    logs = [a["path"] for a in yaml.safe_load(demo.read_text())["artifacts"] if a.get("source") == "evals"]
    assert logs
    for path, f in files.items():
        if path in logs:
            assert (f["status"], f["needs"]) == ("missing", ["network"]), f
            assert f["expected_sha256"] and f["sha256"] is None
        else:
            assert (f["status"], f["how"], f["needs"]) == ("ok", "hashed", []), f
    assert r["claims"] and all(c["verdict"] == "pass" and c["needs"] == [] for c in r["claims"])
