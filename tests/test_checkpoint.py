import pytest
import torch

from nmt import atomic
from nmt.config.recipe import Recipe
from nmt.errors import NmtError
from nmt.models.architectures import build_model
from nmt.run.checkpoint import (
    FORMAT,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
    training_payload,
)
from nmt.run.train_state import TrainState


def payload(value: float, step: int = 1) -> dict:
    weights = {"w": torch.full((2, 3), value), "b": torch.full((3,), value, dtype=torch.float16)}
    return {"format": FORMAT, "recipe": {"name": "t"}, "model": weights, "step": step}


def test_round_trip_is_weights_only_loadable_and_copies(tmp_path):
    target, copy = tmp_path / "a.pt", tmp_path / "sub" / "b.pt"
    save_checkpoint(target, payload(1.5), copies=[copy])
    for path in (target, copy):
        raw = torch.load(path, weights_only=True)
        assert raw["recipe"] == {"name": "t"}
        assert torch.equal(load_checkpoint(path)["model"]["w"], torch.full((2, 3), 1.5))
    assert list(tmp_path.glob(".*")) == []


def test_failure_during_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    save_checkpoint(target, payload(1.0))
    before = target.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(target, payload(2.0))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_corrupt_or_foreign_files_name_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    save_checkpoint(corrupt, payload(1.0))
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    with pytest.raises(NmtError, match="corrupt.pt: not a readable checkpoint"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(NmtError, match="foreign.pt: not an nmt checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(NmtError, match="missing.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_older_format_is_refused_with_its_number(tmp_path):
    old = tmp_path / "old.pt"
    save_checkpoint(old, {**payload(1.0), "format": FORMAT - 1})
    with pytest.raises(NmtError, match=f"old.pt: checkpoint format {FORMAT - 1}, .* {FORMAT}"):
        load_checkpoint(old)


def test_wrong_model_sizes_name_the_file(tmp_path):
    path = tmp_path / "small.pt"
    save_checkpoint(path, {**payload(1.0), "model": torch.nn.Linear(2, 3).state_dict()})
    with pytest.raises(NmtError, match="small.pt: does not fit this model"):
        load_model_state(torch.nn.Linear(4, 3), load_checkpoint(path), path)


class Planted:
    """An object a pickle would rebuild by running code."""

    def __reduce__(self):
        return (print, ("ran",))


def test_a_file_with_python_objects_is_not_ours_and_no_unsafe_advice(tmp_path):
    planted = tmp_path / "planted.pt"
    torch.save({**payload(1.0), "extra": Planted()}, planted)
    with pytest.raises(NmtError) as error:
        load_checkpoint(planted)
    message = str(error.value)
    assert message.startswith(f"{planted}: not a checkpoint this toolkit wrote")
    assert "weights_only" not in message and "\n" not in message


def test_random_bytes_are_not_called_python_objects(tmp_path):
    noise, pickled = tmp_path / "noise.pt", tmp_path / "pickled.pt"
    noise.write_bytes(bytes(range(7, 256)) * 4)
    torch.save({"format": FORMAT, "model": {}, "extra": atomic.naming}, pickled)
    with pytest.raises(NmtError, match=r"noise\.pt: not a checkpoint \(not a torch zip file"):
        load_checkpoint(noise)
    with pytest.raises(NmtError, match=r"pickled\.pt: .*it holds Python objects"):
        load_checkpoint(pickled)


def test_a_training_payload_holds_where_the_run_stands_once():
    """The epoch and the best BLEU are in the state, which resume reads; no copy beside it."""
    recipe = Recipe()
    state = TrainState(step=7, epoch=2, best_bleu=12.5)
    payload = training_payload(recipe, (20, 20), build_model(recipe.model, 20, 20), {}, state)
    assert payload["state"]["epoch"] == 2 and payload["state"]["best_bleu"] == 12.5
    assert "epoch" not in payload and "best_bleu" not in payload
