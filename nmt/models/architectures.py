"""The architectures by the name a recipe gives in model.arch: one row each.

A row says which class the model is, how its weights start, and the family name a table
of results shows (`nmt eval`, the server's /models). A new architecture is its model file
plus one row here; its recipe fields name it as their arch (nmt/config/recipe.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from nmt.config.recipe import ModelConfig
from nmt.models.interface import Model
from nmt.models.model import Seq2Seq, init_parameters, recurrent_family
from nmt.models.transformer import Transformer, init_transformer


@dataclass(frozen=True)
class Architecture:
    """model(cfg, src_vocab, tgt_vocab) builds it, init(model, cfg) starts its weights,
    family(cfg) names it for people."""

    model: Callable[[ModelConfig, int, int], nn.Module]
    init: Callable[[nn.Module, ModelConfig], None]
    family: Callable[[ModelConfig], str]


ARCHITECTURES: dict[str, Architecture] = {
    "rnn": Architecture(Seq2Seq, init_parameters, recurrent_family),
    "transformer": Architecture(Transformer, init_transformer, lambda cfg: "transformer"),
}


def build_model(cfg: ModelConfig, src_vocab: int, tgt_vocab: int) -> Model:
    """The model a recipe describes, initialised (cfg checked its sizes when it was built)."""
    architecture = ARCHITECTURES[cfg.arch]
    model = architecture.model(cfg, src_vocab, tgt_vocab)
    architecture.init(model, cfg)
    return model


def family(cfg: ModelConfig) -> str:
    """The family a model config belongs to: seq2seq, bilstm, attention, transformer."""
    return ARCHITECTURES[cfg.arch].family(cfg)
