"""Greedy search, sampling and batched beam search over the model's encode / initial_state /
step interface (a run's model, or an ensemble of them: nmt/inference/ensemble.py).

Every sentence of a batch and every beam (or sample) of a sentence advance together as rows
of one tensor ([B * beam, ...]); Python loops over time steps only. Whether sentences have
finished is read back to the host every step on the CPU, and every SYNC_EVERY steps on
an accelerator so that the host can queue kernels ahead of the device; a sentence found
finished stops changing at once (on the device) and leaves the batch at the next read.

Scores are sums of log-probabilities of the output tokens and the final EOS, normalised in
every mode as score / lp, lp = length**alpha by default or GNMT's ((5 + length) / 6)**alpha
(Wu et al. 2016; length counts the EOS; alpha = length_penalty, 0 turns it off), so each
score equals what teacher forcing gives the same output, divided by lp. Beam search may add
GNMT's coverage penalty to a finished hypothesis, beta * sum_j log(min(sum_i a_ij, 1)) over
the source positions j of the attention a_ij of its output positions i (<= 0: it costs a
hypothesis the source words it barely attended to). `search`
picks the mode from a call's DecodingOptions: sampling, greedy for beam 1, else beam.
Constraints (forced prefixes, phrases, n-gram blocking: nmt/generation/constraints.py) only forbid
tokens and sampling only changes how a token is chosen: the scores stay the model's. With
phrases, beam search picks its K open hypotheses by dynamic beam allocation (Post & Vilar
2018): the candidates are the 2K best plus every beam's pieces that advance a phrase,
grouped into banks by the constraint pieces they have met, and the beam takes each bank's
best, then each bank's second best, ... (see `_allocate`).

Beam stop rule (exact, not a heuristic): a sentence ends when its N best finished
hypotheses are known AND no open hypothesis in its beam can still beat the N-th of them.
Log-probabilities are <= 0, so an open hypothesis with raw score s can only lose score;
its best possible normalised score is s / lp(max_len + 1) (the longest allowed length
divides the smallest magnitude; a coverage penalty is <= 0). Once that bound of the best
open hypothesis is no better than the N-th finished score, nothing left in the beam can
enter the N-best.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nmt.data.tokenizer import BOS, EOS, PAD
from nmt.generation.constraints import Constraints
from nmt.generation.decoding import DecodingOptions
from nmt.generation.sampling import draw, uniforms
from nmt.models.interface import Model

NEG_INF = float("-inf")
TINY = torch.finfo(torch.float32).tiny  # log(0) would make a finished score -inf: "none"
SYNC_EVERY = 8  # steps between reads of the finished flags on an accelerator
RAW = DecodingOptions(beam=1, length_penalty=0.0)  # greedy's default: raw log-probabilities


@dataclass
class Hypotheses:
    """Search results per sentence, in the batch's row order."""

    tokens: list[list[list[int]]]  # [sentence][rank] -> token ids, no BOS/EOS
    scores: list[list[float]]  # [sentence][rank], best first
    attentions: list[list[Tensor]] | None = None  # [sentence][rank] -> [len + 1, src_len]

    @property
    def attention(self) -> list[Tensor] | None:
        """The attention of each sentence's best hypothesis."""
        return None if self.attentions is None else [ranked[0] for ranked in self.attentions]


def length_limits(src_lengths: Tensor, a: float, b: int, model: Any = None) -> Tensor:
    """Maximum output pieces per sentence: a * source pieces + b (src_lengths count EOS),
    and no more than `model`'s learned positions hold (BOS takes one of them)."""
    limits = (a * (src_lengths - 1).double() + b).floor().long().clamp(min=0)
    longest = getattr(model, "max_sequence", None)
    return limits if longest is None else limits.clamp(max=longest - 1)


def _limits(max_len: Tensor | int, batch: int, device: torch.device) -> tuple[Tensor, int, int]:
    """Per-sentence limits on the device, and their minimum and maximum on the host."""
    if isinstance(max_len, int):
        return torch.full((batch,), max_len, dtype=torch.long, device=device), max_len, max_len
    limits = max_len.to(device=device, dtype=torch.long)
    low, high = torch.stack([limits.min(), limits.max()]).tolist()
    return limits, low, high


def _sync_points(steps: int, device: torch.device) -> set[int]:
    """The steps after which finished flags are read back. Never the last one: the loop
    ends there anyway, and every sentence is finished by then (its limit is reached)."""
    every = 1 if device.type == "cpu" else SYNC_EVERY
    return {t for t in range(steps - 1) if (t + 1) % every == 0}


def _never(device: torch.device) -> Tensor:
    """The ids search never outputs (built, then moved: torch.tensor(..., device=) copies
    below a dispatch mode, so tests/test_gpu_path.py's fake device could not take it)."""
    return torch.tensor([PAD, BOS]).to(device)


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
    """Device tensors [B, N, T] (attention [B, N, T, S]) -> Python lists (the only
    per-sentence loop, done once); the attention is copied to the host whole, not per
    hypothesis."""
    token_rows, length_rows, score_rows = tokens.tolist(), lengths.tolist(), scores.tolist()
    src_len = src_lengths.tolist()
    attention = None if attention is None else attention.cpu()
    out_tokens, out_scores, out_attention = [], [], []
    for b, (toks, lens, scs) in enumerate(zip(token_rows, length_rows, score_rows, strict=True)):
        ranks = [j for j, s in enumerate(scs) if s > NEG_INF]
        out_tokens.append([toks[j][: lens[j]] for j in ranks])
        out_scores.append([scs[j] for j in ranks])
        if attention is not None:
            out_attention.append([attention[b, j, : lens[j] + 1, : src_len[b]] for j in ranks])
    return Hypotheses(out_tokens, out_scores, out_attention if attention is not None else None)


def _empty(return_attention: bool) -> Hypotheses:
    return Hypotheses([], [], [] if return_attention else None)


# How a row picks its next token: (log-probabilities [N, V], step) -> (their value at the
# picked tokens [N], the tokens [N]).
Choose = Callable[[Tensor, int], tuple[Tensor, Tensor]]


def _most_probable(logp: Tensor, step: int) -> tuple[Tensor, Tensor]:
    return logp.max(dim=-1)


def _one_per_row(
    model: Model,
    src: Tensor,
    src_lengths: Tensor,
    copies: int,
    max_len: Tensor | int,
    min_len: int,
    return_attention: bool,
    constraints: Constraints | None,
    choose: Choose,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """One hypothesis per row, `copies` rows per sentence, each token picked by `choose`.

    Returns tokens [B, copies, T] (PAD after EOS), lengths and raw log-probability scores
    [B, copies], attention [B, copies, T, S] or None.
    """
    batch, device = src.size(0), src.device
    limits, min_limit, max_limit = _limits(max_len, batch, device)
    steps = max_limit + 1
    sync = _sync_points(steps, device)
    enc = model.encode(src, src_lengths)
    state = model.initial_state(enc)
    if constraints is None:
        constraints = Constraints.build(None, 0, batch, device)
    if copies > 1:
        rows = torch.arange(batch, device=device).repeat_interleave(copies)
        enc, state, limits = enc.repeat(copies), state.select(rows), limits[rows]
        constraints = constraints.select(rows)
    n = batch * copies
    prev = torch.full((n,), BOS, dtype=torch.long, device=device)
    out = torch.full((n, steps), PAD, dtype=torch.long, device=device)
    scores = torch.zeros(n, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    never = _never(device)
    attn_steps = []
    for t in range(steps):
        logits, state, attn = model.step(prev, state, enc)
        logp = _log_probs(logits, t, limits, min_len, min_limit, never)
        best, token = choose(constraints.apply(logp, t, out[:, :t]), t)
        token = token.masked_fill(done, PAD)
        constraints = constraints.took(None, token)
        scores += best.masked_fill(done, 0.0)
        out[:, t] = token
        if return_attention:
            attn_steps.append(attn.float())
        done |= token == EOS
        prev = token
        if t in sync and bool(done.all()):
            break
    lengths = (out == EOS).long().argmax(dim=1)
    attention = None
    if return_attention:
        attention = torch.stack(attn_steps, dim=1).view(batch, copies, len(attn_steps), -1)
    shape = (batch, copies)
    return out.view(*shape, steps), lengths.view(shape), scores.view(shape), attention


@torch.inference_mode()
def greedy(
    model: Model,
    src: Tensor,
    src_lengths: Tensor,
    max_len: Tensor | int,
    options: DecodingOptions = RAW,
    return_attention: bool = False,
    constraints: Constraints | None = None,
) -> Hypotheses:
    """Pick the most probable token at every step; scores / lp (the default, RAW: raw
    log-probabilities)."""
    if src.size(0) == 0:
        return _empty(return_attention)
    tokens, lengths, scores, attention = _one_per_row(
        model,
        src,
        src_lengths,
        1,
        max_len,
        options.min_len,
        return_attention,
        constraints,
        _most_probable,
    )
    normalised = scores / length_divisor(lengths + 1, options.length_penalty, options.length_norm)
    return _unpack(tokens, lengths, normalised, attention, src_lengths)


@torch.inference_mode()
def sample(
    model: Model,
    src: Tensor,
    src_lengths: Tensor,
    max_len: Tensor | int,
    options: DecodingOptions,
    lines: Sequence[int],
    return_attention: bool = False,
    constraints: Constraints | None = None,
) -> Hypotheses:
    """Draw options.sampling.nsamples outputs per sentence (nmt/generation/sampling.py;
    `lines` are the sentences' line numbers, which seed their draws) and return the nbest of
    them best first by score / lp. The scores are the model's, not the tempered and
    truncated distribution's, so they mean what search scores mean."""
    batch, sampling = src.size(0), options.sampling
    if batch == 0:
        return _empty(return_attention)
    steps = _limits(max_len, batch, src.device)[2] + 1
    u = uniforms(sampling.seed, lines, sampling.nsamples, steps).to(src.device)

    def choose(logp: Tensor, step: int) -> tuple[Tensor, Tensor]:
        token = draw(logp, u[:, step], sampling)
        return logp.gather(1, token.unsqueeze(1)).squeeze(1), token

    tokens, lengths, scores, attention = _one_per_row(
        model,
        src,
        src_lengths,
        sampling.nsamples,
        max_len,
        options.min_len,
        return_attention,
        constraints,
        choose,
    )
    divisor = length_divisor(lengths + 1, options.length_penalty, options.length_norm)
    scores, order = (scores / divisor).topk(options.nbest, dim=1)
    tokens, lengths = _gather_beams(tokens, order), lengths.gather(1, order)
    attention = None if attention is None else _gather_beams(attention, order)
    return _unpack(tokens, lengths, scores, attention, src_lengths)


def length_divisor(length: Tensor, alpha: float, norm: str) -> Tensor:
    """lp for outputs of `length` positions (pieces + EOS): length**alpha ("power") or
    ((5 + length) / 6)**alpha ("gnmt"); 1 for alpha 0."""
    length = length.float()
    if not alpha:
        return torch.ones_like(length)
    if norm == "gnmt":
        return ((5.0 + length) / 6.0) ** alpha
    return length**alpha


def gnmt_coverage(coverage: Tensor, source: Tensor, beta: float) -> Tensor:
    """beta * sum_j log(min(coverage_j, 1)) over the source positions (source: [..., S]
    True where a position is real; coverage [..., S] the attention summed over outputs)."""
    logs = coverage.clamp(min=TINY, max=1.0).log().masked_fill(~source, 0.0)
    return beta * logs.sum(dim=-1)


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


@dataclass
class _Beams:
    """The sentences still searched: per sentence its K open hypotheses and best finished
    ones ([B, ...]), per beam row what the model carries ([B * K, ...])."""

    origin: Tensor  # [B] input row of each sentence
    limits: Tensor  # [B] most output pieces
    best_length: Tensor  # [B] (limit + 1) ** alpha, divides the bound of an open score
    scores: Tensor  # [B, K] raw log-probabilities of the open hypotheses; -inf: none
    history: Tensor  # [B, K, T] their tokens so far
    attention: Tensor | None  # [B, K, T, S] their attention so far
    coverage: Tensor | None  # [B, K, S] their attention summed over outputs (coverage penalty)
    source: Tensor  # [B, S] True at each sentence's source positions
    finished: _Finished  # [B, N]
    done: Tensor  # [B] finished, not yet removed
    first_row: Tensor  # [B, 1] row of each sentence's first beam: arange(B) * K
    enc: Any  # [B * K] the model's Encoded
    state: Any  # [B * K] the model's decoder state
    prev: Tensor  # [B * K] last tokens
    row_limits: Tensor  # [B * K] limits per beam row
    constraints: Constraints  # [B * K]

    def advance(
        self, t: int, scores: Tensor, from_beam: Tensor, tokens: Tensor, state, coverage
    ) -> None:
        """Continue with the K best open candidates: candidate j of sentence b extends beam
        from_beam[b, j] by tokens[b, j]; `state` is the model's state after step t and
        `coverage` each beam's coverage after it (or None)."""
        self.scores = scores
        self.history = _gather_beams(self.history, from_beam)
        self.history[:, :, t] = tokens
        if self.attention is not None:
            self.attention = _gather_beams(self.attention, from_beam)
        rows = (self.first_row + from_beam).view(-1)
        self.state = state.select(rows)
        self.prev = tokens.view(-1)
        self.constraints = self.constraints.took(rows, self.prev)
        if coverage is not None:
            self.coverage = _gather_beams(coverage, from_beam)

    def mark_done(self, t: int, min_limit: int) -> None:
        """Done: nothing open can still beat the N-th finished hypothesis (when nothing is
        open at all, bound and worst may both be -inf: done too), or the limit is reached.
        A done sentence's open scores become -inf, so it takes no more."""
        bound = self.scores.max(dim=1).values / self.best_length
        self.done |= bound <= self.finished.scores[:, -1]
        if t >= min_limit:
            self.done |= t >= self.limits
        self.scores.masked_fill_(self.done.unsqueeze(1), NEG_INF)

    def keep(self, live: Tensor) -> _Beams:
        """Only the sentences `live` (indices), with their beam rows."""
        k = self.scores.size(1)
        rows = (live.unsqueeze(1) * k + torch.arange(k, device=live.device)).view(-1)
        return _Beams(
            origin=self.origin[live],
            limits=self.limits[live],
            best_length=self.best_length[live],
            scores=self.scores[live],
            history=self.history[live],
            attention=None if self.attention is None else self.attention[live],
            coverage=None if self.coverage is None else self.coverage[live],
            source=self.source[live],
            finished=self.finished.rows(live),
            done=self.done[live],
            first_row=self.first_row[: live.numel()],
            enc=self.enc.select(rows),
            state=self.state.select(rows),
            prev=self.prev[rows],
            row_limits=self.row_limits[rows],
            constraints=self.constraints.select(rows),
        )


@torch.inference_mode()
def beam_search(
    model: Model,
    src: Tensor,
    src_lengths: Tensor,
    max_len: Tensor | int,
    options: DecodingOptions,
    return_attention: bool = False,
    constraints: Constraints | None = None,
) -> Hypotheses:
    """Batched beam search of options.beam; returns the options.nbest hypotheses per
    sentence, best first.

    With length_penalty 0 and beam 1 it returns what greedy returns. DecodingOptions checks
    the options alone and together; a coverage penalty only for a model with attention is
    nmt/inference/decode_lines.py's to check.
    """
    batch, device, k, nbest = src.size(0), src.device, options.beam, options.nbest
    length_penalty, length_norm = options.length_penalty, options.length_norm
    min_len, coverage_penalty = options.min_len, options.coverage_penalty
    if batch == 0:
        return _empty(return_attention)
    if constraints is None:
        constraints = Constraints.build(None, 0, batch, device)
    limits, min_limit, max_limit = _limits(max_len, batch, device)
    steps = max_limit + 1
    sync = _sync_points(steps, device)
    src_len = src.size(1)

    def empty(n: int) -> _Finished:
        attention = torch.zeros(n, nbest, steps, src_len, device=device)
        return _Finished(
            torch.full((n, nbest), NEG_INF, device=device),
            torch.full((n, nbest, steps), PAD, dtype=torch.long, device=device),
            torch.zeros(n, nbest, dtype=torch.long, device=device),
            attention if return_attention else None,
        )

    enc = model.encode(src, src_lengths)
    rows = torch.arange(batch, device=device).repeat_interleave(k)
    scores = torch.full((batch, k), NEG_INF, device=device)
    scores[:, 0] = 0.0  # one live beam at the start, so the first step does not repeat it
    beams = _Beams(
        origin=torch.arange(batch, device=device),
        limits=limits,
        best_length=length_divisor(limits + 1, length_penalty, length_norm),
        scores=scores,
        history=torch.full((batch, k, steps), PAD, dtype=torch.long, device=device),
        attention=(
            torch.zeros(batch, k, steps, src_len, device=device) if return_attention else None
        ),
        coverage=torch.zeros(batch, k, src_len, device=device) if coverage_penalty else None,
        source=torch.arange(src_len, device=device) < src_lengths.unsqueeze(1),
        finished=empty(batch),
        done=torch.zeros(batch, dtype=torch.bool, device=device),
        first_row=torch.arange(batch, device=device).unsqueeze(1) * k,
        enc=enc.repeat(k),
        state=model.initial_state(enc).select(rows),
        prev=torch.full((batch * k,), BOS, dtype=torch.long, device=device),
        row_limits=limits.repeat_interleave(k),
        constraints=constraints.select(rows),
    )
    results = empty(batch)  # filled as sentences finish, indexed by input row
    never = _never(device)
    for t in range(steps):
        active = beams.scores.size(0)
        logits, state, attn = model.step(beams.prev, beams.state, beams.enc)
        vocab = logits.size(-1)
        logp = _log_probs(logits, t, beams.row_limits, min_len, min_limit, never)
        logp = beams.constraints.apply(logp, t, beams.history.view(active * k, steps)[:, :t])
        # in place: the step's log-probabilities are not read again, and [N, V] is large
        candidates = logp.view(active, k, vocab).add_(beams.scores.unsqueeze(2)).view(active, -1)
        top_scores, top_index = candidates.topk(min(2 * k, k * vocab))
        if beams.constraints.phrases is not None:
            top_scores, top_index = _allocate(candidates, top_index, beams, vocab)
        top_beam, top_token = top_index // vocab, top_index % vocab
        # Each beam offers EOS at most once, so at least K of the 2K candidates do not end.
        is_eos = top_token == EOS
        if beams.attention is not None:
            beams.attention[:, :, t] = attn.float().view(active, k, -1)
        coverage = None
        if beams.coverage is not None:
            coverage = beams.coverage + attn.float().view(active, k, -1)

        # EOS among the K best candidates finishes a hypothesis (its tokens end before t).
        ended = top_beam[:, :k]
        normalised = top_scores[:, :k] / length_divisor(
            torch.tensor(t + 1), length_penalty, length_norm
        )
        if coverage is not None:
            covered = _gather_beams(coverage, ended)
            normalised = normalised + gnmt_coverage(
                covered, beams.source.unsqueeze(1), coverage_penalty
            )
        beams.finished.merge(
            normalised.masked_fill(~is_eos[:, :k], NEG_INF),
            _gather_beams(beams.history, ended),
            t,
            None if beams.attention is None else _gather_beams(beams.attention, ended),
        )

        # The K best candidates that do not end stay open.
        keep = torch.sort(is_eos.to(torch.uint8), dim=1, stable=True).indices[:, :k]
        chosen = [top.gather(1, keep) for top in (top_scores, top_beam, top_token)]
        beams.advance(t, *chosen, state, coverage)
        beams.mark_done(t, min_limit)
        if t not in sync:
            continue
        done = beams.done
        n_done = int(done.sum())
        if n_done == 0:
            continue
        _store(results, beams.origin[done], beams.finished.rows(done))
        if n_done == active:
            break
        beams = beams.keep((~done).nonzero().squeeze(1))
    else:  # the last step reached every sentence's limit: all are finished
        _store(results, beams.origin, beams.finished)
    return _unpack(results.tokens, results.lengths, results.scores, results.attention, src_lengths)


def _allocate(
    candidates: Tensor, top_index: Tensor, beams: _Beams, vocab: int
) -> tuple[Tensor, Tensor]:
    """Dynamic beam allocation: the 2K best candidates ([A, K * V] index) and every beam's
    pieces that advance a phrase, ordered so that the first K hold each bank's best (a
    bank: the candidates with the same constraint pieces met), then each bank's second
    best, and so on, better scores first within a round. Returns [A, M] scores and index,
    the impossible (-inf) last."""
    active, k = beams.scores.shape
    phrases = beams.constraints.phrases
    advancing = phrases.next_pieces().view(active, -1)  # [A, K * C]
    offsets = torch.arange(k, device=advancing.device) * vocab
    extra = advancing + offsets.repeat_interleave(advancing.size(1) // k).unsqueeze(0)
    extra_scores = candidates.gather(1, extra).masked_fill(advancing == PAD, NEG_INF)
    earlier = torch.ones(extra.size(1), extra.size(1), device=extra.device).tril(-1).bool()
    repeated = (extra.unsqueeze(2) == top_index.unsqueeze(1)).any(dim=2)
    repeated |= ((extra.unsqueeze(2) == extra.unsqueeze(1)) & earlier).any(dim=2)
    index = torch.cat([top_index, extra], dim=1)
    scores = torch.cat(
        [candidates.gather(1, top_index), extra_scores.masked_fill(repeated, NEG_INF)], 1
    )
    rows = beams.first_row + index // vocab
    bank = -phrases.remaining_after(rows, index % vocab)
    better = scores.unsqueeze(1) > scores.unsqueeze(2)  # [A, M, M]: j scores above i
    same_bank = bank.unsqueeze(1) == bank.unsqueeze(2)
    rank = (better & same_bank).sum(dim=2).masked_fill(scores == NEG_INF, index.size(1))
    by_score = scores.sort(dim=1, descending=True, stable=True).indices
    order = by_score.gather(1, rank.gather(1, by_score).sort(dim=1, stable=True).indices)
    return scores.gather(1, order), index.gather(1, order)


def _store(results: _Finished, rows: Tensor, done: _Finished) -> None:
    results.scores[rows] = done.scores
    results.tokens[rows] = done.tokens
    results.lengths[rows] = done.lengths
    if results.attention is not None:
        results.attention[rows] = done.attention


def search(
    model: Model,
    src: Tensor,
    src_lengths: Tensor,
    options: DecodingOptions,
    lines: Sequence[int] = (),
    return_attention: bool = False,
    constraints: Constraints | None = None,
) -> Hypotheses:
    """Search a batch as `options` say: sampling (each sentence seeded by its number in
    `lines`), greedy for beam 1 and one hypothesis, else beam search; every score
    length-normalised."""
    max_len = length_limits(src_lengths, options.max_len_a, options.max_len_b, model)
    if options.sampling is not None:
        return sample(
            model, src, src_lengths, max_len, options, lines, return_attention, constraints
        )
    if options.beam == 1 and options.nbest == 1:
        return greedy(model, src, src_lengths, max_len, options, return_attention, constraints)
    return beam_search(model, src, src_lengths, max_len, options, return_attention, constraints)
