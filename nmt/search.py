"""Greedy and batched beam search over the model's encode / initial_state / step interface.

Every sentence of a batch and every beam of a sentence advance together as rows of one
tensor ([B * beam, ...]); Python loops over time steps only. Whether sentences have
finished is read back to the host every step on the CPU, and every SYNC_EVERY steps on
an accelerator so that the host can queue kernels ahead of the device; a sentence found
finished stops changing at once (on the device) and leaves the batch at the next read.

Scores are sums of log-probabilities of the output tokens and the final EOS. Beam search
normalises them as score / length**alpha (length counts the EOS; alpha = length_penalty,
0 turns it off), so each score equals what teacher forcing gives the same output.

Beam stop rule (exact, not a heuristic): a sentence ends when its N best finished
hypotheses are known AND no open hypothesis in its beam can still beat the N-th of them.
Log-probabilities are <= 0, so an open hypothesis with raw score s can only lose score;
its best possible normalised score is s / (max_len + 1)**alpha (the longest allowed
length divides the smallest magnitude). Once that bound of the best open hypothesis is no
better than the N-th finished score, nothing left in the beam can enter the N-best.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.tokenizer import BOS, EOS, PAD

NEG_INF = float("-inf")
SYNC_EVERY = 8  # steps between reads of the finished flags on an accelerator


@dataclass
class Hypotheses:
    """Search results per sentence, in the batch's row order."""

    tokens: list[list[list[int]]]  # [sentence][rank] -> token ids, no BOS/EOS
    scores: list[list[float]]  # [sentence][rank], best first
    attention: list[Tensor] | None = None  # [sentence] -> [len + 1, src_len] for the best


def length_limits(src_lengths: Tensor, a: float, b: int) -> Tensor:
    """Maximum output pieces per sentence: a * source pieces + b (src_lengths count EOS)."""
    return (a * (src_lengths - 1).double() + b).floor().long().clamp(min=0)


def _limits(max_len: Tensor | int, batch: int, device: torch.device) -> tuple[Tensor, int, int]:
    """Per-sentence limits on the device, and their minimum and maximum on the host."""
    if isinstance(max_len, int):
        return torch.full((batch,), max_len, dtype=torch.long, device=device), max_len, max_len
    limits = max_len.to(device=device, dtype=torch.long)
    low, high = torch.stack([limits.min(), limits.max()]).tolist()
    return limits, low, high


def _sync_points(steps: int, device: torch.device) -> set[int]:
    """The steps after which finished flags are read back (always the last one)."""
    every = 1 if device.type == "cpu" else SYNC_EVERY
    return {t for t in range(steps) if (t + 1) % every == 0} | {steps - 1}


def _never(device: torch.device) -> Tensor:
    """The ids search never outputs."""
    return torch.tensor([PAD, BOS], device=device)


def _log_probs(
    logits: Tensor, step: int, limits: Tensor, min_len: int, min_limit: int, never: Tensor
) -> Tensor:
    """Log-softmax with the search's constraints: never PAD or BOS, EOS only after
    min_len pieces, and nothing but EOS once a row has reached its length limit.

    min_limit (the smallest limit, known on the host) skips the limit check for steps
    where no row can have reached its limit yet.
    """
    logp = torch.log_softmax(logits.float(), dim=-1).index_fill_(1, never, NEG_INF)
    if step < min_len:
        logp[:, EOS] = logp[:, EOS].masked_fill(step < limits, NEG_INF)
    if step >= min_limit:
        eos = logp[:, EOS].clone()
        logp.masked_fill_((step >= limits).unsqueeze(1), NEG_INF)
        logp[:, EOS] = eos
    return logp


def _unpack(
    tokens: Tensor, lengths: Tensor, scores: Tensor, attention: Tensor | None, src_lengths: Tensor
) -> Hypotheses:
    """Device tensors [B, N, T] -> Python lists (the only per-sentence loop, done once)."""
    token_rows, length_rows, score_rows = tokens.tolist(), lengths.tolist(), scores.tolist()
    out_tokens, out_scores = [], []
    for toks, lens, scs in zip(token_rows, length_rows, score_rows, strict=True):
        ranks = [j for j, s in enumerate(scs) if s > NEG_INF]
        out_tokens.append([toks[j][: lens[j]] for j in ranks])
        out_scores.append([scs[j] for j in ranks])
    attn = None
    if attention is not None:
        src_len = src_lengths.tolist()
        attn = [
            attention[b, : length_rows[b][0] + 1, : src_len[b]].cpu()
            for b in range(len(token_rows))
        ]
    return Hypotheses(out_tokens, out_scores, attn)


@torch.inference_mode()
def greedy(
    model,
    src: Tensor,
    src_lengths: Tensor,
    max_len: Tensor | int,
    min_len: int = 0,
    return_attention: bool = False,
) -> Hypotheses:
    """Pick the most probable token at every step; scores are raw log-probabilities."""
    batch, device = src.size(0), src.device
    if batch == 0:
        return Hypotheses([], [], [] if return_attention else None)
    limits, min_limit, max_limit = _limits(max_len, batch, device)
    steps = max_limit + 1
    sync = _sync_points(steps, device)
    enc = model.encode(src, src_lengths)
    state = model.initial_state(enc)
    prev = torch.full((batch,), BOS, dtype=torch.long, device=device)
    out = torch.full((batch, steps), PAD, dtype=torch.long, device=device)
    scores = torch.zeros(batch, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    never = _never(device)
    attn_steps = []
    for t in range(steps):
        logits, state, attn = model.step(prev, state, enc)
        best, token = _log_probs(logits, t, limits, min_len, min_limit, never).max(dim=-1)
        token = token.masked_fill(done, PAD)
        scores += best.masked_fill(done, 0.0)
        out[:, t] = token
        if return_attention:
            attn_steps.append(attn.float())
        done |= token == EOS
        prev = token
        if t in sync and bool(done.all()):
            break
    lengths = (out == EOS).long().argmax(dim=1)
    attention = torch.stack(attn_steps, dim=1) if return_attention else None
    return _unpack(
        out.unsqueeze(1), lengths.unsqueeze(1), scores.unsqueeze(1), attention, src_lengths
    )


@dataclass
class _Finished:
    """The N best finished hypotheses of each active sentence, best first."""

    scores: Tensor  # [B, N] normalised; -inf = empty slot
    tokens: Tensor  # [B, N, T]
    lengths: Tensor  # [B, N]
    attention: Tensor | None  # [B, N, T, S]

    def merge(self, scores: Tensor, tokens: Tensor, length: int, attention: Tensor | None):
        """Keep the N best of the old entries and the new candidates ([B, K] scores)."""
        top, pick = torch.cat([self.scores, scores], dim=1).topk(self.scores.size(1), dim=1)
        self.scores = top
        self.tokens = _gather_beams(torch.cat([self.tokens, tokens], dim=1), pick)
        new_lengths = torch.full_like(scores, length, dtype=torch.long)
        self.lengths = torch.cat([self.lengths, new_lengths], dim=1).gather(1, pick)
        if self.attention is not None:
            self.attention = _gather_beams(torch.cat([self.attention, attention], dim=1), pick)

    def rows(self, index: Tensor) -> _Finished:
        attention = None if self.attention is None else self.attention[index]
        return _Finished(self.scores[index], self.tokens[index], self.lengths[index], attention)


def _gather_beams(values: Tensor, index: Tensor) -> Tensor:
    """values [B, K, ...] -> [B, J, ...] taking values[b, index[b, j]]."""
    shape = index.shape + values.shape[2:]
    expanded = index.view(*index.shape, *([1] * (values.dim() - 2))).expand(shape)
    return values.gather(1, expanded)


@torch.inference_mode()
def beam_search(
    model,
    src: Tensor,
    src_lengths: Tensor,
    beam: int,
    max_len: Tensor | int,
    length_penalty: float = 1.0,
    nbest: int = 1,
    min_len: int = 0,
    return_attention: bool = False,
) -> Hypotheses:
    """Batched beam search; returns the nbest hypotheses per sentence, best first.

    With length_penalty 0 and beam 1 it returns what greedy returns.
    """
    if not 1 <= nbest <= beam:
        raise ValueError(f"nbest must be between 1 and beam ({beam}), got {nbest}")
    if length_penalty < 0:
        raise ValueError(f"length_penalty must be >= 0, got {length_penalty}")
    batch, device, k = src.size(0), src.device, beam
    if batch == 0:
        return Hypotheses([], [], [] if return_attention else None)
    limits, min_limit, max_limit = _limits(max_len, batch, device)
    steps = max_limit + 1
    sync = _sync_points(steps, device)
    src_len = src.size(1)

    enc = model.encode(src, src_lengths)
    state = model.initial_state(enc)
    rows = torch.arange(batch, device=device).repeat_interleave(k)
    enc, state = enc.select(rows), state.select(rows)

    def empty(n: int) -> _Finished:
        attention = torch.zeros(n, nbest, steps, src_len, device=device)
        return _Finished(
            torch.full((n, nbest), NEG_INF, device=device),
            torch.full((n, nbest, steps), PAD, dtype=torch.long, device=device),
            torch.zeros(n, nbest, dtype=torch.long, device=device),
            attention if return_attention else None,
        )

    results = empty(batch)  # filled as sentences finish, indexed by input row
    finished = empty(batch)  # the active sentences' N best so far
    origin = torch.arange(batch, device=device)  # input row of each active sentence
    done = torch.zeros(batch, dtype=torch.bool, device=device)  # finished, not yet removed
    scores = torch.full((batch, k), NEG_INF, device=device)
    scores[:, 0] = 0.0  # one live beam at the start, so the first step does not repeat it
    history = torch.full((batch, k, steps), PAD, dtype=torch.long, device=device)
    attn_history = (
        torch.zeros(batch, k, steps, src_len, device=device) if return_attention else None
    )
    prev = torch.full((batch * k,), BOS, dtype=torch.long, device=device)
    row_limits = limits.repeat_interleave(k)
    # the best normalised score an open hypothesis can still reach: its score / this
    best_length = (limits + 1).float() ** length_penalty
    first_row = torch.arange(batch, device=device).unsqueeze(1) * k
    beam_offsets = torch.arange(k, device=device)

    never = _never(device)
    for t in range(steps):
        active = scores.size(0)
        logits, state, attn = model.step(prev, state, enc)
        vocab = logits.size(-1)
        logp = _log_probs(logits, t, row_limits, min_len, min_limit, never)
        candidates = (scores.unsqueeze(2) + logp.view(active, k, vocab)).view(active, k * vocab)
        top_scores, top_index = candidates.topk(min(2 * k, k * vocab), dim=1)
        top_beam, top_token = top_index // vocab, top_index % vocab
        # Each beam offers EOS at most once, so at least K of the 2K candidates do not end.
        is_eos = top_token == EOS
        if attn_history is not None:
            attn_history[:, :, t] = attn.float().view(active, k, -1)

        # EOS among the K best candidates finishes a hypothesis (its tokens end before t).
        # A finished sentence's open scores are -inf, so it takes no more.
        normalised = top_scores[:, :k]
        if length_penalty:
            normalised = normalised / float(t + 1) ** length_penalty
        finished.merge(
            normalised.masked_fill(~is_eos[:, :k], NEG_INF),
            _gather_beams(history, top_beam[:, :k]),
            t,
            None if attn_history is None else _gather_beams(attn_history, top_beam[:, :k]),
        )

        # The K best candidates that do not end stay open.
        keep = torch.sort(is_eos.to(torch.uint8), dim=1, stable=True).indices[:, :k]
        scores = top_scores.gather(1, keep)
        from_beam = top_beam.gather(1, keep)
        tokens = top_token.gather(1, keep)
        history = _gather_beams(history, from_beam)
        history[:, :, t] = tokens
        if attn_history is not None:
            attn_history = _gather_beams(attn_history, from_beam)
        state = state.select((first_row + from_beam).view(-1))
        prev = tokens.view(-1)

        # Done: nothing open can still beat the N-th finished hypothesis (when nothing is
        # open at all, bound and worst may both be -inf: done too), or the limit is reached.
        bound = scores.max(dim=1).values
        if length_penalty:
            bound = bound / best_length
        done |= bound <= finished.scores[:, -1]
        if t >= min_limit:
            done |= t >= limits
        scores.masked_fill_(done.unsqueeze(1), NEG_INF)
        if t not in sync:
            continue
        n_done = int(done.sum())
        if n_done == 0:
            continue
        _store(results, origin[done], finished.rows(done))
        if n_done == active:
            break
        live = (~done).nonzero().squeeze(1)
        live_rows = (live.unsqueeze(1) * k + beam_offsets).view(-1)
        enc, state, prev = enc.select(live_rows), state.select(live_rows), prev[live_rows]
        origin, limits, scores, history = origin[live], limits[live], scores[live], history[live]
        row_limits, best_length, done = row_limits[live_rows], best_length[live], done[live]
        first_row = first_row[: live.numel()]
        finished = finished.rows(live)
        if attn_history is not None:
            attn_history = attn_history[live]

    attention = None if results.attention is None else results.attention[:, 0]
    return _unpack(results.tokens, results.lengths, results.scores, attention, src_lengths)


def _store(results: _Finished, rows: Tensor, done: _Finished) -> None:
    results.scores[rows] = done.scores
    results.tokens[rows] = done.tokens
    results.lengths[rows] = done.lengths
    if results.attention is not None:
        results.attention[rows] = done.attention
