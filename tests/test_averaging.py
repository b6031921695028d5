"""Averaging checkpoints (nmt/run/averaging.py): the mean, dtypes kept, mismatches named,
a run's newest step checkpoints."""

import pytest
import torch
from test_checkpoint import payload

from nmt.errors import NmtError
from nmt.run.averaging import average_checkpoints, average_run
from nmt.run.checkpoint import load_checkpoint, save_checkpoint
from nmt.run.rundir import RunDir


def test_average_is_the_mean_and_keeps_dtypes(tmp_path):
    paths = [tmp_path / f"{i}.pt" for i in range(3)]
    for value, path in zip((1.0, 2.0, 6.0), paths, strict=True):
        save_checkpoint(path, payload(value, step=int(value)))
    averaged = average_checkpoints(paths)
    assert torch.equal(averaged["model"]["w"], torch.full((2, 3), 3.0))
    assert averaged["model"]["b"].dtype == torch.float16
    assert averaged["step"] == 6
    assert averaged["averaged"] == ["0.pt", "1.pt", "2.pt"]


def test_average_refuses_mismatched_parameters(tmp_path):
    first, second = tmp_path / "1.pt", tmp_path / "2.pt"
    save_checkpoint(first, payload(1.0))
    save_checkpoint(second, {**payload(1.0), "model": {"w": torch.zeros(2, 2)}})
    with pytest.raises(NmtError, match="2.pt: its parameters do not match"):
        average_checkpoints([first, second])


def test_average_run_uses_the_newest_step_checkpoints(tmp_path):
    run = RunDir(tmp_path)
    for step, value in [(100, 50.0), (200, 1.0), (300, 3.0)]:
        save_checkpoint(run.step_checkpoint(step), payload(value, step))
    written, count = average_run(tmp_path, 2)
    assert (written, count) == (run.average, 2)
    assert torch.equal(load_checkpoint(written)["model"]["w"], torch.full((2, 3), 2.0))


def test_average_run_takes_every_checkpoint_of_a_run_that_kept_fewer(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(NmtError, match="asked to average 5 checkpoints, found 0"):
        average_run(tmp_path, 5)
    for step, value in [(100, 50.0), (200, 1.0), (300, 3.0)]:
        save_checkpoint(run.step_checkpoint(step), payload(value, step))
    written, count = average_run(tmp_path, 5)
    assert count == 3
    assert torch.equal(load_checkpoint(written)["model"]["w"], torch.full((2, 3), 18.0))


def test_average_of_the_last_one_is_that_checkpoint(tmp_path):
    run = RunDir(tmp_path)
    for step, value in [(100, 50.0), (200, 1.5)]:
        save_checkpoint(run.step_checkpoint(step), payload(value, step))
    averaged = load_checkpoint(average_run(tmp_path, 1)[0])
    assert torch.equal(averaged["model"]["w"], torch.full((2, 3), 1.5))
    assert averaged["model"]["b"].dtype == torch.float16
    assert averaged["averaged"] == ["step-00000200.pt"]
