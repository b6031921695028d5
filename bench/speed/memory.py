"""Peak memory of one benchmark row, as every row of a results file reports it.

On CUDA a row's peak_mem_mb is torch.cuda.max_memory_allocated, read in the process. On a
CPU it is the peak resident set (RSS) of a fresh process that does only that row's work,
as the peers' rows report it (bench/peers/probe.py reads their training process's peak RSS):
a process's peak only grows, so rows measured one after another in one process would each
carry the largest peak so far. Standard library only.
"""

from __future__ import annotations

import multiprocessing
import re
import resource
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

CPU_MEMORY_NOTE = "peak_mem_mb: peak RSS of a process that did only this row's training"


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB.

    Linux's VmHWM, not getrusage's ru_maxrss: a spawned child is forked before it execs
    python, and ru_maxrss keeps the parent's resident set from that moment (a child of a
    300 MB process reported 534 MB), while VmHWM belongs to the child's own memory map.
    """
    status = Path("/proc/self/status")
    if status.exists():
        found = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE)
        if found:
            return int(found[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on the BSDs


def _row_with_rss(measure: Callable[..., dict], *args: object) -> dict:
    row = measure(*args)
    if row.get("train_tok_per_s") is not None:
        row["peak_mem_mb"] = round(peak_rss_mb())
        row["notes"] = "; ".join(filter(None, [row.get("notes"), CPU_MEMORY_NOTE]))
    return row


def measure_row(device: str, measure: Callable[..., dict], *args: object) -> dict:
    """measure(*args): on a CPU in a new (spawned) process, its row given that process's
    peak RSS; elsewhere in this process (the row reads the device's own peak)."""
    if device != "cpu":
        return measure(*args)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_row_with_rss, measure, *args).result()
