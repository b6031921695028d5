"""The stop rule and the record of dev scores."""

from nmt.config.recipe import TrainConfig
from nmt.run.train_state import TrainResult, TrainState, stop_reason
from nmt_cli.common import flag


def test_each_limit_and_none_before_them():
    cfg = TrainConfig(max_epochs=3, max_updates=100, early_stop_patience=2)
    assert stop_reason(TrainState(step=99, epoch=3, stale=1), cfg) is None
    assert stop_reason(TrainState(step=100, epoch=3), cfg) == "max_updates"
    assert stop_reason(TrainState(step=50, epoch=4), cfg) == "max_epochs"
    assert stop_reason(TrainState(step=50, epoch=2, stale=2), cfg) == "early_stop"


def test_zero_turns_the_update_limit_and_early_stopping_off():
    cfg = TrainConfig(max_updates=0, early_stop_patience=0)
    assert stop_reason(TrainState(step=10**9, stale=10**6), cfg) is None


def test_the_wall_clock_limit_reads_the_seconds_over_every_resume():
    cfg = TrainConfig(max_minutes=2.5)
    assert stop_reason(TrainState(seconds=149.9), cfg) is None
    assert stop_reason(TrainState(seconds=150.0), cfg) == "max_minutes"
    assert stop_reason(TrainState(seconds=10**9), TrainConfig(max_minutes=0)) is None


def test_validations_count_since_the_best():
    state = TrainState(step=5)
    assert state.record_validation(10.0, 50.0) and state.best_bleu == 10.0
    assert not state.record_validation(10.0, 40.0) and state.stale == 1
    assert not state.record_validation(3.0, 30.0) and state.stale == 2
    assert state.record_validation(11.0, 35.0) and (state.best_bleu, state.stale) == (11.0, 0)
    assert state.validated_step == 5 and state.best_ppl == 30.0


def test_perplexity_as_the_metric_counts_a_falling_ppl_as_progress_while_bleu_stalls():
    state = TrainState()
    assert state.record_validation(6.5, 30.0, "ppl")
    assert state.record_validation(6.4, 25.0, "ppl") and state.stale == 0
    assert state.best_bleu == 6.5 and state.best_ppl == 25.0
    assert not state.record_validation(7.0, 26.0, "ppl") and state.stale == 1
    assert state.best_bleu == 7.0


def test_finished_message_says_which_limit_to_raise(tmp_path):
    result = TrainResult.of(tmp_path, TrainState(step=7), "max_epochs", already_finished=True)
    assert result.finished_message() == (
        f"{tmp_path}: already finished (max_epochs) at step 7; raise train.max_epochs with "
        "overrides to train on"
    )
    assert result.finished_message(flag).endswith("raise train.max_epochs with --set to train on")
