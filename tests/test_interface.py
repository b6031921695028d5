"""The declared model interface: every class that search and scoring drive has all of it."""

from __future__ import annotations

import pytest

from nmt.inference.ensemble import Ensemble, PerMember
from nmt.inference.precision import Autocast
from nmt.inference.shortlist import Shortlisted, ShortlistEncoded
from nmt.models.decoder import Encoded
from nmt.models.interface import Model, Rows, Sources
from nmt.models.model import Seq2Seq
from nmt.models.onnx_model import OnnxModel
from nmt.models.transformer import Transformer, TransformerEncoded, TransformerState

MEMBERS = ("has_attention", "encode", "initial_state", "step", "__call__")


@pytest.mark.parametrize("cls", [Seq2Seq, Transformer, OnnxModel, Ensemble, Autocast, Shortlisted])
def test_every_model_class_has_the_interface(cls):
    declared = {name for name in vars(Model) if not name.startswith("_")} | {"__call__"}
    assert declared == set(MEMBERS)
    if cls is OnnxModel:  # sets has_attention from its card when it loads
        assert all(hasattr(cls, name) for name in MEMBERS if name != "has_attention")
    else:
        assert all(hasattr(cls, name) for name in MEMBERS)


def test_rows_declare_select():
    assert {name for name in vars(Rows) if not name.startswith("_")} == {"select"}
    assert hasattr(TransformerState, "select")


@pytest.mark.parametrize("cls", [Encoded, TransformerEncoded, PerMember, ShortlistEncoded])
def test_every_encoder_output_repeats_its_rows(cls):
    declared = {name for name in vars(Sources) if not name.startswith("_")}
    assert declared == {"repeat"}
    assert all(hasattr(cls, name) for name in declared | {"select"})
