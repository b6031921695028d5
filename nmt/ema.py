"""An exponential moving average of the weights (train.ema_decay), kept beside the model.

After every update ema = d * ema + (1 - d) * weights, with d = min(ema_decay, (1 + step) /
(10 + step)): TensorFlow's rule, so that a short run does not average in the random
weights it started from. The average is what validation scores and what a checkpoint
offers for translation ("model"); the weights training continues from are saved beside
it ("raw_model"), so a resumed run restores both exactly.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from nmt.checkpoint import load_model_state


class EMA:
    """The averaged copy of a model, in eval mode and without gradients."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """Move the average towards `model`'s weights after update `step` (from 1)."""
        decay = min(self.decay, (1 + step) / (10 + step))
        current = model.state_dict()
        for name, tensor in self.model.state_dict().items():
            if tensor.is_floating_point():
                tensor.lerp_(current[name], 1 - decay)
            else:  # counters and masks follow the model
                tensor.copy_(current[name])


def checkpoint_weights(model: torch.nn.Module, ema: EMA | None) -> dict[str, Any]:
    """A checkpoint's weights: "model", those to translate with (the average when there
    is one), and "raw_model", those training goes on from, when they differ."""
    if ema is None:
        return {"model": model.state_dict()}
    return {"model": ema.model.state_dict(), "raw_model": model.state_dict()}


def restore_weights(
    model: torch.nn.Module, ema: EMA | None, payload: dict[str, Any], path: Path
) -> None:
    """Load what checkpoint_weights saved into the model and the average."""
    load_model_state(model, {"model": payload.get("raw_model", payload["model"])}, path)
    if ema is not None:
        load_model_state(ema.model, payload, path)
