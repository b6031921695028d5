"""Issue 37 item 2: why a model trained on single captions fails on long inputs, measured.

    python -m bench.studies.long_inputs lengths RUN                    # pieces in training
    python -m bench.studies.long_inputs decode RUN [--test valid-long] [--beam 5]
        [--length-penalty 1] [--max-len-a 1.5] [--beyond 40]           # per source bucket
    python -m bench.studies.long_inputs joined RUN [--test valid] [--lines 480]  # glued vs alone

`lengths`: the source and target lengths in pieces of the run's training pairs (the corpus
card's train split through the run's sentencepiece models), and the sources of valid-long
and test2016-long by word bucket. `decode`: per word bucket of a `-long` split
(nmt/data/joining.py), BLEU, the output/reference length ratio in pieces, the outputs that
end at the search's length limit (max_len_a * source pieces + max_len_b), the outputs that
stop early (fewer pieces than half the reference's), looping (the share of word 4-grams
that repeat one earlier in the same output, beside the references' share), and from the
cross-attention (the recurrent model's, or a Transformer's last decoder layer averaged
over heads) how far along the source the attention gets (the furthest source piece any
output piece attends most to, over the source's length) and its mass on source pieces
beyond `--beyond` against the share of the source that lies there. `joined`: the split cut
into groups of k pairs (k = 1..4), each group decoded glued into one input and each of its
captions decoded alone, the alone outputs joined: BLEU of both against the joined
references, and of the glued decode against the joined alone outputs and against the first
caption's alone output (high when the glued decode translates the first caption and
stops).

Every decode is the run's best checkpoint through nmt.Translator on the CPU, one at a time.
"""

from __future__ import annotations

import argparse
import re
import statistics
from collections.abc import Sequence
from pathlib import Path

import torch
from sacrebleu.metrics import BLEU

from nmt import Translator
from nmt.data.corpus import load_card, load_splits, resolve_mirror
from nmt.data.joining import group_bounds
from nmt.data.tokenizer import Tokenizer
from nmt.generation.search import length_limits
from nmt.inference.alignment import Alignment
from nmt.metrics.bleu_by_length import bucket_labels, bucket_of

EDGES = (10, 20, 30, 40, 50)  # source words, as recipes/compare.sh buckets
WORD = re.compile(r"\S+")


def split_pairs(name: str) -> tuple[list[str], list[str]]:
    """Sources and targets of Multi30k de-en split `name` (`NAME-long`: joined)."""
    split = load_splits(load_card("multi30k"), "de", "en", resolve_mirror(None), [name])[name]
    return split["src"][:], split["tgt"][:]


def describe(lengths: Sequence[int]) -> str:
    """Median, 90th and 99th percentile, maximum."""
    ordered = sorted(lengths)
    at = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.9, 0.99)]
    return f"median {at[0]}, p90 {at[1]}, p99 {at[2]}, max {ordered[-1]}"


def lengths(run: Path) -> None:
    tokenizer = Tokenizer(run / "src.model", run / "tgt.model")
    src, tgt = split_pairs("train")
    src_len = [len(ids) for ids in tokenizer.encode_src(src)]
    tgt_len = [len(ids) for ids in tokenizer.encode_tgt(tgt)]
    print(f"train ({len(src):,} pairs) source pieces: {describe(src_len)}")
    print(f"train target pieces: {describe(tgt_len)}")
    for cut in (30, 40, 50, 60):
        over = sum(length > cut for length in src_len)
        print(f"  sources over {cut} pieces: {over}")
    for name in ("valid-long", "test2016-long"):
        long_src, _ = split_pairs(name)
        pieces = [len(ids) for ids in tokenizer.encode_src(long_src)]
        by_bucket: dict[int, list[int]] = {}
        for line, count in zip(long_src, pieces, strict=True):
            by_bucket.setdefault(bucket_of(line, EDGES), []).append(count)
        print(f"{name} ({len(long_src)} sources): words | sentences | pieces median, max")
        for index, label in enumerate(bucket_labels(EDGES)):
            counts = by_bucket.get(index, [])
            if counts:
                print(f"  {label} | {len(counts)} | {statistics.median(counts)}, {max(counts)}")


def repeated(texts: Sequence[str], n: int = 4) -> float:
    """The share of the word n-grams of `texts` that repeat an earlier one of the same text:
    looping raises it above the references' own share."""
    total = again = 0
    for text in texts:
        words = WORD.findall(text)
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total, again = total + len(grams), again + len(grams) - len(set(grams))
    return again / total if total else 0.0


def reach(alignment: Alignment) -> float:
    """The furthest source piece (EOS left out) that an output piece attends most to, over
    the source's pieces: 1.0 when the attention gets to the end of the source."""
    pairs = alignment.pairs()
    return (max(i for i, _ in pairs) + 1) / (len(alignment.source) - 1) if pairs else 0.0


def mass_beyond(alignment: Alignment, beyond: int) -> tuple[float, float]:
    """The attention mass on source pieces past the first `beyond` (EOS left out), averaged
    over output pieces, and the share of the source's pieces that lie there."""
    content = alignment.weights[:-1, :-1]
    pieces = content.size(1)
    if pieces <= beyond or content.size(0) == 0:
        return 0.0, 0.0
    return content[:, beyond:].sum(1).mean().item(), (pieces - beyond) / pieces


def decode(run: Path, test: str, beam: int, penalty: float, len_a: float, beyond: int) -> None:
    translator = Translator.load(run, device="cpu")
    options = translator.options(beam=beam, length_penalty=penalty, max_len_a=len_a)
    src, ref = split_pairs(test)
    found = translator.translations(src, options, alignments=True)
    outputs = found.best()
    src_pieces = [len(ids) for ids in translator.tokenizer.encode_src(src)]
    ref_pieces = [len(ids) for ids in translator.tokenizer.encode_tgt(ref)]
    limits = length_limits(
        torch.tensor(src_pieces) + 1, options.max_len_a, options.max_len_b
    ).tolist()
    total = BLEU().corpus_score(outputs, [ref]).score
    print(
        f"{run} on {test}: beam {beam}, length_penalty {penalty}, "
        f"max_len {len_a} * src + {options.max_len_b}; BLEU {total:.2f}"
    )
    print(
        "| words | n | BLEU | out/ref pieces | at limit | early stop "
        "| repeated 4-grams out / ref | reach "
        f"| mass past {beyond} / share past {beyond} |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for index, label in enumerate(bucket_labels(EDGES)):
        rows = [i for i, line in enumerate(src) if bucket_of(line, EDGES) == index]
        if not rows:
            continue
        aligned = [found.alignments[i][0] for i in rows]
        out_pieces = [len(a.target) - 1 for a in aligned]
        bleu = BLEU().corpus_score([outputs[i] for i in rows], [[ref[i] for i in rows]]).score
        ratio = sum(out_pieces) / sum(ref_pieces[i] for i in rows)
        at_limit = sum(o >= limits[i] for o, i in zip(out_pieces, rows, strict=True))
        early = sum(o < ref_pieces[i] / 2 for o, i in zip(out_pieces, rows, strict=True))
        looping = [repeated([texts[i] for i in rows]) for texts in (outputs, ref)]
        reached = statistics.mean(reach(a) for a in aligned)
        masses = [mass_beyond(a, beyond) for a in aligned]
        past = [m for m in masses if m[1] > 0]
        mass = (
            f"{statistics.mean(m[0] for m in past):.2f} / {statistics.mean(m[1] for m in past):.2f}"
            if past
            else "-"
        )
        print(
            f"| {label} | {len(rows)} | {bleu:.2f} | {ratio:.2f} | {at_limit} | {early} "
            f"| {looping[0]:.3f} / {looping[1]:.3f} | {reached:.2f} | {mass} |"
        )


def joined(run: Path, test: str, lines: int) -> None:
    translator = Translator.load(run, device="cpu")
    src, ref = (side[:lines] for side in split_pairs(test))
    alone = translator.translate(src)
    print(f"{run} on {test} cut into groups of k captions (run's decode settings)")
    print(
        "| k | inputs | BLEU glued | BLEU alone, joined | BLEU glued vs alone "
        "| BLEU glued vs first caption alone |"
    )
    print("|---|---|---|---|---|---|")
    for k in (1, 2, 3, 4):
        bounds = [(a, b) for a, b in group_bounds(len(src), (k,)) if b - a == k]
        glued = translator.translate([" ".join(src[a:b]) for a, b in bounds])
        joined_alone = [" ".join(alone[a:b]) for a, b in bounds]
        refs = [" ".join(ref[a:b]) for a, b in bounds]
        print(
            f"| {k} | {len(bounds)} | {BLEU().corpus_score(glued, [refs]).score:.2f} "
            f"| {BLEU().corpus_score(joined_alone, [refs]).score:.2f} "
            f"| {BLEU().corpus_score(glued, [joined_alone]).score:.2f} "
            f"| {BLEU().corpus_score(glued, [[alone[a] for a, _ in bounds]]).score:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("lengths").add_argument("run", type=Path)
    on_decode = commands.add_parser("decode")
    on_decode.add_argument("run", type=Path)
    on_decode.add_argument("--test", default="valid-long")
    on_decode.add_argument("--beam", type=int, default=5)
    on_decode.add_argument("--length-penalty", type=float, default=1.0)
    on_decode.add_argument("--max-len-a", type=float, default=1.5)
    on_decode.add_argument("--beyond", type=int, default=40)
    on_joined = commands.add_parser("joined")
    on_joined.add_argument("run", type=Path)
    on_joined.add_argument("--test", default="valid")
    on_joined.add_argument("--lines", type=int, default=480, help="the first N pairs only")
    args = parser.parse_args()
    if args.command == "lengths":
        lengths(args.run)
    elif args.command == "decode":
        decode(args.run, args.test, args.beam, args.length_penalty, args.max_len_a, args.beyond)
    else:
        joined(args.run, args.test, args.lines)


if __name__ == "__main__":
    main()
