"""Joined pairs: the groups, the joined text, the long splits and joined training data."""

import datasets
import pytest

from nmt.data.joining import group_bounds, join_groups, long_base, with_joined


def pairs(n: int) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"src": [f"s{i}" for i in range(n)], "tgt": [f"t{i}" for i in range(n)]}
    )


def test_groups_cycle_through_the_sizes_and_cover_every_item_once():
    assert group_bounds(12, (1, 2, 3, 4)) == [(0, 1), (1, 3), (3, 6), (6, 10), (10, 11), (11, 12)]
    assert group_bounds(0, (1, 2)) == []
    for count in range(30):
        bounds = group_bounds(count, (2, 3))
        covered = [i for start, end in bounds for i in range(start, end)]
        assert covered == list(range(count))


def test_groups_are_joined_by_spaces_on_both_sides():
    joined = join_groups(pairs(6), (1, 2, 3))
    assert joined["src"][:] == ["s0", "s1 s2", "s3 s4 s5"]
    assert joined["tgt"][:] == ["t0", "t1 t2", "t3 t4 t5"]


def test_training_data_keeps_every_pair_alone_and_adds_groups_of_two_to_k():
    train = pairs(10)
    assert with_joined(train, 1) is train
    joined = with_joined(train, 3)
    assert joined["src"][:10] == train["src"][:]
    assert joined["src"][10:] == ["s0 s1", "s2 s3 s4", "s5 s6", "s7 s8 s9"]


@pytest.mark.parametrize(
    ("name", "base"), [("test2016-long", "test2016"), ("valid-long", "valid"), ("test", None)]
)
def test_a_long_split_names_the_split_it_joins(name, base):
    assert long_base(name) == base
