"""Recipes that rebuild derived artifacts (filled by the data/recipes issue); the manifest schema for them lives in assay.manifests.schema."""
