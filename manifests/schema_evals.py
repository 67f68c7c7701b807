"""Manifest section ``evals``: published scores, their logs, decoding settings and margins.

One entry per benchmark (checked by ``assay rescore`` without the model and by ``assay rerun`` with it)::

    evals:
      - name: MMMU_VAL                    # the benchmark as published
        task: mmmu_val                    # harness task name (default: name)
        metric: acc                       # harness metric; Inspect: "<score>/<metric>", e.g. match/accuracy
        filter: none                      # lm-eval filter (default: the only one in the log)
        scale: 100                        # published points per unit of the metric (100: a percentage of a 0–1 metric)
        published:
          - {value: 54.3, source: "README.md table"}
          - {value: 54.3, source: "model-index in README.md"}
        logs:
          - {path: evals/results_2026-01-01T00-00-00.json, sha256: …, format: lm-eval}
        decoding: {temperature: 0.0, max_new_tokens: 1024, seed: 1234, repeats: 1, chat_template_sha256: …}
        # or the name of an entry of the manifest's top-level ``decodings:`` map, e.g.  decoding: examples-greedy
        harness: {name: vlmevalkit, version: "0.2"}   # the harness that produced the published score, where known
        dataset: MMMU_VAL                 # the benchmark's dataset id in that harness (e.g. VLMEvalKit's name)
        scorer: lm-eval:exact_match       # per-sample scorer for re-runs (assay.evals.registry.SCORERS)
        margin: 1.0                       # equivalence margin for re-runs, in points
        components: [ScreenSpot_v2_Desktop, ScreenSpot_v2_Mobile, ScreenSpot_v2_Web]   # a declared mean of others
        run:                              # re-run through the harness itself, at an exact version (assay rerun)
          harness: lm-eval                # a registered runner: lm-eval | inspect | lmms-eval
          version: "0.4.13"
          task: rt_mc
          dataset: {uri: "dir://data", sha256: …}   # or hf://datasets/org/name@<40-hex commit>, from the local cache
          include_path: tasks
          num_fewshot: 0
          limit: 100
          args: {batch_size: 1}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from .errors import PathEscapeError
from .paths import check_relpath
from .schema_base import NAME_RE, SHA256_RE, RelPath, Strict

# ----------------------------------------------------------------------------------------------------------- evals
EVAL_LOG_FORMATS = ("auto", "lm-eval", "inspect", "vlmevalkit", "eureka", "eee", "assay", "lmms-eval")


class PublishedScore(Strict):
    value: float
    source: str | None = Field(None, description="Where the claim was published: model card, paper, README table, URL.")
    stderr: float | None = Field(None, ge=0, description="Published standard error, in the same unit as value.")
    decimals: int | None = Field(
        None,
        ge=0,
        le=10,
        description="Decimals the value was published with (default: "
        "as written, e.g. 84.8 → 1); a recomputed score "
        "matches when it rounds to the claim.",
    )
    n: int | None = Field(None, ge=1, description="Number of items the published score is over, when stated.")


class EvalLog(Strict):
    path: RelPath = Field(description="Log file or folder, relative to the release root.")
    sha256: str | None = Field(None, pattern=SHA256_RE, description="sha256 of the file (not for folders).")
    format: Literal["auto", "lm-eval", "inspect", "vlmevalkit", "eureka", "eee", "assay", "lmms-eval"] = "auto"


class Decoding(Strict):
    """Decoding settings: inline on an eval, or a named entry of the manifest's top-level ``decodings:`` map (e.g.
    the shipped ``generation_config.json`` and the greedy decoding of the README's examples, side by side)."""

    name: str | None = Field(
        None,
        pattern=NAME_RE,
        description="The entry of the top-level decodings map these settings are. Set by the "
        "loader from the map's key; on an eval, naming an entry is written "
        "`decoding: <name>`.",
    )
    source: str | None = Field(
        None,
        description="Where these settings are stated, e.g. generation_config.json, "
        "'README examples (do_sample=False)', a paper's appendix.",
    )
    do_sample: bool | None = Field(
        None,
        description="transformers' do_sample as stated by the source; false is "
        "greedy (temperature 0, which is filled in when absent).",
    )
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    max_new_tokens: int | None = Field(None, gt=0)
    seed: int | None = None
    repeats: int = Field(1, ge=1, description="Samples drawn per item (sampled decoding needs several).")
    system_prompt: str | None = None
    chat_template_sha256: str | None = Field(None, pattern=SHA256_RE)
    stop: list[str] | None = None

    @model_validator(mode="after")
    def _sampling(self) -> Decoding:
        if self.do_sample is False:
            if self.temperature not in (None, 0):
                raise ValueError(
                    f"do_sample: false is greedy decoding; temperature {self.temperature} contradicts it "
                    "(write temperature: 0 or leave it out)"
                )
            self.temperature = 0.0  # what every consumer (re-runs, exports) reads as greedy
        elif self.do_sample is True and self.temperature == 0:
            raise ValueError("do_sample: true with temperature 0 is not a sampled decoding")
        return self

    def settings(self) -> dict[str, Any]:
        """The settings alone (not the entry's name or where it is stated), to compare two declarations."""
        return self.model_dump(exclude={"name", "source"})


def _decoding_ref(value: Any) -> Any:
    """``decoding: shipped`` names an entry of the top-level ``decodings:`` map; the manifest resolves it."""
    return {"name": value} if isinstance(value, str) else value


# The JSON Schema shows both forms an eval's decoding may take; Python code always sees a Decoding.
DecodingOrName = Annotated[
    Decoding | None,
    BeforeValidator(_decoding_ref, json_schema_input_type=Decoding | Annotated[str, Field(pattern=NAME_RE)] | None),
]


class EvalHarness(Strict):
    """The evaluation harness that produced a published score."""

    name: str = Field(pattern=NAME_RE, description="e.g. vlmevalkit, eureka-ml-insights, lm-eval, inspect, lmms-eval.")
    version: str | None = Field(None, min_length=1, description="Harness version or commit, where known.")
    source: str | None = Field(None, description="Where the harness is named (model card, blog post, log).")


#: the harnesses assay can drive for a re-run (``run:``); the runners registered in assay.evals.registry.RUNNERS
#: (a test keeps the two equal: this layer may not import evals)
RUN_HARNESSES = ("lm-eval", "inspect", "lmms-eval")
_EXACT_VERSION_RE = r"^[0-9]+(\.[0-9]+)*([.+-]?[A-Za-z0-9]+)*$"
_HF_DATASET_RE = r"^hf://datasets/[A-Za-z0-9][\w.\-]*/[\w.\-]+@[0-9a-f]{40}$"


class RunDataset(Strict):
    """The dataset a harness run reads, pinned twice: by where it is (a folder or file of the release, or a Hugging
    Face dataset at an exact commit, read from the local datasets cache, never downloaded) and by its bytes."""

    uri: str = Field(
        description="dir://<path relative to the manifest's folder> or hf://datasets/org/name@<commit sha, 40 hex>."
    )
    sha256: str = Field(
        pattern=SHA256_RE,
        description="sha256 of the file; for a folder (or an hf snapshot) the "
        "digest of its file list: sha256 of the lines "
        "'<sha256 of the file>  <relative path>' sorted by path "
        "(sha256sum's format), each ending in a newline.",
    )

    @model_validator(mode="after")
    def _pinned(self) -> RunDataset:
        import re

        if self.uri.startswith("dir://"):
            try:
                check_relpath(self.uri[len("dir://") :])
            except PathEscapeError as exc:
                raise ValueError(str(exc)) from None
        elif self.uri.startswith("hf://"):
            if not re.fullmatch(_HF_DATASET_RE, self.uri):
                raise ValueError(
                    f"dataset {self.uri!r}: an hf dataset is hf://datasets/org/name@<commit>, pinned "
                    "by its full 40-hex commit sha"
                )
        else:
            raise ValueError(f"dataset {self.uri!r}: expected dir://… or hf://datasets/…@<commit>")
        return self


class EvalRun(Strict):
    """How to re-run the benchmark through its harness (``assay rerun`` drives it at exactly this version)."""

    harness: Literal["lm-eval", "inspect", "lmms-eval"] = Field(
        description="The harness assay drives (a registered runner)."
    )
    version: str = Field(
        pattern=_EXACT_VERSION_RE,
        description="The exact harness version, e.g. 0.4.13 (no ranges: the installed version must equal it).",
    )
    task: str = Field(
        min_length=1,
        description="The harness's task: an lm-eval task name, or an Inspect task "
        "file (relative to the manifest's folder, optionally @task_name).",
    )
    dataset: RunDataset
    include_path: RelPath | None = Field(
        None, description="lm-eval --include_path: a folder of task YAMLs, relative to the manifest's folder."
    )
    num_fewshot: int | None = Field(None, ge=0)
    fewshot_seed: int | None = None
    limit: int | None = Field(None, ge=1, description="Items to run (the harness's own --limit: its first N).")
    decoding: DecodingOrName = Field(None, description="Decoding of the re-run (default: the eval's decoding).")
    args: dict[str, Any] = Field(
        default_factory=dict, description="Further harness options, e.g. {batch_size: 1, apply_chat_template: true}."
    )


class EvalClaim(Strict):
    name: str = Field(pattern=NAME_RE)
    metric: str = Field(description="Harness metric name, e.g. acc, acc_norm, exact_match; Inspect: score/metric.")
    task: str | None = Field(None, description="Harness task name when it differs from name.")
    filter: str | None = Field(None, description="lm-eval filter the claim is under (e.g. strict-match).")
    scale: float = Field(
        100.0,
        gt=0,
        description="Published points per unit of the metric: 100 when the published "
        "score is a percentage of a 0–1 metric, 1 when they share a unit.",
    )
    published: list[PublishedScore] = Field(default_factory=list)
    logs: list[EvalLog] = Field(default_factory=list)
    run: EvalRun | None = Field(
        None,
        description="Re-run the benchmark through its harness (instead of, or beside, "
        "regenerating a published log's items).",
    )
    decoding: DecodingOrName = Field(
        None,
        description="Decoding settings of the run that produced the score: "
        "inline, or the name of an entry of the top-level "
        "decodings map.",
    )
    harness: EvalHarness | None = Field(None, description="The harness the published score came from, where known.")
    dataset: str | None = Field(
        None, min_length=1, description="The benchmark's dataset id in that harness, e.g. VLMEvalKit's MMMU_VAL."
    )
    scorer: str | None = Field(
        None, description="Per-sample scorer name for re-runs (see assay.evals.registry.SCORERS)."
    )
    margin: float | None = Field(None, ge=0, description="Equivalence margin for re-runs, in score points.")
    components: list[str] | None = Field(
        None,
        description="Names of other evals this score is declared to be "
        "the plain mean of (e.g. the splits of a benchmark).",
    )
    attested_only: bool = Field(
        False,
        description="The score is declared attested only: with no per-sample log it "
        "is reported as 'attested', never checked and never a pass. "
        "Without this, a score nothing can check fails the audit "
        "(not-checked).",
    )

    @property
    def task_name(self) -> str:
        return self.task or self.name

    @model_validator(mode="after")
    def _components(self) -> EvalClaim:
        if self.components is not None and (len(self.components) < 2 or self.name in self.components):
            raise ValueError("components lists at least two other evals")
        return self
