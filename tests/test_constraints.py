"""Forced prefixes and n-gram blocking, in greedy search, sampling and beam search."""

from __future__ import annotations

import pytest
import torch
from test_search import FakeModel, random_sources, teacher_forced_score

from nmt.batching import collate
from nmt.constraints import Constraints
from nmt.decoding import Sampling
from nmt.search import beam_search, greedy, sample


def searches(model, batch, limits, constraints, nbest=3):
    """Every search mode over the same batch: name -> hypotheses."""
    sampling = Sampling(nsamples=nbest, seed=4)
    lines = list(range(batch.src.size(0)))
    return {
        "greedy": greedy(model, batch.src, batch.src_lengths, limits, constraints=constraints),
        "beam": beam_search(
            model, batch.src, batch.src_lengths, 4, limits, 1.0, nbest, constraints=constraints
        ),
        "sample": sample(
            model,
            batch.src,
            batch.src_lengths,
            limits,
            sampling,
            lines,
            nbest=nbest,
            constraints=constraints,
        ),
    }


def repeats(tokens: list[int], n: int) -> bool:
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


@pytest.fixture
def chatty() -> FakeModel:
    """A model that rarely stops, so its outputs are long and repeat themselves."""
    return FakeModel(eos_bias=-6.0, seed=1).eval()


def test_every_output_starts_with_its_prefix(chatty):
    sources = random_sources(6, 12, seed=11)
    prefixes = [[5, 6, 7], [], [4], [11, 11, 11, 11], [9, 4], [6]]
    batch = collate(sources, None, list(range(6)))
    constraints = Constraints.build(prefixes, 0, 6, torch.device("cpu"))
    for name, found in searches(chatty, batch, 12, constraints).items():
        for prefix, ranked in zip(prefixes, found.tokens, strict=True):
            assert ranked, name
            for tokens in ranked:
                assert tokens[: len(prefix)] == prefix, name


def test_a_prefixed_beam_output_keeps_its_model_score(chatty):
    """Forcing never renormalises: the score is still the teacher-forced log-probability."""
    sources = random_sources(4, 12, seed=12)
    prefixes = [[5, 6], [7], [], [8, 8, 8]]
    batch = collate(sources, None, list(range(4)))
    constraints = Constraints.build(prefixes, 2, 4, torch.device("cpu"))
    found = beam_search(chatty, batch.src, batch.src_lengths, 3, 9, 0.6, 3, constraints=constraints)
    for src_ids, ranked, scores in zip(sources, found.tokens, found.scores, strict=True):
        for tokens, score in zip(ranked, scores, strict=True):
            assert score == pytest.approx(
                teacher_forced_score(chatty, src_ids, tokens, 0.6), abs=1e-4
            )


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_output_repeats_an_ngram(chatty, n):
    sources = random_sources(8, 12, seed=13)
    batch = collate(sources, None, list(range(8)))
    cpu = torch.device("cpu")
    free = searches(chatty, batch, 12, None)
    assert any(repeats(t, n) for found in free.values() for r in found.tokens for t in r)
    blocked = searches(chatty, batch, 12, Constraints.build(None, n, 8, cpu))
    for name, found in blocked.items():
        for ranked in found.tokens:
            assert all(not repeats(tokens, n) for tokens in ranked), name


def test_a_prefix_wins_over_blocking(chatty):
    """A prefix that itself repeats a bigram is output as given, then nothing repeats."""
    batch = collate(random_sources(1, 12, seed=14), None, [0])
    constraints = Constraints.build([[5, 6, 5, 6]], 2, 1, torch.device("cpu"))
    tokens = greedy(chatty, batch.src, batch.src_lengths, 10, constraints=constraints).tokens[0][0]
    assert tokens[:4] == [5, 6, 5, 6]
    assert not repeats(tokens[3:], 2) and (6, 5) not in zip(tokens[3:], tokens[4:], strict=False)


def test_without_constraints_nothing_changes(chatty):
    sources = random_sources(5, 12, seed=15)
    batch = collate(sources, None, list(range(5)))
    none = Constraints.build([[]] * 5, 0, 5, torch.device("cpu"))
    for name, found in searches(chatty, batch, 9, none).items():
        assert found.tokens == searches(chatty, batch, 9, None)[name].tokens
