"""Check each GPU recipe's batch and rate against its CPU sibling's, and print the check.

    python -m bench.speed.batch_rate --pairs de-en en-de [--out batch-rate.md]

The CPU family (recipes/multi30k-*-small/) was tuned on 2 cores (issue 20): smaller
batches, so more updates an epoch, at higher Adam rates learned faster for the same
tokens (800-token batches at 4e-3; the Transformer 2,500 at a peak of 2e-3). The GPU
recipes (recipes/multi30k-*/) were written before that, with larger batches at 1e-3.
Adam's step does not shrink with the batch, so a GPU recipe should not run below its
sibling's rate; the square-root rule (rate x sqrt(batch ratio)) is printed as a guide,
not a measurement. Updates an epoch are counted exactly, from each recipe's prepared
corpus (prepared here when missing) and batch_tokens, as training cuts them.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from bench import ROOT
from nmt.config.recipe import Recipe, load_recipe
from nmt.data.batching import ParallelData
from nmt.data.prepare import prepare

ARCHS = ("seq2seq", "bilstm", "attention", "transformer")


@dataclass(frozen=True)
class Regime:
    """What one recipe's training does per epoch and per update."""

    recipe: str
    batch_tokens: int
    updates_per_epoch: int
    lr: float
    schedule: str


def regime(path: Path) -> Regime:
    """A recipe's batch, its updates an epoch over its prepared train split, and its rate."""
    recipe: Recipe = load_recipe(path)
    train = recipe.train
    pairs = ParallelData.from_dataset(prepare(recipe.data, progress=False).splits["train"])
    micro = train.batch_tokens // train.update_freq
    batches = pairs.within(micro)[0].batches(micro, shuffle=False)
    updates = math.ceil(len(batches) / train.update_freq)
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return Regime(name, train.batch_tokens, updates, train.lr, train.schedule)


def verdict(gpu: Regime, cpu: Regime) -> str:
    """'follows' when the GPU rate is at least its sibling's, else what it falls short by."""
    guide = cpu.lr * math.sqrt(gpu.batch_tokens / cpu.batch_tokens)
    if gpu.lr >= cpu.lr:
        return f"follows (sqrt-rule guide {guide:.1e})"
    return f"LOW: {cpu.lr / gpu.lr:.0f}x under the CPU rate (sqrt-rule guide {guide:.1e})"


def table(pairs: list[str], recipes: Path) -> str:
    """One markdown row per GPU recipe: its regime, its CPU sibling's, the verdict."""
    lines = [
        "| GPU recipe | batch | updates/epoch | lr | CPU sibling | batch | updates/epoch | lr "
        "| check |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for pair in pairs:
        for arch in ARCHS:
            gpu = regime(recipes / f"multi30k-{pair}" / f"{arch}.yaml")
            cpu = regime(recipes / f"multi30k-{pair}-small" / f"{arch}.yaml")
            lines.append(
                f"| {gpu.recipe} | {gpu.batch_tokens} | {gpu.updates_per_epoch} | {gpu.lr:g} "
                f"| {cpu.recipe} | {cpu.batch_tokens} | {cpu.updates_per_epoch} | {cpu.lr:g} "
                f"| {verdict(gpu, cpu)} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["de-en", "en-de"])
    parser.add_argument("--recipes", type=Path, default=ROOT / "recipes")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    text = table(args.pairs, args.recipes.resolve())
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
