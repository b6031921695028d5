"""What every `nmt export` format does before it writes: check the precision and the
folder, and load the run's model for the one architecture the format can hold."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from nmt.checkpoint import load_for_inference, resolve_checkpoint
from nmt.errors import NmtError
from nmt.recipe import Recipe
from nmt.tokenizer import Tokenizer

EXPORT_PRECISIONS = ("fp32", "int8")


def load_for_export(
    run: Path, out: Path, precision: str, model_class: type[nn.Module], refusal: str
) -> tuple[Path, nn.Module, Recipe, Tokenizer]:
    """(checkpoint, model on the CPU, recipe, tokenizer) of `run`; an NmtError, before any
    file is written, for another precision, a model that is not a `model_class` (`refusal`
    says which format takes it) or an `out` that holds files already."""
    if precision not in EXPORT_PRECISIONS:
        raise NmtError(f"--precision {precision!r}: export in {' or '.join(EXPORT_PRECISIONS)}")
    checkpoint = resolve_checkpoint(run)
    model, recipe, tokenizer = load_for_inference(checkpoint, "cpu")
    if not isinstance(model, model_class):
        raise NmtError(f"{run}: {refusal}")
    if out.exists() and any(out.iterdir()):
        raise NmtError(f"{out}: not empty; export writes into a new or empty folder")
    return checkpoint, model, recipe, tokenizer
