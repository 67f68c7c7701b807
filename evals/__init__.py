"""assay.evals: published evaluation logs and scores — importers, the normalised per-sample model, re-scoring, re-running and reproduction statistics.

Modules:
  samples    the normalised per-sample model (Sample, Message, LogHeader, Aggregate, NormalisedLog) and assay's own
             log format (*.assay.jsonl: write_log / read_log)
  importers  harness logs → ImportedLog (lm-eval, Inspect, VLMEvalKit, Eureka, Every Eval Ever, assay) and
             published claims (HF model-index, .eval_results)
  scorers    per-sample scorers: each harness's semantics (ported), strict scorers, named scorers for re-runs
  metrics    aggregations with each harness's arithmetic
  rescore    re-score a log: recomputed per-sample scores and aggregates vs the harness's (assay rescore --log)
  claims     re-score a manifest's evals and check its published claims (assay rescore MANIFEST)
  audit      the scorer audit (harness scorer vs strict scorer)
  scoring    the hook that scores re-run outputs like the published log (used by assay rerun)
  stats      paired bootstrap CI, exact McNemar, TOST verdicts (compare)
  exports    assay logs → Every Eval Ever, HF .eval_results
  rerun, backends   re-running with a model (assay rerun)
"""
