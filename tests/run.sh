#!/usr/bin/env bash
# The README's test command: install if needed, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/install.sh
python -m pytest -q "$@"
