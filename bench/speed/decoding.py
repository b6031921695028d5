"""Speed of scoring and ensembles against plain decoding (the targets of issue 13).

    OMP_NUM_THREADS=1 python -m bench.speed.decoding RUN [--device cpu] [--out FILE]

On the 1,000 sentences of Multi30k test2016 (de -> en, from the mirror in $NMT_DATA), through
nmt.Translator, the code of `nmt translate` and `nmt score`, after a warm-up on 64 of them,
model loading excluded, batches of about --batch-tokens tokens (1,024: about 64 sentences, as
bench/PROTOCOL.md decodes):

- `nmt score` of the test set's (source, reference) pairs in pairs/s, against greedy
  decoding in sentences/s (target: scoring no slower); and of the (source, greedy output)
  pairs, the same number of positions as greedy decoding ran;
- an ensemble of two at beam 5 against the run alone at beam 5 (target: at most 2.2 times
  the time). The ensemble is RUN loaded twice: the work of two different runs;
- limit_fraction: how close the run alone at beam 5 comes to the machine, its matrix-product
  FLOPs per second over one large torch.mm's in this process (bench/speed/limit.py).

The ratios depend on the run: scoring works through the reference's pieces, decoding
through the output's, and an undertrained model's outputs can be much shorter or longer
than the references (the mean lengths are in the row).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench import ROOT
from bench.speed.limit import Counted, limit_fraction, mm_rate, search_flops
from bench.speed.results import append_rows
from nmt import Translator
from nmt.textio import read_lines

MIRROR = Path(os.environ.get("NMT_DATA", ROOT.parent / "shared/data"))
TEST = MIRROR / "multi30k" / "test_2016_flickr"


def timed(work: Callable[[int], Any], count: int, device: torch.device) -> tuple[float, Any]:
    """(count / the seconds work(count) takes, its result), the device synchronised at both
    ends."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = work(count)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return round(count / (time.perf_counter() - start), 1), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--batch-tokens", type=int, default=1024)
    parser.add_argument("--out", type=Path, help="also append the row to this results file")
    args = parser.parse_args()
    sources = read_lines(f"{TEST}.de.gz")[: args.lines]
    references = read_lines(f"{TEST}.en.gz")[: args.lines]
    single = Translator.load(args.run, device=args.device)
    pair = Translator.load(args.run, args.run, device=args.device)
    counted = Counted(single.model)  # records what beam 5 computes, for limit_fraction
    recorded = Translator(counted, single.tokenizer, single.recipe, single.device)
    batch = {"batch_tokens": args.batch_tokens}
    modes: dict[str, Callable[[int], Any]] = {  # the first n lines
        "decode_greedy_sent_per_s": lambda n: single.translate(sources[:n], beam=1, **batch),
        "score_pairs_per_s": lambda n: single.score(sources[:n], references[:n], **batch),
        "score_greedy_outputs_pairs_per_s": lambda n: single.score(
            sources[:n], outputs["decode_greedy_sent_per_s"][:n], **batch
        ),
        "decode_beam5_sent_per_s": lambda n: recorded.translate(sources[:n], beam=5, **batch),
        "ensemble2_beam5_sent_per_s": lambda n: pair.translate(sources[:n], beam=5, **batch),
    }
    row: dict = {"system": "nmt", "arch": str(args.run), "precision": "fp32"}
    outputs: dict[str, Any] = {}
    records = {}  # mode -> what its timed run computed (only beam 5's is recorded)
    for key, work in modes.items():
        work(64)  # warm-up
        counted.clear()
        row[key], outputs[key] = timed(work, len(sources), single.device)
        records[key] = (counted.batches, counted.steps)
    flops = search_flops(counted.model, *records["decode_beam5_sent_per_s"])
    seconds = len(sources) / row["decode_beam5_sent_per_s"]
    row["limit_fraction"] = limit_fraction(flops, seconds, mm_rate(single.device))
    row["score_vs_greedy"] = round(row["score_pairs_per_s"] / row["decode_greedy_sent_per_s"], 2)
    row["ensemble2_time_vs_single_beam5"] = round(
        row["decode_beam5_sent_per_s"] / row["ensemble2_beam5_sent_per_s"], 2
    )
    for key, texts in (
        ("greedy_output", outputs["decode_greedy_sent_per_s"]),
        ("reference", references),
    ):
        pieces = single.tokenizer.encode_tgt(texts)
        row[f"mean_{key}_pieces"] = round(sum(map(len, pieces)) / len(pieces), 1)
    row["threads"] = torch.get_num_threads()
    print(json.dumps(row, indent=1))
    if args.out is not None:
        append_rows(args.out, [row], str(single.device), torch.__version__)


if __name__ == "__main__":
    main()
