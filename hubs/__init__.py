"""assay.hubs: model hubs as sources and destinations — Hugging Face, OCI registries, local directory hubs.

Every hub resolves a URI to an exact revision and a file list (:class:`~assay.hubs.base.Resolved`), streams file
bytes from an offset (for resumable pulls), and pushes a release.  Pulls hash while writing
(:mod:`assay.hubs.transfer`); nothing lands at its final path before its sha256 matched the lock.
"""
