"""assay.verify: hashing engine, incremental state, strict structural audits of weight files, and release
verification."""
