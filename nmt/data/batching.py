"""From token ids to padded tensors: token-bucketed batches and the Batch the model reads.

A batch is sized in target tokens, not sentences, so every update does about the same
work whatever the sentence lengths. Sorting by length inside large shuffled pools keeps
the padding small while the batches still arrive in a random order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nmt.data.tokenizer import BOS, EOS, PAD


@dataclass
class Batch:
    """One padded batch; the source gets EOS, the target is split for teacher forcing."""

    src: torch.Tensor  # [B, S] ids + EOS, right-padded with PAD
    src_lengths: torch.Tensor  # [B] real lengths incl. EOS, on src's device
    tgt_in: torch.Tensor  # [B, T] BOS + ids (decoder input)
    tgt_out: torch.Tensor  # [B, T] ids + EOS (what the decoder must predict)
    index: torch.Tensor  # [B] position of each example in its split (restores order)
    n_tokens: int  # real target tokens: count of tgt_out != PAD

    def to(self, device: torch.device | str) -> Batch:
        move = {"device": device, "non_blocking": True}
        return Batch(
            src=self.src.to(**move),
            src_lengths=self.src_lengths.to(**move),
            tgt_in=self.tgt_in.to(**move),
            tgt_out=self.tgt_out.to(**move),
            index=self.index.to(**move),
            n_tokens=self.n_tokens,
        )


def _pad(rows: list[list[int]]) -> torch.Tensor:
    width = max((len(row) for row in rows), default=0)
    return torch.tensor([row + [PAD] * (width - len(row)) for row in rows], dtype=torch.long)


def collate(src_ids: list[list[int]], tgt_ids: list[list[int]] | None, index: list[int]) -> Batch:
    """Pad one batch; tgt_ids None (translation) gives empty [B, 0] targets."""
    src = [ids + [EOS] for ids in src_ids]
    if tgt_ids is None:
        tgt_in = tgt_out = torch.zeros((len(src), 0), dtype=torch.long)
        n_tokens = 0
    else:
        tgt_in = _pad([[BOS] + ids for ids in tgt_ids])
        tgt_out = _pad([ids + [EOS] for ids in tgt_ids])
        n_tokens = sum(len(ids) + 1 for ids in tgt_ids)
    return Batch(
        src=_pad(src),
        src_lengths=torch.tensor([len(ids) for ids in src], dtype=torch.long),
        tgt_in=tgt_in,
        tgt_out=tgt_out,
        index=torch.tensor(index, dtype=torch.long),
        n_tokens=n_tokens,
    )


def _cut(order: np.ndarray, lengths: np.ndarray, batch_tokens: int) -> list[list[int]]:
    """Cut length-sorted examples greedily so that size x longest stays within the budget."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order.tolist():
        length = int(lengths[i])
        if current and (len(current) + 1) * max(longest, length) > batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, length)
    if current:
        batches.append(current)
    return batches


def token_batches(
    lengths: Sequence[int],
    batch_tokens: int,
    shuffle: bool,
    seed: int = 0,
    secondary: Sequence[int] | None = None,
    pool_batches: int = 100,
) -> list[list[int]]:
    """Group example indices into batches of at most batch_tokens padded tokens.

    `lengths` sets the cost (batch size x longest length <= batch_tokens; an example longer
    than the budget gets a batch of its own: training leaves such pairs out beforehand,
    see `ParallelData.within`, and decoding truncates its inputs); `secondary` breaks
    length ties (the source length, so the source is not padded much either). With
    shuffle, the result depends on `seed` alone: examples are shuffled, sorted by length
    within pools of about `pool_batches` batches, cut, and the batch order shuffled. The
    trainer passes seed + epoch, so any epoch's batches can be rebuilt exactly on resume;
    a data-parallel trainer builds the same list on every rank and gives each rank its
    slice of an update's batches. Without shuffle the whole split is sorted by length
    (validation, decoding).
    """
    cost = np.asarray(lengths, dtype=np.int64)
    ties = np.asarray(secondary if secondary is not None else lengths, dtype=np.int64)
    if len(cost) == 0:
        return []
    if not shuffle:
        return _cut(np.lexsort((ties, cost)), cost, batch_tokens)
    rng = np.random.default_rng(seed)
    permutation = rng.permutation(len(cost))
    pool = max(1, pool_batches * batch_tokens // max(1, int(cost.mean())))
    batches: list[list[int]] = []
    for start in range(0, len(permutation), pool):
        chunk = permutation[start : start + pool]
        batches += _cut(chunk[np.lexsort((ties[chunk], cost[chunk]))], cost, batch_tokens)
    return [batches[i] for i in rng.permutation(len(batches)).tolist()]


@dataclass
class ParallelData:
    """The token ids of one split in memory, plus the raw target text BLEU compares with."""

    src_ids: list[list[int]]
    tgt_ids: list[list[int]]
    refs: list[str]

    @classmethod
    def from_dataset(cls, dataset: Any) -> ParallelData:
        """Read a prepared `datasets.Dataset` (columns src_ids, tgt_ids, tgt) once."""
        table = dataset.with_format("arrow")[:]
        return cls(
            src_ids=table.column("src_ids").to_pylist(),
            tgt_ids=table.column("tgt_ids").to_pylist(),
            refs=table.column("tgt").to_pylist(),
        )

    def __len__(self) -> int:
        return len(self.src_ids)

    def within(self, budget: int) -> tuple[ParallelData, int]:
        """The pairs whose source and target (+EOS) each fit in `budget` tokens, and how many
        do not: one such pair alone would make a batch over the budget (a line of a million
        characters, an out-of-memory error at the same update on every resume)."""
        keep = [
            i
            for i, (src, tgt) in enumerate(zip(self.src_ids, self.tgt_ids, strict=True))
            if len(src) < budget and len(tgt) < budget
        ]
        if len(keep) == len(self):
            return self, 0
        kept = ParallelData(
            [self.src_ids[i] for i in keep],
            [self.tgt_ids[i] for i in keep],
            [self.refs[i] for i in keep],
        )
        return kept, len(self) - len(keep)

    def batches(self, batch_tokens: int, shuffle: bool, seed: int = 0) -> list[list[int]]:
        """Token batches sized by the target (+EOS), ties broken by the source (+EOS)."""
        return token_batches(
            [len(ids) + 1 for ids in self.tgt_ids],
            batch_tokens,
            shuffle,
            seed,
            secondary=[len(ids) + 1 for ids in self.src_ids],
        )

    def collate(self, indices: list[int]) -> Batch:
        return collate(
            [self.src_ids[i] for i in indices], [self.tgt_ids[i] for i in indices], indices
        )
