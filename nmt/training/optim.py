"""Optimizer and learning-rate schedule: the classic recipes of the three recurrent papers
and the Transformer's warm-up (inverse_sqrt).

The schedule is a small object of plain numbers (not a torch LR scheduler) so that its
whole state fits in a checkpoint and a resumed run continues with exactly the same rates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from nmt.config.recipe import TrainConfig


def build_optimizer(
    params: Iterable[torch.nn.Parameter], cfg: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """Adam (the modern default) or plain SGD without momentum (Sutskever et al. 2014)."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, fused=device.type == "cuda")
    return torch.optim.SGD(params, lr=cfg.lr)


class Schedule:
    """The learning rate over training; every change is written into the optimizer.

    constant      lr throughout.
    inverse_sqrt  linear warm-up over warmup_updates, then lr * sqrt(warmup / step).
    plateau       multiply by lr_decay when the dev score (train.valid_metric) has not
                  improved for plateau_patience validations in a row (the counter restarts
                  after each decay). Whether a validation improved is the trainer's to say
                  (nmt/run/train_state.py keeps the best scores), so there is one record of it.
    halving       multiply by lr_decay at the end of every epoch >= halving_start_epoch, so
                  epoch halving_start_epoch + 1 is the first at a lower rate (Sutskever et
                  al. halved every half epoch after 5 epochs; tf-nmt decays per epoch).
    The rate never goes below min_lr.
    """

    def __init__(self, cfg: TrainConfig, optimizer: torch.optim.Optimizer):
        self.cfg = cfg
        self.optimizer = optimizer
        self.lr = cfg.lr
        self.stale = 0  # validations since the best or the last decay (plateau)
        self.on_update(0)

    def _set(self, lr: float) -> None:
        self.lr = max(self.cfg.min_lr, lr)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def on_update(self, step: int) -> None:
        """Set the rate for update step + 1, after `step` updates."""
        if self.cfg.schedule == "inverse_sqrt":
            warmup = max(1, self.cfg.warmup_updates)
            upcoming = step + 1
            self._set(self.cfg.lr * min(upcoming / warmup, math.sqrt(warmup / upcoming)))
        else:
            self._set(self.lr)

    def on_epoch_end(self, epoch: int) -> None:
        if self.cfg.schedule == "halving" and epoch >= self.cfg.halving_start_epoch:
            self._set(self.lr * self.cfg.lr_decay)

    def on_validation(self, improved: bool) -> None:
        """After a validation; `improved`: its dev score beat every earlier one."""
        if self.cfg.schedule != "plateau":
            return
        if improved:
            self.stale = 0
            return
        self.stale += 1
        if self.stale >= self.cfg.plateau_patience:
            self._set(self.lr * self.cfg.lr_decay)
            self.stale = 0

    def state_dict(self) -> dict:
        return {"lr": self.lr, "stale": self.stale}

    def load_state_dict(self, state: dict) -> None:
        """Also reads the state of checkpoints that kept their own best BLEU here."""
        self.stale = state["stale"]
        self._set(state["lr"])
