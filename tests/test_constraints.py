"""Forced prefixes and n-gram blocking, in greedy search, sampling and beam search."""

from __future__ import annotations

import pytest
import torch
from test_search import (
    REAL_MODELS,
    FakeModel,
    random_sources,
    teacher_forced_score,
    tiny_real_model,
)

from nmt.data.batching import collate
from nmt.generation.constraints import Constraints
from nmt.generation.decoding import DecodingOptions, Sampling
from nmt.generation.search import beam_search, greedy, length_limits, sample


def searches(model, batch, limits, constraints, nbest=3):
    """Every search mode over the same batch: name -> hypotheses."""
    sampling = Sampling(nsamples=nbest, seed=4)
    lines = list(range(batch.src.size(0)))
    return {
        "greedy": greedy(model, batch.src, batch.src_lengths, limits, constraints=constraints),
        "beam": beam_search(
            model,
            batch.src,
            batch.src_lengths,
            limits,
            DecodingOptions(beam=4, nbest=nbest),
            constraints=constraints,
        ),
        "sample": sample(
            model,
            batch.src,
            batch.src_lengths,
            limits,
            DecodingOptions(sampling=sampling, nbest=nbest),
            lines,
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
    options = DecodingOptions(beam=3, length_penalty=0.6, nbest=3)
    found = beam_search(chatty, batch.src, batch.src_lengths, 9, options, constraints=constraints)
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


def contains(tokens: list[int], phrase: list[int]) -> bool:
    return any(tokens[i : i + len(phrase)] == phrase for i in range(len(tokens) - len(phrase) + 1))


def random_phrases(n: int, vocab: int, seed: int) -> list[list[list[int]]]:
    """One to three phrases of one to three pieces per sentence (some sentences none)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        count = int(torch.randint(0, 4, (1,), generator=g))
        lengths = torch.randint(1, 4, (count,), generator=g).tolist()
        rows.append(
            [torch.randint(4, vocab, (length,), generator=g).tolist() for length in lengths]
        )
    return rows


def phrase_constraints(phrases, limits) -> Constraints:
    return Constraints.build(None, 0, len(phrases), torch.device("cpu"), phrases, limits)


@pytest.mark.parametrize("name", REAL_MODELS)
def test_every_phrase_appears_in_every_output(name):
    """Recurrent models and the Transformer, in every search mode: each hypothesis holds
    each of its sentence's phrases, and keeps the model's own score."""
    model = REAL_MODELS[name]()
    sources = random_sources(12, 15, seed=21)
    phrases = random_phrases(12, 13, seed=22)
    batch = collate(sources, None, list(range(12)))
    limits = length_limits(batch.src_lengths, 1.0, 10)
    for mode, found in searches(model, batch, limits, phrase_constraints(phrases, limits)).items():
        for src_ids, wanted, ranked, scores, limit in zip(
            sources, phrases, found.tokens, found.scores, limits.tolist(), strict=True
        ):
            assert ranked, mode
            for tokens, score in zip(ranked, scores, strict=True):
                assert len(tokens) <= limit, mode
                assert all(contains(tokens, phrase) for phrase in wanted), (mode, tokens, wanted)
                alpha = 1.0 if mode != "greedy" else 0.0
                expected = teacher_forced_score(model, src_ids, tokens, alpha)
                assert score == pytest.approx(expected, abs=1e-4), mode


def test_phrases_are_forced_in_when_the_limit_just_allows_them(chatty):
    """A model that never says these pieces still outputs them all within the limit."""
    sources = random_sources(5, 12, seed=23)
    phrases = [[[5, 6, 7], [8]], [[9, 9]], [[4], [10], [11]], [], [[6, 5, 4, 3 + 1]]]
    batch = collate(sources, None, list(range(5)))
    limits = torch.tensor([4, 2, 3, 0, 4])
    for mode, found in searches(chatty, batch, limits, phrase_constraints(phrases, limits)).items():
        for wanted, ranked in zip(phrases, found.tokens, strict=True):
            for tokens in ranked:
                assert all(contains(tokens, phrase) for phrase in wanted), (mode, tokens)


def test_constrained_beam_search_batched_equals_one_by_one():
    model = tiny_real_model("bahdanau")
    sources = random_sources(10, 15, seed=24)
    phrases = random_phrases(10, 13, seed=25)
    batch = collate(sources, None, list(range(10)))
    limits = length_limits(batch.src_lengths, 1.0, 10)
    together = beam_search(
        model,
        batch.src,
        batch.src_lengths,
        limits,
        DecodingOptions(beam=4, nbest=3),
        constraints=phrase_constraints(phrases, limits),
    )
    for i, src_ids in enumerate(sources):
        one = collate([src_ids], None, [0])
        alone = beam_search(
            model,
            one.src,
            one.src_lengths,
            limits[i : i + 1],
            DecodingOptions(beam=4, nbest=3),
            constraints=phrase_constraints(phrases[i : i + 1], limits[i : i + 1]),
        )
        assert alone.tokens[0] == together.tokens[i]
        assert alone.scores[0] == pytest.approx(together.scores[i], abs=1e-5)


def test_a_beam_places_a_phrase_better_than_forcing_it_at_the_end():
    """Dynamic beam allocation keeps hypotheses that have met a phrase early: the beam's
    best scores at least as well as greedy's, which can only force it in at the limit."""
    model = tiny_real_model("bahdanau")
    sources = random_sources(10, 15, seed=26)
    phrases = random_phrases(10, 13, seed=27)
    batch = collate(sources, None, list(range(10)))
    limits = length_limits(batch.src_lengths, 1.0, 10)
    rules = phrase_constraints(phrases, limits)
    g = greedy(model, batch.src, batch.src_lengths, limits, constraints=rules)
    options = DecodingOptions(beam=8, length_penalty=0.0)
    b = beam_search(model, batch.src, batch.src_lengths, limits, options, constraints=rules)
    better = [bs[0] - gs[0] for bs, gs in zip(b.scores, g.scores, strict=True)]
    assert min(better) >= -1e-5
    assert max(better) > 0.1
