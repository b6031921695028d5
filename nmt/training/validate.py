"""Dev-set scores during training: loss, perplexity, and BLEU of greedy translations.

BLEU is computed the way a user will later report it: hypotheses decoded to plain text by
sentencepiece, scored by sacrebleu against the raw (untokenised) references.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sacrebleu
import torch

from nmt.config.recipe import DecodeConfig
from nmt.data.batching import ParallelData
from nmt.device import autocast
from nmt.generation.search import greedy, length_limits
from nmt.training.loss import loss_sums, perplexity


@dataclass
class DevScores:
    loss: float  # NLL per target token (no label smoothing, so it compares across recipes)
    ppl: float
    bleu: float


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    data: ParallelData,
    decode_fn: Callable[[list[list[int]]], list[str]],
    batch_tokens: int,
    decode: DecodeConfig,
    device: torch.device,
    amp: torch.dtype | None = None,
) -> DevScores:
    """Teacher-forced loss and greedy-decoding BLEU over a whole dev split."""
    model.eval()
    nll_total, tokens = 0.0, 0
    hypotheses = [""] * len(data)
    for indices in data.batches(batch_tokens, shuffle=False):
        batch = data.collate(indices).to(device)
        with autocast(device, amp):
            logits = model(batch.src, batch.src_lengths, batch.tgt_in)
            limits = length_limits(batch.src_lengths, decode.max_len_a, decode.max_len_b, model)
            found = greedy(model, batch.src, batch.src_lengths, limits)
        nll_total += loss_sums(logits, batch.tgt_out, 0.0)[1].item()
        tokens += batch.n_tokens
        texts = decode_fn([ranked[0] for ranked in found.tokens])
        for i, text in zip(indices, texts, strict=True):
            hypotheses[i] = text
    nll = nll_total / max(tokens, 1)
    bleu = sacrebleu.corpus_bleu(hypotheses, [data.refs]).score
    return DevScores(loss=nll, ppl=perplexity(nll), bleu=bleu)
