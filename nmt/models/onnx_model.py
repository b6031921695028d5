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

from nmt.config.recipe import Recipe, recipe_from_dict
from nmt.data.tokenizer import BOS, EOS, Tokenizer
from nmt.errors import NmtError
from nmt.extras import missing
from nmt.jsonio import read_json
from nmt.models.decoder import DecoderState, Encoded
from nmt.models.export_card import (
    CARD,
    CARD_FORMAT,
    GRAPHS,
    ONNX_CARD,
    card_problem,
    layout,
    layout_problem,
)


def _session(folder: Path, part: dict[str, Any]) -> Any:
    """An onnxruntime session of the graph a card's part names, whose inputs and outputs
    must be the ones the card lists."""
    try:
        import onnxruntime
    except ModuleNotFoundError as error:
        raise missing("onnx", error) from None
    path = folder / part["file"]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own exception types
        raise NmtError(f"{path}: not a graph onnxruntime loads ({_first_line(error)})") from None
    for ends, found in (("inputs", session.get_inputs()), ("outputs", session.get_outputs())):
        names = [value.name for value in found]
        if sorted(names) != sorted(part[ends]):
            raise NmtError(
                f"{path}: the graph's {ends} are {', '.join(names)}; the card says "
                f"{', '.join(part[ends])}"
            )
    return session


def _first_line(error: Exception) -> str:
    """An onnxruntime error in a few words: its first line (they run to pages), else its
    type."""
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


class OnnxModel(nn.Module):
    """The exported graphs behind the model interface (see the module docstring)."""

    def __init__(self, folder: Path, card: dict[str, Any]) -> None:
        super().__init__()
        self.card, self.precision = card, card["precision"]
        self.encoder, self.decoder = (_session(folder, card[part]) for part in GRAPHS)
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
    """(the graphs as a model, the recipe it was trained with, its tokenizer). The card
    is checked field by field and the graphs against it, and one step is run, so that a
    damaged folder is refused here in one line, not by every request a server answers."""
    folder = Path(folder)
    path = folder / CARD
    card = read_json(path)
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise NmtError(f"{path}: not a card of `nmt export --format onnx`")
    problem = card_problem(card, ONNX_CARD)
    if problem is not None:
        raise NmtError(f"{path}: {problem}")
    recipe = recipe_from_dict(card["recipe"], str(path))
    problem = layout_problem(card, layout(recipe))
    if problem is not None:
        raise NmtError(f"{path}: {problem} (card and recipe disagree)")
    pieces = card["sentencepiece"]
    tokenizer = Tokenizer(folder / pieces["src"], folder / pieces["tgt"])
    sizes = (tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    if (card["src_vocab"], card["tgt_vocab"]) != sizes:
        raise NmtError(
            f"{path}: src_vocab, tgt_vocab: {card['src_vocab']}, {card['tgt_vocab']}, but the "
            f"sentencepiece models have {sizes[0]}, {sizes[1]} pieces"
        )
    model = OnnxModel(folder, card)
    _try_one_step(model, card["tgt_vocab"], folder)
    return model, recipe, tokenizer


def _try_one_step(model: OnnxModel, tgt_vocab: int, folder: Path) -> None:
    """Encode one sentence and take one step: graphs that load but do not fit together
    (swapped, another model's) fail here."""
    try:
        enc = model.encode(torch.tensor([[EOS]]), torch.tensor([1]))
        logits, _, _ = model.step(torch.tensor([BOS]), enc.init, enc)
    except Exception as error:  # onnxruntime raises its own exception types
        raise NmtError(f"{folder}: the exported graphs do not run ({_first_line(error)})") from None
    if logits.shape != (1, tgt_vocab):
        raise NmtError(
            f"{folder}: the step graph gives {tuple(logits.shape)} logits, not (1, {tgt_vocab})"
        )
