"""A folder of `nmt export --format onnx` as a model our search and scoring drive: its two
graphs run in onnxruntime, on the CPU, with as many threads as torch has.

OnnxModel has the interface of the recurrent model (encode, initial_state, step, forward)
over torch tensors, so nmt.Translator decodes with it as with a checkpoint (greedy, beam,
sampling, n-best, prefixes, `nmt score`); none of the network's code runs, only the
graphs. Teacher forcing (`nmt score`) steps through the target with the step graph, the
same arithmetic as the model's forward.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nmt.decoder import DecoderState, Encoded
from nmt.errors import NmtError
from nmt.extras import missing
from nmt.jsonio import read_json
from nmt.recipe import Recipe, recipe_from_dict
from nmt.tokenizer import Tokenizer

CARD = "card.json"
CARD_FORMAT = "nmt-onnx"
CT2_CARD_FORMAT = "nmt-ctranslate2"  # nmt/export_ctranslate2.py's folders, which we do not load


def is_export(path: Path) -> bool:
    """Whether `path` is a folder `nmt export --format onnx` wrote."""
    return (Path(path) / CARD).is_file()


def _session(path: Path) -> Any:
    try:
        import onnxruntime
    except ModuleNotFoundError as error:
        raise missing("onnx", error) from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise NmtError(f"{path}: not a graph onnxruntime loads ({first[:200]})") from None


class OnnxModel(nn.Module):
    """The exported graphs behind the model interface (see the module docstring)."""

    def __init__(self, folder: Path, card: dict[str, Any]) -> None:
        super().__init__()
        self.card, self.precision = card, card["precision"]
        self.encoder = _session(folder / card["encoder"]["file"])
        self.decoder = _session(folder / card["decoder_step"]["file"])
        self.has_attention = "attention" in card["decoder_step"]["outputs"]

    def encode(self, src: Tensor, src_lengths: Tensor) -> Encoded:
        names = self.card["encoder"]["outputs"]
        feeds = {"src": src.cpu().numpy(), "lengths": src_lengths.cpu().numpy()}
        found = dict(zip(names, self.encoder.run(names, feeds), strict=True))
        found = {name: torch.from_numpy(value) for name, value in found.items()}
        init = DecoderState(found["h"], found.get("c"), found.get("feed"))
        return Encoded(found["memory"], found.get("keys"), found["mask"], init)

    def initial_state(self, enc: Encoded) -> DecoderState:
        return enc.init

    def step(
        self, prev_tokens: Tensor, state: DecoderState, enc: Encoded
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        given = {"prev": prev_tokens, "h": state.h, "c": state.c, "feed": state.feed}
        given |= {"memory": enc.memory, "keys": enc.keys, "mask": enc.mask}
        inputs = self.card["decoder_step"]["inputs"]
        outputs = self.card["decoder_step"]["outputs"]
        feeds = {name: given[name].contiguous().cpu().numpy() for name in inputs}
        found = dict(zip(outputs, self.decoder.run(outputs, feeds), strict=True))
        found = {name: torch.from_numpy(value) for name, value in found.items()}
        state = DecoderState(found["next_h"], found.get("next_c"), found.get("next_feed"))
        return found["logits"], state, found.get("attention")

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits [B, T, V], one step graph call per target position."""
        enc = self.encode(src, src_lengths)
        state, logits = enc.init, []
        for prev in tgt_in.unbind(1):
            step_logits, state, _ = self.step(prev.contiguous(), state, enc)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)


def load_export(folder: Path) -> tuple[OnnxModel, Recipe, Tokenizer]:
    """(the graphs as a model, the recipe it was trained with, its tokenizer)."""
    path = Path(folder) / CARD
    card = read_json(path)
    if isinstance(card, dict) and card.get("format") == CT2_CARD_FORMAT:
        raise NmtError(
            f"{folder}: a CTranslate2 export, which ctranslate2.Translator decodes with its own "
            "search, not nmt (docs/how-to/decoding.md shows how)"
        )
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise NmtError(f"{path}: not a card of `nmt export --format onnx`")
    recipe = recipe_from_dict(card["recipe"], str(path))
    pieces = card["sentencepiece"]
    tokenizer = Tokenizer(Path(folder) / pieces["src"], Path(folder) / pieces["tgt"])
    return OnnxModel(Path(folder), card), recipe, tokenizer
