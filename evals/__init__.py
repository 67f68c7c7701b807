"""assay.evals: published evaluation logs and scores — importers, the normalised per-sample model, re-scoring, re-running and reproduction statistics."""
