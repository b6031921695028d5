"""`nmt shortlist RUN`: build a run's vocabulary shortlist (nmt/inference/shortlist.py) from its
corpus's train split, encoded by the run's own sentencepiece models, into RUN/shortlist.pt.
Apart from nmt/inference/shortlist.py because it reads the corpus (through `datasets`), which
decoding never needs to."""

from __future__ import annotations

from nmt.config.recipe import Recipe
from nmt.data.prepare import raw_splits
from nmt.data.tokenizer import Tokenizer
from nmt.inference.shortlist import CHUNK, FREQUENT, K, Shortlist, build_shortlist, check_k
from nmt.run.rundir import RunDir

MAX_SENTENCES = 1_000_000  # training pairs read (Multi30k has 29,000; WMT14 en-fr 40M)


def save_run_shortlist(
    run: RunDir, recipe: Recipe, tokenizer: Tokenizer, k: int = K, frequent: int = FREQUENT
) -> Shortlist:
    """Build the run's shortlist from the first MAX_SENTENCES training pairs and write
    RUN/shortlist.pt; k is checked before the corpus is read."""
    check_k(k, tokenizer.tgt_vocab_size)
    train = raw_splits(recipe.data, ["train"])["train"]
    train = train.select(range(min(len(train), MAX_SENTENCES)))
    pairs: list[tuple[list[int], list[int]]] = []
    for start in range(0, len(train), CHUNK):
        rows = train[start : start + CHUNK]
        sides = tokenizer.encode_src(rows["src"]), tokenizer.encode_tgt(rows["tgt"])
        pairs += zip(*sides, strict=True)
    shortlist = build_shortlist(
        pairs, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size, k, frequent
    )
    shortlist.save(run.shortlist)
    return shortlist
