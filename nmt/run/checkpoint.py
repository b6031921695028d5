"""Checkpoint files: what a training checkpoint holds, atomic saves, safe loads.

A checkpoint is a plain dict of tensors, numbers, strings and lists (the recipe as a dict),
so `torch.load(weights_only=True)` reads it without running any code. Every write is
atomic (nmt/atomic.py): a run killed in the middle of a save still has its previous
checkpoint intact. Averaging checkpoints: nmt/run/averaging.py; a run's model loaded for
translation: nmt/run/loading.py.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import random
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from nmt.atomic import write_atomic
from nmt.config.recipe import Recipe
from nmt.errors import NmtError
from nmt.run.rundir import RunDir
from nmt.run.train_state import TrainState

FORMAT = 3  # bump when the payload layout or what the weights mean changes
# 2: the bridge maps the encoder cell state linearly (1 squashed it through a tanh)
# 3: model.bridge, identity by default (2 mapped bidirectional states linearly)


def training_payload(
    recipe: Recipe,
    vocab_sizes: tuple[int, int],
    model: torch.nn.Module,
    schedule: dict[str, Any],
    state: TrainState,
    average: torch.nn.Module | None = None,
    init_from: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a training checkpoint holds but the optimizer's state: what translation needs
    (weights, recipe, vocabulary) and what a resume needs (state, schedule, RNGs).

    With `average` (the moving average of the weights, train.ema_decay), "model" holds the
    average, the weights to translate with, and "raw_model" the model's own, the weights
    training goes on from. init_from: where a run started from another one
    (nmt/training/finetune.py).
    """
    payload = {
        "format": FORMAT,
        "recipe": recipe.to_dict(),
        "src_vocab": vocab_sizes[0],
        "tgt_vocab": vocab_sizes[1],
        "model": (model if average is None else average).state_dict(),
        "step": state.step,
        "state": asdict(state),  # epoch, best BLEU and the rest of where the run stands
        "schedule": schedule,
        "rng": rng_state(),
    }
    if average is not None:
        payload["raw_model"] = model.state_dict()
    if init_from is not None:
        payload["init_from"] = init_from
    return payload


def rng_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "python": [version, list(internal), gauss],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(path: Path, payload: dict[str, Any], copies: Sequence[Path] = ()) -> None:
    """Serialise once, then write atomically to `path` and to each of `copies`."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    for target in (path, *copies):
        write_atomic(Path(target), buffer.getvalue())


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _pickled(path: Path) -> bool:
    """Whether `path` is what torch.save writes (a zip file, or a pickle of protocol 2 or
    more: opcode PROTO, 0x80), so that random bytes are not called Python objects."""
    if zipfile.is_zipfile(path):
        return True
    with path.open("rb") as file:
        return file.read(1) == b"\x80"


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with weights_only=True; NmtError naming the file if it is unusable.

    A file holding Python objects is refused as what it is, not a checkpoint of ours;
    torch's own message would suggest loading it unsafely, which runs its code.
    """
    path = Path(path)
    if not path.is_file():
        raise NmtError(f"{path}: checkpoint not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        if _pickled(path):
            raise NmtError(
                f"{path}: not a checkpoint this toolkit wrote (it holds Python objects, which "
                "nmt never loads)"
            ) from None
        raise NmtError(f"{path}: not a checkpoint (not a torch zip file, not a pickle)") from None
    except Exception as error:
        raise NmtError(
            f"{path}: not a readable checkpoint, truncated or damaged ({_first_line(error)})"
        ) from None
    if not isinstance(payload, dict) or "format" not in payload or "model" not in payload:
        raise NmtError(f"{path}: not an nmt checkpoint (format {FORMAT} with model weights)")
    if payload["format"] != FORMAT:
        raise NmtError(
            f"{path}: checkpoint format {payload['format']}, this nmt reads format {FORMAT} "
            f"(its weights would mean something else here: retrain)"
        )
    return payload


def load_model_state(model: torch.nn.Module, payload: dict[str, Any], path: Path) -> None:
    """Copy the checkpoint's weights into `model`; a size mismatch names the file."""
    try:
        model.load_state_dict(payload["model"])
    except (RuntimeError, KeyError) as error:
        raise NmtError(f"{path}: does not fit this model ({_first_line(error)})") from None


def load_training_weights(
    model: torch.nn.Module,
    average: torch.nn.Module | None,
    payload: dict[str, Any],
    path: Path,
) -> None:
    """Load what training_payload saved into the model training goes on with and, when
    there is one, the moving average of its weights."""
    load_model_state(model, {"model": payload.get("raw_model", payload["model"])}, path)
    if average is not None:
        load_model_state(average, payload, path)


def tokenizer_fingerprint(run: RunDir) -> dict[str, str]:
    """sha256 of the run's two sentencepiece models: the ids a checkpoint's weights mean."""
    return {
        side: hashlib.sha256(model.read_bytes()).hexdigest()
        for side, model in (("src", run.src_model), ("tgt", run.tgt_model))
    }


def training_record(path: Path) -> dict[str, Any]:
    """Where training stood when `path` was saved (nmt/run/train_state.py's TrainState as a dict:
    step, tokens, seconds, ...); empty for a checkpoint without it (an average)."""
    return load_checkpoint(path).get("state", {})
