"""Data-parallel training on PyTorch's own engine: torchrun starts the ranks, DDP all-reduces.

Every rank builds the same seeded batches, takes its share of each (`shard`), and the
gradients are summed over ranks and divided by the update's global token count, so a run
makes the same updates on any number of processes (up to floating-point order). Rank 0
alone writes files; everything that decides when to stop is agreed by a collective.
Outside torchrun (no WORLD_SIZE, or 1) every helper here is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from nmt.errors import NmtError


@dataclass(frozen=True)
class Context:
    """This process's place in the job: rank 0 of 1 when not launched by torchrun."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise NmtError(f"${name}: expected an integer, got {os.environ[name]!r}") from None


def init_from_env(timeout_minutes: float) -> Context:
    """Join the process group torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_*):
    NCCL when CUDA is there, gloo on CPU. The timeout turns a dead or stuck rank into an
    error on the others instead of a hang."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return Context()
    local_rank = _env_int("LOCAL_RANK", 0)
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes))
    return Context(dist.get_rank(), dist.get_world_size(), local_rank)


def shutdown(meet: bool = True) -> None:
    """Leave the process group. meet: first wait for every rank, so that rank 0, which holds
    the rendezvous store, does not tear it down while another rank is still leaving (that
    rank then aborts: "terminate called without an active exception"). Not after an
    error: the ranks it would wait for may never come."""
    if dist.is_initialized():
        if meet:
            dist.barrier()
        dist.destroy_process_group()


def local_device(device: torch.device, ctx: Context) -> torch.device:
    """Under torchrun, `cuda` means this rank's own GPU (LOCAL_RANK)."""
    if ctx.active and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device


def wrap(model: torch.nn.Module, ctx: Context, device: torch.device) -> torch.nn.Module:
    """The module to run forward passes through: DDP under torchrun, else the model itself.
    DDP starts every rank from rank 0's weights."""
    if not ctx.active:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def no_sync(net: torch.nn.Module, sync: bool) -> contextlib.AbstractContextManager:
    """Skip the gradient all-reduce of a micro-batch that is not the update's last one."""
    if sync or not isinstance(net, DistributedDataParallel):
        return contextlib.nullcontext()
    return net.no_sync()


def shard(indices: list[int], ctx: Context) -> tuple[list[int], float]:
    """This rank's part of one batch and its loss weight. A batch is sorted by length, so
    every world-th example gives the ranks near-equal token counts. A rank left with no
    example runs the first one with weight 0: it still joins the all-reduce, adding nothing."""
    part = indices[ctx.rank :: ctx.world]
    return (part, 1.0) if part else (indices[:1], 0.0)


def sum_over_ranks(values: list[float], ctx: Context, device: torch.device) -> list[float]:
    if not ctx.active:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def any_rank(flag: bool, ctx: Context, device: torch.device) -> bool:
    """True on every rank when it is true on one (a stop request must stop them all)."""
    return sum_over_ranks([float(flag)], ctx, device)[0] > 0


def from_main(value: float, ctx: Context, device: torch.device) -> float:
    """Rank 0's value on every rank; the others wait here while rank 0 works (validation)."""
    if not ctx.active:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return tensor.item()


def barrier(ctx: Context) -> None:
    if ctx.active:
        dist.barrier()


@contextlib.contextmanager
def main_first(ctx: Context) -> Iterator[None]:
    """Rank 0 runs the block first (preparing a shared cache), the others after it."""
    if not ctx.main:
        barrier(ctx)
    yield
    if ctx.main:
        barrier(ctx)
