"""The model interface: what search, scoring, training and export call on a model.

Seven classes provide it (Seq2Seq, Transformer, OnnxModel; and around a model: Ensemble,
Autocast, Shortlisted, which pass it on), and none inherits it: a Protocol says once what a
new one must have, and types every `model` that search and scoring take.
"""

from __future__ import annotations

from typing import Any, Protocol, Self

import torch
from torch import Tensor


def repeated_rows(rows: int, copies: int, device: torch.device) -> Tensor:
    """The index that repeats each of `rows` rows `copies` times, one after the other."""
    return torch.arange(rows, device=device).repeat_interleave(copies)


class Rows(Protocol):
    """A batch's encoder output or decoder state: rows that beam search reorders, expands
    and drops."""

    def select(self, index: Tensor) -> Self:
        """Rows `index` of every tensor held."""
        ...


class Sources(Rows, Protocol):
    """A batch's encoder output (what `encode` returns): rows of sentences, which beam
    search and sampling repeat once per beam or sample."""

    def repeat(self, copies: int) -> Self:
        """Each row `copies` times, one after the other. A later `select` takes whole
        groups of them (beam search drops sentences, never single beams of one), so what
        is the same for every row of a sentence may be held once per sentence."""
        ...


class Model(Protocol):
    """forward is teacher forcing; encode + initial_state + step the same computation one
    target position at a time."""

    @property
    def has_attention(self) -> bool:
        """Whether step returns attention over the source (alignments, heat maps)."""
        ...

    def encode(self, src: Tensor, src_lengths: Tensor) -> Any:
        """src [B, S] right-padded ids (+ EOS), src_lengths [B] -> the batch's Sources."""
        ...

    def initial_state(self, enc: Any) -> Any:
        """The decoder state (Rows) before the first target position."""
        ...

    def step(self, prev_tokens: Tensor, state: Any, enc: Any) -> tuple[Tensor, Any, Tensor | None]:
        """One position for N rows: logits [N, V], the next state, attention [N, S] or None."""
        ...

    def __call__(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """forward: logits [B, T, V] for tgt_in [B, T] (BOS + ids, PAD-padded)."""
        ...
