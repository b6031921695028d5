"""The runs a server holds: each loaded once, named, and described for GET /v1/models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from nmt.device import resolve_device
from nmt.errors import NmtError
from nmt.inference.translator import Translator
from nmt.models.architectures import family
from nmt.models.export_card import is_export
from nmt.models.model import count_parameters
from nmt.run.loading import resolve_checkpoint
from nmt.run.rundir import RunDir, parse_metrics
from nmt.serve.schemas import ModelInfo


@dataclass
class ServedModel:
    name: str
    translator: Translator
    info: ModelInfo

    def source_tokens(self, sentences: Sequence[str]) -> int:
        """Source pieces with their EOS: what a request costs in a batch's token budget."""
        return sum(len(ids) + 1 for ids in self.translator.tokenizer.encode_src(list(sentences)))


def load_models(
    paths: Sequence[Path], device: str = "auto", precision: str = "auto", shortlist: bool = False
) -> list[ServedModel]:
    """Each run directory (best checkpoint, else last), .pt file or exported folder, named
    after its folder (a .pt file: run-checkpoint), loaded by nmt.Translator in `precision`
    with or without the shortlist; two models may not share a name."""
    resolve_device(device)  # a bad device is refused before anything loads
    models = [_load(Path(path), device, precision, shortlist) for path in paths]
    names = [model.name for model in models]
    for name in names:
        if names.count(name) > 1:
            raise NmtError(
                f"two models would be named {name!r}: serve runs in folders of different names"
            )
    return models


def _load(path: Path, device: str, precision: str, shortlist: bool) -> ServedModel:
    translator = Translator.load(path, device=device, precision=precision, shortlist=shortlist)
    recipe = translator.recipe
    if is_export(path):
        name, (step, dev_bleu) = path.resolve().name, (None, None)
        parameters = translator.model.card["parameters"]
    else:
        checkpoint = resolve_checkpoint(path)
        run = RunDir(checkpoint.parent.parent)
        folder = run.root.resolve().name
        name = folder if path.is_dir() else f"{folder}-{checkpoint.stem}"
        step, dev_bleu = _training_point(checkpoint, run)
        parameters = count_parameters(translator.model)
    info = ModelInfo(
        name=name,
        architecture=family(recipe.model),
        attention=translator.model.has_attention,
        source_language=recipe.data.src,
        target_language=recipe.data.tgt,
        corpus=recipe.data.corpus,
        parameters=parameters,
        dev_bleu=dev_bleu,
        step=step,
        beam=recipe.decode.beam,
        precision=translator.setting,
    )
    return ServedModel(name, translator, info)


def _training_point(checkpoint: Path, run: RunDir) -> tuple[int | None, float | None]:
    """The checkpoint's update count and the dev BLEU logged at it (None for an averaged
    checkpoint or a run without its metrics.jsonl). The checkpoint's tensors are mapped,
    not read again."""
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    step = payload.get("step")
    if "averaged" in payload or not run.metrics.is_file():
        return step, None
    rows, _ = parse_metrics(run.metrics)
    logged = [row["valid_bleu"] for row in rows if row["step"] == step and "valid_bleu" in row]
    return step, logged[-1] if logged else None
