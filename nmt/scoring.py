"""Forced decoding (`nmt score`): the model's log-probability of given translations.

Each pair is scored by teacher forcing: every target piece and the final EOS, each given
the source and the pieces before it, in one forward pass per batch. Search adds up the same
log-probabilities for its outputs, so scoring a search's output gives the search's own
score: the tool for filtering noisy corpora and for reranking n-best lists. Pairs are
scored in token-bucketed batches; as in translation, a side longer than
decode.max_source_len pieces is cut to that length, and counted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nmt.batching import collate, token_batches
from nmt.config import DecodeConfig, check_decode_options
from nmt.errors import NmtError
from nmt.textio import read_lines
from nmt.tokenizer import PAD
from nmt.translate import Report, write_lines


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


@dataclass
class Scored:
    """The scores of many pairs, in input order, and how long they took."""

    scores: list[Score]
    seconds: float
    truncated: int = 0  # pairs with a side cut to decode.max_source_len pieces


@torch.inference_mode()
def score_ids(
    model,
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
    model, tokenizer, sources: Sequence[str], targets: Sequence[str], decode: DecodeConfig, device
) -> Scored:
    """Scores of raw text pairs, each side encoded with its run's sentencepiece model and
    cut to decode.max_source_len pieces; decode gives batch_tokens and length_penalty."""
    if len(sources) != len(targets):
        raise NmtError(f"score: {len(sources)} sources but {len(targets)} targets")
    start = time.perf_counter()
    src_ids = tokenizer.encode_src(list(sources)) if sources else []
    tgt_ids = tokenizer.encode_tgt(list(targets)) if targets else []
    limit = decode.max_source_len
    truncated = sum(max(len(s), len(t)) > limit for s, t in zip(src_ids, tgt_ids, strict=True))
    src_ids, tgt_ids = [ids[:limit] for ids in src_ids], [ids[:limit] for ids in tgt_ids]
    scores = score_ids(model, src_ids, tgt_ids, decode.batch_tokens, decode.length_penalty, device)
    return Scored(scores, time.perf_counter() - start, truncated)


def score_file(
    model_path: Path | Sequence[Path],
    source: Path,
    target: Path,
    output: Path | None,
    options: dict[str, Any],
    device: str = "auto",
    per_token: bool = False,
) -> Report:
    """The whole `nmt score`: read both sides (their line counts must match), load the run
    (several: an ensemble), write one line per pair (Score.line) to `output` in one atomic
    step, or to stdout."""
    from nmt.api import Translator

    check_decode_options(options)
    sources, bad_sources = read_lines(source, errors="replace")
    targets, bad_targets = read_lines(target, errors="replace")
    if len(sources) != len(targets):
        raise NmtError(
            f"not parallel: {source} has {len(sources)} lines but {target} has {len(targets)}"
        )
    paths = [Path(model_path)] if isinstance(model_path, str | Path) else list(model_path)
    translator = Translator.load(*paths, device=device)
    scored = translator.score_lines(sources, targets, **options)
    write_lines([score.line(per_token) for score in scored.scores], output)
    return Report(
        lines=len(sources),
        translated=len(sources),
        truncated=scored.truncated,
        invalid_utf8=bad_sources + bad_targets,
        max_source_len=options.get("max_source_len") or translator.decode.max_source_len,
        seconds=scored.seconds,
    )
