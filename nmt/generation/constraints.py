"""What an output must start with, contain and avoid: forced prefixes, lexical constraints
(phrases every output must contain) and n-gram blocking.

All three act on the next-piece log-probabilities of every row of a search (greedy, sampling or
beam), by setting the pieces a row may not take to -inf. They never renormalise: the piece
a row takes keeps the model's own log-probability, so a constrained output's score is still
what teacher forcing gives it (`nmt score`).

A prefix is forced piece by piece: until a row has output its prefix, its only allowed
piece is the next one of the prefix. Blocking n-grams of size n: a row may not take a piece
that would complete an n-gram of pieces it has already output. The prefix wins where the
two disagree (a prefix that repeats an n-gram is kept as given).

Phrases (lexically constrained decoding, after Post & Vilar 2018): each row tracks which of
its phrases it has output and how far into one it is. A row that has started a phrase may
continue it or drop its progress; it may not end (EOS) while a phrase is missing. When the
pieces left before the row's length limit just suffice for the constraint pieces still
missing (counting the progress a drop would lose), the row may only continue its phrase,
or start a missing one: so every phrase appears whenever the limit leaves room for all of
them, in any search. Beam search also keeps hypotheses at every level of progress
(`Phrases.remaining_after` gives the levels; nmt/generation/search.py allocates the beam),
so that the phrases go where the model puts them rather than where the limit forces them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.data.tokenizer import EOS, PAD

NEG_INF = float("-inf")


@dataclass(frozen=True)
class Phrases:
    """Per search row: the phrases its output must contain and how far it has got."""

    pieces: Tensor  # [N, C, L] piece ids of each phrase, PAD after its end
    lengths: Tensor  # [N, C] pieces per phrase; 0: no phrase in that slot
    limits: Tensor  # [N] the row's output length limit
    met: Tensor  # [N, C] phrases output in full (empty slots count as met)
    current: Tensor  # [N] the phrase being output, -1: none
    progress: Tensor  # [N] its pieces output so far

    @classmethod
    def build(cls, phrases: Sequence[Sequence[Sequence[int]]], limits: Tensor) -> Phrases:
        """The phrases of each row (lists of piece ids) under its length limit."""
        rows = len(phrases)
        count = max((len(row) for row in phrases), default=0)
        width = max((len(ids) for row in phrases for ids in row), default=0)
        pieces = torch.full((rows, count, width), PAD, dtype=torch.long)
        lengths = torch.zeros(rows, count, dtype=torch.long)
        for r, row in enumerate(phrases):
            for c, ids in enumerate(row):
                pieces[r, c, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                lengths[r, c] = len(ids)
        device = limits.device
        none = torch.full((rows,), -1, dtype=torch.long, device=device)
        return cls(
            pieces.to(device),
            lengths.to(device),
            limits,
            lengths.to(device) == 0,
            none,
            torch.zeros_like(none),
        )

    def select(self, index: Tensor) -> Phrases:
        return Phrases(*(value.index_select(0, index) for value in self._values()))

    def _values(self) -> tuple[Tensor, ...]:
        return (self.pieces, self.lengths, self.limits, self.met, self.current, self.progress)

    @property
    def missing(self) -> Tensor:
        """[N] constraint pieces still to output (the current phrase's rest included)."""
        return (self.lengths * ~self.met).sum(dim=1) - self.progress

    def first_pieces(self) -> Tensor:
        """[N, C] the first piece of each phrase still missing; PAD for those met."""
        return self.pieces[:, :, 0].masked_fill(self.met, PAD)

    def next_pieces(self) -> Tensor:
        """[N, C] the pieces that advance each row: the next piece of its current phrase,
        else the first piece of each missing phrase; PAD where none."""
        slots = torch.arange(self.pieces.size(1), device=self.pieces.device)
        going = self.current >= 0
        column = self.progress.clamp(max=max(self.pieces.size(2) - 1, 0))
        index = column.view(-1, 1, 1).expand(-1, self.pieces.size(1), 1)
        following = self.pieces.gather(2, index).squeeze(2)
        following = following.masked_fill(slots != self.current.unsqueeze(1), PAD)
        return torch.where(going.unsqueeze(1), following, self.first_pieces())

    def remaining_after(self, rows: Tensor, pieces: Tensor) -> Tensor:
        """Constraint pieces still missing after row rows[i, j] takes pieces[i, j]: one fewer
        if it advances, plus the lost progress if it drops a started phrase."""
        missing, progress = self.missing[rows], self.progress[rows]
        following = self.next_pieces()[rows]
        advances = ((following == pieces.unsqueeze(-1)) & (following != PAD)).any(dim=-1)
        first = self.first_pieces()[rows]
        starts = ((first == pieces.unsqueeze(-1)) & (first != PAD)).any(dim=-1)
        dropped = missing + progress
        return torch.where(advances, missing - 1, torch.where(starts, dropped - 1, dropped))

    def allow(self, logp: Tensor, step: int, free: Tensor) -> Tensor:
        """No EOS while a phrase is missing; only advancing pieces where dropping progress
        would leave fewer than the missing pieces in the `free` positions left."""
        missing = self.missing
        logp = logp.clone()
        logp[:, EOS] = logp[:, EOS].masked_fill(missing > 0, NEG_INF)
        tight = (missing > 0) & (missing + self.progress > free - 1)
        advancing = torch.zeros_like(logp, dtype=torch.bool).scatter_(1, self.next_pieces(), True)
        advancing[:, PAD] = False
        return logp.masked_fill(tight.unsqueeze(1) & ~advancing, NEG_INF)

    def advance(self, pieces: Tensor) -> Phrases:
        """The rows after taking `pieces` [N]: continue or drop the current phrase, start a
        missing one, and mark one output in full as met."""
        going = self.current >= 0
        expected = self.next_pieces().gather(1, self.current.clamp(min=0).unsqueeze(1))
        continues = going & (expected.squeeze(1) == pieces)
        first = self.first_pieces()
        starting = (first == pieces.unsqueeze(1)) & (first != PAD) & ~continues.unsqueeze(1)
        starts = starting.any(dim=1)
        current = torch.where(
            continues, self.current, torch.where(starts, starting.long().argmax(1), -1)
        )
        progress = torch.where(continues, self.progress + 1, starts.long())
        length = self.lengths.gather(1, current.clamp(min=0).unsqueeze(1)).squeeze(1)
        complete = (current >= 0) & (progress == length)
        slots = torch.arange(self.met.size(1), device=self.met.device)
        met = self.met | (complete.unsqueeze(1) & (slots == current.unsqueeze(1)))
        current = current.masked_fill(complete, -1)
        progress = progress.masked_fill(complete, 0)
        return Phrases(self.pieces, self.lengths, self.limits, met, current, progress)


@dataclass
class Constraints:
    """Per search row: its forced prefix, the phrases it must contain, and the n-gram size
    it must not repeat."""

    prefix: Tensor  # [N, P] piece ids, PAD after each row's prefix; P = 0: no prefixes
    prefix_lengths: Tensor  # [N]
    no_repeat_ngram: int = 0  # 0: repeats allowed
    phrases: Phrases | None = None

    @classmethod
    def build(
        cls,
        prefixes: Sequence[Sequence[int]] | None,
        no_repeat_ngram: int,
        rows: int,
        device: torch.device,
        phrases: Sequence[Sequence[Sequence[int]]] | None = None,
        limits: Tensor | None = None,
    ) -> Constraints:
        """Constraints for `rows` sentences; prefixes None (or all empty): none forced;
        phrases None: none to contain (else the output length limits too)."""
        prefixes = prefixes if prefixes is not None else [[]] * rows
        width = max((len(ids) for ids in prefixes), default=0)
        prefix = torch.tensor(
            [list(ids) + [PAD] * (width - len(ids)) for ids in prefixes], dtype=torch.long
        ).view(rows, width)
        lengths = torch.tensor([len(ids) for ids in prefixes], dtype=torch.long)
        wanted = None
        if phrases is not None and any(phrases):
            if limits is None:
                raise ValueError("phrases need the output length limits")
            wanted = Phrases.build(phrases, limits.to(device))
        return cls(prefix.to(device), lengths.to(device), no_repeat_ngram, wanted)

    def select(self, index: Tensor) -> Constraints:
        """Rows `index` (search expands sentences into beams or samples, and drops them)."""
        return Constraints(
            self.prefix.index_select(0, index),
            self.prefix_lengths.index_select(0, index),
            self.no_repeat_ngram,
            None if self.phrases is None else self.phrases.select(index),
        )

    def took(self, rows: Tensor | None, pieces: Tensor) -> Constraints:
        """After a step: row i continues row rows[i] (None: itself) and took pieces[i].
        Only phrases keep a state; without them this is the same object."""
        if self.phrases is None:
            return self
        phrases = self.phrases if rows is None else self.phrases.select(rows)
        return Constraints(
            self.prefix, self.prefix_lengths, self.no_repeat_ngram, phrases.advance(pieces)
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
        if self.phrases is not None:
            prefix_left = (self.prefix_lengths - step).clamp(min=0)
            free = self.phrases.limits - step - prefix_left
            allowed = self.phrases.allow(logp, step, free)
            logp = allowed if forced is None else torch.where(forced.unsqueeze(1), logp, allowed)
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
