"""Where decoding time goes (issue 36): time shares by operator group, on the real path.

    python -m bench.speed.profile_decoding RUN --lines 200 --beam 5 [--batch-tokens 1024]

The first --lines sentences of Multi30k test2016 (de, from the mirror in $NMT_DATA) through
nmt.Translator.translate, the code and batching of `nmt translate`, in fp32 on the CPU's
--threads threads (default: torch's), after a warm-up on 16 of them. Prints the shares of
self CPU time under torch.profiler by group (matrix products; index_select / gather; cat;
SDPA; top-k; tanh; add; the rest), the top operators with their input shapes, the shapes
the search ran (sentences x padded source per batch, rows per step), and the run's
limit_fraction (bench/speed/limit.py) timed in a second pass without the profiler.

A tiny model's profile says little about a trained one's: its products are small, so the
fixed cost per operator dominates. Profile a run of the size you care about.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from bench.speed.decoding import TEST
from bench.speed.limit import Counted, limit_fraction, mm_rate, search_flops
from nmt import Translator
from nmt.textio import read_lines

GROUPS = {  # operator -> group; the rest is "other"
    "aten::mm": "matrix products",
    "aten::addmm": "matrix products",
    "aten::bmm": "matrix products",
    "aten::baddbmm": "matrix products",
    "aten::_mkldnn_linear": "matrix products",
    "aten::index_select": "index_select / gather",
    "aten::gather": "index_select / gather",
    "aten::index": "index_select / gather",
    "aten::cat": "cat",
    "aten::_scaled_dot_product_flash_attention_for_cpu": "SDPA",
    "aten::topk": "topk",
    "aten::tanh": "tanh",
    "aten::tanh_": "tanh",
    "aten::add": "add",
    "aten::add_": "add",
}


def shares(events) -> dict[str, float]:
    """Self CPU time per group, as fractions of the total, largest first."""
    times: dict[str, float] = defaultdict(float)
    for event in events:
        times[GROUPS.get(event.key, "other")] += event.self_cpu_time_total
    total = sum(times.values())
    return dict(sorted(((g, t / total) for g, t in times.items()), key=lambda x: -x[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--batch-tokens", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rows", type=int, default=12, help="operators shown with shapes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sources = read_lines(f"{TEST}.de.gz")[: args.lines]
    translator = Translator.load(args.run, device="cpu", precision="fp32")
    counted = Counted(translator.model)
    translator.model = counted
    options = {"beam": args.beam, "batch_tokens": args.batch_tokens}
    translator.translate(sources[:16], **options)  # warm-up
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        translator.translate(sources, **options)
    counted.clear()
    start = time.perf_counter()
    translator.translate(sources, **options)
    seconds = time.perf_counter() - start
    flops = search_flops(counted.model, counted.batches, counted.steps)
    rate = mm_rate(torch.device("cpu"))

    print(f"{args.run}, beam {args.beam}, {len(sources)} lines, {args.threads} threads, fp32")
    print("\n| group | share of self CPU time |\n|---|---:|")
    for group, share in shares(prof.key_averages()).items():
        print(f"| {group} | {share:.1%} |")
    table = prof.key_averages(group_by_input_shape=True)
    print(table.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    batches = counted.batches
    rows = [step.rows for step in counted.steps]
    print(
        f"shapes: {len(batches)} batches of {statistics.mean(b.sentences for b in batches):.0f} "
        f"sentences (padded source {min(b.source for b in batches)}-"
        f"{max(b.source for b in batches)}), {len(rows)} steps of {min(rows)}-{max(rows)} "
        f"rows (mean {statistics.mean(rows):.0f})"
    )
    print(
        f"without the profiler: {len(sources) / seconds:.1f} sent/s, "
        f"{flops / 1e9:.2f} GFLOP of products, one large mm {rate / 1e9:.0f} GFLOP/s: "
        f"limit_fraction {limit_fraction(flops, seconds, rate)}"
    )


if __name__ == "__main__":
    main()
