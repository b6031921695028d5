"""The moving average of the weights: its update rule, what checkpoints hold, exact resume."""

import pytest
import torch
from test_train import (
    assert_same_weights,
    ctrl_c_at,
    fit,
    make_trainer,
    rows,
    sentencepiece_models,
)

from nmt.run.checkpoint import load_checkpoint
from nmt.run.loading import load_for_inference
from nmt.run.rundir import RunDir
from nmt.training.ema import EMA
from nmt.training.validate import validate


def test_the_average_moves_by_one_minus_the_decay_after_a_warm_up():
    model = torch.nn.Linear(3, 2)
    ema = EMA(model, decay=0.99)
    start = ema.model.weight.clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model, step=1)  # (1 + 1) / (10 + 1) < 0.99: the warm-up rule holds
    expected = start + (model.weight - start) * (1 - 2 / 11)
    assert torch.allclose(ema.model.weight, expected)
    ema.update(model, step=10_000)  # now 0.99
    expected = expected + (model.weight - expected) * 0.01
    assert torch.allclose(ema.model.weight, expected)
    assert not ema.model.training and not ema.model.weight.requires_grad


def test_checkpoints_offer_the_average_and_keep_the_raw_weights(tmp_path):
    run = RunDir(tmp_path)
    vocab = sentencepiece_models(run)
    trainer = make_trainer(tmp_path, vocab=vocab, ema_decay=0.9, max_updates=10)
    fit(trainer)
    last = load_checkpoint(run.last)
    assert_same_weights_dict(last["model"], trainer.ema.model.state_dict())
    assert_same_weights_dict(last["raw_model"], trainer.model.state_dict())
    assert any(not torch.equal(last["model"][k], last["raw_model"][k]) for k in last["model"])
    model, _, _ = load_for_inference(run.last, "cpu")
    assert_same_weights(model, trainer.ema.model)
    valid = [row for row in rows(tmp_path) if "valid_ppl" in row][-1]
    assert valid["step"] == 10
    scores = [
        validate(net, trainer.valid_data, trainer.decode_fn, 2048, trainer.recipe.decode, "cpu")
        for net in (trainer.ema.model, trainer.model)
    ]
    assert valid["valid_ppl"] == pytest.approx(scores[0].ppl) != pytest.approx(scores[1].ppl)
    best = load_checkpoint(run.best)
    assert best["step"] == load_checkpoint(run.step_checkpoint(best["step"]))["step"]
    assert "raw_model" in best


def test_without_an_average_a_checkpoint_holds_one_set_of_weights(tmp_path):
    trainer = make_trainer(tmp_path, max_updates=5)
    fit(trainer)
    assert trainer.ema is None and "raw_model" not in load_checkpoint(RunDir(tmp_path).last)


def test_resume_restores_the_weights_and_their_average_exactly(tmp_path):
    straight = make_trainer(tmp_path / "straight", ema_decay=0.8, max_updates=12)
    fit(straight)
    interrupted = ctrl_c_at(make_trainer(tmp_path / "run", ema_decay=0.8, max_updates=12), 7)
    assert fit(interrupted).step == 7
    resumed = make_trainer(tmp_path / "run", ema_decay=0.8, max_updates=12)
    assert fit(resumed, resume=True).step == 12
    assert_same_weights(straight.model, resumed.model)
    assert_same_weights(straight.ema.model, resumed.ema.model)


def assert_same_weights_dict(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
