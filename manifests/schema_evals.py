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
        scorer: lm-eval:exact_match       # per-sample scorer for re-runs (assay.evals.registry.SCORERS)
        margin: 1.0                       # equivalence margin for re-runs, in points
        components: [ScreenSpot_v2_Desktop, ScreenSpot_v2_Mobile, ScreenSpot_v2_Web]   # a declared mean of others
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .schema_base import NAME_RE, SHA256_RE, RelPath, Strict

# ----------------------------------------------------------------------------------------------------------- evals
EVAL_LOG_FORMATS = ("auto", "lm-eval", "inspect", "vlmevalkit", "eureka", "eee", "assay")


class PublishedScore(Strict):
    value: float
    source: str | None = Field(None, description="Where the claim was published: model card, paper, README table, URL.")
    stderr: float | None = Field(None, ge=0, description="Published standard error, in the same unit as value.")
    decimals: int | None = Field(None, ge=0, le=10, description="Decimals the value was published with (default: "
                                                                "as written, e.g. 84.8 → 1); a recomputed score "
                                                                "matches when it rounds to the claim.")
    n: int | None = Field(None, ge=1, description="Number of items the published score is over, when stated.")


class EvalLog(Strict):
    path: RelPath = Field(description="Log file or folder, relative to the release root.")
    sha256: str | None = Field(None, pattern=SHA256_RE, description="sha256 of the file (not for folders).")
    format: Literal["auto", "lm-eval", "inspect", "vlmevalkit", "eureka", "eee", "assay"] = "auto"


class Decoding(Strict):
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    max_new_tokens: int | None = Field(None, gt=0)
    seed: int | None = None
    repeats: int = Field(1, ge=1, description="Samples drawn per item (sampled decoding needs several).")
    system_prompt: str | None = None
    chat_template_sha256: str | None = Field(None, pattern=SHA256_RE)
    stop: list[str] | None = None


class EvalClaim(Strict):
    name: str = Field(pattern=NAME_RE)
    metric: str = Field(description="Harness metric name, e.g. acc, acc_norm, exact_match; Inspect: score/metric.")
    task: str | None = Field(None, description="Harness task name when it differs from name.")
    filter: str | None = Field(None, description="lm-eval filter the claim is under (e.g. strict-match).")
    scale: float = Field(100.0, gt=0, description="Published points per unit of the metric: 100 when the published "
                                                  "score is a percentage of a 0–1 metric, 1 when they share a unit.")
    published: list[PublishedScore] = Field(default_factory=list)
    logs: list[EvalLog] = Field(default_factory=list)
    decoding: Decoding | None = None
    scorer: str | None = Field(None, description="Per-sample scorer name for re-runs "
                                                  "(see assay.evals.registry.SCORERS).")
    margin: float | None = Field(None, ge=0, description="Equivalence margin for re-runs, in score points.")
    components: list[str] | None = Field(None, description="Names of other evals this score is declared to be "
                                                           "the plain mean of (e.g. the splits of a benchmark).")
    attested_only: bool = Field(False, description="The score is declared attested only: with no per-sample log it "
                                                  "is reported as 'attested', never checked and never a pass. "
                                                  "Without this, a score nothing can check fails the audit "
                                                  "(not-checked).")

    @property
    def task_name(self) -> str:
        return self.task or self.name

    @model_validator(mode="after")
    def _components(self) -> EvalClaim:
        if self.components is not None and (len(self.components) < 2 or self.name in self.components):
            raise ValueError("components lists at least two other evals")
        return self
