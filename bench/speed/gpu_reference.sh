#!/usr/bin/env bash
# One GPU session's worth of reference figures, in the order that keeps timings honest:
#   1. the speed benchmark (bench/speed/ours.py, bare_lstm.py) with the GPU to itself;
#   2. the six Multi30k GPU recipes trained side by side, each stopped by SIGINT (which
#      saves a checkpoint) after TRAIN_SECONDS;
#   3. nmt eval tables (test2016 and valid), training curves and one attention heat map.
# Usage: [PAIRS="de-en en-de"] bash bench/speed/gpu_reference.sh OUT_DIR [TRAIN_SECONDS]
# Needs NMT_DATA pointing at a mirror holding multi30k/ and the nmt package installed.
set -uo pipefail
out="$1"
seconds="${2:-240}"
pairs="${PAIRS:-de-en}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/device.txt"

for pair in $pairs; do
    nmt prepare "recipes/multi30k-$pair/attention.yaml" 2>&1 | tail -n 2
done

python -m bench.speed.ours --device cuda --archs seq2seq bilstm attention attention-luong \
    --precisions bf16 fp32 --out "$out/bench.json" 2>&1 | tail -n 8
python -m bench.speed.bare_lstm --device cuda --out "$out/bare.json" 2>&1 | tail -n 2

pids=()
for pair in $pairs; do
    for arch in seq2seq bilstm attention; do
        timeout -s INT "$seconds" nmt train "recipes/multi30k-$pair/$arch.yaml" \
            --run-dir "runs/$pair-$arch" >"runs-$pair-$arch.log" 2>&1 &
        pids+=($!)
    done
done
wait "${pids[@]}"
for run in runs/*-*/; do
    echo "$run $(grep valid_bleu "$run/metrics.jsonl" | tail -n 1)"
done | tee "$out/train-summary.txt"

for pair in $pairs; do
    runs=(runs/"$pair"-seq2seq runs/"$pair"-bilstm runs/"$pair"-attention)
    src="${pair%-*}" tgt="${pair#*-}"
    zcat "$NMT_DATA/multi30k/test_2016_flickr.$src.gz" >"test2016.$src"
    zcat "$NMT_DATA/multi30k/test_2016_flickr.$tgt.gz" >"test2016.$tgt"
    nmt eval "${runs[@]}" --src "test2016.$src" --ref "test2016.$tgt" --format md \
        -o "$out/eval-$pair.md"
    cat "$out/eval-$pair.md"
done
nmt plot runs/de-en-seq2seq runs/de-en-bilstm runs/de-en-attention -o "$out/curves-de-en.png"
zcat "$NMT_DATA/multi30k/test_2016_flickr.de.gz" | head -n 1 >sentence.de
nmt translate runs/de-en-attention -i sentence.de --attention heatmap
cp heatmap/*.png "$out/attention-de-en.png"
