#!/usr/bin/env bash
# Install nmt, its test tools and its docs tools into ./.venv, from nothing; a second run
# is quick.
# Sourced by tests/run.sh and recipes/quickstart.sh so that both work on a fresh machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -x "$root/.venv/bin/python" ]; then
    python3 -m venv "$root/.venv"
fi
# shellcheck disable=SC1091
. "$root/.venv/bin/activate"
if ! python -c "import torch" 2>/dev/null; then
    pip install --quiet --upgrade pip
    pip install --quiet torch==2.13.0  # the CPU build first, so pip never fetches a CUDA build
fi
if ! python -c "import nmt_cli, pytest, ruff, fastapi, uvicorn, matplotlib, httpx, selenium, \
onnx, onnxruntime, ctranslate2, tensorboard, mkdocs, material, mkdocstrings_handlers.python" 2>/dev/null; then
    # every extra: the tests cover them all, and CI builds the docs
    pip install --quiet -e "$root[serve,plot,onnx,ctranslate2,tensorboard,test,docs]"
fi
