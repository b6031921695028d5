"""Where a training run stands, and the one rule that says when it is finished.

The rule reads the run's state against the recipe's limits. The same call ends a run
after an update or a validation, and tells a resumed run that it has nothing left to do,
or that a raised limit (an override) leaves it more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nmt.config.recipe import TrainConfig

# The recipe field that lets a run finished for each reason go on when it is raised.
LIMITS = {
    "max_epochs": "train.max_epochs",
    "early_stop": "train.early_stop_patience",
    "max_updates": "train.max_updates",
    "max_minutes": "train.max_minutes",
}


@dataclass
class TrainState:
    """Where training stands; every checkpoint stores it, so a resumed run picks up exactly."""

    step: int = 0  # optimizer updates done
    epoch: int = 1  # the current epoch, from 1
    position: int = 0  # updates of this epoch already consumed (done or skipped)
    best_bleu: float | None = None  # the best dev BLEU so far
    best_ppl: float | None = None  # the lowest dev perplexity so far
    stale: int = 0  # validations since train.valid_metric last improved (early stopping)
    bad_updates: int = 0  # updates skipped for a NaN/inf loss, in total
    bad_in_a_row: int = 0
    validated_step: int = -1  # the step of the latest validation
    tokens: int = 0  # target tokens (with EOS) of the updates done
    seconds: float = 0.0  # wall-clock seconds of training and validation, over every resume

    def end_epoch(self) -> None:
        self.epoch, self.position = self.epoch + 1, 0

    def record_validation(self, bleu: float, ppl: float, metric: str = "bleu") -> bool:
        """Note dev scores; True when `metric` ("bleu" or "ppl") beats every earlier one
        (a new best checkpoint)."""
        self.validated_step = self.step
        better_bleu = self.best_bleu is None or bleu > self.best_bleu
        better_ppl = self.best_ppl is None or ppl < self.best_ppl
        if better_bleu:
            self.best_bleu = bleu
        if better_ppl:
            self.best_ppl = ppl
        improved = better_bleu if metric == "bleu" else better_ppl
        self.stale = 0 if improved else self.stale + 1
        return improved


def stop_reason(state: TrainState, cfg: TrainConfig) -> str | None:
    """Why a run in `state` is finished under cfg's limits (a LIMITS key), or None."""
    if state.epoch > cfg.max_epochs:
        return "max_epochs"
    if cfg.early_stop_patience and state.stale >= cfg.early_stop_patience:
        return "early_stop"
    if cfg.max_updates and state.step >= cfg.max_updates:
        return "max_updates"
    if cfg.max_minutes and state.seconds >= 60 * cfg.max_minutes:
        return "max_minutes"
    return None


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    best_bleu: float | None
    stop_reason: str  # a LIMITS key, or "interrupted" (by `signal`)
    signal: int | None = None  # SIGINT or SIGTERM, when interrupted
    already_finished: bool = False  # resumed, but stop_reason held before any update

    @classmethod
    def of(cls, run_dir: Path, state: TrainState, reason: str, **extra) -> TrainResult:
        return cls(run_dir, state.step, state.epoch, state.best_bleu, reason, **extra)

    def finished_message(self, spell: Callable[[str], str] = str) -> str:
        """What to tell a user who resumed a finished run; `spell` names load_recipe's
        `overrides` as the front end does (SpelledError.spelled)."""
        return (
            f"{self.run_dir}: already finished ({self.stop_reason}) at step {self.step}; "
            f"raise {LIMITS[self.stop_reason]} with {spell('overrides')} to train on"
        )
