"""assay.evals: published evaluation logs and scores — one module per harness, the normalised per-sample model,
re-scoring, re-running and reproduction statistics.

Modules:
  samples    the normalised per-sample model (Sample, Message, LogHeader, Aggregate, NormalisedLog) and assay's own
             log format (*.assay.jsonl: write_log / read_log)
  registry   the typed registries and what they hold: HARNESSES (Harness, @harness("lm-eval")), the named
             per-sample SCORERS (Scorer, @scorer("inspect:includes")), ImportedLog (one run of any harness,
             normalised, streamed per task), EngineResult, Unsupported
  harnesses  one module per harness — lm_eval, inspect_ai, vlmevalkit, eureka, eee, assay_log — each with its
             importer, metric and filter semantics, per-sample scorers and re-scoring engine; load_logs / scan_logs /
             detect_format over all of them
  scorers    harness-neutral scorers: the strict scorers of the audit, point-in-box, the named exact / numeric /
             choice / point_in_box
  engine     re-scoring building blocks (per-metric values, row comparison) and the generic engine
  rescore    re-score a log with its harness's engine, then the generic fail-closed rules and the verdict
             (assay rescore --log)
  metrics    harness-neutral aggregation (plain mean)
  published  published claims: HF model-index and .eval_results
  claims     re-score a manifest's evals and check its published claims (assay rescore MANIFEST)
  audit      the scorer audit (harness scorer vs strict scorer)
  scoring    the hook that scores re-run outputs like the published log (used by assay rerun)
  stats      paired bootstrap CI, exact McNemar, TOST verdicts (compare)
  exports    assay logs → Every Eval Ever, HF .eval_results
  rerun, backends   re-running with a model (assay rerun)
"""
