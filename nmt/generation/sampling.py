"""Drawing pieces instead of searching: temperature, top-k and top-p (nucleus) sampling.

Each draw inverts the cumulative distribution at one uniform number. The numbers of a line
come from its own stream, seeded by (seed, line number), one number per sample and step,
time first: what a line draws does not depend on the other lines of its batch, on the batch
size, or on how many steps its batch runs, so a seed gives the same samples in batched,
one-by-one and streamed translation.

The distribution drawn from is the model's, with the search's constraints applied, divided
by the temperature (-> 0 is greedy search, 1 the model itself), cut to the top-k pieces
and then to the smallest set whose probability reaches top-p, and renormalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from nmt.generation.decoding import Sampling


def uniforms(seed: int, lines: Sequence[int], nsamples: int, steps: int) -> Tensor:
    """[len(lines) * nsamples, steps] numbers in (0, 1]; row i * nsamples + j is sample j
    of lines[i] (the order search expands sentences into rows)."""
    if not lines:
        return torch.zeros(0, steps)
    draws = np.stack(
        [np.random.default_rng([seed, line]).random((steps, nsamples)) for line in lines]
    )
    return torch.from_numpy(1.0 - draws).float().transpose(1, 2).reshape(-1, steps)


def draw(logp: Tensor, u: Tensor, sampling: Sampling) -> Tensor:
    """One piece per row of logp [N, V] (-inf: not allowed), at its number u [N] in (0, 1]."""
    scaled = logp / sampling.temperature
    ids = None  # positions are piece ids until the distribution is sorted
    if sampling.topk:
        scaled, ids = scaled.topk(min(sampling.topk, scaled.size(1)), dim=1)
    elif sampling.topp < 1:
        scaled, ids = scaled.sort(dim=1, descending=True)
    probs = torch.softmax(scaled, dim=1)
    if sampling.topp < 1:
        before = probs.cumsum(dim=1) - probs  # the most probable piece has 0 before it: kept
        probs = probs.masked_fill(before >= sampling.topp, 0.0)
    cdf = probs.cumsum(dim=1)
    position = (cdf < u.unsqueeze(1) * cdf[:, -1:]).sum(dim=1).clamp(max=cdf.size(1) - 1)
    if ids is None:
        return position
    return ids.gather(1, position.unsqueeze(1)).squeeze(1)
