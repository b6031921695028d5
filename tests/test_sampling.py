"""Sampling: reproducible by seed whatever the batch, the limits of temperature and top-k,
and draws that follow the distribution."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from test_search import FakeModel, random_sources, teacher_forced_score

from nmt.data.batching import collate
from nmt.generation.decoding import DecodingOptions, Sampling
from nmt.generation.sampling import draw, uniforms
from nmt.generation.search import greedy, length_limits, sample


@pytest.fixture
def fake() -> FakeModel:
    return FakeModel(eos_bias=-1.0).eval()


def sample_all(model, sources, sampling, lines=None, **kwargs):
    batch = collate(sources, None, list(range(len(sources))))
    limits = length_limits(batch.src_lengths, 1.5, 3)
    lines = list(range(len(sources))) if lines is None else lines
    options = DecodingOptions(sampling=sampling, **kwargs)
    return sample(model, batch.src, batch.src_lengths, limits, options, lines)


def test_same_seed_same_samples_at_batch_sizes_1_and_64(fake):
    sources = random_sources(64, 12, seed=20)
    sampling = Sampling(temperature=1.5, nsamples=3, seed=7)
    together = sample_all(fake, sources, sampling, nbest=3)
    for i, src_ids in enumerate(sources):
        alone = sample_all(fake, [src_ids], sampling, lines=[i], nbest=3)
        assert alone.tokens[0] == together.tokens[i]
        assert alone.scores[0] == pytest.approx(together.scores[i], abs=1e-5)
    other = sample_all(fake, sources, Sampling(temperature=1.5, nsamples=3, seed=8), nbest=3)
    assert other.tokens != together.tokens


@pytest.mark.parametrize("sampling", [Sampling(temperature=1e-4), Sampling(topk=1)])
def test_temperature_to_zero_and_top_1_are_greedy(fake, sampling):
    sources = random_sources(16, 12, seed=21)
    batch = collate(sources, None, list(range(16)))
    limits = length_limits(batch.src_lengths, 1.5, 3)
    expected = greedy(fake, batch.src, batch.src_lengths, limits)
    many = replace(sampling, nsamples=4)
    found = sample_all(fake, sources, many, nbest=4, length_penalty=0.0)
    for ranked, scores, best, best_score in zip(
        found.tokens, found.scores, expected.tokens, expected.scores, strict=True
    ):
        assert ranked == best * 4
        assert scores == pytest.approx(best_score * 4, abs=1e-5)
    plain = sample_all(fake, sources, Sampling(nsamples=4, seed=3), nbest=4)
    assert any(len({tuple(t) for t in ranked}) > 1 for ranked in plain.tokens)


def test_samples_are_ranked_by_their_model_scores(fake):
    sources = random_sources(6, 12, seed=22)
    found = sample_all(fake, sources, Sampling(temperature=0.7, topp=0.9, nsamples=5), nbest=5)
    for src_ids, ranked, scores in zip(sources, found.tokens, found.scores, strict=True):
        assert len(ranked) == 5 and scores == sorted(scores, reverse=True)
        for tokens, score in zip(ranked, scores, strict=True):
            assert score == pytest.approx(
                teacher_forced_score(fake, src_ids, tokens, 1.0), abs=1e-4
            )
    best = sample_all(fake, sources, Sampling(temperature=0.7, topp=0.9, nsamples=5), nbest=2)
    assert best.tokens == [ranked[:2] for ranked in found.tokens]


def test_draws_follow_the_truncated_distribution():
    """Evenly spaced numbers split (0, 1] in proportion to the drawn-from probabilities."""
    probs = torch.tensor([0.05, 0.4, 0.0, 0.3, 0.25])
    logp = probs.log().expand(2000, -1)
    u = (torch.arange(2000) + 0.5) / 2000

    def counts(sampling: Sampling) -> list[float]:
        return (torch.bincount(draw(logp, u, sampling), minlength=5) / 2000).tolist()

    assert counts(Sampling()) == pytest.approx(probs.tolist(), abs=1e-3)
    assert counts(Sampling(topk=2)) == pytest.approx([0, 0.4 / 0.7, 0, 0.3 / 0.7, 0], abs=1e-3)
    assert counts(Sampling(topp=0.7)) == pytest.approx([0, 0.4 / 0.7, 0, 0.3 / 0.7, 0], abs=1e-3)
    kept = [0, 0.4 / 0.95, 0, 0.3 / 0.95, 0.25 / 0.95]  # the fewest that reach 0.71
    assert counts(Sampling(topp=0.71)) == pytest.approx(kept, abs=1e-3)
    hot = torch.softmax(probs.log() / 2.0, dim=0).tolist()
    assert counts(Sampling(temperature=2.0)) == pytest.approx(hot, abs=1e-3)


def test_the_numbers_of_a_line_do_not_depend_on_its_batch():
    both = uniforms(5, [3, 9], 2, 6)
    assert both.shape == (4, 6) and bool((both > 0).all() and (both <= 1).all())
    assert torch.equal(uniforms(5, [9], 2, 4), both[2:, :4])
    assert not torch.equal(uniforms(6, [9], 2, 4), both[2:, :4])
