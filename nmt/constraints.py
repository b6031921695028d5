"""What an output must start with and what it must avoid: forced prefixes and n-gram blocking.

Both act on the next-piece log-probabilities of every row of a search (greedy, sampling or
beam), by setting the pieces a row may not take to -inf. They never renormalise: the piece
a row takes keeps the model's own log-probability, so a constrained output's score is still
what teacher forcing gives it (`nmt score`).

A prefix is forced piece by piece: until a row has output its prefix, its only allowed
piece is the next one of the prefix. Blocking n-grams of size n: a row may not take a piece
that would complete an n-gram of pieces it has already output. The prefix wins where the
two disagree (a prefix that repeats an n-gram is kept as given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.tokenizer import PAD

NEG_INF = float("-inf")


@dataclass
class Constraints:
    """Per search row: its forced prefix, and the n-gram size it must not repeat."""

    prefix: Tensor  # [N, P] piece ids, PAD after each row's prefix; P = 0: no prefixes
    prefix_lengths: Tensor  # [N]
    no_repeat_ngram: int = 0  # 0: repeats allowed

    @classmethod
    def build(
        cls,
        prefixes: Sequence[Sequence[int]] | None,
        no_repeat_ngram: int,
        rows: int,
        device: torch.device,
    ) -> Constraints:
        """Constraints for `rows` sentences; prefixes None (or all empty): none forced."""
        prefixes = prefixes if prefixes is not None else [[]] * rows
        width = max((len(ids) for ids in prefixes), default=0)
        prefix = torch.tensor(
            [list(ids) + [PAD] * (width - len(ids)) for ids in prefixes], dtype=torch.long
        ).view(rows, width)
        lengths = torch.tensor([len(ids) for ids in prefixes], dtype=torch.long)
        return cls(prefix.to(device), lengths.to(device), no_repeat_ngram)

    def select(self, index: Tensor) -> Constraints:
        """Rows `index` (search expands sentences into beams or samples, and drops them)."""
        return Constraints(
            self.prefix.index_select(0, index),
            self.prefix_lengths.index_select(0, index),
            self.no_repeat_ngram,
        )

    def apply(self, logp: Tensor, step: int, history: Tensor) -> Tensor:
        """logp [N, V] at `step` with the disallowed pieces at -inf; history [N, step] holds
        each row's pieces so far. Costs nothing when there is nothing to apply."""
        forced = None
        if step < self.prefix.size(1):
            forced = step < self.prefix_lengths
            token = self.prefix[:, step : step + 1]
            only = torch.full_like(logp, NEG_INF).scatter_(1, token, logp.gather(1, token))
            logp = torch.where(forced.unsqueeze(1), only, logp)
        if self.no_repeat_ngram and step >= self.no_repeat_ngram:
            logp = self._block_repeats(logp, history, forced)
        return logp

    def _block_repeats(self, logp: Tensor, history: Tensor, forced: Tensor | None) -> Tensor:
        """-inf for each piece that, after the row's last n - 1 pieces, would give an n-gram
        the row already has (rows still in their prefix excepted)."""
        n = self.no_repeat_ngram
        grams = history.unfold(1, n, 1)  # [N, step - n + 1, n]: every complete n-gram so far
        context = history[:, history.size(1) - n + 1 :]  # [N, n - 1]
        seen = (grams[:, :, :-1] == context.unsqueeze(1)).all(dim=2)
        if forced is not None:
            seen &= ~forced.unsqueeze(1)
        banned = grams[:, :, -1].masked_fill(~seen, PAD)  # PAD is never allowed anyway
        return logp.scatter(1, banned, NEG_INF)
