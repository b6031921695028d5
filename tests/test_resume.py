"""The run lock, where a (resumed) run starts, and what a resume may change."""

import os
import shutil
import signal
from dataclasses import asdict

import pytest
import sentencepiece as spm
import yaml
from test_train import fit, make_trainer, rows, start_child
from typer.testing import CliRunner

from nmt.config.recipe import Recipe, load_recipe, recipe_from_dict
from nmt.errors import NmtError
from nmt.models.architectures import build_model
from nmt.run.checkpoint import load_checkpoint, training_payload
from nmt.run.rundir import RunDir
from nmt.run.train_state import TrainState
from nmt.training.resume import Checkpointer, changed_fields
from nmt.training.setup import _copy_model, train
from nmt_cli.app import app
from nmt_cli.common import flag


def snapshot(root) -> dict:
    """Every file under root with its bytes."""
    return {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_a_second_run_on_the_same_directory_is_refused_naming_the_pid(tmp_path):
    run = tmp_path / "run"
    child = start_child(run, updates=2000)
    in_use = rf"{run}: in use by another nmt train \(pid {child.pid}\)"
    try:
        with pytest.raises(NmtError, match=in_use) as error:
            fit(make_trainer(run, max_updates=5), resume=True)
        assert str(error.value).endswith("wait for it to end or train in another run_dir")
        recipe = tmp_path / "r.yaml"
        recipe.write_text(yaml.safe_dump({"data": {"data_dir": str(tmp_path / "nowhere")}}))
        second = CliRunner().invoke(app, ["train", str(recipe), "--run-dir", str(run)])
        assert second.exit_code == 2
        assert second.output.strip().splitlines() == [
            f"error: {run}: in use by another nmt train (pid {child.pid}); wait for it to end "
            "or train in another --run-dir"
        ]
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    more = load_checkpoint(RunDir(run).last)["step"] + 2
    assert fit(make_trainer(run, max_updates=more), resume=True).step == more  # no stale lock


def test_a_folder_of_the_users_is_not_trained_into(tiny_recipe, tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    recipe = folder / "recipe.yaml"
    recipe.write_text("# my notes\n" + tiny_recipe.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "src.model").write_text("my own model", encoding="utf-8")
    before = snapshot(folder)
    result = CliRunner().invoke(app, ["train", str(recipe), "--run-dir", str(folder)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {folder}: not empty and not a run directory; train in a new or empty --run-dir "
        "(a run writes recipe.yaml, src.model, tgt.model, checkpoints/ and more there)"
    ]
    assert snapshot(folder) == before
    with pytest.raises(NmtError) as error:
        train(load_recipe(recipe), folder)
    assert str(error.value) == (
        f"{folder}: not empty and not a run directory; train in a new or empty run_dir "
        "(a run writes recipe.yaml, src.model, tgt.model, checkpoints/ and more there)"
    )
    assert snapshot(folder) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(app, ["train", str(recipe), "--run-dir", str(empty)]).exit_code == 0


def test_a_run_resumes_after_its_data_was_prepared_again(tiny_recipe, tmp_path):
    """A mirror copied anew (its files' times changed) makes prepare build the cache
    again; the sentencepiece model trained there is the same, so the run resumes."""
    mirror = shutil.copytree(
        yaml.safe_load(tiny_recipe.read_text())["data"]["data_dir"], tmp_path / "m"
    )
    cache = tmp_path / "cache"
    settings = [f"data.data_dir={mirror}", f"data.cache_dir={cache}", "train.max_epochs=9"]
    run = tmp_path / "run"
    train(load_recipe(tiny_recipe, settings), run, progress=False)
    model = (run / "src.model").read_bytes()
    for path in mirror.rglob("*"):
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 60))
    more = load_recipe(tiny_recipe, [*settings, "train.max_updates=5"])
    resumed = train(more, run, resume=True, progress=False)
    assert (resumed.step, resumed.already_finished) == (5, False)
    assert len(list(cache.iterdir())) == 2  # built twice
    built = [folder / "joint.model" for folder in cache.iterdir()]
    assert built[0].read_bytes() == built[1].read_bytes() == model


def test_a_resumed_run_keeps_a_model_with_the_same_pieces_in_other_bytes(tmp_path):
    """sentencepiece's model_prefix (how models were written before) records the folder
    trained in: the same pieces in other bytes are the same vocabulary; other pieces not."""
    lines = [f"der hund {word} im park" for word in "läuft sitzt bellt schläft".split()] * 20
    models = []
    for folder, size in (("a", 30), ("b", 30), ("c", 25)):
        prefix = tmp_path / folder / "joint"
        prefix.parent.mkdir()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_prefix=str(prefix),
            vocab_size=size,
            hard_vocab_limit=False,
            minloglevel=2,
        )
        models.append(prefix.with_suffix(".model"))
    kept, same, other = models
    assert kept.read_bytes() != same.read_bytes()
    before = kept.read_bytes()
    _copy_model(same, kept, resume=True)
    assert kept.read_bytes() == before
    with pytest.raises(NmtError, match=r"differs from the prepared .*c/joint\.model; the data"):
        _copy_model(other, kept, resume=True)


@pytest.mark.parametrize("left", [["checkpoints/"], [".lock"], [".lock", "checkpoints/"]])
def test_an_empty_checkpoints_folder_or_a_lock_does_not_make_a_run(tiny_recipe, tmp_path, left):
    folder = tmp_path / "d"
    folder.mkdir()
    for name in left:
        if name.endswith("/"):
            (folder / name).mkdir()
        else:
            (folder / name).touch()
    recipe = folder / "recipe.yaml"
    recipe.write_text("# my notes\n" + tiny_recipe.read_text(encoding="utf-8"), encoding="utf-8")
    before = snapshot(folder)
    result = CliRunner().invoke(app, ["train", str(recipe), "--run-dir", str(folder)])
    assert result.exit_code == 2 and "not empty and not a run directory" in result.output
    assert snapshot(folder) == before
    (folder / "recipe.yaml").unlink()
    result = CliRunner().invoke(app, ["train", str(tiny_recipe), "--run-dir", str(folder)])
    assert result.exit_code == 0, result.output  # what a start that saved nothing leaves


def test_resume_continues_from_the_newest_checkpoint_when_last_is_missing(tmp_path):
    run = RunDir(tmp_path)
    fit(make_trainer(tmp_path, max_updates=10))
    run.last.unlink()  # a first save cut short, or a last.pt lost
    with pytest.raises(NmtError, match="already has checkpoints; use resume to continue it"):
        fit(make_trainer(tmp_path, max_updates=15))
    result = fit(make_trainer(tmp_path, max_updates=15), resume=True)
    assert result.step == 15
    assert [row["step"] for row in rows(tmp_path) if "loss" in row] == [2, 4, 6, 8, 10, 12, 14]
    assert load_checkpoint(run.last)["step"] == 15


@pytest.mark.parametrize("left", ["damaged", "avg.pt alone"])
def test_unresumable_checkpoints_send_both_commands_elsewhere(tmp_path, left):
    run = RunDir(tmp_path)
    fit(make_trainer(tmp_path, max_updates=10, average_last=2))
    assert run.average.is_file()
    for path in run.checkpoints.glob("*.pt"):
        if left == "damaged":
            path.write_bytes(b"damaged")
        elif path != run.average:
            path.unlink()
    for resume in (False, True):
        with pytest.raises(NmtError) as error:
            fit(make_trainer(tmp_path, max_updates=15), resume=resume)
        assert "none of its checkpoints can be resumed" in str(error.value)
        shown = error.value.spelled(lambda name: f"<{name}>")
        assert shown.endswith(f"move {run.checkpoints} away or train in another <run_dir>")
        assert "<resume>" not in shown


def test_a_damaged_newer_checkpoint_stops_a_resume_until_it_is_set_aside(tmp_path):
    run = RunDir(tmp_path)
    fit(make_trainer(tmp_path, max_updates=8))  # step-5, step-8 and last.pt (step 8)
    damaged = {path: path.read_bytes()[:1000] for path in (run.last, run.step_checkpoint(8))}
    for path, truncated in damaged.items():
        path.write_bytes(truncated)
    before = snapshot(tmp_path)
    with pytest.raises(NmtError) as error:
        fit(make_trainer(tmp_path, max_updates=10), resume=True)
    message = str(error.value)
    assert message.startswith(f"{run.last}: not a readable checkpoint, truncated or damaged")
    assert (
        "resuming from step-00000005.pt would lose the updates after step 5 (metrics.jsonl "
        "logged up to step 8): to do so, add skip_damaged, which keeps last.pt, "
        "step-00000008.pt aside as NAME.damaged"
    ) in message
    assert error.value.spelled(flag).endswith(
        "to do so, add --skip-damaged, which keeps last.pt, step-00000008.pt aside as NAME.damaged"
    )
    assert snapshot(tmp_path) == before
    skipping = make_trainer(tmp_path, max_updates=10)
    skipping.checkpointer.skip_damaged = True
    assert fit(skipping, resume=True).step == 10
    for path, truncated in damaged.items():
        assert path.with_name(f"{path.name}.damaged").read_bytes() == truncated
    assert load_checkpoint(run.last)["step"] == 10


def test_resume_refuses_what_the_checkpoint_cannot_honour_before_writing(tmp_path):
    fit(make_trainer(tmp_path, max_updates=5))
    before = snapshot(tmp_path)
    changed = make_trainer(tmp_path, max_updates=10, optimizer="sgd", lr=0.5)
    with pytest.raises(NmtError) as error:
        fit(changed, resume=True)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{tmp_path}/checkpoints/last.pt: ")
    assert "train.optimizer ('adam' -> 'sgd')" in message and "train.lr (0.01 -> 0.5)" in message
    assert snapshot(tmp_path) == before
    allowed = make_trainer(tmp_path, max_updates=10, keep_last=5, log_every=1)
    assert fit(allowed, resume=True).step == 10


@pytest.mark.parametrize(
    ("setting", "refused"),
    [
        ("train.precision=fp32", "train.precision ('auto' -> 'fp32')"),
        ("train.validate_every=2", "train.validate_every (500 -> 2)"),
        ("decode.max_len_a=2.0", "decode.max_len_a (1.5 -> 2.0)"),
        ("decode.max_len_b=3", "decode.max_len_b (10 -> 3)"),
        ("train.ema_decay=0.999", "train.ema_decay (0.0 -> 0.999)"),
        ("data.subword_alpha=0.1", "data.subword_alpha (0.0 -> 0.1)"),
        ("train.init_from=runs/other", "train.init_from (None -> 'runs/other')"),
        ("decode.beam=2", None),
        ("train.keep_last=1", None),
        ("train.device=cpu", None),
    ],
)
def test_resume_may_change_only_what_does_not_enter_the_updates(setting, refused):
    """bf16 rounds every update; validations (how often, and the greedy output lengths
    their dev BLEU is of) drive the plateau schedule, early stopping and best.pt; the moving
    average is what validation scores, subword sampling segments every epoch, and a run
    records the weights it started from."""
    saved = Recipe().to_dict()
    changes = changed_fields(saved, recipe_from_dict(saved, "r.yaml", [setting]), "last.pt")
    assert changes == ([] if refused is None else [refused])


def test_resume_may_not_change_the_files_a_run_trains_on():
    """data.files is the data itself (as data.corpus is), not where a mirror lives."""
    pair = {"src": "/data/a.de", "tgt": "/data/a.en"}
    saved = Recipe().to_dict() | {"data": {"files": {"train": pair, "valid": pair}}}
    other = "data.files.train={src: /data/b.de, tgt: /data/b.en}"
    changes = changed_fields(saved, recipe_from_dict(saved, "r.yaml", [other]), "last.pt")
    assert changes == [
        f"data.files ({ {'train': pair, 'valid': pair}!r} -> "
        f"{ {'train': {'src': '/data/b.de', 'tgt': '/data/b.en'}, 'valid': pair}!r})"
    ]


@pytest.mark.parametrize(
    ("limits", "reason", "raised"),
    [
        ({"max_epochs": 1}, "max_epochs", {"max_epochs": 2}),
        ({"max_updates": 6}, "max_updates", {"max_updates": 8}),
        ({"lr": 0.0, "min_lr": 0.0, "early_stop_patience": 2}, "early_stop", None),
    ],
)
def test_a_finished_run_trains_on_only_when_its_limit_is_raised(tmp_path, limits, reason, raised):
    settings = {"validate_every": 2, **limits}
    finished = fit(make_trainer(tmp_path, **settings))
    assert finished.stop_reason == reason
    before = snapshot(tmp_path)
    again = fit(make_trainer(tmp_path, **settings), resume=True)
    assert again.step == finished.step
    assert (again.stop_reason, again.already_finished) == (reason, True)
    assert again.finished_message().startswith(
        f"{tmp_path}: already finished ({reason}) at step {finished.step}; raise train."
    )
    assert snapshot(tmp_path) == before
    if raised is None:
        raised = {"early_stop_patience": 4}
    more = fit(make_trainer(tmp_path, **{**settings, **raised}), resume=True)
    assert not more.already_finished and more.step > finished.step


def test_nmt_train_opens_its_run_once(tiny_recipe, tmp_path, monkeypatch):
    """train() held the run and Trainer.fit() opened it again inside (and checked whether
    it had finished twice)."""
    opened = []
    real_open = Checkpointer.open

    def counting(self, recipe, resume):
        opened.append(resume)
        return real_open(self, recipe, resume)

    monkeypatch.setattr(Checkpointer, "open", counting)
    recipe = load_recipe(tiny_recipe)
    assert train(recipe, tmp_path / "run", progress=False).step > 0
    assert opened == [False]


def test_the_checkpointer_saves_state_it_is_given(tmp_path):
    """No Trainer: a payload of the parts of a run, and the optimizer's state apart."""
    recipe = Recipe()
    model = build_model(recipe.model, 20, 20)
    state = TrainState(step=7, epoch=2)
    payload = training_payload(recipe, (20, 20), model, {"lr": 0.1}, state)
    checkpointer = Checkpointer(RunDir(tmp_path))
    checkpointer.save(payload, {"state": {}}, improved=True, keep=1)
    saved = load_checkpoint(RunDir(tmp_path).step_checkpoint(7))
    assert saved["state"] == asdict(state) and "optimizer" not in saved
    assert load_checkpoint(RunDir(tmp_path).best)["step"] == 7
    assert load_checkpoint(RunDir(tmp_path).last)["optimizer"] == {"state": {}}
