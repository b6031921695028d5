#!/usr/bin/env bash
# Issue 38's measurements on a trained attention run (default runs/quick), one process at a
# time, fp32 (bf16 would change the figures on a CPU that has it):
#  (a) terminology: test2016 with one or two reference words per sentence as constraints
#      (bench/studies/terminology.py terms), beam 5 with and without them: BLEU, the share
#      of constraints met, sentences/s;
#  (b) the GNMT penalties on dev (valid) and test2016-long: alpha 0.6 / 1.0, length norm
#      power / gnmt, coverage beta 0 / 0.2, beam 5: BLEU.
#
#   bash bench/studies/constraints_penalties.sh [RUN] [OUT]     (OUT default: RUN/issue38)
set -euo pipefail
cd "$(dirname "$0")/../.."
run="${1:-runs/quick}"
out="${2:-$run/issue38}"
data="${NMT_DATA:-$(cd .. && pwd)/shared/data}/multi30k"
py="${PYTHON:-.venv/bin/python}"
nmt="$(dirname "$py")/nmt"
mkdir -p "$out"
translate() {  # NAME SOURCE [options...]: OUT/NAME.en, and its timing line
    local name="$1" source="$2"
    shift 2
    "$nmt" translate "$run" -i "$source" -o "$out/$name.en" --precision fp32 --beam 5 "$@" \
        2>&1 | grep translated | sed "s/^/$name: /"
}
bleu() {  # HYP REF: sacrebleu BLEU
    "$py" -c "import sacrebleu, sys; from nmt.textio import read_lines
print(f'{sacrebleu.corpus_bleu(read_lines(sys.argv[1]), [read_lines(sys.argv[2])]).score:.2f}')" "$1" "$2"
}

test_de="$data/test_2016_flickr.de.gz" test_en="$data/test_2016_flickr.en.gz"
translate test2016.plain "$test_de"
"$py" -m bench.studies.terminology terms "$test_en" "$out/test2016.plain.en" "$out/terms.txt"
translate test2016.terms "$test_de" --constraints "$out/terms.txt"
for name in plain terms; do
    echo "test2016.$name BLEU $(bleu "$out/test2016.$name.en" "$test_en")"
    "$py" -m bench.studies.terminology met "$out/terms.txt" "$out/test2016.$name.en"
done

"$py" -m bench.studies.terminology join "$test_de" "$test_en" "$out/test2016-long"
gunzip -c "$data/val.de.gz" > "$out/valid.src"
gunzip -c "$data/val.en.gz" > "$out/valid.tgt"
for split in valid test2016-long; do
    for alpha in 0.6 1.0; do
        for norm in power gnmt; do
            for beta in 0 0.2; do
                name="$split.$norm.a$alpha.b$beta"
                translate "$name" "$out/$split.src" --length-penalty "$alpha" \
                    --length-norm "$norm" --coverage-penalty "$beta" >/dev/null
                echo "$split alpha $alpha $norm beta $beta BLEU $(bleu "$out/$name.en" "$out/$split.tgt")"
            done
        done
    done
done
