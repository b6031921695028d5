"""What every `nmt export` format does around its own files: before, check the precision
and the folder and load the run's model for the one architecture the format can hold;
after, copy the sentencepiece models and write the card. Everything is written into a
folder beside the target that takes its name only when complete (`staged`)."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from nmt.config.recipe import Recipe
from nmt.data.tokenizer import BOS, EOS, PAD, UNK, Tokenizer
from nmt.errors import NmtError, OptionError, SpelledError, literal
from nmt.models.export_card import CARD, EXPORT_PRECISIONS
from nmt.models.model import count_parameters
from nmt.run.loading import load_for_inference, resolve_checkpoint
from nmt.run.rundir import RunDir


def load_for_export(
    run: Path, out: Path, precision: str, model_class: type[nn.Module], refusal: str
) -> tuple[Path, nn.Module, Recipe, Tokenizer]:
    """(checkpoint, model on the CPU, recipe, tokenizer) of `run`; an NmtError, before any
    file is written, for another precision, a model that is not a `model_class` (`refusal`,
    a SpelledError's template naming the exporters, says which format takes it) or an
    `out` that holds files already."""
    if precision not in EXPORT_PRECISIONS:
        reason = f"export in {' or '.join(EXPORT_PRECISIONS)}"
        raise OptionError("precision", reason, repr(precision))
    checkpoint = resolve_checkpoint(run)
    model, recipe, tokenizer = load_for_inference(checkpoint, "cpu")
    if not isinstance(model, model_class):
        raise SpelledError(f"{literal(str(run))}: {refusal}")
    if out.exists() and not out.is_dir():
        raise NmtError(f"{out}: not a folder; export writes into a new or empty folder")
    if out.exists() and any(out.iterdir()):
        raise NmtError(f"{out}: not empty; export writes into a new or empty folder")
    return checkpoint, model, recipe, tokenizer


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A new folder beside `out` to export into, renamed to `out` when the block ends and
    removed when it fails: a full disk or Ctrl-C leaves no half-written export (which
    `nmt translate` would not recognise and a second export would refuse as not empty)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = out.parent / f".{out.name}.{secrets.token_hex(4)}.partial"
    folder.mkdir()
    try:
        yield folder
        if out.exists():
            out.rmdir()  # empty: load_for_export checked
        folder.rename(out)
    except BaseException as error:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, OSError):
            raise NmtError(f"{out}: the export was not written ({error.strerror})") from None
        raise


def write_card(out: Path, checkpoint: Path, model: nn.Module, recipe: Recipe, fields: dict) -> None:
    """Copy the run's sentencepiece models into `out` and write its card: `fields` (the
    format, its version and precision, its own layout), then what every card holds."""
    run_dir = RunDir(checkpoint.parent.parent)
    shutil.copyfile(run_dir.src_model, out / "src.model")
    shutil.copyfile(run_dir.tgt_model, out / "tgt.model")
    card = fields | {
        "exported_from": str(checkpoint),
        "torch": torch.__version__,
        "parameters": count_parameters(model),
        "src_vocab": model.src_vocab,
        "tgt_vocab": model.tgt_vocab,
        "special_ids": {"pad": PAD, "unk": UNK, "bos": BOS, "eos": EOS},
        "sentencepiece": {"src": "src.model", "tgt": "tgt.model"},
        "recipe": recipe.to_dict(),
    }
    (out / CARD).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
