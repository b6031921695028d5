"""A CTranslate2 export through nmt's own front ends: `nmt translate FOLDER` gives one line
per input line (blank lines blank), nmt's greedy outputs of the same run, n-best lines;
every option ctranslate2 cannot honour as nmt's search does is refused in one line before
any output is written; without the extra, one line names it."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from test_export_ctranslate2 import LAYOUTS, train_briefly
from test_translations import make_run, sentences
from typer.testing import CliRunner

from nmt import Translator
from nmt.errors import NmtError
from nmt.export.export_ctranslate2 import export_ctranslate2
from nmt.models.export_card import CARD
from nmt_cli.app import app

pytest.importorskip(
    "ctranslate2", reason="the ctranslate2 extra is not installed: pip install 'nmt[ctranslate2]'"
)

LINES = sentences(100, seed=40)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ct2")
    run = make_run(root / "run", model_config=LAYOUTS["sinusoidal-shared"])
    train_briefly(run, updates=60)
    export_ctranslate2(run, root / "ct2")
    return run, root / "ct2"


def translate(folder: Path, source: Path, *options: str):
    command = ["translate", str(folder), "-i", str(source), "-o", str(source) + ".out"]
    return CliRunner().invoke(app, [*command, *options])


def test_nmt_translate_gives_the_runs_greedy_outputs_line_for_line(exported, tmp_path):
    run, folder = exported
    source = tmp_path / "in.de"
    given = LINES[:50] + ["", "   "] + LINES[50:]
    source.write_text("\n".join(given) + "\n", encoding="utf-8")
    result = translate(folder, source, "--beam", "1")
    assert result.exit_code == 0, result.output
    found = (tmp_path / "in.de.out").read_text(encoding="utf-8").splitlines()
    assert len(found) == len(given) and found[50:52] == ["", ""] and all(found[:50])
    ours = Translator.load(run, device="cpu", precision="fp32").translate(given, beam=1)
    equal = sum(a == b for a, b in zip(found, ours, strict=True))
    assert equal == len(given)  # measured: all 102 (100 sentences, 2 blank)


def test_nbest_lines_and_their_scores(exported, tmp_path):
    run, folder = exported
    source = tmp_path / "in.de"
    source.write_text("\n".join(LINES[:10]) + "\n", encoding="utf-8")
    result = translate(folder, source, "--beam", "4", "--nbest", "3")
    assert result.exit_code == 0, result.output
    found = (tmp_path / "in.de.out").read_text(encoding="utf-8").splitlines()
    assert len(found) == 30
    assert [line.split(" ||| ")[0] for line in found] == [str(i // 3) for i in range(30)]
    ours = Translator.load(run, device="cpu").nbest(LINES[:10], 3, beam=4)
    theirs = Translator.load(folder).nbest(LINES[:10], 3, beam=4)
    scores = [[h.score for h in ranked] for ranked in theirs]
    assert all(ranked == sorted(ranked, reverse=True) for ranked in scores)
    best = sum(a[0].text == b[0].text for a, b in zip(ours, theirs, strict=True))
    # measured: 8 of 10; ctranslate2's beam stops when `beam` hypotheses have ended, ours
    # when no open one can beat the best ended one
    assert best >= 7
    for a, b in zip(ours, theirs, strict=True):
        if a[0].text == b[0].text:  # ctranslate2 leaves PAD and BOS out of the softmax
            assert b[0].score == pytest.approx(a[0].score, abs=0.05)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--sample"], "--sample"),
        (["--beam", "3", "--coverage-penalty", "0.2"], "--coverage-penalty"),
        (["--length-norm", "gnmt"], "--length-norm"),
        (["--prefix", "PREFIX"], "--prefix"),
        (["--constraints", "PREFIX"], "--constraints"),
        (["--alignments", "ALIGNED"], "--alignments"),
        (["--alignments-json", "ALIGNED"], "--alignments-json"),
        (["--attention", "MAPS"], "--attention"),
        (["--precision", "int8"], "--precision"),
        (["--shortlist"], "--shortlist"),
    ],
)
def test_what_ctranslate2_cannot_honour_is_refused_in_one_line(exported, tmp_path, options, named):
    _, folder = exported
    source = tmp_path / "in.de"
    source.write_text("ein hund\n", encoding="utf-8")
    (tmp_path / "prefix").write_text("ein\n", encoding="utf-8")
    options = [str(tmp_path / option.lower()) if option.isupper() else option for option in options]
    result = translate(folder, source, *options)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {named}: a folder of `nmt export --format ctranslate2` cannot")
    assert line.endswith("; use the run directory")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.de", "prefix"]


def test_a_device_ctranslate2_does_not_see_is_refused_in_one_line(exported, tmp_path):
    _, folder = exported
    source = tmp_path / "in.de"
    source.write_text("ein hund\n", encoding="utf-8")
    result = translate(folder, source, "--device", "cuda:7")
    assert result.exit_code == 2
    assert result.output.startswith("error: --device: cuda:7: ctranslate2 sees")


def test_an_ensemble_with_an_export_is_refused_naming_the_folder_and_its_format(exported):
    run, folder = exported
    with pytest.raises(NmtError) as error:
        Translator.load(run, folder)
    assert str(error.value) == (
        f"{folder}: a folder of `nmt export --format ctranslate2` decodes alone, not in an "
        "ensemble; ensemble the run directories"
    )


def test_scoring_is_refused(exported, tmp_path):
    _, folder = exported
    source = tmp_path / "in.de"
    source.write_text("ein hund\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", str(folder), "-s", str(source), "-t", str(source)])
    assert result.exit_code == 2 and "not offered for a CTranslate2 export" in result.output
    with pytest.raises(NmtError, match="not offered for a CTranslate2 export"):
        Translator.load(folder).score(["ein hund"], ["a dog"])


def test_without_the_extra_one_line_names_it(exported, monkeypatch):
    _, folder = exported
    monkeypatch.setitem(sys.modules, "ctranslate2", None)
    with pytest.raises(NmtError, match=r"comes with nmt's ctranslate2 extra"):
        Translator.load(folder)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda card: card.pop("sentencepiece"), "sentencepiece.src: missing"),
        (
            lambda card: card["sentencepiece"].update(src="../src.model"),
            "sentencepiece.src: '../src.model' is not the name of a file in the folder",
        ),
        (lambda card: card.update(version=99), "version: 99; this nmt reads version 1"),
        (lambda card: card.update(precision="fp16"), "precision: 'fp16' is not one of"),
    ],
)
def test_a_damaged_card_is_one_line_naming_its_field(exported, tmp_path, change, said):
    _, folder = exported
    copy = tmp_path / "ct2"
    shutil.copytree(folder, copy)
    card = json.loads((copy / CARD).read_text(encoding="utf-8"))
    change(card)
    (copy / CARD).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(NmtError) as error:
        Translator.load(copy)
    assert str(error.value).startswith(f"{copy / CARD}: {said}")
