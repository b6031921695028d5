#!/usr/bin/env bash
# The test command of the README: the whole suite, on the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m pytest -q "$@"
