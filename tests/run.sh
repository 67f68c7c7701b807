#!/usr/bin/env bash
# Set up and run the whole test suite (this is the README's test command; .ci/run calls it).
# It installs what the tests need: the Python test extras, Debian's docker-registry (a real OCI registry the tests
# start on 127.0.0.1), chromium (headless, for the HTML report) and tmux (a real terminal), and olah (a Hugging Face-compatible server, in its own venv .venv-olah), lm-eval 0.4.13 (.venv-lmeval) and lmms-eval 0.7.3 (.venv-lmms).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup --test

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
need=""
command -v docker-registry >/dev/null 2>&1 || need="$need docker-registry"   # a real OCI registry
command -v chromium >/dev/null 2>&1 || need="$need chromium"                 # renders the HTML report in a test
command -v tmux >/dev/null 2>&1 || need="$need tmux"                         # a real terminal for the output tests
if [ -n "$need" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
fi
if [ ! -x .venv-olah/bin/olah-cli ]; then
  rm -rf .venv-olah
  python3 -m venv .venv-olah
  .venv-olah/bin/python -m pip install -q --disable-pip-version-check olah 2> >(grep -v "^WARNING: Location" >&2)
fi
# The core install alone (no extras: no torch, transformers, DVC), editable, for tests/test_core_install.py; rebuilt
# when pyproject.toml changes.
if [ ! -f .venv-core/.assay-installed ] || [ pyproject.toml -nt .venv-core/.assay-installed ]; then
  rm -rf .venv-core
  python3 -m venv .venv-core
  .venv-core/bin/python -m pip install -q --disable-pip-version-check -e . 2> >(grep -v "^WARNING: Location" >&2)
  touch .venv-core/.assay-installed
fi
# lm-eval at the version tests/test_harness_run.py pins, in its own venv (its pins are not assay's); torch first: the
# local CPU wheel (pins: tests/fixtures/evals/lm-eval-real/README.md, plus the [api] extra for endpoint runs)
if [ ! -x .venv-lmeval/bin/lm_eval ]; then
  rm -rf .venv-lmeval
  python3 -m venv .venv-lmeval
  .venv-lmeval/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0 2> >(grep -v "^WARNING: Location" >&2)
  .venv-lmeval/bin/python -m pip install -q --disable-pip-version-check "lm-eval[hf,api]==0.4.13" transformers==5.25.0 \
    tokenizers==0.23.3 datasets==5.2.0 accelerate==1.16.0 peft==0.21.2 numpy==2.4.6 pyarrow==26.0.1 fsspec==2026.9.0 \
    evaluate==0.4.6 safetensors==0.8.0 tenacity==9.2.1 tiktoken==0.14.0 aiohttp==3.14.5 \
    2> >(grep -v "^WARNING: Location" >&2)
fi
# lmms-eval at the version tests/test_harness_lmms_eval.py pins, in its own venv; torch first (the local CPU wheel),
# then the pins of tests/fixtures/evals/lmms-eval-real/README.md; torchvision (a CUDA build from the index, which
# breaks every transformers import next to the CPU torch) is pinned so pip keeps torch 2.13.0, then removed
if [ ! -x .venv-lmms/bin/python ] || ! .venv-lmms/bin/python -c "import lmms_eval, decord" 2>/dev/null; then
  rm -rf .venv-lmms
  python3 -m venv .venv-lmms
  .venv-lmms/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0 2> >(grep -v "^WARNING: Location" >&2)
  .venv-lmms/bin/python -m pip install -q --disable-pip-version-check lmms-eval==0.7.3 filelock==3.20.0 decord==0.6.0 \
    transformers==5.25.0 tokenizers==0.23.3 datasets==5.2.0 accelerate==1.16.0 numpy==2.4.6 pyarrow==26.0.1 \
    pillow==13.0.0 openai==3.63.0 torchvision==0.28.0 2> >(grep -v "^WARNING: Location" >&2)
  .venv-lmms/bin/python -m pip uninstall -y -q torchvision
fi

# No HF_HUB_OFFLINE here: the hub tests talk to a local Hugging Face-compatible server (olah); tests that load
# models set it themselves.
export DVC_NO_ANALYTICS=1 PYTHONDONTWRITEBYTECODE=1
# No bytecode is written while the tests run (a __pycache__ inside a test's release folder would be an extra file);
# assay's own packages are compiled once here instead, so the hundreds of `assay` subprocesses do not each recompile
# every module (about 0.2 s per process).  Release and fixture folders are left alone.
.venv/bin/python -m compileall -q -x '/(examples|releases|fixtures)/' cli manifests recipes verify hubs mixtures evals \
  audit attest >/dev/null
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
