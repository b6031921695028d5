import random

import datasets
import pytest
import torch

from nmt.data.batching import ParallelData, collate, token_batches
from nmt.data.tokenizer import BOS, EOS, PAD


def random_lengths(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, 60) for _ in range(n)]


def test_collate_adds_eos_bos_and_pads():
    batch = collate([[5, 6, 7], [8]], [[9], [10, 11]], [4, 2])
    assert batch.src.tolist() == [[5, 6, 7, EOS], [8, EOS, PAD, PAD]]
    assert batch.src_lengths.tolist() == [4, 2]
    assert batch.tgt_in.tolist() == [[BOS, 9, PAD], [BOS, 10, 11]]
    assert batch.tgt_out.tolist() == [[9, EOS, PAD], [10, 11, EOS]]
    assert batch.index.tolist() == [4, 2]
    assert batch.n_tokens == 5 == int((batch.tgt_out != PAD).sum())


def test_collate_without_targets_for_translation():
    batch = collate([[5], [6, 7]], None, [0, 1])
    assert batch.tgt_in.shape == (2, 0) and batch.tgt_out.shape == (2, 0)
    assert batch.n_tokens == 0
    moved = batch.to("cpu")
    assert moved.src.tolist() == batch.src.tolist()
    assert moved.src_lengths.dtype == torch.long


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_example_once_and_within_budget(shuffle):
    lengths = random_lengths(3000) + [500]  # one example longer than the budget
    batches = token_batches(lengths, 400, shuffle=shuffle, seed=3)
    seen = sorted(i for batch in batches for i in batch)
    assert seen == list(range(len(lengths)))
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert padded <= 400 or len(batch) == 1


def test_same_seed_same_batches_other_seed_other_order():
    lengths = random_lengths(2000)
    first = token_batches(lengths, 500, shuffle=True, seed=11)
    assert token_batches(lengths, 500, shuffle=True, seed=11) == first
    assert token_batches(lengths, 500, shuffle=True, seed=12) != first


def test_padding_stays_small_within_pools():
    lengths = random_lengths(5000)
    batches = token_batches(lengths, 1000, shuffle=True, seed=0)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded / sum(lengths) < 1.1


def test_unshuffled_batches_are_sorted_by_length_then_secondary():
    batches = token_batches([3, 1, 3, 2], 100, shuffle=False, secondary=[9, 0, 1, 0])
    assert batches == [[1, 3, 2, 0]]


def test_empty():
    assert token_batches([], 10, shuffle=True) == []


def test_parallel_data_from_dataset_respects_selection():
    dataset = datasets.Dataset.from_dict(
        {
            "src": ["a b", "c"],
            "tgt": ["x", "y z"],
            "src_ids": [[5, 6], [7]],
            "tgt_ids": [[8], [9, 10]],
        }
    ).select([1, 0])
    data = ParallelData.from_dataset(dataset)
    assert data.src_ids == [[7], [5, 6]]
    assert data.refs == ["y z", "x"]
    assert len(data) == 2
    batch = data.collate([1])
    assert batch.tgt_out.tolist() == [[8, EOS]]
    assert sorted(i for b in data.batches(100, shuffle=True, seed=1) for i in b) == [0, 1]
