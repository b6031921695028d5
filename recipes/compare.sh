#!/usr/bin/env bash
# The comparison the README tells, end to end for one recipe family: install, prepare,
# train each model of the family in the story's order (resuming a run that is there, and
# passing over one that has finished), then score them on test2016 and on test2016-long
# (its pairs joined in groups of 1-4, for long sentences), each row's p-value against the
# row above, and draw the training curves and BLEU by source length.
#
#   bash recipes/compare.sh [FAMILY]     FAMILY: default recipes/multi30k-de-en-small
#
# Runs go to runs/<family>-<model>, tables and figures to runs/<family>/. Reads the corpus
# from $NMT_DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/install.sh
export NMT_DATA="${NMT_DATA:-$(cd .. && pwd)/shared/data}"
family="${1:-recipes/multi30k-de-en-small}"
family="${family%/}"
name="$(basename "$family")"
out="runs/$name"
buckets=10,20,30,40,50
runs=()
for model in seq2seq bilstm attention transformer; do
    recipe="$family/$model.yaml"
    [ -f "$recipe" ] || continue
    run="runs/$name-$model"
    resume=()
    [ -f "$run/checkpoints/last.pt" ] && resume=(--resume)
    nmt train "$recipe" --run-dir "$run" "${resume[@]}"
    runs+=("$run")
done
mkdir -p "$out"
for test in test2016 test2016-long; do
    nmt eval "${runs[@]}" --test "$test" --against previous -o "$out/$test.md"
done
nmt eval "${runs[@]}" --test test2016-long --by-length --buckets "$buckets" -o "$out/by-length.md"
nmt plot "${runs[@]}" -o "$out/curves.png"
nmt plot "${runs[@]}" --by-length --test test2016-long --buckets "$buckets" -o "$out/by-length.png"
cat "$out/test2016.md" "$out/test2016-long.md" "$out/by-length.md"
echo "tables and figures in $out/"
