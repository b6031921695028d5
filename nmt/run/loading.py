"""A trained run loaded for translation: which checkpoint a run directory offers, the files
a command that loads runs reads, the sentencepiece models a checkpoint was trained with,
and (model, recipe, tokenizer) ready to decode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nmt.config.recipe import Recipe, recipe_from_dict
from nmt.data.tokenizer import Tokenizer
from nmt.errors import NmtError
from nmt.models.architectures import build_model
from nmt.run.checkpoint import load_checkpoint, load_model_state, tokenizer_fingerprint
from nmt.run.rundir import RunDir


def check_tokenizer(payload: dict[str, Any], path: Path, run: RunDir, tokenizer: Tokenizer) -> None:
    """Refuse sentencepiece models other than those the checkpoint was trained with: the
    same ids would mean other pieces (or none), and the output would be noise."""
    sides = (
        ("src", run.src_model, tokenizer.src_vocab_size),
        ("tgt", run.tgt_model, tokenizer.tgt_vocab_size),
    )
    saved = payload.get("sentencepiece")
    found = tokenizer_fingerprint(run) if saved is not None else None
    for side, model, size in sides:
        trained = payload[f"{side}_vocab"]
        if size != trained:
            raise NmtError(
                f"{model}: {size} pieces, but {path.name} was trained with {trained}: not "
                "the sentencepiece model of this checkpoint"
            )
        if found is not None and found[side] != saved[side]:
            raise NmtError(
                f"{model}: not the sentencepiece model {path.name} was trained with "
                "(its sha256 differs)"
            )


def resolve_checkpoint(run_or_checkpoint: Path) -> Path:
    """A .pt file as given; a run directory -> its best.pt, else its last.pt."""
    path = Path(run_or_checkpoint)
    if path.is_file():
        return path
    run = RunDir(path)
    for candidate in (run.best, run.last):
        if candidate.is_file():
            return candidate
    raise NmtError(f"{path}: neither a checkpoint file nor a run directory with checkpoints")


def model_files(runs: Sequence[Path | str]) -> list[Path]:
    """The files a command that loads `runs` (run directories, checkpoints in them, export
    folders) reads: every file directly in a folder (recipe, sentencepiece models,
    metrics; an export's card and graphs), its checkpoints, and a checkpoint's run's; what
    an output of the same command must not replace."""
    files = []
    for given in map(Path, runs):
        folder = given.parent.parent if given.is_file() else given
        files.append(given)
        for place in (folder, folder / "checkpoints"):
            if place.is_dir():
                files += [path for path in place.iterdir() if path.is_file()]
    return files


def load_for_inference(
    run_or_checkpoint: Path, device: str | torch.device
) -> tuple[torch.nn.Module, Recipe, Any]:
    """(model in eval mode on `device`, its recipe, its tokenizer) from a run or a .pt file."""
    path = resolve_checkpoint(run_or_checkpoint)
    payload = load_checkpoint(path)
    recipe = recipe_from_dict(payload["recipe"], str(path))
    run = RunDir(path.parent.parent)
    for spm in (run.src_model, run.tgt_model):
        if not spm.is_file():
            raise NmtError(f"{spm}: sentencepiece model missing from the run directory")
    tokenizer = Tokenizer(run.src_model, run.tgt_model)
    check_tokenizer(payload, path, run, tokenizer)
    model = build_model(recipe.model, payload["src_vocab"], payload["tgt_vocab"])
    load_model_state(model, payload, path)
    return model.to(device).eval(), recipe, tokenizer
