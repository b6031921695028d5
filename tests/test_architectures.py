"""The table of architectures: every model.arch a recipe may name has a row, and each row
builds an initialised model of its family."""

from __future__ import annotations

import typing

import pytest
import torch

from nmt.config.recipe import ModelConfig
from nmt.models.architectures import ARCHITECTURES, build_model, family
from nmt.models.model import Seq2Seq
from nmt.models.transformer import Transformer

TINY = {"encoder_layers": 1, "decoder_layers": 1, "dropout": 0.0}
CONFIGS = {
    "rnn": ModelConfig(
        **TINY, embed_dim=8, encoder_hidden=4, decoder_hidden=8, attention="none", cell="gru"
    ),
    "transformer": ModelConfig(**TINY, arch="transformer", d_model=8, heads=2, ffn_dim=16),
}


def test_every_arch_a_recipe_may_name_has_a_row():
    names = typing.get_args(typing.get_type_hints(ModelConfig)["arch"])
    assert sorted(names) == sorted(ARCHITECTURES) == sorted(CONFIGS)


@pytest.mark.parametrize(
    ("arch", "cls", "name"),
    [("rnn", Seq2Seq, "bilstm (gru)"), ("transformer", Transformer, "transformer")],
)
def test_a_row_builds_its_model_and_names_its_family(arch, cls, name):
    torch.manual_seed(0)
    model = build_model(CONFIGS[arch], 11, 13)
    torch.manual_seed(0)
    uninitialised = cls(CONFIGS[arch], 11, 13)
    assert isinstance(model, cls)
    assert family(CONFIGS[arch]) == name
    pairs = zip(model.parameters(), uninitialised.parameters(), strict=True)
    assert any(not torch.equal(ours, theirs) for ours, theirs in pairs)  # the row's init ran


def test_a_field_of_another_architecture_is_refused():
    with pytest.raises(Exception, match=r"model.d_model: applies to model.arch transformer only"):
        ModelConfig(d_model=64)
    with pytest.raises(Exception, match=r"model.cell: applies to model.arch rnn only"):
        ModelConfig(arch="transformer", cell="gru")
