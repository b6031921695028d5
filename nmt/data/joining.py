"""Joined pairs: consecutive sentence pairs glued into one longer pair.

Multi30k's captions are short (26 of the 1,000 test2016 sources have more than 20 words),
so on its own it cannot show how a model holds up on the 30-60 word sentences of Bahdanau
et al.'s Figure 2. Gluing consecutive pairs (sources joined by a space, targets likewise)
makes long pairs whose translation is still exactly known:

- `SPLIT-long` (e.g. `test2016-long`, `valid-long`) is any evaluation split cut into
  consecutive groups of 1, 2, 3, 4, 1, 2, ... pairs, each group joined into one pair:
  deterministic, and every pair of the split is in it once.
- `data.join_max: K` adds to the training data, besides every pair alone, one more pass
  over the training pairs cut into consecutive groups of 2, 3, ..., K, 2, ... pairs, each
  joined, so that a model sees long inputs while training (K = 1: off).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle

import datasets

LONG_SUFFIX = "-long"
LONG_GROUP_SIZES = (1, 2, 3, 4)


def group_bounds(count: int, sizes: Sequence[int]) -> list[tuple[int, int]]:
    """[start, end) of consecutive groups over `count` items whose sizes cycle through
    `sizes`; the last group holds what is left."""
    bounds, start = [], 0
    for size in cycle(sizes):
        if start >= count:
            return bounds
        bounds.append((start, min(start + size, count)))
        start += size
    raise AssertionError("unreachable: cycle() never ends")


def join_groups(pairs: datasets.Dataset, sizes: Sequence[int]) -> datasets.Dataset:
    """Each consecutive group of `pairs` (columns src, tgt) as one pair joined by spaces."""
    src, tgt = pairs["src"][:], pairs["tgt"][:]
    bounds = group_bounds(len(src), sizes)
    return datasets.Dataset.from_dict(
        {
            "src": [" ".join(src[start:end]) for start, end in bounds],
            "tgt": [" ".join(tgt[start:end]) for start, end in bounds],
        }
    )


def long_base(name: str) -> str | None:
    """The split `name` joins ("test2016" for "test2016-long"), or None if it joins none."""
    return name.removesuffix(LONG_SUFFIX) if name.endswith(LONG_SUFFIX) else None


def with_joined(train: datasets.Dataset, join_max: int) -> datasets.Dataset:
    """`train` followed by its pairs joined in groups of 2..join_max (see the module
    docstring); `train` itself when join_max is 1."""
    if join_max < 2:
        return train
    joined = join_groups(train, range(2, join_max + 1))
    return datasets.concatenate_datasets([train, joined])
