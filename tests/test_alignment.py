"""Alignments: one line per output, indices within the pieces, soft weights as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_translations import make_run, sentences
from typer.testing import CliRunner

from nmt import Translator
from nmt.inference.alignment import Alignment
from nmt_cli.app import app

LINES = sentences(8, seed=50) + ["", "der hund " * 30]


def test_pairs_take_the_most_attended_source_piece():
    weights = torch.tensor([[0.1, 0.7, 0.2], [0.6, 0.1, 0.3], [0.2, 0.2, 0.6]])
    alignment = Alignment(["a", "b", "</s>"], ["x", "y", "</s>"], weights)
    assert alignment.pairs() == [(1, 0), (0, 1)]
    assert alignment.pharaoh() == "1-0 0-1"
    tied_to_end = Alignment(["a", "</s>"], ["x", "</s>"], torch.tensor([[0.1, 0.9], [0, 1.0]]))
    assert tied_to_end.pharaoh() == "0-0"  # the end marker is never aligned
    assert Alignment.empty().pharaoh() == "" and Alignment.empty().pairs() == []
    row = json.loads(alignment.json(4))
    assert row["line"] == 4 and row["weights"][0] == [0.1, 0.7, 0.2]


@pytest.fixture(scope="module", params=["rnn", "transformer"])
def translator(tmp_path_factory, request) -> Translator:
    run = make_run(tmp_path_factory.mktemp("runs") / request.param, arch=request.param)
    return Translator.load(run, device="cpu")


@pytest.mark.parametrize(
    "options", [{"beam": 1}, {"beam": 3, "nbest": 3}, {"sample": True, "nsamples": 2}]
)
def test_one_alignment_per_output_with_every_index_in_bounds(translator, options):
    options = translator.options(max_source_len=12, **options)
    found = translator.translations(LINES, options, alignments=True)
    outputs = found.outputs()
    hard, soft = found.alignment_lines(), found.alignment_json_lines()
    assert len(hard) == len(soft) == len(found.output_lines()) == len(outputs)
    for (line, rank), pharaoh, row in zip(outputs, hard, soft, strict=True):
        row = json.loads(row)
        sources = len(translator.tokenizer.src_pieces(LINES[line])[:12])
        targets = len(row["target"]) - 1 if row["target"] else 0
        pairs = [tuple(map(int, pair.split("-"))) for pair in pharaoh.split()]
        assert [j for _, j in pairs] == list(range(targets))
        assert all(0 <= i < sources for i, _ in pairs)
        assert row["line"] == line
        if not LINES[line].strip():
            assert pairs == [] and row["weights"] == []
            continue
        assert row["source"][-1] == row["target"][-1] == "</s>"
        spelled = translator.tokenizer.tgt.decode(row["target"][:-1])
        assert spelled == found.texts[line][rank]  # the alignment of this very output
        assert len(row["source"]) == sources + 1
        assert len(row["weights"]) == targets + 1
        assert all(sum(weights) == pytest.approx(1, abs=1e-3) for weights in row["weights"])


def test_cli_writes_both_files_and_refuses_runs_without_attention(tmp_path):
    run = make_run(tmp_path / "attention")
    plain = make_run(tmp_path / "seq2seq", attention="none", spm_dir=run)
    source = tmp_path / "in.de"
    source.write_text("".join(line + "\n" for line in LINES), encoding="utf-8")
    files = {"--alignments": tmp_path / "out.align", "--alignments-json": tmp_path / "out.jsonl"}
    options = [str(item) for pair in files.items() for item in pair]
    result = CliRunner().invoke(app, ["translate", str(run), "-i", str(source), *options])
    assert result.exit_code == 0, result.output
    for path in files.values():
        assert path.read_text(encoding="utf-8").count("\n") == len(LINES)
    for option, path in files.items():
        refused = CliRunner().invoke(
            app, ["translate", str(plain), "-i", str(source), option, str(path) + ".2"]
        )
        assert refused.exit_code == 2
        assert refused.output.strip().splitlines() == [
            f"error: {option}: this model has no attention (model.attention: none)"
        ]
        assert not Path(str(path) + ".2").exists()
