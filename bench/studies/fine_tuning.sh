#!/usr/bin/env bash
# The measurements of issue 25 on a 2-core CPU, each training bounded by train.max_updates
# (UPDATES, default 2,000 of the small attention recipe's 800-token batches: about 7
# minutes at ~0.2 s an update alone on 2 cores, validated every 500). About an hour in all
# (seven trainings, two Tatoeba preparations, beam-5 tables over 1,000 + 5,000 test
# sentences); the adaptation half took 38 minutes with three of its four trainings.
#
#  1. Domain adaptation, en->fr: the small attention model trained on Multi30k (image
#     captions), then continued on Tatoeba (everyday sentences) with --init-from, against the
#     same recipe trained on Tatoeba alone (with a vocabulary of its own) for as many updates
#     as the continuation had, and for twice as many (as many as both of its stages); the
#     continued run had UPDATES Multi30k updates before, and trains with the recipe's
#     settings (learning rate included) from a fresh optimizer. All four scored on both test sets (Multi30k test2016, the Tatoeba card's held-out test,
#     which no training pair shares a sentence with): BLEU, chrF, TER.
#  2. Subword sampling (data.subword_alpha=0.1, unigram l-best sampling) and 3. EMA
#     (train.ema_decay=0.999) on the small attention recipe, de->en, against the recipe as it
#     is, same updates: dev BLEU (greedy, metrics.jsonl) and test2016.
#
#   bash bench/studies/fine_tuning.sh [OUT]      runs and tables in OUT (default runs/fine-tuning)
#   PART=adaptation bash bench/studies/fine_tuning.sh       part 1 only (PART=regularisation: 2 and 3)
#   SMOKE=1 bash bench/studies/fine_tuning.sh    3 updates each, 30 test lines: checks the wiring
#
# A run that is there is resumed (or passed over when finished). Reads $NMT_DATA.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/install.sh
export NMT_DATA="${NMT_DATA:-$(cd .. && pwd)/shared/data}"
out="${1:-runs/fine-tuning}"
small=recipes/multi30k-de-en-small/attention.yaml
updates="${UPDATES:-2000}"
budget=(--set "train.validate_every=${VALID_EVERY:-500}")
lines=0  # test lines scored; 0: all
if [ "${SMOKE:-0}" = 1 ]; then
    out="${1:-runs/fine-tuning-smoke}"
    updates=3
    budget=(--set train.validate_every=3 --set decode.max_len_a=0 --set decode.max_len_b=3)
    lines=30
fi
part="${PART:-all}"
case "$part" in
    all | adaptation | regularisation) ;;
    *) echo "PART must be all, adaptation or regularisation, not '$part'" >&2 && exit 2 ;;
esac
mkdir -p "$out/tests"

train() {  # RUN UPDATES ARGS...: train into RUN, resuming what is there
    local run="$1" max="$2"
    shift 2
    local resume=()
    [ -f "$run/checkpoints/last.pt" ] && resume=(--resume)
    nmt train "$@" --set "train.max_updates=$max" "${budget[@]}" --run-dir "$run" "${resume[@]}"
}

cut_lines() {  # FILE: the first $lines lines of a test file (all with 0)
    if [ "$lines" = 0 ]; then cat "$1"; else head -n "$lines" "$1"; fi
}

adaptation() {  # 1. Domain adaptation, en->fr.
    local enfr=(--set data.src=en --set data.tgt=fr)
    local tatoeba=(--set data.corpus=tatoeba-fra-eng)
    train "$out/multi30k-en-fr" "$updates" "$small" "${enfr[@]}"
    train "$out/multi30k-then-tatoeba" "$updates" "$small" "${enfr[@]}" "${tatoeba[@]}" \
        --init-from "$out/multi30k-en-fr"
    train "$out/tatoeba-alone" "$updates" "$small" "${enfr[@]}" "${tatoeba[@]}"
    train "$out/tatoeba-alone-twice" "$((2 * updates))" "$small" "${enfr[@]}" "${tatoeba[@]}"

    python - "$out/tests" <<'PY'
import sys
from pathlib import Path

from nmt.config.recipe import DataConfig
from nmt.data.prepare import raw_splits

test = raw_splits(DataConfig(corpus="tatoeba-fra-eng", src="en", tgt="fr"), ["test"])["test"]
for side, lang in (("src", "en"), ("tgt", "fr")):
    text = "".join(line + "\n" for line in test[side])
    Path(sys.argv[1], f"tatoeba-test.{lang}.all").write_text(text, encoding="utf-8")
PY
    for lang in en fr; do
        cut_lines "$out/tests/tatoeba-test.$lang.all" >"$out/tests/tatoeba-test.$lang"
    done
    local adapted=("$out/multi30k-en-fr" "$out/multi30k-then-tatoeba" "$out/tatoeba-alone"
        "$out/tatoeba-alone-twice")
    for test in multi30k-test2016 tatoeba-test; do
        nmt eval "${adapted[@]}" --src "$out/tests/$test.en" --ref "$out/tests/$test.fr" \
            --metrics bleu,chrf,ter -o "$out/adaptation-$test.md"
    done
}

regularisation() {  # 2. and 3. Subword sampling and EMA, de->en, same updates.
    train "$out/small-attention" "$updates" "$small"
    train "$out/small-attention-subword" "$updates" "$small" --set data.subword_alpha=0.1
    train "$out/small-attention-ema" "$updates" "$small" --set train.ema_decay=0.999
    local regular=("$out/small-attention" "$out/small-attention-subword" "$out/small-attention-ema")
    nmt eval "${regular[@]}" --src "$out/tests/multi30k-test2016.de" \
        --ref "$out/tests/multi30k-test2016.en" --metrics bleu,chrf,ter \
        -o "$out/regularisation-test2016.md"
    python - "${regular[@]}" >"$out/regularisation-dev.md" <<'PY'
import json
import sys
from pathlib import Path

print("| run | updates | dev BLEU (greedy, last) | best dev BLEU | dev ppl (last) |")
print("|---|---:|---:|---:|---:|")
for run in sys.argv[1:]:
    rows = [json.loads(line) for line in Path(run, "metrics.jsonl").read_text().splitlines()]
    last = [row for row in rows if "valid_bleu" in row][-1]
    cells = [last["step"], f"{last['valid_bleu']:.2f}", f"{last['best_bleu']:.2f}"]
    print(f"| {Path(run).name} | " + " | ".join(map(str, cells)) + f" | {last['valid_ppl']:.2f} |")
PY
}

for lang in de en fr; do
    gzip -dc "$NMT_DATA/multi30k/test_2016_flickr.$lang.gz" >"$out/tests/multi30k-test2016.$lang.all"
    cut_lines "$out/tests/multi30k-test2016.$lang.all" >"$out/tests/multi30k-test2016.$lang"
done
[ "$part" = regularisation ] || adaptation
[ "$part" = adaptation ] || regularisation
cat "$out"/*.md
echo "tables in $out/"
