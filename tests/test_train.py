"""The training loop on a tiny attention model and a synthetic reversal task (CPU, seconds)."""

import errno
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nmt import atomic
from nmt.config.recipe import load_recipe, recipe_from_dict
from nmt.data.batching import ParallelData
from nmt.data.tokenizer import Tokenizer, train_sentencepiece
from nmt.errors import NmtError
from nmt.run.checkpoint import load_checkpoint, save_checkpoint
from nmt.run.loading import load_for_inference
from nmt.run.rundir import RunDir, safe_name
from nmt.run.train_state import TrainResult
from nmt.training.setup import run_training
from nmt.training.train import Trainer
from nmt_cli.app import app
from nmt_cli.common import flag

VOCAB = 14
TESTS = Path(__file__).resolve().parent


def words(ids: list[list[int]]) -> list[str]:
    return [" ".join(map(str, row)) for row in ids]


def reversal(n: int, seed: int) -> ParallelData:
    rng = random.Random(seed)
    src = [[rng.randrange(4, VOCAB) for _ in range(rng.randint(1, 5))] for _ in range(n)]
    tgt = [row[::-1] for row in src]
    return ParallelData(src, tgt, words(tgt))


RNN = {
    "embed_dim": 16,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_hidden": 16,
    "decoder_hidden": 32,
    "attention_dim": 16,
    "dropout": 0.3,
}
TRANSFORMER = {
    "arch": "transformer",
    "d_model": 16,
    "heads": 2,
    "ffn_dim": 32,
    "encoder_layers": 1,
    "decoder_layers": 2,
    "dropout": 0.3,
    "tie_embeddings": True,
    "share_embeddings": True,
}
ARCHS = {"rnn": RNN, "transformer": TRANSFORMER}


def make_trainer(
    run_dir: Path,
    sizes: dict | None = None,
    vocab: int = VOCAB,
    train_data: ParallelData | None = None,
    progress: bool = False,
    **train,
) -> Trainer:
    """A tiny attention model (RNN, or TRANSFORMER when sizes say arch: transformer) with
    dropout on, so resuming must restore the RNG too."""
    sizes = sizes or {}
    model = {**ARCHS[sizes.get("arch", "rnn")], **sizes}
    settings = {
        "batch_tokens": 60,
        "lr": 0.01,
        "validate_every": 5,
        "log_every": 2,
        "max_epochs": 100,
        "early_stop_patience": 0,
        "keep_last": 2,
        **train,
    }
    recipe = recipe_from_dict({"name": "tiny", "model": model, "train": settings}, "test")
    data = reversal(200, 1) if train_data is None else train_data
    return Trainer(recipe, data, reversal(20, 2), words, run_dir, (vocab, vocab), progress=progress)


def fit(trainer: Trainer, resume: bool = False) -> TrainResult:
    """Train as `nmt train` does: the run opened once, trained from where it starts."""
    return run_training(trainer.checkpointer, trainer.recipe, resume, lambda _start: trainer)


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    first, second = a.state_dict(), b.state_dict()
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def ctrl_c_at(trainer: Trainer, update: int) -> Trainer:
    """The trainer, made to send itself SIGINT (Ctrl-C) in the forward pass of training
    update `update` (validation passes not counted), as a user would mid-run."""
    calls = []

    def press_ctrl_c(module, inputs, output):
        calls.append(module.training)
        if calls.count(True) == update:
            os.kill(os.getpid(), signal.SIGINT)

    trainer.model.register_forward_hook(press_ctrl_c)
    return trainer


CHILD = """
import sys, time, torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from test_train import fit, make_trainer
trainer = make_trainer(sys.argv[1], max_updates={updates}, progress={progress})
step = trainer.optimizer.step
def slow_step(*args, **kwargs):  # leave the parent time to kill it mid-run
    print("stepping", trainer.state.step, file=sys.stderr, flush=True)
    time.sleep({pause})
    return step(*args, **kwargs)
trainer.optimizer.step = slow_step
result = fit(trainer)
print(result.stop_reason, result.step)
"""


def start_child(
    run: Path, updates: int, pause: float = 0.05, progress: bool = False
) -> subprocess.Popen:
    """A training process on `run`, slowed down to `pause` seconds an update, once it has
    written its first checkpoint; with progress, its messages come on its stderr."""
    script = CHILD.format(tests=str(TESTS), updates=updates, pause=pause, progress=progress)
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not RunDir(run).last.exists() and child.poll() is None:
        assert time.monotonic() < deadline, "the child never wrote its first checkpoint"
        time.sleep(0.01)
    return child


def test_resume_after_sigkill_equals_uninterrupted(tmp_path):
    updates = 30
    straight = make_trainer(tmp_path / "straight", max_updates=updates)
    fit(straight)
    run = tmp_path / "killed"
    child = start_child(run, updates)
    child.send_signal(signal.SIGKILL)
    _, errors = child.communicate()
    assert child.returncode == -signal.SIGKILL, errors
    assert RunDir(run).lock.read_text().strip() == str(child.pid)  # its lock, dead with it
    assert load_checkpoint(RunDir(run).last)["step"] < updates
    resumed = make_trainer(run, max_updates=updates)
    result = fit(resumed, resume=True)
    assert result.step == updates
    assert_same_weights(straight.model, resumed.model)
    train_steps = [row["step"] for row in rows(run) if "loss" in row]
    assert train_steps == sorted(set(train_steps)) == list(range(2, updates + 1, 2))


def test_sigterm_saves_last_and_stops_like_ctrl_c(tmp_path):
    run = tmp_path / "run"
    child = start_child(run, updates=500)
    child.send_signal(signal.SIGTERM)
    output, errors = child.communicate(timeout=120)
    assert child.returncode == 0, errors
    reason, step = output.split()
    assert reason == "interrupted"
    assert load_checkpoint(RunDir(run).last)["step"] == int(step) < 500


def _stepping_after(line: str, step: int) -> bool:
    """Whether the child's `line` says it is inside the optimizer step of an update after
    `step`."""
    words = line.split()
    return len(words) == 2 and words[0] == "stepping" and int(words[1]) >= step


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_aborts_as_the_signal_does(tmp_path, stop):
    run = tmp_path / "run"
    child = start_child(run, updates=500, pause=0.5, progress=True)
    # The first signal inside an update's half-second step, one after the checkpoint that
    # start_child waited for: caught while the checkpoint is being written, it would let
    # the run stop at once, before a second signal came.
    saved = load_checkpoint(RunDir(run).last)["step"]
    said = iter(child.stderr.readline, "")
    assert any(_stepping_after(line, saved) for line in said)
    child.send_signal(stop)
    # Two signals pending at once arrive as one: send the second once the first is handled,
    # within the update it lets finish.
    assert any("stopping after this update" in line for line in said)
    child.send_signal(stop)
    _, errors = child.communicate(timeout=120)
    assert child.returncode == -stop, errors  # a shell reports 128 + signal: 143 or 130
    assert "Traceback" not in errors


@pytest.mark.parametrize("arch", ARCHS)
def test_ctrl_c_saves_last_and_resume_continues_exactly(tmp_path, arch):
    straight = make_trainer(tmp_path / "straight", ARCHS[arch], max_updates=12)
    fit(straight)
    interrupted = ctrl_c_at(make_trainer(tmp_path / "run", ARCHS[arch], max_updates=12), 7)
    result = fit(interrupted)
    assert (result.stop_reason, result.step) == ("interrupted", 7)
    assert load_checkpoint(RunDir(tmp_path / "run").last)["step"] == 7
    resumed = make_trainer(tmp_path / "run", ARCHS[arch], max_updates=12)
    assert fit(resumed, resume=True).step == 12
    assert_same_weights(straight.model, resumed.model)


def test_non_finite_loss_skips_the_update_and_is_counted(tmp_path):
    trainer = make_trainer(tmp_path, max_updates=6, validate_every=100)
    calls = []

    def poison(module, inputs, output):
        calls.append(module.training)
        return output * math.nan if calls.count(True) in (2, 3) else output

    trainer.model.register_forward_hook(poison)
    result = fit(trainer)
    assert result.step == 6
    assert calls.count(True) == 8  # 6 updates + 2 skipped
    assert rows(tmp_path)[-2]["bad_updates"] == 2
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_a_full_disk_names_the_file_it_could_not_write_and_keeps_the_last_checkpoint(
    tmp_path, monkeypatch
):
    run = RunDir(tmp_path)
    trainer = make_trainer(tmp_path, max_updates=20)
    full, fsync = [], atomic.os.fsync

    def disk(fd: int) -> None:
        if full:
            raise OSError(errno.ENOSPC, "No space left on device")
        fsync(fd)

    def fill_up(*_) -> None:
        if trainer.state.step == 7:
            full.append(True)

    monkeypatch.setattr(atomic.os, "fsync", disk)
    trainer.model.register_forward_hook(fill_up)
    with pytest.raises(OSError) as error:
        fit(trainer)
    assert (error.value.errno, error.value.filename) == (errno.ENOSPC, str(run.last))
    assert load_checkpoint(run.last)["step"] == 5
    assert not [path.name for path in run.checkpoints.iterdir() if path.suffix == ".tmp"]
    with pytest.raises(OSError) as error:  # --resume on the same full disk
        fit(make_trainer(tmp_path, max_updates=20), resume=True)
    assert error.value.filename == str(run.recipe_file)


def test_too_many_bad_updates_in_a_row_stop_the_run(tmp_path):
    trainer = make_trainer(tmp_path, max_updates=6, max_bad_updates=3)
    trainer.model.register_forward_hook(lambda module, inputs, output: output * math.nan)
    with pytest.raises(NmtError, match="3 updates in a row had a NaN or infinite loss"):
        fit(trainer)


def gradient_norms(trainer: Trainer) -> list[float]:
    norms = []
    step = trainer.optimizer.step

    def record(*args, **kwargs):
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return step(*args, **kwargs)

    trainer.optimizer.step = record
    fit(trainer)
    return norms


def test_gradient_clipping_bounds_the_norm(tmp_path):
    unclipped = gradient_norms(make_trainer(tmp_path / "a", max_updates=4, clip_norm=0.0))
    clipped = gradient_norms(make_trainer(tmp_path / "b", max_updates=4, clip_norm=0.05))
    assert max(unclipped) > 0.05
    assert max(clipped) <= 0.05 + 1e-6


def test_the_wall_clock_limit_stops_after_a_validated_update(tmp_path):
    result = fit(make_trainer(tmp_path, max_minutes=1e-9, validate_every=100))
    assert (result.stop_reason, result.step) == ("max_minutes", 1)
    assert RunDir(tmp_path).best.is_file()  # the last update is validated, as at any limit
    assert [row["step"] for row in rows(tmp_path) if "valid_bleu" in row] == [1]


def test_run_directory_layout_metrics_and_averaging(tmp_path):
    result = fit(make_trainer(tmp_path, max_updates=20, average_last=3))
    assert result.stop_reason == "max_updates"
    run = RunDir(tmp_path)
    assert [p.name for p in run.step_checkpoints()][-1] == "step-00000020.pt"
    assert len(run.step_checkpoints()) == 3  # max(keep_last, average_last)
    assert run.best.is_file() and run.last.is_file() and run.average.is_file()
    assert load_recipe(run.recipe_file).train.max_updates == 20
    train_rows = [row for row in rows(tmp_path) if "loss" in row]
    valid_rows = [row for row in rows(tmp_path) if "valid_bleu" in row]
    assert set(train_rows[0]) == {"step", "epoch", "loss", "ppl", "lr", "tok_per_s", "bad_updates"}
    assert set(valid_rows[0]) == {
        "step",
        "epoch",
        "valid_loss",
        "valid_ppl",
        "valid_bleu",
        "best_bleu",
        "best_ppl",
    }
    assert valid_rows[-1]["best_bleu"] == max(row["valid_bleu"] for row in valid_rows)
    assert load_checkpoint(run.average)["averaged"] == [p.name for p in run.step_checkpoints()]


def test_validates_every_n_updates_and_at_the_end_not_also_at_epoch_ends(tmp_path):
    trainer = make_trainer(tmp_path, validate_every=6, max_updates=26)
    per_epoch = len(trainer.epoch_updates(1))
    assert per_epoch % 6 and per_epoch < 26  # an epoch ends between validations
    fit(trainer)
    validated = [row["step"] for row in rows(tmp_path) if "valid_bleu" in row]
    assert validated == [6, 12, 18, 24, 26]


def test_checkpoints_count_the_target_tokens_and_the_time_trained(tmp_path):
    trainer = make_trainer(tmp_path, max_updates=6)
    fit(trainer)
    tgt = trainer.train_data.tgt_ids
    updates = trainer.epoch_updates(1)[:6]
    expected = sum(len(tgt[i]) + 1 for group in updates for batch in group for i in batch)
    state = load_checkpoint(RunDir(tmp_path).last)["state"]
    assert state["tokens"] == expected and state["step"] == 6
    assert state["seconds"] > 0
    resumed = make_trainer(tmp_path, max_updates=8)
    fit(resumed, resume=True)
    assert load_checkpoint(RunDir(tmp_path).last)["state"]["seconds"] > state["seconds"]


def test_validate_every_zero_validates_at_epoch_ends(tmp_path):
    trainer = make_trainer(tmp_path, validate_every=0, max_epochs=2)
    per_epoch = len(trainer.epoch_updates(1))
    fit(trainer)
    validated = [row["step"] for row in rows(tmp_path) if "valid_bleu" in row]
    assert validated == [per_epoch, per_epoch + len(trainer.epoch_updates(2))]


def test_perplexity_as_valid_metric_keeps_the_lowest_perplexity_as_best(tmp_path):
    fit(make_trainer(tmp_path, valid_metric="ppl", max_updates=30))
    valid_rows = [row for row in rows(tmp_path) if "valid_ppl" in row]
    lowest = min(valid_rows, key=lambda row: row["valid_ppl"])
    assert load_checkpoint(RunDir(tmp_path).best)["step"] == lowest["step"]
    assert valid_rows[-1]["best_ppl"] == lowest["valid_ppl"]


def test_early_stopping_when_dev_bleu_stops_improving(tmp_path):
    trainer = make_trainer(tmp_path, lr=0.0, min_lr=0.0, early_stop_patience=2, max_updates=200)
    result = fit(trainer)
    assert result.stop_reason == "early_stop"
    assert len([row for row in rows(tmp_path) if "valid_bleu" in row]) == 3


def test_refuses_to_overwrite_and_to_resume_nothing(tmp_path):
    with pytest.raises(NmtError, match="nothing to resume from; train without resume$") as error:
        fit(make_trainer(tmp_path, max_updates=2), resume=True)
    assert error.value.spelled(flag).endswith("nothing to resume from; train without --resume")
    fit(make_trainer(tmp_path, max_updates=5))
    with pytest.raises(NmtError, match="use resume to continue it or run_dir to train in"):
        fit(make_trainer(tmp_path, max_updates=5))


def test_resume_with_other_model_sizes_names_the_file_and_field(tmp_path):
    fit(make_trainer(tmp_path, max_updates=5))
    wrong = make_trainer(tmp_path, sizes={"attention_dim": 24}, max_updates=10)
    refusal = r"last\.pt: resume cannot change model\.attention_dim"
    with pytest.raises(NmtError, match=refusal) as error:
        fit(wrong, resume=True)
    assert "last.pt: --resume cannot change model.attention_dim" in error.value.spelled(flag)
    assert error.value.spelled(flag).endswith("or train in another --run-dir")


def sentencepiece_models(run: RunDir, words: str = "ein zwei drei hund katze haus") -> int:
    """Write a tiny joint model as the run's two models; returns its vocabulary size. The
    directory holds what `nmt train` leaves before its first checkpoint (.lock, models)."""
    run.root.mkdir(parents=True, exist_ok=True)
    run.lock.touch()
    first, second = words.split()[:3], words.split()[3:]
    lines = [f"{w} {x}" for w in first for x in second]
    beside = run.root.with_name(f"{run.root.name}-spm.model")
    spm = train_sentencepiece(lines * 20, beside, 20, "unigram", 1.0)
    for target in (run.src_model, run.tgt_model):
        target.write_bytes(spm.read_bytes())
    return Tokenizer(spm, spm).src_vocab_size


@pytest.mark.parametrize("arch", ARCHS)
def test_load_for_inference_rebuilds_the_best_model(tmp_path, arch):
    vocab = sentencepiece_models(RunDir(tmp_path))
    trainer = make_trainer(tmp_path, ARCHS[arch], vocab=vocab, max_updates=5)
    fit(trainer)
    model, recipe, tokenizer = load_for_inference(tmp_path, "cpu")
    assert not model.training
    assert recipe.model == trainer.recipe.model
    assert tokenizer.tgt_vocab_size == vocab
    assert_same_weights(model, trainer.model)


def test_a_checkpoint_refuses_sentencepiece_models_it_was_not_trained_with(tmp_path):
    run = RunDir(tmp_path)
    vocab = sentencepiece_models(run)
    fit(make_trainer(tmp_path, vocab=vocab, max_updates=2))
    sentencepiece_models(run, "one two three dog cat house")  # as many pieces, other ones
    with pytest.raises(NmtError, match=r"src\.model: not the sentencepiece model best\.pt was"):
        load_for_inference(tmp_path, "cpu")
    save_checkpoint(run.best, {**load_checkpoint(run.best), "src_vocab": vocab + 5})
    with pytest.raises(NmtError, match=rf"src\.model: {vocab} pieces, but best\.pt was trained"):
        load_for_inference(tmp_path, "cpu")


def test_safe_run_names_stay_inside_runs():
    name = safe_name("../../etc/passwd")
    assert Path(name).name == name and not name.startswith(".")
    assert safe_name("multi30k de-en") == "multi30k_de-en"
    assert safe_name("...") == "run"


def test_cli_refuses_existing_run_and_averages(tmp_path):
    fit(make_trainer(tmp_path / "run", max_updates=10))
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\n", encoding="utf-8")
    runner = CliRunner()
    refused = runner.invoke(app, ["train", str(recipe), "--run-dir", str(tmp_path / "run")])
    assert refused.exit_code == 2
    assert "use --resume" in refused.output
    averaged = runner.invoke(app, ["average", str(tmp_path / "run"), "--last", "5"])
    assert averaged.exit_code == 0, averaged.output  # keep_last 2: those two, and it says so
    said = "(average of the last 2 checkpoints; the run kept 2 (train.keep_last))"
    assert said in averaged.output
    assert RunDir(tmp_path / "run").average.is_file()


@pytest.mark.parametrize(("metric", "best"), [("ppl", "valid_ppl"), ("bleu", "valid_bleu")])
def test_the_last_line_names_the_metric_that_chose_best_pt(tmp_path, capsys, metric, best):
    fit(make_trainer(tmp_path, progress=True, max_updates=6, valid_metric=metric))
    scores = [row[best] for row in rows(tmp_path) if best in row]
    value = min(scores) if metric == "ppl" else max(scores)
    shown = "ppl" if metric == "ppl" else "BLEU"
    assert f"best dev {shown} {value:.2f} (best.pt)" in capsys.readouterr().err


def test_tensorboard_logs_every_row_by_step(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    fit(make_trainer(tmp_path, max_updates=6, tensorboard=True))
    events = EventAccumulator(str(RunDir(tmp_path).tensorboard))
    events.Reload()
    assert [event.step for event in events.Scalars("train/loss")] == [2, 4, 6]
    assert [event.step for event in events.Scalars("valid/bleu")] == [5, 6]


def test_tensorboard_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import now fails
    with pytest.raises(NmtError, match=r"^tensorboard is not installed; .* 'nmt\[tensorboard\]'$"):
        fit(make_trainer(tmp_path, max_updates=2, tensorboard=True))


def test_no_batch_exceeds_the_token_budget(tmp_path):
    long_pair = [4] * 40  # 41 tokens with EOS: more than a micro-batch of 30
    data = reversal(50, 3)
    data.src_ids.append(long_pair)
    data.tgt_ids.append(long_pair)
    data.refs.append(words([long_pair])[0])
    trainer = make_trainer(tmp_path, train_data=data, batch_tokens=60, update_freq=2)
    budget = trainer.cfg.batch_tokens // trainer.cfg.update_freq
    for group in trainer.epoch_updates(1):
        for batch in group:
            lengths = [len(trainer.train_data.tgt_ids[i]) + 1 for i in batch]
            assert len(batch) * max(lengths) <= budget
            assert all(len(trainer.train_data.src_ids[i]) + 1 <= budget for i in batch)
    assert trainer.too_long == 1  # and said when training starts


def test_a_torn_last_metrics_line_is_dropped_on_resume(tmp_path):
    fit(make_trainer(tmp_path, max_updates=6))
    with (tmp_path / "metrics.jsonl").open("a") as log:
        log.write('{"step": 7, "epoch": 1, "lo')  # killed in the middle of a write
    result = fit(make_trainer(tmp_path, max_updates=10), resume=True)
    assert result.step == 10
    assert [row["step"] for row in rows(tmp_path) if "loss" in row] == [2, 4, 6, 8, 10]


def test_each_epoch_trains_on_its_own_batches_and_resumes_across_epochs(tmp_path):
    data = reversal(40, 1)
    straight = make_trainer(tmp_path / "straight", train_data=data, max_updates=10)
    per_epoch = len(straight.epoch_updates(1))
    assert per_epoch < 5 and straight.epoch_updates(2) != straight.epoch_updates(1)
    seen = []
    update = straight.update
    straight.update = lambda group: seen.append((straight.state.epoch, group)) or update(group)
    fit(straight)
    for epoch in (1, 2):
        assert [group for at, group in seen if at == epoch] == straight.epoch_updates(epoch)
    interrupted = ctrl_c_at(
        make_trainer(tmp_path / "run", train_data=data, max_updates=10), per_epoch + 1
    )
    assert fit(interrupted).step == per_epoch + 1
    resumed = make_trainer(tmp_path / "run", train_data=data, max_updates=10)
    assert fit(resumed, resume=True).step == 10
    assert_same_weights(straight.model, resumed.model)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGHUP])
def test_a_signal_saves_even_when_the_log_pipe_is_gone(tiny_recipe, tmp_path, stop):
    """`nmt train ... 2>&1 | tee log`, then Ctrl-C: tee dies first, and every message the
    run writes afterwards (the stop message included) meets a closed pipe."""
    run = RunDir(tmp_path / "run")
    longer = ["--set", "train.max_epochs=1000", "--set", "train.max_updates=100000"]
    command = [sys.executable, "-m", "nmt", "train", str(tiny_recipe), "--run-dir", str(run.root)]
    child = subprocess.Popen([*command, *longer], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not run.metrics.is_file() and child.poll() is None:
        assert time.monotonic() < deadline, "the child never logged its first row"
        time.sleep(0.01)
    child.stderr.close()  # the reader is gone: the child's next line meets EPIPE
    child.send_signal(stop)
    assert child.wait(timeout=120) == 128 + stop
    step = load_checkpoint(run.last)["step"]
    assert step > 0
    resumed = subprocess.run(  # max_epochs as before: a stop in epoch 2 is not the end
        [*command, "--resume", *longer[:2], "--set", f"train.max_updates={step + 1}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(run.last)["step"] == step + 1


def test_learned_positions_leave_out_longer_pairs_and_count_them(tmp_path):
    sizes = {**TRANSFORMER, "positions": "learned", "max_positions": 4}
    trainer = make_trainer(tmp_path, sizes, max_updates=4, validate_every=2)
    longer = [
        len(data.src_ids) - len(data.within(4)[0].src_ids)
        for data in (reversal(200, 1), reversal(20, 2))
    ]
    assert min(longer) > 0
    assert trainer.beyond_positions == sum(longer)
    result = fit(trainer)
    assert result.step == 4
    assert [row["step"] for row in rows(tmp_path) if "valid_bleu" in row] == [2, 4]
