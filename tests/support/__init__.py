"""Test helpers that are not part of the installed ``assay`` package: real servers started on 127.0.0.1 (olah as an
offline Hugging Face Hub, Debian's docker-registry as an OCI registry, ``transformers serve``) and tiny deterministic
models.  Tests import them as ``support.<module>`` (pytest puts ``tests/`` on ``sys.path``, as for ``conftest``);
scripts outside ``tests/`` (the benchmarks) put ``tests/`` on ``sys.path`` first.
"""
