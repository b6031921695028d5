#!/usr/bin/env bash
# The Pythons and torches nmt claims beyond CI's own (python3 with torch 2.13, the whole
# suite): pyenv's newest 3.12 with torch 2.11, the oldest the range allows, and its newest
# 3.13 with torch 2.13. Each gets a venv built from nothing (.venv312, .venv313) with every
# extra, then the tests of what a version changes, not the whole suite, to keep CI short.
# Where pyenv lacks an interpreter, its step skips and says so.
# Disk: PyPI's torch is a CUDA build, about 6 GB installed. pip keeps no cache of it and each
# venv is removed once its tests ran, so that only one lies on disk at a time (two venvs and
# their cached wheels filled a CI machine's disk on 2026-12-07).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSIONS="${PYENV_ROOT:-$HOME/.pyenv}/versions"
# Every module imported; recipes and their schema; training, resuming and the run
# directory; translate, score and eval end to end; the server; the ONNX export (torch's
# exporter changes most between torch versions; the ctranslate2 export, whose test trains
# for longest, is left to the main suite).
TESTS=(
    tests/test_imports.py
    tests/test_recipe.py
    tests/test_train.py
    tests/test_translations.py
    tests/test_scoring.py
    tests/test_evaluate.py
    tests/test_serve_app.py
    tests/test_export_onnx.py
)

FAILED=()

# check MINOR TORCH: build .venv<MINOR without the dot> from pyenv's newest MINOR.x with
# torch TORCH and nmt, then run TESTS in it; print how long each part took. A failed
# install stops CI; failed tests are counted, so that the next version runs too.
check() {
    local minor=$1 torch=$2
    local python venv=".venv${minor/./}" log="/tmp/nmt-ci-python$minor.log"
    python="$(find "$VERSIONS" -maxdepth 3 -path "$VERSIONS/$minor.*/bin/python$minor" 2>/dev/null \
        | sort -V | tail -n 1 || true)"  # no such folder: none
    if [ -z "$python" ]; then
        echo "Python $minor: skipped, pyenv has no $minor.x in $VERSIONS"
        return
    fi
    SECONDS=0
    rm -rf "$venv"
    echo "Python $minor: $(df -h --output=avail . | tail -n 1 | tr -d ' ') free on disk before its venv"
    "$python" -m venv "$venv"
    # torch from PyPI brings its CUDA libraries (several GB): without them it does not import.
    if ! "$venv/bin/pip" install --no-cache-dir "torch==$torch" \
        -e ".[serve,plot,onnx,ctranslate2,test]" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "Python $minor: nmt with torch $torch did not install (all of it in $log)" >&2
        rm -rf "$venv"
        exit 1
    fi
    echo "Python $("$venv/bin/python" -V | cut -d' ' -f2), torch $torch: installed in ${SECONDS}s"
    SECONDS=0
    if ! "$venv/bin/python" -m pytest -q -p no:cacheprovider -rs "${TESTS[@]}"; then
        FAILED+=("$minor")
    fi
    echo "Python $minor: tests in ${SECONDS}s"
    rm -rf "$venv"
}

check 3.12 2.11.0
check 3.13 2.13.0
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "tests failed under Python ${FAILED[*]}" >&2
    exit 1
fi
