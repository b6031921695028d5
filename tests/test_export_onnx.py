"""`nmt export --format onnx` and decoding through onnxruntime: the exported graphs give
the outputs and scores of the run they came from (greedy and beam, on 100 sentences), for
each recurrent layout; int8 graphs run and stay close; the commands take the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_translations import make_run, sentences
from typer.testing import CliRunner

from nmt import Translator
from nmt.config.recipe import ModelConfig
from nmt.errors import NmtError
from nmt.export.export_onnx import export_onnx
from nmt.serve.models import load_models
from nmt_cli.app import app

MISSING = "the onnx extra is not installed: pip install 'nmt[onnx]'"
onnx = pytest.importorskip("onnx", reason=MISSING)
pytest.importorskip("onnxruntime", reason=MISSING)

SIZES = {"embed_dim": 16, "encoder_layers": 2, "decoder_layers": 2, "dropout": 0.0}
LAYOUTS = {
    "bahdanau": None,  # make_run's own: 1 layer, bidirectional, additive attention
    "luong-gru-2-layers": ModelConfig(
        **SIZES, encoder_hidden=8, decoder_hidden=16, cell="gru", attention_order="luong"
    ),
    "dot-tied": ModelConfig(
        **SIZES, encoder_hidden=8, decoder_hidden=16, attention="dot", tie_embeddings=True
    ),
    "seq2seq": ModelConfig(
        **SIZES,
        encoder_hidden=16,
        decoder_hidden=16,
        attention="none",
        bidirectional=False,
        reverse_source=True,
    ),
}
LINES = sentences(100, seed=40)


@pytest.fixture(scope="module", params=list(LAYOUTS))
def exported(tmp_path_factory, request) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp(request.param)
    run = make_run(root / "run", model_config=LAYOUTS[request.param])
    export_onnx(run, root / "onnx")
    return run, root / "onnx"


def test_greedy_and_beam_outputs_equal_the_runs(exported, cpu_kind):
    run, folder = exported
    ours, theirs = Translator.load(run, device="cpu"), Translator.load(folder)
    assert theirs.setting == "onnx-fp32"
    for beam in (1, 3):
        assert theirs.translate(LINES, beam=beam) == ours.translate(LINES, beam=beam)
    outputs = ours.translate(LINES[:20], beam=1)
    expected = [score.total for score in ours.score(LINES[:20], outputs)]
    assert [score.total for score in theirs.score(LINES[:20], outputs)] == pytest.approx(
        expected, abs=1e-3
    )


def test_the_card_says_what_goes_in_and_out(exported):
    _, folder = exported
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    assert card["format"] == "nmt-onnx" and card["precision"] == "fp32"
    assert card["special_ids"] == {"pad": 0, "unk": 1, "bos": 2, "eos": 3}
    for part in ("encoder", "decoder_step"):
        graph = onnx.load(folder / card[part]["file"]).graph
        assert [value.name for value in graph.input] == card[part]["inputs"]
        assert [value.name for value in graph.output] == card[part]["outputs"]
    assert {"src.model", "tgt.model"} <= {path.name for path in folder.iterdir()}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "attention")


def test_int8_graphs_are_quantized_and_close(tmp_path, run):
    export_onnx(run, tmp_path / "int8", "int8")
    graph = onnx.load(tmp_path / "int8" / "decoder_step.onnx").graph
    assert "MatMulInteger" in {node.op_type for node in graph.node}
    int8, ours = Translator.load(tmp_path / "int8"), Translator.load(run, device="cpu")
    assert int8.setting == "onnx-int8"
    outputs = ours.translate(LINES[:20], beam=1)
    exact = [score.total for score in ours.score(LINES[:20], outputs)]
    found = [score.total for score in int8.score(LINES[:20], outputs)]
    assert max(abs(a - b) / abs(a) for a, b in zip(exact, found, strict=True)) < 0.1
    assert all(int8.translate(LINES[:20], beam=3))


def test_the_commands_take_the_exported_folder(tmp_path, run, cpu_kind):
    folder = tmp_path / "exported"
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(folder), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    source = tmp_path / "in.de"
    source.write_text("".join(f"{line}\n" for line in LINES[:30]), encoding="utf-8")
    written = []
    for model in (run, folder):
        out = tmp_path / f"{model.name}.en"
        command = ["translate", str(model), "-i", str(source), "-o", str(out), "--beam", "2"]
        assert CliRunner().invoke(app, command).exit_code == 0
        written.append(out.read_text(encoding="utf-8"))
    assert written[0] == written[1]
    (served,) = load_models([folder], "cpu")
    assert (served.name, served.info.precision) == ("exported", "onnx-fp32")
    assert served.info.parameters == load_models([run], "cpu")[0].info.parameters
    again = CliRunner().invoke(app, ["export", str(run), "-o", str(folder)])
    assert again.exit_code == 2 and "not empty" in again.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shortlist": True}, "shortlist: .* cannot decode with a vocabulary shortlist"),
        ({"precision": "int8"}, "precision: .* cannot decode in another precision than it was"),
        ({"device": "cuda"}, "device: .* cannot run on another device than the CPU"),
    ],
)
def test_what_an_exported_model_cannot_do_is_one_line(tmp_path, run, options, message):
    export_onnx(run, tmp_path / "onnx")
    with pytest.raises(NmtError, match=message) as error:
        Translator.load(tmp_path / "onnx", **options)
    assert "a folder of `nmt export --format onnx` cannot" in str(error.value)
    assert str(error.value).endswith("; use the run directory")


def test_a_transformer_is_not_exported_yet(tmp_path):
    run = make_run(tmp_path / "run", arch="transformer")
    with pytest.raises(NmtError) as error:
        export_onnx(run, tmp_path / "onnx")
    refusal = "{} takes the recurrent models (model.arch: rnn); export a Transformer with {}"
    assert str(error.value) == f"{run}: " + refusal.format("export_onnx", "export_ctranslate2")
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(tmp_path / "onnx")])
    assert result.exit_code == 2
    said = refusal.format("--format onnx", "--format ctranslate2")
    assert result.output.strip().splitlines() == [f"error: {run}: {said}"]


def test_a_failed_export_leaves_nothing_and_a_retry_works(tmp_path, run, monkeypatch):
    import nmt.export.export_onnx

    written = nmt.export.export_onnx._export

    def full_disk(module, args, path, inputs, outputs):
        if path.name == "decoder_step.onnx":
            path.write_bytes(b"half a graph")
            raise OSError(28, "No space left on device")
        written(module, args, path, inputs, outputs)

    monkeypatch.setattr(nmt.export.export_onnx, "_export", full_disk)
    folder = tmp_path / "exports" / "onnx"
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(folder)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {folder}: the export was not written (No space left on device)"
    ]
    assert list(folder.parent.iterdir()) == []  # no half-written folder, no staging left
    monkeypatch.setattr(nmt.export.export_onnx, "_export", written)
    again = CliRunner().invoke(app, ["export", str(run), "-o", str(folder)])
    assert again.exit_code == 0, again.output
    assert sorted(path.name for path in folder.iterdir()) == [
        "card.json",
        "decoder_step.onnx",
        "encoder.onnx",
        "src.model",
        "tgt.model",
    ]
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    refused = CliRunner().invoke(app, ["export", str(run), "-o", str(a_file)])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        f"error: {a_file}: not a folder; export writes into a new or empty folder"
    ]
    assert a_file.read_text() == "mine"
