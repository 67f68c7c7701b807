"""assay.audit: one command from manifest to signed verdict — steps, the report model (report.json), Markdown and
HTML rendering, attestation."""
