#!/usr/bin/env bash
# The GPU reference in one prepared call, on one machine with one GPU and 16 cores:
#   check  each GPU recipe's batch and rate against its CPU sibling's (speed/batch_rate.py);
#   train  the eight GPU recipes (multi30k de-en and en-de x seq2seq, bilstm, attention,
#          transformer) side by side, one process each on the one GPU, each stopped by
#          train.max_minutes (default 3: the eight, evaluation and NCCL fit a 10-minute call);
#   eval   nmt eval --test test2016, --test test2016-long --by-length, nmt plot (curves and
#          BLEU by length), per pair;
#   ddp    torchrun --nproc-per-node 1 -m nmt train for a few updates (NCCL on a GPU, gloo
#          on a CPU);
#   speed  bench/speed/run.sh with the GPU to itself: our rows, the bare LSTM, both peers
#          (peers only where their venvs exist or bench/scratch/wheels can build them).
#
#   bash bench/speed/gpu_reference.sh                            # every stage, on cuda
#   bash bench/speed/gpu_reference.sh --stages speed --speed-parts "joey onmt"   # a 2nd call
#   PYTHON=.venv/bin/python bash bench/speed/gpu_reference.sh --smoke --device cpu
#
# --smoke: tiny models, 3 updates each, greedy evaluation, run.sh's SMOKE sizes: checks the
# wiring end to end (minutes on 2 cores: too long for the test suite). Everything is
# written under bench/scratch/gpu-reference/ (runs, logs, every table, metrics.jsonl and plot) and packed,
# checkpoints left out, after each stage into $OUT/gpu-reference.tar.gz, with the tables
# in $OUT/summary.md: the device tool brings back at most 8 files, and what a stage
# finished before a timeout still comes back. $OUT defaults to bench/scratch/gpu-reference-out.
# Environment: PYTHON (python3), NMT_DATA (bench/scratch/mirror when it holds multi30k/,
# else ../shared/data). Where `import datasets` fails (the GPU image lacks it), its wheels
# from bench/scratch/wheels (peers/wheels.sh) are installed into /tmp/site-packages.
set -uo pipefail
cd "$(dirname "$0")/../.."
device=cuda minutes=3 smoke= stages="check train eval ddp speed" speed_parts="nmt bare joey onmt"
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device=$2; shift 2 ;;
        --minutes) minutes=$2; shift 2 ;;
        --stages) stages=$2; shift 2 ;;
        --speed-parts) speed_parts=$2; shift 2 ;;
        --smoke) smoke=1; shift ;;
        *) echo "gpu_reference.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
py="${PYTHON:-python3}"
out="${OUT:-bench/scratch/gpu-reference-out}"
work=bench/scratch/gpu-reference
pairs=(de-en en-de)
archs=(seq2seq bilstm attention transformer)
mkdir -p "$out" "$work/logs"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "${NMT_DATA:-}" ]; then
    if [ -d bench/scratch/mirror/multi30k ]; then NMT_DATA=bench/scratch/mirror; else NMT_DATA=../shared/data; fi
fi
export NMT_DATA=$(cd "$NMT_DATA" && pwd)
if ! "$py" -c 'import datasets' 2>/dev/null; then
    "$py" -m pip install -q --no-index --no-deps --target /tmp/site-packages \
        bench/scratch/wheels/{datasets,dill,multiprocess}-*.whl || exit 1
    export PYTHONPATH="/tmp/site-packages:$PYTHONPATH"  # the name matters: bench/README.md
fi
nmt=("$py" -m nmt)
failed=()

# Per architecture in --smoke: sizes that train in a second (the recurrent decoders are
# 2 x encoder_hidden wide where a bidirectional encoder's final states pass unchanged).
declare -A tiny=(
    [seq2seq]="model.embed_dim=16 model.encoder_layers=1 model.decoder_layers=1 model.encoder_hidden=16 model.decoder_hidden=16"
    [bilstm]="model.embed_dim=16 model.encoder_layers=1 model.decoder_layers=1 model.encoder_hidden=8 model.decoder_hidden=16"
    [attention]="model.embed_dim=16 model.encoder_hidden=8 model.decoder_hidden=16 model.attention_dim=16"
    [transformer]="model.d_model=16 model.heads=2 model.ffn_dim=32 model.encoder_layers=1 model.decoder_layers=1"
)
sets() {  # sets ARCH: the --set arguments of a training run of this script
    local items=("train.max_minutes=$minutes")
    if [ -n "$smoke" ]; then
        # shellcheck disable=SC2206
        items+=(${tiny[$1]} train.max_updates=3 train.batch_tokens=800 train.validate_every=3)
    fi
    printf -- '--set\n%s\n' "${items[@]}"
}

step() {  # step NAME COMMAND...: run it with its output in logs/NAME.log; note a failure
    echo "== $1" >&2
    if ! "${@:2}" >"$work/logs/$1.log" 2>&1; then
        failed+=("$1")
        tail -n 20 "$work/logs/$1.log" >&2
    fi
}

pack() {  # everything but checkpoints into one archive; the tables into summary.md
    tar -czf "$out/gpu-reference.tar.gz" --exclude='*.pt' -C bench/scratch gpu-reference
    cat "$work"/*.md >"$out/summary.md" 2>/dev/null
}

stage_check() {
    for pair in "${pairs[@]}"; do
        for family in "" -small; do
            step "prepare-$pair$family" "${nmt[@]}" prepare "recipes/multi30k-$pair$family/attention.yaml" &
        done
    done
    wait  # a failed prepare shows in batch-rate's own failure
    step batch-rate "$py" -m bench.speed.batch_rate --pairs "${pairs[@]}" --out "$work/batch-rate.md"
    cat "$work/batch-rate.md"
}

stage_train() {
    local pids=() names=()
    rm -rf "$work/runs"  # nmt train refuses a run directory it has trained in: start afresh
    # the cores shared among the eight processes (their data, loss and search on the CPU)
    local threads=$(( $(nproc) / (${#pairs[@]} * ${#archs[@]}) ))
    for pair in "${pairs[@]}"; do
        for arch in "${archs[@]}"; do
            mapfile -t args < <(sets "$arch")
            OMP_NUM_THREADS=$(( threads > 0 ? threads : 1 )) \
                "${nmt[@]}" train "recipes/multi30k-$pair/$arch.yaml" --device "$device" \
                --run-dir "$work/runs/$pair-$arch" "${args[@]}" \
                >"$work/logs/train-$pair-$arch.log" 2>&1 &
            pids+=($!) names+=("train-$pair-$arch")
        done
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || { failed+=("${names[$i]}"); tail -n 20 "$work/logs/${names[$i]}.log" >&2; }
    done
    "$py" - "$work"/runs/*/metrics.jsonl <<'PY' | tee "$work/train-summary.md"
import json, sys
from pathlib import Path
print("| run | updates | epoch | dev BLEU | dev ppl | stopped |\n| --- | ---: | ---: | ---: | ---: | --- |")
for path in map(Path, sys.argv[1:]):
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    last = [row for row in rows if "valid_bleu" in row][-1]
    log = path.parents[2] / "logs" / f"train-{path.parent.name}.log"
    done = [line for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("done")]
    print(f"| {path.parent.name} | {last['step']} | {last['epoch']} | {last['valid_bleu']:.2f} "
          f"| {last['valid_ppl']:.2f} | {done[-1].split('(')[1].split(')')[0] if done else '?'} |")
PY
}

stage_eval() {
    local beam=() pids=() before=${#failed[@]}
    [ -n "$smoke" ] && beam=(--beam 1)
    for pair in "${pairs[@]}"; do  # one process per pair; its failures come back as its status
        runs=("$work"/runs/"$pair"-{seq2seq,bilstm,attention,transformer})
        {
            step "eval-$pair" "${nmt[@]}" eval "${runs[@]}" --test test2016 --device "$device" \
                "${beam[@]}" --format md -o "$work/eval-$pair.md"
            step "eval-long-$pair" "${nmt[@]}" eval "${runs[@]}" --test test2016-long --by-length \
                --device "$device" "${beam[@]}" --format md -o "$work/eval-long-$pair.md"
            step "plot-$pair" "${nmt[@]}" plot "${runs[@]}" -o "$work/curves-$pair.png"
            step "plot-long-$pair" "${nmt[@]}" plot "${runs[@]}" --by-length --test test2016-long \
                --device "$device" -o "$work/by-length-$pair.png"
            [ ${#failed[@]} -eq "$before" ]
        } &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("eval-${pairs[$i]}"); done
    cat "$work"/eval-*.md
}

stage_ddp() {
    local tiny_sets=()
    [ -n "$smoke" ] && mapfile -t tiny_sets < <(printf -- '--set\n%s\n' ${tiny[attention]})
    rm -rf "$work/runs-ddp"
    step ddp "$py" -m torch.distributed.run --nproc-per-node 1 -m nmt train \
        recipes/multi30k-de-en/attention.yaml --device "$device" --run-dir "$work/runs-ddp/attention" \
        --set train.max_updates=10 --set train.batch_tokens=800 --set train.validate_every=10 \
        "${tiny_sets[@]}"
    grep -h -E "nccl|gloo|backend|valid_bleu" "$work/logs/ddp.log" "$work/runs-ddp/attention/metrics.jsonl" \
        2>/dev/null | tail -n 3
}

stage_speed() {
    local parts=()
    for part in $speed_parts; do
        case "$part" in
            joey | onmt) [ -d "bench/scratch/venvs/$part" ] || [ -d bench/scratch/wheels ] || {
                echo "== speed: $part skipped (no venv, no bench/scratch/wheels)" >&2; continue; } ;;
        esac
        parts+=("$part")
    done
    local name="speed-$(IFS=-; echo "${parts[*]}")"  # run.sh appends: one file per call
    rm -f "$work/$name.json"
    step speed env PYTHON="$py" DEVICE="$device" PARTS="${parts[*]}" ${smoke:+SMOKE=1} \
        WHEELS=bench/scratch/wheels bash bench/speed/run.sh "$work/$name.json"
    "$py" -m bench.speed.results "$work/$name.json" | tee "$work/$name.md"
}

"$py" -c 'import sys, torch
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
print(f"{gpu}; torch {torch.__version__}; python {sys.version.split()[0]}")' | tee "$work/device.md"
for stage in $stages; do
    start=$SECONDS
    "stage_$stage"
    echo "== $stage: $((SECONDS - start)) s" >&2
    pack
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "gpu_reference.sh: failed: ${failed[*]} (logs in $work/logs, packed in $out)" >&2
    exit 1
fi
