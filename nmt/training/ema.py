"""An exponential moving average of the weights (train.ema_decay), kept beside the model.

After every update ema = d * ema + (1 - d) * weights, with d = min(ema_decay, (1 + step) /
(10 + step)): TensorFlow's rule, so that a short run does not average in the random
weights it started from. The average is what validation scores and what a checkpoint
offers for translation ("model"); the weights training continues from are saved beside
it ("raw_model"), so a resumed run restores both exactly (nmt/run/checkpoint.py,
training_payload and load_training_weights).
"""

from __future__ import annotations

import copy

import torch


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
