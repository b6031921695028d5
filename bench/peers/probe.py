"""Run a peer toolkit's command in this process and record what its logs don't say.

    VENV/bin/python bench/peers/probe.py OUT.json -m joeynmt train cfg.yaml --skip-test

The peers log throughput as averages over logging intervals, timed on the host without
synchronising the device, and neither reports device memory. Global torch hooks give the
same figures we measure for our own system, without editing the toolkits:
- after every optimiser step: synchronise the device, read the clock, and read the real
  (non-padding) target tokens that the step's loss saw;
- NLLLoss / CrossEntropyLoss count the targets that differ from their ignore_index (Joey
  and OpenNMT-py both use one with the pad id); their forward is wrapped rather than a
  global module hook installed, since a global hook sends every module call of the
  step-by-step decoders down torch's slow hook path;
- at exit: torch.cuda.max_memory_allocated and the process's peak RSS.
"""

from __future__ import annotations

import atexit
import json
import resource
import runpy
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook


class Probe:
    """Per-update clock and real-target-token counts, plus peak memory at exit."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.tokens: torch.Tensor | int = 0
        self.steps: list[tuple[float, int]] = []  # (time after the step, real target tokens)

    def count_targets(self, loss_class: type[nn.Module]) -> None:
        """Wrap loss_class.forward to add up the real targets of training losses."""
        forward = loss_class.forward

        def counting_forward(module: nn.Module, input: torch.Tensor, target: torch.Tensor):
            if torch.is_grad_enabled():
                self.tokens = self.tokens + (target != module.ignore_index).sum()
            return forward(module, input, target)

        loss_class.forward = counting_forward

    def after_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        if torch.cuda.is_initialized():
            torch.cuda.synchronize()
        tokens = int(self.tokens)
        self.steps.append((time.perf_counter(), tokens))
        self.tokens = 0

    def write(self) -> None:
        cuda = torch.cuda.is_initialized()
        report = {
            "steps": self.steps,
            "peak_cuda_allocated_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
            "peak_cuda_reserved_mb": torch.cuda.max_memory_reserved() / 2**20 if cuda else None,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "device_name": torch.cuda.get_device_name() if cuda else "cpu",
            "torch": torch.__version__,
        }
        self.out.write_text(json.dumps(report) + "\n", encoding="utf-8")


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        sys.exit(__doc__)
    out, module, argv = Path(sys.argv[1]), sys.argv[3], sys.argv[4:]
    probe = Probe(out)
    for loss_class in (nn.NLLLoss, nn.CrossEntropyLoss):
        probe.count_targets(loss_class)
    register_optimizer_step_post_hook(probe.after_step)
    atexit.register(probe.write)
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
