"""`nmt export RUN -o DIR --format onnx`: a recurrent run as two ONNX graphs that any ONNX
runtime can drive, beside its sentencepiece models and a JSON card that says how.

    DIR/encoder.onnx       src [B, S] int64 (ids + EOS, right-padded with PAD), lengths [B]
                           -> memory [B, S, M], (keys [B, S, A]), mask [B, S] bool, and the
                           decoder's initial state: h [L, B, H], (c [L, B, H]), (feed [B, F])
    DIR/decoder_step.onnx  prev [N] int64 (BOS first), the state, (memory, keys, mask)
                           -> logits [N, V], the next state, (attention [N, S])
    DIR/src.model, DIR/tgt.model   the run's sentencepiece models
    DIR/card.json          names and order of every input and output, the special ids
                           (PAD 0, UNK 1, BOS 2, EOS 3), the recipe, the precision

Beam search, length limits and the rest of decoding stay the caller's (nmt/models/onnx_model.py
gives `nmt translate DIR` and nmt.Translator ours). The graphs are made by torch's
TorchScript-based exporter: the torch.export-based one, the default since torch 2.9, fails
on the packed sequences of the encoder (pack_padded_sequence, measured with torch 2.13),
which the TorchScript exporter turns into ONNX LSTMs with sequence_lens, so a padded batch
encodes as each sentence alone. With precision int8 the graphs' matrix products are
quantized by onnxruntime's own dynamic quantization (weights int8 per output channel).
The Transformer is not exported to ONNX (its decoder state, a key-value cache per layer,
would be another card layout): nmt/export/export_ctranslate2.py exports it to CTranslate2.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from nmt.data.tokenizer import BOS, EOS, PAD
from nmt.export.every_format import load_for_export, staged, write_card
from nmt.extras import missing
from nmt.models.decoder import DecoderState, Encoded
from nmt.models.export_card import CARD, CARD_FORMAT, CARD_VERSION, layout
from nmt.models.model import Seq2Seq

OPSET = 17


class _Encoder(nn.Module):
    """model.encode with tensors out, in the card's order."""

    def __init__(self, model: Seq2Seq, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        enc = self.model.encode(src, lengths)
        found = {"memory": enc.memory, "keys": enc.keys, "mask": enc.mask}
        found |= {"h": enc.init.h, "c": enc.init.c, "feed": enc.init.feed}
        return tuple(found[name] for name in self.names)


class _Step(nn.Module):
    """model.step with tensors in and out, in the card's order."""

    def __init__(self, model: Seq2Seq, parts: dict[str, list[str]]) -> None:
        super().__init__()
        self.model, self.parts = model, parts

    def forward(self, prev: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
        given = dict(zip(self.parts["step_inputs"][1:], tensors, strict=True))
        state = DecoderState(given["h"], given.get("c"), given.get("feed"))
        memory, mask = given.get("memory", prev), given.get("mask", prev)  # unread without
        enc = Encoded(memory, given.get("keys", memory), mask, state)
        logits, state, weights = self.model.step(prev, state, enc)
        found = {"logits": logits, "next_h": state.h, "next_c": state.c, "next_feed": state.feed}
        found["attention"] = weights
        return tuple(found[name] for name in self.parts["step_outputs"])


def _examples(model: Seq2Seq) -> tuple[Tensor, Tensor]:
    """A batch of three sentences of different lengths (the exporter traces one)."""
    src = torch.randint(4, model.src_vocab, (3, 7))
    lengths = torch.tensor([7, 4, 2])
    src[1, 4:] = PAD
    src[2, 2:] = PAD
    src[torch.arange(3), lengths - 1] = EOS
    return src, lengths


def _dynamic_axes(names: list[str]) -> dict[str, dict[int, str]]:
    """Which axis of each tensor is the batch (B; N rows in a step) and the source (S)."""
    axes = {"src": {0: "B", 1: "S"}, "lengths": {0: "B"}, "prev": {0: "N"}}
    axes |= {"memory": {0: "N", 1: "S"}, "keys": {0: "N", 1: "S"}, "mask": {0: "N", 1: "S"}}
    axes |= {"h": {1: "N"}, "c": {1: "N"}, "feed": {0: "N"}, "logits": {0: "N"}}
    axes |= {f"next_{name}": axes[name] for name in ("h", "c", "feed")}
    axes["attention"] = {0: "N", 1: "S"}
    return {name: axes[name] for name in names}


def export_onnx(run: Path, out: Path, precision: str = "fp32") -> Path:
    """Write the folder described in the module docstring; returns its card."""
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ModuleNotFoundError as error:
        raise missing("onnx", error) from None
    refusal = (
        "{export_onnx} takes the recurrent models (model.arch: rnn); export a Transformer "
        "with {export_ctranslate2}"
    )
    checkpoint, model, recipe, _ = load_for_export(run, out, precision, Seq2Seq, refusal)
    parts = layout(recipe)
    src, lengths = _examples(model)
    with torch.no_grad():
        enc_names = parts["encoder_outputs"]
        encoded = dict(zip(enc_names, _Encoder(model, enc_names)(src, lengths), strict=True))
        rows = torch.arange(3).repeat_interleave(2)  # a step sees beam rows, not sentences
        step_args = [torch.full((6,), BOS)]
        for name in parts["step_inputs"][1:]:
            step_args.append(encoded[name].index_select(1 if name in ("h", "c") else 0, rows))
    graphs = {
        "encoder.onnx": (_Encoder(model, enc_names), (src, lengths), "encoder"),
        "decoder_step.onnx": (_Step(model, parts), tuple(step_args), "step"),
    }
    fields = {
        "format": CARD_FORMAT,
        "version": CARD_VERSION,
        "precision": precision,
        "opset": OPSET,
        "encoder": {"file": "encoder.onnx"} | _io(parts, "encoder"),
        "decoder_step": {"file": "decoder_step.onnx"} | _io(parts, "step"),
        "state": parts["state"],
    }
    with staged(out) as folder:
        for file, (module, args, kind) in graphs.items():
            inputs, outputs = parts[f"{kind}_inputs"], parts[f"{kind}_outputs"]
            _export(module, args, folder / file, inputs, outputs)
            if precision == "int8":
                _quantize(folder / file)
        write_card(folder, checkpoint, model, recipe, fields)
    return out / CARD


def _io(parts: dict[str, list[str]], kind: str) -> dict[str, list[str]]:
    return {"inputs": parts[f"{kind}_inputs"], "outputs": parts[f"{kind}_outputs"]}


def _export(
    module: nn.Module,
    args: tuple[Tensor, ...],
    path: Path,
    inputs: list[str],
    outputs: list[str],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notices (docstring)
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            dynamo=False,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=_dynamic_axes(inputs + outputs),
            opset_version=OPSET,
        )


def _quantize(path: Path) -> None:
    """The graph at `path`, its matrix products quantized in place by onnxruntime."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ModuleNotFoundError as error:
        raise missing("onnx", error) from None
    fp32 = path.with_suffix(".fp32.onnx")
    path.rename(fp32)
    logging.disable(logging.WARNING)  # its advice to pre-process image models, on the root log
    try:
        quantize_dynamic(fp32, path, per_channel=True, weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    fp32.unlink()
