"""Forced decoding (`nmt score`): the model's log-probability of given translations.

Each pair is scored by teacher forcing: every target piece and the final EOS, each given
the source and the pieces before it, in one forward pass per batch. Search adds up the same
log-probabilities for its outputs, so scoring a search's output gives the search's own
score: the tool for filtering noisy corpora and for reranking n-best lists. As in
translation, a blank source is not the model's to score (its translation is the empty
line, scored 0), and a side longer than max_source_len pieces is cut to that length, and
counted.

A target is text, encoded by the target sentencepiece model, or (pieces=True) the pieces
themselves, space-separated. Search picks pieces, and sampling can draw pieces that encode
a text other than sentencepiece would (`▁a b` for `▁ab`): its score is of the pieces
drawn, which only `pieces=True` (`nmt translate --pieces` into `nmt score --pieces`) gives
back exactly.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nmt.data.batching import collate, token_batches
from nmt.data.tokenizer import PAD, Tokenizer
from nmt.errors import NmtError
from nmt.generation.decoding import DecodingOptions
from nmt.models.interface import Model


@dataclass
class Score:
    """One pair's score: log-probabilities under teacher forcing."""

    total: float  # of the target pieces and EOS
    normalised: float  # total / (pieces + 1) ** length_penalty, as search scores are
    tokens: list[float]  # one per target piece, EOS last

    def line(self, per_token: bool = False) -> str:
        """`total<TAB>normalised`, then with per_token the pieces' values."""
        text = f"{self.total:.4f}\t{self.normalised:.4f}"
        return text + ("\t" + " ".join(f"{v:.4f}" for v in self.tokens) if per_token else "")


BLANK = Score(0.0, 0.0, [])  # a blank source with an empty target, as translation gives it


@dataclass
class Scored:
    """The scores of many pairs, in input order, and how long they took."""

    scores: list[Score]
    seconds: float
    truncated: int = 0  # pairs with a side cut to max_source_len pieces


@torch.inference_mode()
def score_ids(
    model: Model,
    src_ids: Sequence[list[int]],
    tgt_ids: Sequence[list[int]],
    batch_tokens: int,
    length_penalty: float,
    device: torch.device,
) -> list[Score]:
    """Scores of id pairs (no BOS/EOS), in input order; batches hold about batch_tokens
    padded tokens of the longer side."""
    if len(src_ids) != len(tgt_ids):
        raise NmtError(f"score: {len(src_ids)} sources but {len(tgt_ids)} targets")
    scores: list[Score | None] = [None] * len(src_ids)
    lengths = [max(len(s), len(t)) + 1 for s, t in zip(src_ids, tgt_ids, strict=True)]
    for members in token_batches(lengths, batch_tokens, shuffle=False):
        batch = collate([src_ids[i] for i in members], [tgt_ids[i] for i in members], members)
        batch = batch.to(device)
        logits = model(batch.src, batch.src_lengths, batch.tgt_in)
        logp = torch.log_softmax(logits.float(), dim=-1)
        picked = logp.gather(-1, batch.tgt_out.unsqueeze(-1)).squeeze(-1)
        rows = picked.masked_fill(batch.tgt_out == PAD, 0.0).tolist()
        for i, row in zip(members, rows, strict=True):
            tokens = row[: len(tgt_ids[i]) + 1]
            total = sum(tokens)
            scores[i] = Score(total, total / len(tokens) ** length_penalty, tokens)
    return [score for score in scores if score is not None]


def score_lines(
    model: Model,
    tokenizer: Tokenizer,
    sources: Sequence[str],
    targets: Sequence[str],
    options: DecodingOptions,
    device: torch.device,
    pieces: bool = False,
) -> Scored:
    """Scores of text pairs (see the module docstring); options give batch_tokens,
    length_penalty and max_source_len."""
    if len(sources) != len(targets):
        raise NmtError(f"score: {len(sources)} sources but {len(targets)} targets")
    start = time.perf_counter()
    src_ids = tokenizer.encode_src(list(sources)) if sources else []
    tgt_ids = _target_ids(tokenizer, targets) if pieces else tokenizer.encode_tgt(list(targets))
    scored = [
        i
        for i, (source, src, tgt) in enumerate(zip(sources, src_ids, tgt_ids, strict=True))
        if (source.strip() and src) or tgt
    ]
    limit = options.max_source_len
    truncated = sum(max(len(src_ids[i]), len(tgt_ids[i])) > limit for i in scored)
    found = score_ids(
        model,
        [src_ids[i][:limit] for i in scored],
        [tgt_ids[i][:limit] for i in scored],
        options.batch_tokens,
        options.length_penalty,
        device,
    )
    scores = [BLANK] * len(sources)
    for i, score in zip(scored, found, strict=True):
        scores[i] = score
    return Scored(scores, time.perf_counter() - start, truncated)


def _target_ids(tokenizer: Tokenizer, targets: Sequence[str]) -> list[list[int]]:
    """The ids of targets written as space-separated pieces; an error names the line."""
    ids = []
    for number, line in enumerate(targets, 1):
        try:
            ids.append(tokenizer.tgt_ids_from_pieces(line.split(" ") if line else []))
        except NmtError as error:
            raise NmtError(f"target line {number}: {error}") from None
    return ids
