"""Where one training update's time goes: torch.profiler's top operators by self time.

    python -m bench.speed.profile_update --arch attention --device cpu
    python -m bench.speed.profile_update --arch attention --updates 1 --batch-tokens 512  # quick

The bench model of bench/speed/ours.py on the same Multi30k batches: --skip warm-up updates,
then --updates profiled ones. Prints the operator table (self time, calls), the tokens/s
under the profiler (slower than ours.py: the profiler records every operator) and the
matrix-product FLOPs per target token of the same updates run again, so that tokens/s of
two systems can be turned into the arithmetic rate each reaches.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from bench.speed.ours import ARCHS, bench_trainer, sync


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="attention", choices=list(ARCHS))
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--skip", type=int, default=3)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--rows", type=int, default=25, help="operators shown")
    args = parser.parse_args()
    device = torch.device(args.device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with bench_trainer(args.arch, args.precision, args.device, args.batch_tokens) as (
        trainer,
        updates,
    ):
        for group in updates[: args.skip]:
            trainer.update(group)
        sync(device)
        timed = updates[args.skip : args.skip + args.updates]
        tokens = sum(trainer.train_data.collate(i).n_tokens for g in timed for i in g)
        start = time.perf_counter()
        with profile(activities=activities) as prof:
            for group in timed:
                trainer.update(group)
            sync(device)
        seconds = time.perf_counter() - start
        with FlopCounterMode(display=False) as flops:
            for group in timed:
                trainer.update(group)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=args.rows))
    print(
        f"{args.arch} {args.precision} on {args.device}: {len(timed)} updates, "
        f"{tokens / len(timed):.0f} target tokens each, {tokens / seconds:.0f} tok/s "
        f"under the profiler; {flops.get_total_flops() / tokens / 1e6:.1f} MFLOP of matrix "
        "products per target token (FlopCounterMode: the nn.LSTM decoders of seq2seq and "
        "bilstm run as one fused kernel it does not count)"
    )


if __name__ == "__main__":
    main()
