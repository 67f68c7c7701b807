#!/usr/bin/env bash
# Set up and run the whole test suite (this is the README's test command; .ci/run calls it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup --test
export DVC_NO_ANALYTICS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONDONTWRITEBYTECODE=1
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
