"""`nmt export RUN -o DIR --format ctranslate2`: a Transformer run as a CTranslate2 model
(a C++ engine that decodes Transformers fast on CPUs, in int8 too), beside the run's
sentencepiece models and a JSON card.

    DIR/model.bin, DIR/config.json  the weights and settings, written by ctranslate2.specs
    DIR/shared_vocabulary.json      the pieces in id order (source_ and target_vocabulary.json
                                    where the run has two sentencepiece models)
    DIR/src.model, DIR/tgt.model    the run's sentencepiece models
    DIR/card.json                   what was exported, from where, in which precision

How nmt/models/transformer.py maps onto ctranslate2.specs.TransformerSpec, piece by piece:
pre-norm layers with a LayerNorm after each stack (pre_norm; epsilon 1e-5, PyTorch's, set in
the config), ReLU feed-forward blocks, `heads` heads; embeddings times sqrt(d_model)
(scale_embeddings) plus positions from 0, BOS at the decoder's position 0. The position
table is given whole, model.max_positions rows: CTranslate2's own sinusoids put every sin
before every cos, ours interleave them (PE(p, 2i) = sin, PE(p, 2i + 1) = cos), and learned
positions are a table anyway. Self-attention's query, key and value maps become one fused
matrix, cross-attention's key and value another; our keys have no bias, so theirs is zeros.
The output layer keeps its bias, tied or not (ctranslate2 stores a shared tensor once).
Sources end in EOS (add_source_eos), the decoder starts from BOS, and the vocabulary is the
sentencepiece pieces, <unk>, <s> and </s> being UNK, BOS and EOS.

Decoding such a folder is ctranslate2's own beam search, not nmt's: ctranslate2 has no step
that returns a distribution for nmt/generation/search.py to read, and its search differs
from ours in what the options mean (one length limit per batch, not a * source + b per
sentence; one random stream per process, not per line; no ensembles, shortlists or
head-averaged attention). nmt.Translator decodes it so, refusing what it cannot honour
(nmt/inference/ctranslate2_engine.py); bench/speed/ct2_decoding.py measures it against ours.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nmt.config.recipe import ModelConfig
from nmt.data.tokenizer import BOS, EOS, UNK, Tokenizer
from nmt.errors import NmtError
from nmt.export.every_format import load_for_export, staged, write_card
from nmt.extras import missing
from nmt.models.export_card import CARD, CT2_CARD_FORMAT
from nmt.models.transformer import DecoderLayer, EncoderLayer, Transformer, sinusoids

CARD_VERSION = 1
LAYER_NORM_EPSILON = 1e-5  # nn.LayerNorm's default, which every LayerNorm of ours keeps


def _array(tensor: Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def _linear(spec: Any, *layers: nn.Linear) -> None:
    """One linear map of ctranslate2 from ours, stacked by rows; a missing bias is zeros."""
    spec.weight = np.concatenate([_array(layer.weight) for layer in layers])
    spec.bias = np.concatenate(
        [
            _array(layer.bias) if layer.bias is not None else np.zeros(layer.out_features, "f4")
            for layer in layers
        ]
    )


def _norm(spec: Any, norm: nn.LayerNorm) -> None:
    spec.gamma, spec.beta = _array(norm.weight), _array(norm.bias)


def _positions(model: Transformer, cfg: ModelConfig, side: str) -> np.ndarray:
    """The position table of the source or target side, model.max_positions rows."""
    embed = model.src_embed if side == "src" else model.tgt_embed
    if embed.learned is not None:
        return _array(embed.learned.weight)
    return _array(sinusoids(torch.arange(cfg.max_positions), cfg.d_model))


def _encoder_layer(spec: Any, layer: EncoderLayer) -> None:
    attention = layer.attention
    _norm(spec.self_attention.layer_norm, layer.attention_norm)
    _linear(spec.self_attention.linear[0], attention.query, attention.key, attention.value)
    _linear(spec.self_attention.linear[1], attention.out)
    _feed_forward(spec.ffn, layer.ffn_norm, layer.ffn)


def _decoder_layer(spec: Any, layer: DecoderLayer) -> None:
    own, cross = layer.self_attention, layer.cross_attention
    _norm(spec.self_attention.layer_norm, layer.self_norm)
    _linear(spec.self_attention.linear[0], own.query, own.key, own.value)
    _linear(spec.self_attention.linear[1], own.out)
    _norm(spec.attention.layer_norm, layer.cross_norm)
    _linear(spec.attention.linear[0], cross.query)
    _linear(spec.attention.linear[1], cross.key, cross.value)
    _linear(spec.attention.linear[2], cross.out)
    _feed_forward(spec.ffn, layer.ffn_norm, layer.ffn)


def _feed_forward(spec: Any, norm: nn.LayerNorm, ffn: nn.Sequential) -> None:
    _norm(spec.layer_norm, norm)
    _linear(spec.linear_0, ffn[0])
    _linear(spec.linear_1, ffn[2])


def _specs() -> ModuleType:
    """ctranslate2's spec classes, or the one line that says which extra installs them."""
    try:
        from ctranslate2.specs import transformer_spec
    except ModuleNotFoundError as error:
        raise missing("ctranslate2", error) from None
    return transformer_spec


def transformer_spec(model: Transformer, cfg: ModelConfig, tokenizer: Tokenizer) -> Any:
    """Our Transformer's weights in a ctranslate2.specs.TransformerSpec (module docstring)."""
    spec = _specs().TransformerSpec.from_config(
        (cfg.encoder_layers, cfg.decoder_layers), cfg.heads, pre_norm=True
    )
    encoder, decoder = spec.encoder, spec.decoder
    encoder.embeddings[0].weight = _array(model.src_embed.embedding.weight)
    encoder.position_encodings.encodings = _positions(model, cfg, "src")
    for layer_spec, layer in zip(encoder.layer, model.encoder, strict=True):
        _encoder_layer(layer_spec, layer)
    _norm(encoder.layer_norm, model.encoder_norm)
    decoder.embeddings.weight = _array(model.tgt_embed.embedding.weight)
    decoder.position_encodings.encodings = _positions(model, cfg, "tgt")
    for layer_spec, layer in zip(decoder.layer, model.decoder, strict=True):
        _decoder_layer(layer_spec, layer)
    _norm(decoder.layer_norm, model.decoder_norm)
    _linear(decoder.projection, model.output)
    config = spec.config
    config.layer_norm_epsilon = LAYER_NORM_EPSILON
    config.add_source_eos = True  # our encoder reads every source with its EOS
    config.unk_token = _piece(tokenizer, UNK)
    config.bos_token = config.decoder_start_token = _piece(tokenizer, BOS)
    config.eos_token = _piece(tokenizer, EOS)
    spec.register_source_vocabulary(_pieces(tokenizer.src))
    spec.register_target_vocabulary(_pieces(tokenizer.tgt))
    return spec


def _piece(tokenizer: Tokenizer, special: int) -> str:
    """The piece of a special id, the same on both sides (ctranslate2 names it once)."""
    src, tgt = tokenizer.src.id_to_piece(special), tokenizer.tgt.id_to_piece(special)
    if src != tgt:
        raise NmtError(f"id {special} is {src!r} in the source model but {tgt!r} in the target")
    return tgt


def _pieces(processor: Any) -> list[str]:
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]


def export_ctranslate2(run: Path, out: Path, precision: str = "fp32") -> Path:
    """Write the folder described in the module docstring; returns its card."""
    _specs()  # before any work: without the extra, say so first
    refusal = (
        "{export_ctranslate2} takes the Transformer (model.arch: transformer); "
        "CTranslate2 has no recurrent encoder-decoder ({export_onnx} has)"
    )
    checkpoint, model, recipe, tokenizer = load_for_export(
        run, out, precision, Transformer, refusal
    )
    spec = transformer_spec(model, recipe.model, tokenizer)
    spec.validate()
    spec.optimize(quantization="int8" if precision == "int8" else "float32")
    fields = {
        "format": CT2_CARD_FORMAT,
        "version": CARD_VERSION,
        "precision": precision,
        "ctranslate2": version("ctranslate2"),
        "max_positions": recipe.model.max_positions,
    }
    with staged(out) as folder:
        spec.save(str(folder))
        write_card(folder, checkpoint, model, recipe, fields)
    return out / CARD
