import math

import pytest
import torch

from nmt.config.recipe import TrainConfig
from nmt.training.optim import Schedule, build_optimizer

CPU = torch.device("cpu")


def make(**fields) -> tuple[Schedule, torch.optim.Optimizer]:
    cfg = TrainConfig(**fields)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(2))], cfg, CPU)
    return Schedule(cfg, optimizer), optimizer


def optimizer_lr(optimizer: torch.optim.Optimizer) -> float:
    return optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize(("name", "kind"), [("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)])
def test_build_optimizer(name, kind):
    schedule, optimizer = make(optimizer=name, lr=0.7, schedule="constant")
    assert isinstance(optimizer, kind)
    assert optimizer_lr(optimizer) == 0.7


def test_constant_ignores_everything():
    schedule, optimizer = make(schedule="constant", lr=0.01)
    for step in range(1, 10):
        schedule.on_update(step)
        schedule.on_validation(False)
        schedule.on_epoch_end(step)
    assert schedule.lr == optimizer_lr(optimizer) == 0.01


def test_inverse_sqrt_warms_up_linearly_then_decays():
    schedule, optimizer = make(schedule="inverse_sqrt", lr=1.0, warmup_updates=4, min_lr=0.0)
    assert schedule.lr == pytest.approx(0.25)  # the rate of update 1
    rates = []
    for step in range(1, 16):
        schedule.on_update(step)
        rates.append(optimizer_lr(optimizer))
    assert rates[:3] == pytest.approx([0.5, 0.75, 1.0])  # updates 2, 3, 4
    assert rates[11] == pytest.approx(math.sqrt(4 / 13))  # update 13
    assert rates[14] == pytest.approx(0.5)  # update 16


def test_plateau_decays_after_patience_and_restarts_counting():
    schedule, optimizer = make(schedule="plateau", lr=1.0, lr_decay=0.5, plateau_patience=2)
    for improved, expected in [(True, 1.0), (True, 1.0), (False, 1.0), (False, 0.5)]:
        schedule.on_validation(improved)
        assert optimizer_lr(optimizer) == expected
    for improved, expected in [(False, 0.5), (False, 0.25), (True, 0.25), (False, 0.25)]:
        schedule.on_validation(improved)
        assert optimizer_lr(optimizer) == expected


def test_halving_once_per_epoch_from_the_start_epoch():
    schedule, optimizer = make(schedule="halving", lr=0.7, lr_decay=0.5, halving_start_epoch=3)
    rates = []
    for epoch in range(1, 6):
        schedule.on_epoch_end(epoch)
        schedule.on_validation(True)
        rates.append(optimizer_lr(optimizer))
    assert rates == pytest.approx([0.7, 0.7, 0.35, 0.175, 0.0875])


def test_min_lr_floor():
    schedule, optimizer = make(schedule="halving", lr=1.0, halving_start_epoch=1, min_lr=0.3)
    for epoch in range(1, 5):
        schedule.on_epoch_end(epoch)
    assert optimizer_lr(optimizer) == 0.3


def test_state_round_trip_sets_the_optimizer():
    schedule, _ = make(schedule="plateau", lr=1.0, plateau_patience=3)
    for improved in (True, False, False, False, False):
        schedule.on_validation(improved)
    other, optimizer = make(schedule="plateau", lr=1.0, plateau_patience=3)
    other.load_state_dict(schedule.state_dict())
    assert other.state_dict() == {"lr": 0.5, "stale": 1}
    assert optimizer_lr(optimizer) == 0.5


def test_reads_the_schedule_state_of_older_checkpoints():
    schedule, optimizer = make(schedule="plateau", lr=1.0)
    schedule.load_state_dict({"lr": 0.25, "best_bleu": 3.0, "stale": 1})
    assert schedule.state_dict() == {"lr": 0.25, "stale": 1}
    assert optimizer_lr(optimizer) == 0.25
