#!/usr/bin/env bash
# The speed benchmark in one command: our rows (ours.py), the bare-LSTM ceiling
# (bare_lstm.py) and both peers (peers/run_peer.py), one after the other on this machine,
# appended to ONE results file; then the table and every target as a ratio (results.py).
#
#   bash bench/speed/run.sh bench/results/DATE-DEVICE.json        # the protocol's sizes (GPU)
#   TIMED=20 SKIP=5 bash bench/speed/run.sh bench/results/DATE-cpu.json   # a 2-core CPU in ~1 hour
#   SMOKE=1 bash bench/speed/run.sh bench/scratch/smoke.json       # tiny sizes: checks the wiring
#
# Environment: TIMED and SKIP set every system's timed and warm-up updates (default: each
# script's protocol sizes, 100+ timed after 20); TEST_LINES, the test sentences each system
# decodes (default all 1,000); PARTS (default "nmt bare joey onmt") runs a
# subset, appending to the same file, so a run longer than one sitting can be split; DEVICE
# (default cuda when there is one); PEER_PRECISIONS (default "fp32 fp16" on cuda, "fp32" on
# cpu); PEER_ARCHS (default "attention transformer"), the peers' models; WHEELS, a folder of
# peers/wheels.sh, to build the peer venvs offline when they are missing; PYTHON (python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:?usage: bash bench/speed/run.sh RESULTS.json}"
py="${PYTHON:-python3}"
device="${DEVICE:-$("$py" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')}"
if [ "$device" = cpu ]; then default_precisions=fp32; else default_precisions="fp32 fp16"; fi
peer_precisions="${PEER_PRECISIONS:-$default_precisions}"
data=bench/scratch/data
export PYTHONUNBUFFERED=1

ours=() bare=() peer=()
if [ -n "${SMOKE:-}" ]; then
    ours=(--archs seq2seq attention transformer --updates 2 --skip 1 --test-lines 8 --batch-tokens 256)
    bare=(--updates 2 --skip 1 --batch-tokens 256)
    peer=(--updates 6 --skip 2 --test-lines 8 --decode-batch 8 --max-len 30)
fi
declare -A peer_batch=([joey]=700 [onmt]=300)  # smoke only: ~256 real target tokens
if [ -n "${TIMED:-}" ]; then
    skip="${SKIP:-20}"
    ours+=(--updates "$TIMED" --skip "$skip")
    bare+=(--updates "$TIMED" --skip "$skip")
    peer+=(--updates "$((skip + TIMED))" --skip "$skip")  # a peer's --updates counts all
fi
if [ -n "${TEST_LINES:-}" ]; then
    ours+=(--test-lines "$TEST_LINES")
    peer+=(--test-lines "$TEST_LINES")
fi

if [ ! -f "$data/meta.json" ]; then
    "$py" -m bench.peers.export_data recipes/multi30k-de-en/attention.yaml "$data"
fi
for part in ${PARTS:-nmt bare joey onmt}; do
    echo "== $part on $device" >&2
    case "$part" in
        nmt) "$py" -m bench.speed.ours --device "$device" "${ours[@]}" --out "$out" ;;
        bare) "$py" -m bench.speed.bare_lstm --device "$device" --lengths "$data" "${bare[@]}" \
            --out "$out" ;;
        joey | onmt)
            if [ ! -d "bench/scratch/venvs/$part" ]; then
                bash bench/peers/setup.sh --python "$py" --only "$part" \
                    ${WHEELS:+--wheels "$WHEELS"}
            fi
            for arch in ${PEER_ARCHS:-attention transformer}; do
                for precision in $peer_precisions; do
                    "$py" -m bench.peers.run_peer "$part" --arch "$arch" --data "$data" \
                        --device "$device" --precision "$precision" "${peer[@]}" \
                        ${SMOKE:+--batch-size "${peer_batch[$part]}"} --out "$out"
                done
            done
            ;;
        *) echo "bench/speed/run.sh: unknown part $part (nmt, bare, joey, onmt)" >&2; exit 2 ;;
    esac
done
"$py" -m bench.speed.results "$out"
