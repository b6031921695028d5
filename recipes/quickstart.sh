#!/usr/bin/env bash
# The README's quick start: install, then prepare -> train -> translate -> eval with the
# small CPU recipe on Multi30k de->en. Reads the corpus from $NMT_DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/install.sh
export NMT_DATA="${NMT_DATA:-$(cd .. && pwd)/shared/data}"
run=runs/quick
nmt prepare recipes/quick.yaml
if [ -f "$run/checkpoints/last.pt" ]; then
    nmt train recipes/quick.yaml --run-dir "$run" --resume
else
    nmt train recipes/quick.yaml --run-dir "$run"
fi
nmt translate "$run" -i "$NMT_DATA/multi30k/test_2016_flickr.de.gz" -o "$run/test2016.en"
head -n 5 "$run/test2016.en"
nmt eval "$run" --test test2016
