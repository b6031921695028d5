"""A vocabulary shortlist (as Marian has): the output layer computed over the target pieces
a sentence can plausibly need, not the whole vocabulary.

Built once from the run's training pairs by `nmt shortlist RUN` (nmt/inference/shortlist_build.py:
its own sentencepiece models, the first MAX_SENTENCES pairs of the corpus's train split)
and kept in RUN/shortlist.pt: the `frequent` most frequent target pieces, and for every
source piece the `k` target pieces that co-occur with it most tellingly, by the Dice
coefficient 2 c(s, t) / (c(s) + c(t)) over sentence pairs (c counts the pairs a piece
occurs in): raw counts would rank the frequent pieces first for every source piece, and
those are in the list anyway. No word aligner is run; co-occurrence is what the training
data says without one.

A sentence's shortlist is the frequent pieces, its source pieces' lists and EOS. A batch
computes the output layer once over the union of its sentences' lists (the one matrix
product that shrinks) and each row keeps only its own sentence's pieces, so a translation
does not depend on the sentences batched with it. In forced decoding (`nmt score`) a
sentence's list also holds every piece of its target, so no reference piece is ever
dropped.

Scores: the log-softmax runs over the sentence's list, not the whole vocabulary (the
pieces left out would need the very products the shortlist saves). A score with the
shortlist is therefore the log-probability renormalised over the list, never below the
full-vocabulary one; search and `nmt score` with the shortlist agree with each other, not
with the scores without it.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.atomic import write_atomic
from nmt.config.schema import shown
from nmt.data.tokenizer import BOS, EOS, PAD, Tokenizer
from nmt.errors import NmtError, OptionError
from nmt.run.rundir import RunDir

FORMAT = 1
K = 20  # target pieces per source piece
FREQUENT = 200  # most frequent target pieces, in every list
CHUNK = 20_000  # sentence pairs encoded and counted at a time
NEG_INF = float("-inf")


@dataclass(frozen=True)
class Shortlist:
    """The lists of one run (see the module docstring)."""

    frequent: Tensor  # [F] target ids
    per_source: Tensor  # [source vocabulary, k] target ids (EOS where fewer were seen)
    tgt_vocab: int
    sentences: int  # training pairs it was built from

    def allowed(self, src: Tensor) -> Tensor:
        """[B, target vocabulary] bool: each sentence's list, for src [B, S] ids."""
        table = self.per_source.to(src.device)
        mask = torch.zeros(src.size(0), self.tgt_vocab, dtype=torch.bool, device=src.device)
        mask.scatter_(1, table[src].view(src.size(0), -1), True)
        mask[:, self.frequent.to(src.device)] = True
        mask[:, EOS] = True
        return mask

    def save(self, path: Path) -> None:
        payload = {
            "format": FORMAT,
            "frequent": self.frequent,
            "per_source": self.per_source,
            "tgt_vocab": self.tgt_vocab,
            "sentences": self.sentences,
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        write_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Shortlist:
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise NmtError(f"{path}: not a readable shortlist ({type(error).__name__})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise NmtError(f"{path}: not a shortlist of format {FORMAT} (delete it to rebuild)")
        problem = _problem(payload)
        if problem is not None:
            raise NmtError(f"{path}: {problem} (`nmt shortlist RUN` rebuilds it)")
        return cls(
            payload["frequent"], payload["per_source"], payload["tgt_vocab"], payload["sentences"]
        )


def _problem(payload: dict) -> str | None:
    """What is wrong with a loaded shortlist's fields, or None: each is indexed with, so an
    id out of [0, tgt_vocab) or a float would fail mid-decoding, far from the file."""
    keys = ("frequent", "per_source", "tgt_vocab", "sentences")
    missing = [key for key in keys if key not in payload]
    if missing:
        return f"lacks {', '.join(missing)}"
    for name, low in (("tgt_vocab", 1), ("sentences", 0)):
        value = payload[name]
        if type(value) is not int or value < low:
            return f"{name}: {shown(value)} is not an integer of at least {low}"
    tgt_vocab = payload["tgt_vocab"]
    for name, dims in (("frequent", 1), ("per_source", 2)):
        ids = payload[name]
        if not isinstance(ids, Tensor) or ids.dim() != dims or ids.dtype != torch.long:
            return f"{name}: not a {dims}-dimensional tensor of int64 ids"
        if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < tgt_vocab):
            return f"{name}: ids outside [0, {tgt_vocab}), the target vocabulary"
    return None


def check_k(k: int, tgt_vocab: int) -> None:
    """OptionError unless k is in [1, tgt_vocab]: a list longer than the vocabulary holds
    nothing more, and the table takes source vocabulary x k x 8 bytes (k = 1e9 asked for
    32 TB). `frequent` needs no bound: it keeps at most the pieces seen."""
    if not 1 <= k <= tgt_vocab:
        raise OptionError("k", f"{k} is not in [1, {tgt_vocab}] (the target vocabulary size)")


def build_shortlist(
    pairs: Sequence[tuple[list[int], list[int]]],
    src_vocab: int,
    tgt_vocab: int,
    k: int = K,
    frequent: int = FREQUENT,
) -> Shortlist:
    """The lists from (source ids, target ids) pairs (see the module docstring)."""
    check_k(k, tgt_vocab)
    if frequent < 0:
        raise OptionError("frequent", f"{frequent} is below 0")
    src_count = torch.zeros(src_vocab, dtype=torch.long)
    tgt_count = torch.zeros(tgt_vocab, dtype=torch.long)
    tgt_tokens = torch.zeros(tgt_vocab, dtype=torch.long)
    codes, counts = torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)

    def add(count: Tensor, ids: list[int]) -> None:
        count += torch.bincount(torch.tensor(ids, dtype=torch.long), minlength=count.numel())

    for start in range(0, len(pairs), CHUNK):
        chunk: list[int] = []
        src_seen: list[int] = []
        tgt_seen: list[int] = []
        tokens: list[int] = []
        for src, tgt in pairs[start : start + CHUNK]:
            sources, targets = set(src), set(tgt)
            src_seen += sources
            tgt_seen += targets
            tokens += tgt
            chunk.extend(s * tgt_vocab + t for s in sources for t in targets)
        add(src_count, src_seen)
        add(tgt_count, tgt_seen)
        add(tgt_tokens, tokens)
        merged = torch.cat([codes, torch.tensor(chunk, dtype=torch.long)])
        weights = torch.cat([counts, torch.ones(len(chunk), dtype=torch.long)])
        codes, where = merged.unique(return_inverse=True)
        counts = torch.zeros(codes.numel(), dtype=torch.long).index_add_(0, where, weights)
    src, tgt = codes // tgt_vocab, codes % tgt_vocab
    dice = 2 * counts.double() / (src_count[src] + tgt_count[tgt]).double()
    by_dice = dice.argsort(descending=True, stable=True)
    order = by_dice[src[by_dice].argsort(stable=True)]  # by source, best Dice first
    src, tgt = src[order], tgt[order]
    first = torch.searchsorted(src, src)  # where each source piece's run starts
    rank = torch.arange(src.numel()) - first
    keep = rank < k
    per_source = torch.full((src_vocab, k), EOS, dtype=torch.long)
    per_source[src[keep], rank[keep]] = tgt[keep]
    frequent_ids = tgt_tokens.argsort(descending=True, stable=True)[:frequent]
    frequent_ids = frequent_ids[tgt_tokens[frequent_ids] > 0]
    return Shortlist(frequent_ids, per_source, tgt_vocab, len(pairs))


def load_run_shortlist(run: RunDir, tokenizer: Tokenizer) -> Shortlist:
    """RUN/shortlist.pt, checked against the run's sentencepiece models; built by `nmt
    shortlist RUN` (nmt/inference/shortlist_build.py), which reads the corpus: decoding does not, so
    that loading a translator never waits for the training data."""
    if not run.shortlist.is_file():
        raise NmtError(
            f"{run.shortlist}: no shortlist yet; `nmt shortlist {run.root}` builds it from the "
            "run's training data"
        )
    found = Shortlist.load(run.shortlist)
    if found.per_source.size(0) != tokenizer.src_vocab_size or (
        found.tgt_vocab != tokenizer.tgt_vocab_size
    ):
        raise NmtError(
            f"{run.shortlist}: made for other sentencepiece models than the run's (`nmt "
            f"shortlist {run.root}` rebuilds it)"
        )
    return found


@dataclass
class ShortlistEncoded:
    """The model's Encoded and the batch's lists: the output layer's rows of their union,
    and which of them each row may output."""

    inner: Any  # the model's Encoded
    vocab: Tensor  # [U] target ids, the union of the batch's lists
    allowed: Tensor  # [N, U] bool: the ids of each row's own sentence
    layer: Callable[[Tensor], Tensor]  # features -> logits over vocab

    def select(self, index: Tensor) -> ShortlistEncoded:
        return ShortlistEncoded(
            self.inner.select(index), self.vocab, self.allowed.index_select(0, index), self.layer
        )

    def repeat(self, copies: int) -> ShortlistEncoded:
        allowed = self.allowed.repeat_interleave(copies, dim=0)
        return ShortlistEncoded(self.inner.repeat(copies), self.vocab, allowed, self.layer)


def _rows(layer: nn.Module, vocab: Tensor) -> Callable[[Tensor], Tensor]:
    """The output layer of rows `vocab` only (an int8 layer makes its own:
    nmt/inference/quantize.py)."""
    rows = getattr(layer, "rows", None)
    if rows is not None:
        return rows(vocab)
    bias = None if layer.bias is None else layer.bias.index_select(0, vocab)
    return functools.partial(F.linear, weight=layer.weight.index_select(0, vocab), bias=bias)


def _scatter(logits: Tensor, vocab: Tensor, allowed: Tensor, size: int) -> Tensor:
    """Logits over `vocab` [..., U] -> over the whole vocabulary [..., size], -inf for
    every piece a row may not output."""
    full = logits.new_full((*logits.shape[:-1], size), NEG_INF)
    full[..., vocab] = logits.masked_fill(~allowed, NEG_INF)
    return full


class Shortlisted(nn.Module):
    """A model whose output layer covers its batch's shortlists only; the interface of
    search and scoring (encode, initial_state, step, forward) is unchanged, the logits of
    pieces off a row's list being -inf."""

    def __init__(self, model: nn.Module, shortlist: Shortlist) -> None:
        super().__init__()
        self.model, self.shortlist = model, shortlist

    @property
    def has_attention(self) -> bool:
        return self.model.has_attention

    def _restricted(self, allowed: Tensor) -> tuple[Tensor, Tensor, Callable]:
        vocab = allowed.any(dim=0).nonzero().squeeze(1)
        return vocab, allowed[:, vocab], _rows(self.model.output_layer, vocab)

    def encode(self, src: Tensor, src_lengths: Tensor) -> ShortlistEncoded:
        vocab, allowed, layer = self._restricted(self.shortlist.allowed(src))
        return ShortlistEncoded(self.model.encode(src, src_lengths), vocab, allowed, layer)

    def initial_state(self, enc: ShortlistEncoded) -> Any:
        return self.model.initial_state(enc.inner)

    def step(
        self, prev_tokens: Tensor, state: Any, enc: ShortlistEncoded
    ) -> tuple[Tensor, Any, Tensor | None]:
        features, state, weights = self.model.step_features(prev_tokens, state, enc.inner)
        logits = _scatter(enc.layer(features), enc.vocab, enc.allowed, self.shortlist.tgt_vocab)
        return logits, state, weights

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: each sentence's list holds its target's pieces too."""
        allowed = self.shortlist.allowed(src).scatter_(1, tgt_in, True)
        allowed[:, [PAD, BOS]] = False  # tgt_in's, never a list's: search never outputs them
        vocab, allowed, layer = self._restricted(allowed)
        features = self.model.forward_features(src, src_lengths, tgt_in)
        return _scatter(layer(features), vocab, allowed[:, None], self.shortlist.tgt_vocab)
