"""Subword sampling: BPE-dropout and unigram l-best sampling, reproducible from (seed, epoch)
in any process, and training on it that resumes exactly."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_prepare import toy_pairs
from test_train import assert_same_weights, ctrl_c_at, fit, make_trainer

from nmt.data.batching import ParallelData
from nmt.data.subword import BPEDropout, SubwordSampler, UnigramSampler, sampler_for
from nmt.data.tokenizer import UNK, Tokenizer, train_sentencepiece

LINES = [" ".join(pair) for pair in toy_pairs(300, 0)]
ODD = ["", " ", "  der  Hund ", "der 漢字 Hund ☃☃", "x", "Straße\tHaus"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("spm")
    return {
        kind: train_sentencepiece(LINES, root / f"{kind}.model", 80, kind, 1.0)
        for kind in ("unigram", "bpe")
    }


def digest(ids: list[list[int]]) -> str:
    return hashlib.sha256(repr(ids).encode()).hexdigest()


def test_each_model_type_gets_its_sampler(models):
    assert isinstance(sampler_for(models["bpe"], "bpe", 0.1), BPEDropout)
    assert isinstance(sampler_for(models["unigram"], "unigram", 0.1), UnigramSampler)


def test_bpe_without_dropout_segments_as_sentencepiece_does(models):
    sampler = sampler_for(models["bpe"], "bpe", 0.0)
    tokenizer = Tokenizer(models["bpe"], models["bpe"])
    lines = LINES + ODD
    ours = sampler.sample(lines, np.random.SeedSequence(1))
    assert ours == tokenizer.encode_src(lines)
    assert ours[ODD.index("der 漢字 Hund ☃☃") - len(ODD)].count(UNK) == 2  # one per run


@pytest.mark.parametrize("kind", ["unigram", "bpe"])
def test_samples_decode_to_the_text_and_vary_with_the_seed(models, kind):
    sampler = sampler_for(models[kind], kind, 0.2)
    tokenizer = Tokenizer(models[kind], models[kind])
    first = sampler.sample(LINES, np.random.SeedSequence([1, 1, 0]))
    again = sampler.sample(LINES, np.random.SeedSequence([1, 1, 0]))
    other = sampler.sample(LINES, np.random.SeedSequence([1, 2, 0]))
    assert first == again and first != other
    plain = tokenizer.encode_src(LINES)
    changed = sum(a != b for a, b in zip(first, plain, strict=True))
    assert changed > len(LINES) // 4
    assert tokenizer.decode_tgt(first) == LINES == tokenizer.decode_tgt(other)
    assert sampler.sample(ODD, np.random.SeedSequence(3))[0] == []


CHILD = """
import hashlib, sys
from nmt.data.subword import SubwordSampler
lines = sys.stdin.read().split("\\n")
sampler = SubwordSampler((sys.argv[1], sys.argv[1]), sys.argv[2], 0.3, (lines, lines), seed=7)
data = sampler.epoch(3)
print(hashlib.sha256(repr([data.src_ids, data.tgt_ids]).encode()).hexdigest())
"""


@pytest.mark.parametrize("kind", ["unigram", "bpe"])
def test_an_epoch_is_segmented_alike_in_every_process(models, kind):
    """What sentencepiece's own sampling does not do: it seeds a generator per process."""
    sampler = SubwordSampler((models[kind], models[kind]), kind, 0.3, (LINES, LINES), seed=7)
    data = sampler.epoch(3)
    assert data.src_ids != data.tgt_ids  # each side draws its own
    assert data.refs == LINES
    expected = hashlib.sha256(repr([data.src_ids, data.tgt_ids]).encode()).hexdigest()
    for _ in range(2):
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(models[kind]), kind],
            input="\n".join(LINES),
            capture_output=True,
            text=True,
            check=True,
        )
        assert child.stdout.strip() == expected


def sampled_trainer(run: Path, model: Path, **train):
    """A tiny trainer on sentences of a toy corpus, resegmented every epoch."""
    tokenizer = Tokenizer(model, model)
    src, tgt = [pair[0] for pair in toy_pairs(120, 5)], [pair[1] for pair in toy_pairs(120, 5)]
    data = ParallelData(tokenizer.encode_src(src), tokenizer.encode_tgt(tgt), tgt)
    sampler = SubwordSampler((model, model), "unigram", 0.3, (src, tgt), seed=1)
    vocab = tokenizer.src_vocab_size
    trainer = make_trainer(run, vocab=vocab, train_data=data, batch_tokens=120, **train)
    trainer.sampler = sampler
    return trainer


def test_training_resegments_each_epoch_and_resumes_exactly(tmp_path, models):
    straight = sampled_trainer(tmp_path / "straight", models["unigram"], max_updates=20)
    per_epoch = len(straight.epoch_updates(1, straight.train_data))
    assert per_epoch < 15  # so that the run crosses into epoch 2 and beyond
    first, second = straight.epoch_data(1), straight.epoch_data(2)
    assert first.src_ids != second.src_ids and first.refs == second.refs
    assert straight.epoch_data(2) is second  # sampled once an epoch
    fit(straight)
    interrupted = ctrl_c_at(
        sampled_trainer(tmp_path / "run", models["unigram"], max_updates=20), per_epoch + 2
    )
    assert fit(interrupted).step == per_epoch + 2
    resumed = sampled_trainer(tmp_path / "run", models["unigram"], max_updates=20)
    assert fit(resumed, resume=True).step == 20
    assert_same_weights(straight.model, resumed.model)


def test_nmt_train_samples_without_preparing_the_data_again(tiny_recipe, tmp_path):
    from typer.testing import CliRunner

    from nmt.config.recipe import load_recipe
    from nmt_cli.app import app

    cache = Path(load_recipe(tiny_recipe).data.cache_dir)
    for alpha in ("0", "0.3"):
        run = tmp_path / f"alpha-{alpha}"
        settings = ["--set", f"data.subword_alpha={alpha}", "--run-dir", str(run)]
        result = CliRunner().invoke(app, ["train", str(tiny_recipe), *settings])
        assert result.exit_code == 0, result.output
        assert (run / "checkpoints" / "last.pt").is_file()
    assert len([path for path in cache.iterdir() if not path.name.startswith(".")]) == 1
