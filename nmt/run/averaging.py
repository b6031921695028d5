"""Averaging checkpoints: the mean of a run's newest step checkpoints (train.average_last,
`nmt average`), written atomically as RUN/checkpoints/avg.pt."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nmt.errors import NmtError
from nmt.run.checkpoint import load_checkpoint, save_checkpoint
from nmt.run.rundir import RunDir


def average_checkpoints(paths: Sequence[Path]) -> dict[str, Any]:
    """The last checkpoint's payload with its weights replaced by the mean over `paths`."""
    if not paths:
        raise NmtError("average: no checkpoints to average")
    payload = load_checkpoint(paths[0])
    first = payload["model"]
    sums = {name: tensor.double() for name, tensor in first.items()}
    for path in paths[1:]:
        payload = load_checkpoint(path)
        weights = payload["model"]
        if weights.keys() != sums.keys() or any(
            weights[name].shape != sums[name].shape for name in sums
        ):
            raise NmtError(f"{path}: its parameters do not match those of {paths[0]}")
        for name, tensor in weights.items():
            sums[name] += tensor.double()
    payload["model"] = {
        name: (sums[name] / len(paths)).to(tensor.dtype) for name, tensor in first.items()
    }
    payload["averaged"] = [Path(path).name for path in paths]
    return payload


def average_run(run_dir: Path, last: int) -> tuple[Path, int]:
    """Write RUN/checkpoints/avg.pt, the average of the newest `last` step checkpoints, or
    of all there are when the run kept fewer (train.keep_last); return it and how many."""
    run = RunDir(Path(run_dir))
    steps = run.step_checkpoints()
    if last < 1 or not steps:
        raise NmtError(
            f"{run.checkpoints}: asked to average {last} checkpoints, found {len(steps)}"
        )
    chosen = steps[-last:]
    save_checkpoint(run.average, average_checkpoints(chosen))
    return run.average, len(chosen)
