"""Subword regularisation (data.subword_alpha): the training pairs segmented afresh each epoch.

A unigram model samples one of the NBEST best segmentations of a sentence with probability
proportional to P(x)^alpha (Kudo 2018, l-best sampling); a BPE model skips each merge with
probability alpha (BPE-dropout, Provilkov et al. 2020). Dev and test are never sampled:
they keep the one segmentation `nmt prepare` cached, and so does translation.

sentencepiece's own sampling draws from a generator that every process seeds anew, so the
same seed segments differently after a restart (sentencepiece 0.2.3). Here the n-best
lists and the merge table are sentencepiece's, and the draws come from generators seeded
by (train.seed, epoch, side) alone: a resumed run, and every rank of a data-parallel one,
sees exactly the segmentation of an epoch that an uninterrupted run saw.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import sentencepiece as spm

from nmt.data.batching import ParallelData
from nmt.data.tokenizer import UNK, load_model

NBEST = 64  # unigram: the segmentations a sentence's sample is drawn from (Kudo's l)
CHUNK = 2000  # sentences whose n-best lists are held in memory at once


def _seed(*key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(list(key))


class UnigramSampler:
    """l-best sampling: one of the NBEST best segmentations, drawn with P(x)^alpha (the
    Gumbel-max trick over alpha * log P(x), log P(x) the sum of the pieces' scores)."""

    def __init__(self, processor: spm.SentencePieceProcessor, alpha: float) -> None:
        self.processor, self.alpha = processor, alpha
        self.scores = np.array([processor.get_score(i) for i in range(processor.get_piece_size())])

    def sample(self, lines: Sequence[str], seed: np.random.SeedSequence) -> list[list[int]]:
        rng = np.random.default_rng(seed)
        sampled: list[list[int]] = []
        for start in range(0, len(lines), CHUNK):
            nbests = self.processor.nbest_encode(
                list(lines[start : start + CHUNK]), nbest_size=NBEST
            )
            candidates = [ids for nbest in nbests for ids in nbest]
            lengths = np.fromiter(map(len, candidates), np.int64, len(candidates))
            flat = np.fromiter(itertools.chain.from_iterable(candidates), np.int64, lengths.sum())
            owner = np.repeat(np.arange(len(candidates)), lengths)
            log_p = np.bincount(owner, self.scores[flat], minlength=len(candidates))
            keys = self.alpha * log_p + rng.gumbel(size=len(candidates))
            first = 0
            for nbest in nbests:
                sampled.append(nbest[int(np.argmax(keys[first : first + len(nbest)]))])
                first += len(nbest)
        return sampled


class BPEDropout:
    """sentencepiece's BPE encoding (merge the adjacent pair that makes the best-scored
    piece, leftmost first, until none is left), skipping each merge with probability
    alpha; with alpha 0 it gives sentencepiece's own ids."""

    def __init__(self, processor: spm.SentencePieceProcessor, alpha: float) -> None:
        self.processor, self.alpha = processor, alpha
        self.pieces = {
            processor.id_to_piece(i): (processor.get_score(i), i)
            for i in range(processor.get_piece_size())
            if not (processor.is_control(i) or processor.is_unknown(i) or processor.is_unused(i))
        }

    def sample(self, lines: Sequence[str], seed: np.random.SeedSequence) -> list[list[int]]:
        draw = random.Random(int(seed.generate_state(1)[0])).random
        return [self.segment(line, draw) for line in lines]

    def segment(self, line: str, draw: Callable[[], float]) -> list[int]:
        symbols = list(self.processor.normalize(line))  # characters, spaces as ▁
        n = len(symbols)
        before, after = list(range(-1, n - 1)), list(range(1, n + 1))
        agenda: list[tuple[float, int, int, int]] = []

        def consider(left: int, right: int) -> None:
            if left >= 0 and right < n:
                found = self.pieces.get(symbols[left] + symbols[right])
                if found is not None:
                    size = len(symbols[left]) + len(symbols[right])
                    heapq.heappush(agenda, (-found[0], left, right, size))

        for right in range(1, n):
            consider(right - 1, right)
        while agenda:
            _, left, right, size = heapq.heappop(agenda)
            stale = not symbols[left] or not symbols[right]
            if stale or len(symbols[left]) + len(symbols[right]) != size:
                continue  # a side was merged into another symbol since
            if draw() < self.alpha:
                continue  # the dropout
            symbols[left], symbols[right] = symbols[left] + symbols[right], ""
            after[left] = after[right]
            if after[right] < n:
                before[after[right]] = left
            consider(before[left], left)
            consider(left, after[left])
        ids: list[int] = []
        for symbol in filter(None, symbols):
            piece = self.pieces.get(symbol)
            if piece is None and ids and ids[-1] == UNK:
                continue  # a run of unknown characters is one UNK, as sentencepiece has it
            ids.append(UNK if piece is None else piece[1])
        return ids


def sampler_for(
    model: Path, kind: Literal["unigram", "bpe"], alpha: float
) -> UnigramSampler | BPEDropout:
    """The sampler of a sentencepiece model of type `kind` (data.spm_type)."""
    sampler = BPEDropout if kind == "bpe" else UnigramSampler
    return sampler(load_model(model), alpha)


class SubwordSampler:
    """The training pairs, both sides segmented afresh for each epoch."""

    def __init__(
        self,
        models: tuple[Path, Path],
        kind: Literal["unigram", "bpe"],
        alpha: float,
        texts: tuple[Sequence[str], Sequence[str]],
        seed: int,
    ) -> None:
        self.samplers = [sampler_for(model, kind, alpha) for model in models]
        self.texts, self.seed = texts, seed

    def epoch(self, epoch: int) -> ParallelData:
        """The pairs of an epoch, from (seed, epoch) alone."""
        src, tgt = (
            sampler.sample(lines, _seed(self.seed, epoch, side))
            for side, (sampler, lines) in enumerate(zip(self.samplers, self.texts, strict=True))
        )
        return ParallelData(src, tgt, list(self.texts[1]))
