"""What decoding's `auto` precision costs, and what bf16 would break (issue 33).

    python -m bench.speed.precision_cost RUN [--threads 2] [--lines 1000] [--out FILE]

RUN, a trained attention run, decodes its corpus's test2016 at beam 5 to EOS in `auto`
(fp32 on every machine), fp32 and bf16 (where the CPU has bf16 instructions, or
NMT_CPU_BF16=1 stands in for them), timed as cpu_decoding.py times (a warm-up on 64
sentences, one pass, ~64 sentences a batch). Each row also counts the sentences, of the
first --invariance ones, whose translation alone differs from the one in their batch: the
promise `auto` keeps, which bf16 does not.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import sacrebleu
import torch

from bench.speed.cpu_decoding import nmt_translate, parse_decoding_args, timed
from bench.speed.results import append_rows
from nmt import Translator
from nmt.data.prepare import raw_splits
from nmt.device import cpu_has_bf16

TEST = "test2016"
BEAM5 = {"beam": 5}


def changed_alone(translator: Translator, sources: list[str], batch_tokens: int) -> int:
    """How many of `sources` translate otherwise alone than in their batches."""
    together = nmt_translate(translator, batch_tokens, sources, BEAM5)
    alone = [nmt_translate(translator, 1, [line], BEAM5)[0] for line in sources]
    return sum(a != b for a, b in zip(together, alone, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a trained attention run")
    parser.add_argument("--invariance", type=int, default=200, help="sentences decoded alone")
    args, cpu = parse_decoding_args(parser)
    precisions = ["auto", "fp32"] + (["bf16"] if cpu_has_bf16() else [])
    rows = []
    for precision in precisions:
        translator = Translator.load(args.run, device="cpu", precision=precision)
        test = raw_splits(translator.recipe.data, [TEST])[TEST]
        sources, references = test["src"][: args.lines], test["tgt"][: args.lines]
        translate = partial(nmt_translate, translator, args.batch_tokens, options=BEAM5)
        rate, best = timed(translate, sources)
        row = {
            "system": "nmt",
            "arch": "attention",
            "precision": f"{precision} ({translator.precision})",
            "decode_beam5_sent_per_s": rate,
            "bleu_beam5": round(sacrebleu.corpus_bleu(best, [references]).score, 2),
            "details": {
                "run": str(args.run),
                "sentences": len(sources),
                "threads": args.threads,
                "changed_alone": changed_alone(
                    translator, sources[: args.invariance], args.batch_tokens
                ),
                "decoded_alone": min(args.invariance, len(sources)),
            },
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    fp32 = next(row for row in rows if row["precision"].startswith("fp32"))
    print(f"\nCPU: {cpu['model']}, {args.threads} threads, bf16 instructions: {cpu['bf16']}")
    print("| precision | beam 5 sent/s | x fp32 | BLEU | changed alone |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        speed = row["decode_beam5_sent_per_s"] / fp32["decode_beam5_sent_per_s"]
        changed = f"{row['details']['changed_alone']} of {row['details']['decoded_alone']}"
        print(
            f"| {row['precision']} | {row['decode_beam5_sent_per_s']} | {speed:.2f} "
            f"| {row['bleu_beam5']} | {changed} |"
        )
    if args.out is not None:
        append_rows(args.out, rows, f"cpu: {cpu['model']}", torch.__version__)


if __name__ == "__main__":
    main()
