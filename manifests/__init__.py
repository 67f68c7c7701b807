"""assay.manifests: the release manifest schema (pydantic v2), YAML loading with positions, locks and release
digests."""
