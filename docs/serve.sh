#!/usr/bin/env bash
# Build the documentation site and serve it at http://127.0.0.1:8000, rebuilding on every
# change of a page or of the code it is written from. Installs the docs tools (the docs
# extra, with everything else) into .venv first if they are missing. Extra arguments go
# to `mkdocs serve` (e.g. --dev-addr 0.0.0.0:8001).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/install.sh
export NO_MKDOCS_2_WARNING=1  # Material's end-of-life banner (mkdocs.yml says it)
exec mkdocs serve --watch nmt --watch cli "$@"
