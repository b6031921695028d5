"""int8 decoding: every large matrix product reaches int8 (the linear maps, the output layer
over the vocabulary and the decoder cells' recurrent products, which are F.linear on raw
weights), and the outputs stay close to fp32's. On a trained run (opt-in: NMT_TRAINED_RUN)
BLEU must stay within 1 point of fp32."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import sacrebleu
import torch
from test_translations import make_run, sentences
from torch import nn
from typer.testing import CliRunner

from nmt import Translator
from nmt.config.recipe import ModelConfig
from nmt.data.prepare import raw_splits
from nmt.inference.quantize import Int8Linear, quantize_int8
from nmt.models.architectures import build_model
from nmt.models.decoder import RecurrentCell
from nmt.models.model import count_parameters
from nmt_cli.app import app

SIZES = {"embed_dim": 32, "encoder_layers": 2, "decoder_layers": 2, "attention_dim": 24}
CONFIGS = {
    "bahdanau": ModelConfig(**SIZES, encoder_hidden=32, decoder_hidden=64, dropout=0.0),
    "luong-gru": ModelConfig(
        **SIZES, encoder_hidden=32, decoder_hidden=64, attention_order="luong", cell="gru"
    ),
    "seq2seq": ModelConfig(
        **SIZES, encoder_hidden=64, decoder_hidden=64, attention="none", bidirectional=False
    ),
    "tied": ModelConfig(**SIZES, encoder_hidden=16, decoder_hidden=32, tie_embeddings=True),
    "transformer": ModelConfig(
        arch="transformer", d_model=32, heads=4, ffn_dim=64, encoder_layers=2, decoder_layers=2
    ),
}


def models(name: str) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    model = build_model(CONFIGS[name], 300, 200).eval()
    return model, quantize_int8(copy.deepcopy(model))


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    src = torch.randint(4, 300, (6, 9))
    return src, torch.tensor([9, 7, 5, 9, 3, 8]), torch.randint(4, 200, (6, 7))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_large_product_is_int8_and_the_parameters_stay(name):
    model, quantized = models(name)
    left = [m for m in quantized.modules() if isinstance(m, nn.Linear) and m.out_features > 1]
    assert left == []
    assert isinstance(quantized.output_layer, Int8Linear)  # ~40% of a decoder step's work
    cells = [m for m in quantized.modules() if isinstance(m, RecurrentCell)]
    assert all(isinstance(cell.int8_product, Int8Linear) for cell in cells)
    assert count_parameters(quantized) == count_parameters(model)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_int8_log_probabilities_are_close_to_fp32(name):
    model, quantized = models(name)
    src, lengths, tgt_in = batch()
    with torch.inference_mode():
        exact = torch.log_softmax(model(src, lengths, tgt_in), dim=-1)
        found = torch.log_softmax(quantized(src, lengths, tgt_in), dim=-1)
    # each logit within a few percent of the spread of a row; the distributions alike
    spread = exact.amax(-1, keepdim=True) - exact.amin(-1, keepdim=True)
    assert ((found - exact).abs() / spread).max() < 0.05
    kl = (exact.exp() * (exact - found)).sum(-1)
    assert kl.max() < 2e-3
    # a random model's distributions are flat, so a few near-ties may flip
    assert (found.argmax(-1) == exact.argmax(-1)).float().mean() > 0.8


def test_a_layer_of_some_rows_is_those_rows_of_the_whole_layer():
    torch.manual_seed(0)
    layer = Int8Linear(torch.randn(50, 16), torch.randn(50))
    rows = torch.tensor([3, 7, 49, 0])
    x = torch.randn(5, 16)
    assert torch.allclose(layer.rows(rows)(x), layer(x)[:, rows], atol=1e-5)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "attention")


def test_the_translator_and_the_command_line_decode_in_int8(tmp_path, run):
    lines = sentences(20, seed=5)
    exact = Translator.load(run, device="cpu", precision="fp32")
    int8 = Translator.load(run, device="cpu", precision="int8")
    assert (int8.precision, int8.setting) == ("int8", "int8")
    found = int8.translate(lines, beam=3)
    assert all(found)
    ours = [s.total for s in exact.score(lines, found)]
    theirs = [s.total for s in int8.score(lines, found)]
    assert max(abs(a - b) / abs(a) for a, b in zip(ours, theirs, strict=True)) < 0.05
    source, target = tmp_path / "in.de", tmp_path / "out.en"
    source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    command = ["translate", str(run), "-i", str(source), "-o", str(target), "--beam", "3"]
    result = CliRunner().invoke(app, [*command, "--precision", "int8"])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8").splitlines() == found


@pytest.mark.integration
def test_int8_keeps_the_bleu_of_a_trained_run():
    """Opt-in: NMT_TRAINED_RUN=runs/multi30k-de-en-small-attention (its corpus mirrored)."""
    trained = os.environ.get("NMT_TRAINED_RUN")
    if not trained:
        pytest.skip("set NMT_TRAINED_RUN to a trained run directory to compare int8 on it")
    exact = Translator.load(trained, device="cpu", precision="fp32")
    int8 = Translator.load(trained, device="cpu", precision="int8")
    test = raw_splits(exact.recipe.data, ["test2016"])["test2016"][:300]
    bleu = [
        sacrebleu.corpus_bleu(tr.translate(test["src"], beam=5), [test["tgt"]]).score
        for tr in (exact, int8)
    ]
    assert abs(bleu[0] - bleu[1]) < 1.0, bleu
