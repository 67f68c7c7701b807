"""The typed harness and scorer registries (assay.evals.registry) and the per-harness modules behind them."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from assay.evals.harnesses import detect_format, formats, load_logs
from assay.evals.registry import HARNESSES, SCORERS, EngineResult, Harness, ImportedLog, harness, scorer
from assay.evals.rescore import rescore_imported
from assay.evals.samples import LogHeader, Sample
from assay.manifests.errors import InputError
from conftest import ROOT, run_assay

FIX = ROOT / "tests" / "fixtures" / "evals"

# the scorer names manifests use (`scorer: inspect:includes`): renaming one breaks users' manifests
MANIFEST_SCORERS = {
    "exact",
    "numeric",
    "choice",
    "point_in_box",
    "lm-eval:exact_match",
    "lm-eval:acc",
    "lm-eval:acc_norm",
    "inspect:match",
    "inspect:match_numeric",
    "inspect:includes",
    "inspect:exact",
}


def test_every_manifest_scorer_name_is_registered():
    assert MANIFEST_SCORERS <= set(SCORERS)


def test_the_registries_are_complete_whatever_is_imported_first():
    code = (
        "from assay.evals.registry import HARNESSES, SCORERS\n"
        "print(','.join(HARNESSES)); print(','.join(sorted(SCORERS)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    harnesses, scorers = proc.stdout.splitlines()
    assert harnesses.split(",") == ["lm-eval", "inspect", "vlmevalkit", "eureka", "eee", "assay", "lmms-eval"]
    assert MANIFEST_SCORERS <= set(scorers.split(","))


def test_formats_are_the_registered_harnesses_in_order():
    assert formats() == ("lm-eval", "inspect", "vlmevalkit", "eureka", "eee", "assay", "lmms-eval")
    assert all(isinstance(HARNESSES[f], Harness) and HARNESSES[f].name == f for f in formats())


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="registered twice"):
        scorer("inspect:includes")(lambda s: 1.0)

    with pytest.raises(ValueError, match="registered twice"):

        @harness("lm-eval")
        class Again(Harness):
            def load(self, path: Path) -> list[ImportedLog]:
                return []

            def rescore(self, log: ImportedLog, audit: bool) -> EngineResult:
                return EngineResult()


@pytest.mark.parametrize("module", ["lm_eval", "inspect_ai", "vlmevalkit", "eureka", "eee", "assay_log"])
def test_each_harness_module_says_what_it_reads_and_reproduces(module):
    doc = importlib.import_module(f"assay.evals.harnesses.{module}").__doc__ or ""
    assert len(doc) > 400, module
    assert any(word in doc for word in ("Semantics", "Re-scoring", "semantics")), module


def test_detect_by_name_and_by_content():
    inspect_eval = FIX / "inspect-real" / "0.3.285" / "epochs.eval"
    inspect_json = FIX / "inspect-real" / "0.3.285" / "epochs.json"
    assert HARNESSES["inspect"].detect(inspect_eval) and HARNESSES["inspect"].detect(inspect_json)
    assert not HARNESSES["lm-eval"].detect(inspect_eval) and not HARNESSES["eee"].detect(inspect_json)
    assert detect_format(inspect_json) == "inspect"


def test_an_unknown_format_is_bad_input(tmp_path):
    f = tmp_path / "x.json"
    f.write_text("{}")
    with pytest.raises(InputError, match="unknown log format 'bogus'.*lm-eval, inspect"):
        load_logs(f, "bogus")


def test_a_harness_engine_refuses_another_harness_log():
    inspect_log = load_logs(FIX / "inspect-real" / "0.3.285" / "epochs.eval")[0]
    with pytest.raises(TypeError):
        HARNESSES["lm-eval"].rescore(inspect_log, False)


class _Unregistered(ImportedLog):
    """A log of a format no harness claims: the generic engine re-scores it."""

    format = "no-such-harness"

    def __init__(self, samples: list[Sample]) -> None:
        super().__init__(
            Path("mem"), LogHeader(source_format="no-such-harness", tasks=sorted({s.task for s in samples}))
        )
        self._samples = samples

    def iter_samples(self, task: str) -> Iterator[Sample]:
        return iter([s for s in self._samples if s.task == task])


def test_an_empty_log_of_an_unregistered_format_is_unscored_not_pass():
    res = rescore_imported(_Unregistered([]), audit=False)
    assert not res.ok and res.verdict == "not-checked" and res.code == "unscored" and "unscored" in (res.reason or "")


def test_a_score_no_scorer_recomputes_cannot_pass():
    s = Sample(id="1", task="t", output="4", target="4", scores={"mystery_metric": 1.0})
    res = rescore_imported(_Unregistered([s]), audit=False)
    assert not res.ok and res.verdict == "not-checked"
    assert any(f.code == "unverifiable" and "mystery_metric" in f.message for f in res.findings)


def test_a_named_scorer_recomputes_through_the_generic_engine():
    ok = Sample(id="1", task="t", output="4", target="4", scores={"exact": 1.0})
    lying = Sample(id="2", task="t", output="5", target="4", scores={"exact": 1.0})
    assert rescore_imported(_Unregistered([ok]), audit=False).verdict == "pass"
    res = rescore_imported(_Unregistered([ok, lying]), audit=False)
    assert res.verdict == "fail" and any(f.code == "sample-score-mismatch" and f.samples == ["2"] for f in res.findings)


# one log of each shape: a zstd .eval archive, an .xlsx workbook, lm-eval 0.4.0's results.json, a VLMEvalKit
# records JSON, an EEE aggregate
WRONG_FORMAT_FILES = [
    FIX / "inspect-real" / "0.3.285" / "epochs.eval",
    FIX / "vlmevalkit" / "TinyVLM" / "T20260101_G0000000" / "TinyVLM_AI2D_TEST.xlsx",
    FIX / "lm-eval-real" / "0.4.0" / "full" / "results.json",
    FIX / "vlmevalkit" / "TinyVLM" / "T20260101_G0000000" / "TinyVLM_ScreenSpot_v2_Mobile_exact_matching_result.json",
    FIX
    / "eee-real"
    / "converted"
    / "lm-eval"
    / "data"
    / "eee_gen"
    / "assay-demo"
    / "tiny-text"
    / "938cd842-479e-4986-a1c0-51af7fb10d59.json",
]


# every (file, forced format) pair where the format is not the file's own
WRONG_PAIRS = [
    pytest.param(path, fmt, id=f"{path.name[:24]}-{fmt}")
    for path in WRONG_FORMAT_FILES
    for fmt in ("lm-eval", "inspect", "vlmevalkit", "eee")
    if detect_format(path) != fmt
]


@pytest.mark.parametrize(("path", "fmt"), WRONG_PAIRS)
def test_a_forced_format_on_another_harness_file_is_bad_input_not_a_crash(path, fmt):
    """--format names the wrong harness: its importer says why in one line (InputError), or reads what it can;
    never an AttributeError / UnicodeDecodeError traceback."""
    try:
        logs = load_logs(path, fmt)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert all(lg.format == fmt for lg in logs)


def test_the_cli_names_a_wrong_format_in_one_line():
    proc = run_assay("rescore", "--log", str(WRONG_FORMAT_FILES[0]), "--format", "eee")
    assert proc.returncode == 2, proc.stderr
    assert "not a JSON text file" in proc.stderr and "Traceback" not in proc.stderr
