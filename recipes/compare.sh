#!/usr/bin/env bash
# The comparison the README tells, end to end for one recipe family: install, prepare,
# train each model of the family in the story's order, then all of them again with joined
# training pairs (data.join_max=4: they also see long inputs), score them on
# test2016 and on test2016-long (its pairs joined in groups of 1-4, for long sentences),
# each row's p-value against the row above, and draw the training curves and BLEU by
# source length. A run that is there is resumed, one that has finished is passed over, so
# the script can be stopped and started again.
#
#   bash recipes/compare.sh [FAMILY] [--singles]
#
# FAMILY: default recipes/multi30k-de-en-small. --singles: only the four runs on single
# pairs and their tables and figures (about half the time).
#
# Runs go to runs/<family>-<model>[-joined], tables and figures to runs/<family>/.
# 18-32 minutes a run on 2 CPU cores: on a 2-core Xeon (2026-12-08) 3 hours 5 minutes in
# all, 1 hour 40 minutes with --singles. Reads the corpus from $NMT_DATA (default
# ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/install.sh
export NMT_DATA="${NMT_DATA:-$(cd .. && pwd)/shared/data}"
family=recipes/multi30k-de-en-small
with_joined=true
for arg in "$@"; do
    case "$arg" in
        --singles) with_joined=false ;;
        -*) echo "compare.sh: unknown option $arg (see the header of $0)" >&2; exit 2 ;;
        *) family=$arg ;;
    esac
done
family="${family%/}"
name="$(basename "$family")"
out="runs/$name"
buckets=10,20,30,40,50

train() {  # train RUN RECIPE [--set ...]: start or resume
    local run=$1 recipe=$2
    shift 2
    local resume=()
    [ -f "$run/checkpoints/last.pt" ] && resume=(--resume)
    nmt train "$recipe" --run-dir "$run" "$@" "${resume[@]}"
}

singles=() joined=()
for model in seq2seq bilstm attention transformer; do
    [ -f "$family/$model.yaml" ] || continue
    train "runs/$name-$model" "$family/$model.yaml"
    singles+=("runs/$name-$model")
done
if $with_joined; then
    for model in seq2seq bilstm attention transformer; do
        [ -f "$family/$model.yaml" ] || continue
        train "runs/$name-$model-joined" "$family/$model.yaml" --set data.join_max=4
        joined+=("runs/$name-$model-joined")
    done
fi

mkdir -p "$out"
score() {  # score NAME TEST RUNS...: the table of RUNS on TEST, each against the row above
    local table=$1 test=$2
    shift 2
    nmt eval "$@" --test "$test" --against previous -o "$out/$table.md"
}
figures() {  # figures LABEL RUNS...: BLEU by source length on test2016-long, the curves
    local label=$1
    shift
    nmt eval "$@" --test test2016-long --by-length --buckets "$buckets" \
        -o "$out/by-length-$label.md"
    nmt plot "$@" --by-length --test test2016-long --buckets "$buckets" \
        -o "$out/by-length-$label.png"
    nmt plot "$@" -o "$out/curves-$label.png"
}
report() {  # report SUFFIX LABEL RUNS...: the tables on test2016 and test2016-long, the figures
    local suffix=$1 label=$2
    shift 2
    score "test2016$suffix" test2016 "$@"
    score "test2016-long$suffix" test2016-long "$@"
    figures "$label" "$@"
}
report "" singles "${singles[@]}"
if $with_joined; then
    report -joined joined "${joined[@]}"
    figures all "${singles[@]}" "${joined[@]}"  # all eight: one colour a model, joined dashed
fi
cat "$out"/test2016*.md "$out"/by-length-*.md
echo "tables and figures in $out/; this invocation took $((SECONDS / 60)) minutes (a resumed"
echo "run counts only its part: each run's own training time is its table's train min)"
