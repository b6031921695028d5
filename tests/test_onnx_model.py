"""Loading an exported folder: a damaged card or graph is refused at load, in one line
naming the field or the file, so that nothing (nmt serve included) starts on it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from test_translations import make_run

from nmt import Translator
from nmt.errors import NmtError
from nmt.export.export_onnx import export_onnx
from nmt.serve.models import load_models

MISSING = "the onnx extra is not installed: pip install 'nmt[onnx]'"
onnx = pytest.importorskip("onnx", reason=MISSING)
pytest.importorskip("onnxruntime", reason=MISSING)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export")
    export_onnx(make_run(root / "run"), root / "onnx")
    return root / "onnx"


def changed(card: dict, dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        card = card[part]
    if value is None:
        del card[last]
    else:
        card[last] = value


CARDS = [
    ("recipe", None, "recipe: missing"),
    ("version", 99, "version: 99; this nmt reads version 1"),
    ("precision", "int4", "precision: 'int4' is not one of fp32, int8"),
    ("tgt_vocab", -3, "tgt_vocab: -3 is not a vocabulary size"),
    ("src_vocab", "41", "src_vocab: expected int, got '41'"),
    ("tgt_vocab", 99, "src_vocab, tgt_vocab: 41, 99, but the sentencepiece models have"),
    ("encoder.file", "../encoder.onnx", "encoder.file: '../encoder.onnx' is not the name of a"),
    ("sentencepiece.src", "/etc/passwd", "sentencepiece.src: '/etc/passwd' is not the name"),
    ("decoder_step.outputs", ["logits"], "decoder_step.outputs: ['logits'], where the model has"),
    ("decoder_step", None, "decoder_step.file: missing"),
]


@pytest.mark.parametrize(("field", "value", "message"), CARDS)
def test_a_damaged_card_is_refused_naming_the_field(tmp_path, exported, field, value, message):
    folder = shutil.copytree(exported, tmp_path / "onnx")
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    changed(card, field, value)
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    refused(folder, f"{folder / 'card.json'}: {message}")


def swap_graphs(folder: Path) -> None:
    encoder, step = folder / "encoder.onnx", folder / "decoder_step.onnx"
    encoder.rename(folder / "swap")
    step.rename(encoder)
    (folder / "swap").rename(step)


def rename_logits(folder: Path) -> None:
    model = onnx.load(folder / "decoder_step.onnx")
    for node in model.graph.node:
        node.output[:] = ["scores" if name == "logits" else name for name in node.output]
    model.graph.output[0].name = "scores"
    onnx.save(model, folder / "decoder_step.onnx")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (swap_graphs, "encoder.onnx: the graph's inputs are prev, h, c, memory, keys, mask;"),
        (rename_logits, "decoder_step.onnx: the graph's outputs are scores, next_h, next_c,"),
    ],
)
def test_graphs_that_are_not_the_cards_are_refused(
    tmp_path, exported, damage: Callable[[Path], None], message
):
    folder = shutil.copytree(exported, tmp_path / "onnx")
    damage(folder)
    refused(folder, f"{folder}/{message}")


def refused(folder: Path, message: str) -> None:
    """Translator.load and the server's loading both refuse `folder` with `message`."""
    for load in (lambda: Translator.load(folder), lambda: load_models([folder], "cpu")):
        with pytest.raises(NmtError) as error:
            load()
        assert str(error.value).startswith(message)
        assert "\n" not in str(error.value)


def test_an_intact_export_loads(exported):
    assert Translator.load(exported).translate(["ein hund"])
