"""Starting a run from another run's weights (train.init_from, `nmt train --init-from RUN`).

The usual case is domain adaptation: a model trained on one corpus goes on training on
another. The new run keeps the first run's sentencepiece models (it copies them and
prepares its own data with them, so every id means the same piece) and loads the weights
of its best checkpoint (or of the .pt file named; with train.ema_decay those are the
average). The optimizer, the learning-rate schedule and the step count start afresh: the
new data section is a new task. A recipe whose model would have another shape, or whose
vocabulary settings differ, is refused in one line naming the field; dropout and the
initialisation fields may differ. The run records where it started: train.init_from in its
recipe, and "init_from" (the checkpoint and its step) in its checkpoints and as the first
row of metrics.jsonl.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmt.config.recipe import Recipe, fields_where, recipe_from_dict
from nmt.data.tokenizer import Tokenizer
from nmt.errors import NmtError
from nmt.run.checkpoint import load_checkpoint
from nmt.run.loading import check_tokenizer, resolve_checkpoint
from nmt.run.rundir import RunDir


@dataclass
class Origin:
    """The checkpoint a run starts from, and the run it belongs to."""

    checkpoint: Path
    run: RunDir
    payload: dict[str, Any]

    def record(self) -> dict[str, Any]:
        """Where the run started, as its checkpoints and metrics.jsonl say it."""
        return {"checkpoint": str(self.checkpoint.resolve()), "step": self.payload["step"]}


def fixed_fields() -> list[str]:
    """The dotted fields a run started from another must share with it: the model fields
    that shape the weights or change what they compute (all but free_on_fine_tune), and
    the data fields its sentencepiece models were made with (vocabulary), which the new run
    keeps."""
    model = [name for name in fields_where("free_on_fine_tune", False) if name.startswith("model.")]
    return model + fields_where("vocabulary")


def load_origin(recipe: Recipe) -> Origin:
    """The checkpoint train.init_from names, checked against `recipe` and against the
    sentencepiece models beside it."""
    try:
        path = resolve_checkpoint(Path(recipe.train.init_from))
    except NmtError as error:
        raise NmtError(f"train.init_from: {error}") from None
    payload = load_checkpoint(path)
    changes = recipe.changes_from(recipe_from_dict(payload["recipe"], str(path)), fixed_fields())
    if changes:
        raise NmtError(
            f"train.init_from: this recipe changes {', '.join(changes)} from {path}; a run "
            "started from another keeps its model's shape and vocabulary"
        )
    run = RunDir(path.parent.parent)
    check_tokenizer(payload, path, run, Tokenizer(run.src_model, run.tgt_model))
    return Origin(path, run, payload)
