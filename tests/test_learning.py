"""Each architecture learns a synthetic task (copy or reverse short random sequences).

No sentencepiece: ids 4..13 are the symbols, and BLEU is computed over the ids as words.
"""

import random

import pytest
import torch

from nmt.config.recipe import recipe_from_dict
from nmt.data.batching import ParallelData
from nmt.generation.search import greedy, length_limits
from nmt.training.setup import run_training
from nmt.training.train import Trainer

SYMBOLS = 10
VOCAB = 4 + SYMBOLS

RNN = {
    "embed_dim": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_hidden": 64,
    "decoder_hidden": 64,
    "attention_dim": 64,
    "dropout": 0.0,
}
ARCHITECTURES = {
    "seq2seq": RNN | {"bidirectional": False, "reverse_source": True, "attention": "none"},
    "bilstm": RNN | {"attention": "none", "decoder_hidden": 128},
    "attention": RNN | {"attention": "bahdanau", "encoder_hidden": 32},
    "transformer": {"arch": "transformer", "d_model": 32, "heads": 4, "ffn_dim": 64}
    | {"encoder_layers": 1, "decoder_layers": 1, "dropout": 0.0, "share_embeddings": True},
}


def words(ids: list[list[int]]) -> list[str]:
    return [" ".join(map(str, row)) for row in ids]


def task(kind: str, n: int, seed: int) -> ParallelData:
    rng = random.Random(seed)
    src = [[rng.randrange(4, VOCAB) for _ in range(rng.randint(2, 5))] for _ in range(n)]
    tgt = [row[::-1] if kind == "reverse" else list(row) for row in src]
    return ParallelData(src, tgt, words(tgt))


def exact_match(model: torch.nn.Module, data: ParallelData) -> float:
    batch = data.collate(list(range(len(data))))
    model.eval()
    found = greedy(model, batch.src, batch.src_lengths, length_limits(batch.src_lengths, 1.5, 2))
    hits = sum(best[0] == want for best, want in zip(found.tokens, data.tgt_ids, strict=True))
    return hits / len(data)


@pytest.mark.parametrize(
    ("architecture", "kind", "updates", "lr"),
    [
        ("seq2seq", "copy", 400, 0.01),
        ("bilstm", "reverse", 600, 0.005),
        ("attention", "reverse", 200, 0.01),
        ("attention", "copy", 150, 0.01),
        ("transformer", "reverse", 300, 0.003),
    ],
)
def test_architecture_learns_task(tmp_path, architecture, kind, updates, lr):
    model = ARCHITECTURES[architecture]
    train = {
        "batch_tokens": 400,
        "lr": lr,
        "schedule": "constant",
        "max_updates": updates,
        "max_epochs": 100,
        "validate_every": 10_000,
        "early_stop_patience": 0,
    }
    recipe = recipe_from_dict({"name": "synthetic", "model": model, "train": train}, "test")
    dev = task(kind, 200, seed=2)
    trainer = Trainer(
        recipe, task(kind, 20_000, seed=1), dev, words, tmp_path, (VOCAB, VOCAB), progress=False
    )
    result = run_training(trainer.checkpointer, recipe, False, lambda _start: trainer)
    assert result.step == updates
    assert exact_match(trainer.model, dev) >= 0.9
    assert result.best_bleu > 80
