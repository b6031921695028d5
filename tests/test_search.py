"""Greedy and beam search against a tiny fake model and the real one.

The fake model implements the contract's search interface (encode / initial_state / step /
select) with fixed random weights, so these tests pin the search itself.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import pytest
import torch
from test_translations import TINY_TRANSFORMER
from torch import Tensor, nn

from nmt.data.batching import collate
from nmt.data.tokenizer import BOS, EOS, PAD, UNK
from nmt.generation.decoding import DecodingOptions
from nmt.generation.search import beam_search, gnmt_coverage, greedy, length_divisor, length_limits
from nmt.models.interface import repeated_rows


@dataclass
class FakeEncoded:
    memory: Tensor  # [B, S, D]
    mask: Tensor  # [B, S]

    def select(self, index: Tensor) -> FakeEncoded:
        return FakeEncoded(self.memory.index_select(0, index), self.mask.index_select(0, index))

    def repeat(self, copies: int) -> FakeEncoded:
        return self.select(repeated_rows(self.mask.size(0), copies, self.mask.device))


@dataclass
class FakeState:
    h: Tensor  # [N, D]

    def select(self, index: Tensor) -> FakeState:
        return FakeState(self.h.index_select(0, index))


class FakeModel(nn.Module):
    """An attention RNN in a few lines: enough structure for scores to depend on history."""

    has_attention = True

    def __init__(self, vocab: int = 12, dim: int = 8, seed: int = 0, eos_bias: float = 0.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("src_emb", torch.randn(vocab, dim, generator=g))
        self.register_buffer("tgt_emb", torch.randn(vocab, dim, generator=g))
        self.register_buffer("w", torch.randn(dim, dim, generator=g) / math.sqrt(dim))
        self.register_buffer("out", torch.randn(dim, vocab, generator=g) * 2)
        bias = torch.zeros(vocab)
        bias[EOS] = eos_bias
        self.register_buffer("bias", bias)
        self.steps = 0

    def encode(self, src: Tensor, src_lengths: Tensor) -> FakeEncoded:
        mask = torch.arange(src.size(1)) < src_lengths.unsqueeze(1)
        return FakeEncoded(torch.tanh(self.src_emb[src]) * mask.unsqueeze(2), mask)

    def initial_state(self, enc: FakeEncoded) -> FakeState:
        return FakeState(enc.memory.sum(1) / enc.mask.sum(1, keepdim=True))

    def step(self, prev: Tensor, state: FakeState, enc: FakeEncoded):
        self.steps += 1
        energy = torch.einsum("nsd,nd->ns", enc.memory, state.h).masked_fill(~enc.mask, -1e9)
        attn = torch.softmax(energy, dim=-1)
        context = torch.einsum("ns,nsd->nd", attn, enc.memory)
        h = torch.tanh(state.h @ self.w + self.tgt_emb[prev] + context)
        return h @ self.out + self.bias, FakeState(h), attn

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        enc = self.encode(src, src_lengths)
        state = self.initial_state(enc)
        logits = []
        for t in range(tgt_in.size(1)):
            out, state, _ = self.step(tgt_in[:, t], state, enc)
            logits.append(out)
        return torch.stack(logits, dim=1)


def random_sources(n: int, vocab: int, seed: int, max_len: int = 9) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_len + 1, (n,), generator=g).tolist()
    return [torch.randint(4, vocab, (length,), generator=g).tolist() for length in lengths]


def teacher_forced_score(model, src_ids: list[int], hyp: list[int], alpha: float) -> float:
    """The model's log-probability of hyp + EOS by teacher forcing, length-normalised."""
    batch = collate([src_ids], [hyp], [0])
    with torch.no_grad():
        logits = model(batch.src, batch.src_lengths, batch.tgt_in)
    logp = torch.log_softmax(logits.float(), dim=-1)[0]
    total = logp.gather(1, batch.tgt_out[0].unsqueeze(1)).sum().item()
    return total / (len(hyp) + 1) ** alpha


@pytest.fixture
def fake() -> FakeModel:
    return FakeModel().eval()


def test_beam_one_equals_greedy(fake):
    batch = collate(random_sources(16, 12, seed=1), None, list(range(16)))
    g = greedy(fake, batch.src, batch.src_lengths, max_len=12)
    b = beam_search(
        fake, batch.src, batch.src_lengths, 12, DecodingOptions(beam=1, length_penalty=0.0)
    )
    assert b.tokens == g.tokens
    for gs, bs in zip(g.scores, b.scores, strict=True):
        assert bs[0] == pytest.approx(gs[0], abs=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_scores_sorted_and_equal_teacher_forcing(fake, alpha):
    sources = random_sources(8, 12, seed=2)
    batch = collate(sources, None, list(range(8)))
    hyps = beam_search(
        fake, batch.src, batch.src_lengths, 10, DecodingOptions(length_penalty=alpha, nbest=5)
    )
    for src_ids, tokens, scores in zip(sources, hyps.tokens, hyps.scores, strict=True):
        assert len(tokens) == 5
        assert scores == sorted(scores, reverse=True)
        assert all(t not in (PAD, BOS, EOS) for hyp in tokens for t in hyp)
        for hyp, score in zip(tokens, scores, strict=True):
            assert score == pytest.approx(teacher_forced_score(fake, src_ids, hyp, alpha), abs=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_wide_beam_finds_the_exact_nbest(alpha):
    """Vocabulary of two real tokens, at most 4 pieces: a beam of 48 sees every prefix, so
    the stop rule must not cut the search before the true 5 best are known."""
    model = FakeModel(vocab=5, seed=3).eval()
    src_ids = [4, 1, 4]
    everything = [list(s) for n in range(5) for s in itertools.product([UNK, 4], repeat=n)]
    exact = sorted((teacher_forced_score(model, src_ids, s, alpha), s) for s in everything)[::-1]
    batch = collate([src_ids], None, [0])
    options = DecodingOptions(beam=48, length_penalty=alpha, nbest=5)
    hyps = beam_search(model, batch.src, batch.src_lengths, 4, options)
    assert hyps.tokens[0] == [s for _, s in exact[:5]]
    assert hyps.scores[0] == pytest.approx([score for score, _ in exact[:5]], abs=1e-5)


@pytest.mark.parametrize("beam", [1, 4])
def test_batched_equals_one_by_one(fake, beam):
    sources = random_sources(12, 12, seed=4)
    batch = collate(sources, None, list(range(12)))
    limits = length_limits(batch.src_lengths, 1.5, 3)
    options = DecodingOptions(beam=beam, nbest=beam)
    together = beam_search(fake, batch.src, batch.src_lengths, limits, options)
    for i, src_ids in enumerate(sources):
        one = collate([src_ids], None, [0])
        alone = beam_search(
            fake, one.src, one.src_lengths, length_limits(one.src_lengths, 1.5, 3), options
        )
        assert alone.tokens[0] == together.tokens[i]
        assert alone.scores[0] == pytest.approx(together.scores[i], abs=1e-5)


def test_greedy_batched_equals_one_by_one(fake):
    sources = random_sources(10, 12, seed=5)
    batch = collate(sources, None, list(range(10)))
    together = greedy(fake, batch.src, batch.src_lengths, length_limits(batch.src_lengths, 1, 2))
    for i, src_ids in enumerate(sources):
        one = collate([src_ids], None, [0])
        alone = greedy(fake, one.src, one.src_lengths, length_limits(one.src_lengths, 1, 2))
        assert alone.tokens[0] == together.tokens[i]


@pytest.mark.parametrize("beam", [1, 3])
def test_length_limits_hold(beam):
    model = FakeModel(eos_bias=5.0).eval()  # wants to stop at once
    sources = random_sources(6, 12, seed=6)
    batch = collate(sources, None, list(range(6)))
    fixed = beam_search(
        model, batch.src, batch.src_lengths, 7, DecodingOptions(beam=beam, min_len=7)
    )
    assert [len(t[0]) for t in fixed.tokens] == [7] * 6
    limits = torch.tensor([0, 1, 2, 3, 4, 5])
    short = FakeModel(eos_bias=-20.0).eval()  # never wants to stop
    capped = beam_search(short, batch.src, batch.src_lengths, limits, DecodingOptions(beam=beam))
    assert [len(t[0]) for t in capped.tokens] == limits.tolist()
    greedy_capped = greedy(short, batch.src, batch.src_lengths, limits)
    assert [len(t[0]) for t in greedy_capped.tokens] == limits.tolist()


def test_search_stops_before_the_length_limit():
    """The stop rule ends a sentence once its best finished hypothesis cannot be beaten."""
    model = FakeModel(eos_bias=6.0).eval()
    batch = collate(random_sources(4, 12, seed=7), None, [0, 1, 2, 3])
    hyps = beam_search(
        model, batch.src, batch.src_lengths, 50, DecodingOptions(beam=4, length_penalty=0.0)
    )
    assert max(len(t[0]) for t in hyps.tokens) < 5
    assert model.steps < 10


def test_attention_rows_cover_output_and_source(fake):
    sources = random_sources(5, 12, seed=8)
    batch = collate(sources, None, list(range(5)))
    for search in (
        lambda: greedy(fake, batch.src, batch.src_lengths, 8, return_attention=True),
        lambda: beam_search(fake, batch.src, batch.src_lengths, 8, DecodingOptions(beam=3), True),
    ):
        hyps = search()
        for src_ids, tokens, attn in zip(sources, hyps.tokens, hyps.attention, strict=True):
            assert attn.shape == (len(tokens[0]) + 1, len(src_ids) + 1)
            assert torch.allclose(attn.sum(1), torch.ones(attn.size(0)), atol=1e-5)
    g = greedy(fake, batch.src, batch.src_lengths, 8, return_attention=True)
    b = beam_search(
        fake, batch.src, batch.src_lengths, 8, DecodingOptions(beam=1, length_penalty=0.0), True
    )
    for ga, ba in zip(g.attention, b.attention, strict=True):
        assert torch.allclose(ga, ba, atol=1e-6)


def tiny_real_model(attention: str, order: str = "bahdanau", cell: str = "lstm"):
    from nmt.config.recipe import ModelConfig
    from nmt.models.architectures import build_model

    torch.manual_seed(0)
    cfg = ModelConfig(
        cell=cell,
        embed_dim=8,
        encoder_layers=1,
        encoder_hidden=5,
        decoder_layers=1,
        decoder_hidden=10,
        attention=attention,
        attention_order=order,
        attention_dim=7,
        dropout=0.0,
        reverse_source=attention == "none",
    )
    return build_model(cfg, 15, 13).eval()


def tiny_transformer(seed: int = 0):
    """A Transformer of the vocabularies of tiny_real_model, so that the two can ensemble."""
    from nmt.config.recipe import ModelConfig
    from nmt.models.architectures import build_model

    torch.manual_seed(seed)
    return build_model(ModelConfig(**TINY_TRANSFORMER, tie_embeddings=True), 15, 13).eval()


REAL_MODELS = {
    "bahdanau-lstm": lambda: tiny_real_model("bahdanau"),
    "luong-general-gru": lambda: tiny_real_model("general", "luong", "gru"),
    "none-lstm": lambda: tiny_real_model("none"),
    "transformer": tiny_transformer,
}


@pytest.mark.parametrize("name", REAL_MODELS)
def test_real_model_beam_rescored_and_batch_independent(name):
    model = REAL_MODELS[name]()
    sources = random_sources(6, 15, seed=9)
    batch = collate(sources, None, list(range(6)))
    limits = length_limits(batch.src_lengths, 1.0, 4)
    options = DecodingOptions(beam=3, length_penalty=0.8, nbest=3)
    hyps = beam_search(model, batch.src, batch.src_lengths, limits, options)
    for i, src_ids in enumerate(sources):
        for hyp, score in zip(hyps.tokens[i], hyps.scores[i], strict=True):
            assert score == pytest.approx(teacher_forced_score(model, src_ids, hyp, 0.8), abs=1e-4)
        one = collate([src_ids], None, [0])
        alone = beam_search(model, one.src, one.src_lengths, limits[i : i + 1], options)
        assert alone.tokens[0] == hyps.tokens[i]
    g = greedy(model, batch.src, batch.src_lengths, limits)
    b1 = beam_search(
        model, batch.src, batch.src_lengths, limits, DecodingOptions(beam=1, length_penalty=0.0)
    )
    assert g.tokens == b1.tokens


@pytest.mark.parametrize("every", [5, None], ids=["every-5", "never"])
def test_reading_finished_flags_late_changes_nothing(fake, monkeypatch, every):
    """On an accelerator the host reads the finished flags every few steps only, and never
    after the last step (a search shorter than that reads nothing in its loop)."""
    import nmt.generation.search

    sources = random_sources(10, 12, seed=10)
    batch = collate(sources, None, list(range(10)))
    limits = length_limits(batch.src_lengths, 1.5, 3)
    expected = beam_search(
        fake, batch.src, batch.src_lengths, limits, DecodingOptions(beam=3, nbest=2)
    )
    expected_greedy = greedy(fake, batch.src, batch.src_lengths, limits)

    def sync_points(steps, device):
        return set() if every is None else set(range(2, steps - 1, every))

    monkeypatch.setattr(nmt.generation.search, "_sync_points", sync_points)
    late = beam_search(fake, batch.src, batch.src_lengths, limits, DecodingOptions(beam=3, nbest=2))
    assert late.tokens == expected.tokens
    for got, want in zip(late.scores, expected.scores, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    assert greedy(fake, batch.src, batch.src_lengths, limits).tokens == expected_greedy.tokens


def test_the_gnmt_formulas_on_a_constructed_case():
    lengths = torch.tensor([1, 3, 10])
    assert length_divisor(lengths, 0.6, "gnmt").tolist() == pytest.approx(
        [1.0, (8 / 6) ** 0.6, (15 / 6) ** 0.6]
    )
    assert length_divisor(lengths, 0.6, "power").tolist() == pytest.approx([1.0, 3**0.6, 10**0.6])
    assert length_divisor(lengths, 0.0, "gnmt").tolist() == [1.0, 1.0, 1.0]
    coverage = torch.tensor([[0.5, 2.0, 1.0, 0.25, 0.0]])
    source = torch.tensor([[True, True, True, True, False]])  # the last is padding
    expected = 0.2 * (math.log(0.5) + math.log(0.25))
    assert gnmt_coverage(coverage, source, 0.2).item() == pytest.approx(expected)


def test_the_gnmt_length_norm_finds_its_own_exact_nbest():
    """alpha 1: the exact 5 best under ((5 + |Y|) / 6)**alpha, which differ from those
    under |Y|**alpha on this case, so the norm reaches the ranking."""
    model = FakeModel(vocab=5, seed=3).eval()
    src_ids = [4, 1, 4]
    everything = [list(s) for n in range(5) for s in itertools.product([UNK, 4], repeat=n)]

    def exact(norm: str) -> list[list[int]]:
        def score(s):
            raw = teacher_forced_score(model, src_ids, s, 0.0)
            return raw / length_divisor(torch.tensor(len(s) + 1), 1.0, norm).item()

        return sorted(everything, key=score, reverse=True)[:5]

    batch = collate([src_ids], None, [0])
    options = DecodingOptions(beam=48, nbest=5, length_norm="gnmt")
    found = beam_search(model, batch.src, batch.src_lengths, 4, options)
    assert found.tokens[0] == exact("gnmt")
    assert exact("gnmt") != exact("power")


def test_the_coverage_penalty_scores_and_reranks(fake):
    """Each finished score is the normalised log-probability plus beta * sum log min of
    the attention its own outputs paid each source word; and the penalty changes what
    the beam picks for some sentence."""
    sources = random_sources(12, 12, seed=5)
    batch = collate(sources, None, list(range(12)))
    plain = beam_search(fake, batch.src, batch.src_lengths, 10, DecodingOptions(beam=4, nbest=2))
    options = DecodingOptions(beam=4, nbest=2, coverage_penalty=2.0)
    covered = beam_search(fake, batch.src, batch.src_lengths, 10, options, True)
    for src_ids, ranked, scores, attentions in zip(
        sources, covered.tokens, covered.scores, covered.attentions, strict=True
    ):
        for tokens, score, attention in zip(ranked, scores, attentions, strict=True):
            mass = attention.sum(dim=0).clamp(max=1.0)
            expected = teacher_forced_score(fake, src_ids, tokens, 1.0) + 2.0 * mass.log().sum()
            assert score == pytest.approx(float(expected), abs=1e-4)
    assert covered.tokens != plain.tokens
