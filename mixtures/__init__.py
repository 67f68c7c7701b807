"""assay.mixtures: the training-data mixture — declared components, weights with units, tag shares — checked against
the data.

check         ``assay data check``: sources, hashes, recount, mixture claims
consistency   the mixture arithmetic per weight unit (tokens | samples | documents | multiplier)
records       which record fields of JSONL / Parquet are counted
recount       per-file recount (documents, tokens, text bytes, images)
executors     where recounts run: local, or Ray tasks
sources       dir:// / dvc:// / hf://datasets / unavailable -> where the bytes are
dvc_adapter   the only module that calls DVC's (unstable) Python API
dvc_source    DVC-tracked components: DVC's md5 and assay's sha256 from one read
"""
