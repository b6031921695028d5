"""nmt.Translator: the README's example, the options, prefixes and sampling end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_translations import make_run, sentences
from typer.testing import CliRunner

from nmt import Translator
from nmt.errors import NmtError, OptionError
from nmt_cli.app import app

LINES = sentences(12, seed=60)


@pytest.fixture(scope="module", params=["rnn", "transformer"])
def run(tmp_path_factory, request) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / request.param, arch=request.param)


@pytest.fixture(scope="module")
def tr(run) -> Translator:
    return Translator.load(run, device="cpu")


def test_the_readme_example(run):
    tr = Translator.load(str(run), device="cpu")
    (translation,) = tr.translate(["Ein Hund läuft."], beam=5)
    assert isinstance(translation, str) and translation
    (score,) = tr.score(["Ein Hund läuft."], ["A dog runs."])
    assert score.total < 0 and len(score.tokens) >= 2
    assert score.normalised == pytest.approx(score.total / len(score.tokens))


def test_nbest_is_what_the_command_line_writes(tmp_path, run, tr):
    found = tr.nbest(LINES, 3, beam=4, no_repeat_ngram=3)
    assert [len(ranked) for ranked in found] == [3] * len(LINES)
    assert all([h.score for h in r] == sorted((h.score for h in r), reverse=True) for r in found)
    source, target = tmp_path / "in.de", tmp_path / "out.en"
    source.write_text("".join(line + "\n" for line in LINES), encoding="utf-8")
    command = ["translate", str(run), "-i", str(source), "-o", str(target)]
    options = ["--beam", "4", "--nbest", "3", "--no-repeat-ngram", "3"]
    assert CliRunner().invoke(app, command + options).exit_code == 0
    written = [line.split(" ||| ") for line in target.read_text(encoding="utf-8").splitlines()]
    expected = [[str(i), h.text, f"{h.score:.4f}"] for i, r in enumerate(found) for h in r]
    assert written == expected


@pytest.mark.parametrize(
    "options", [{"beam": 1}, {"beam": 3, "nbest": 2}, {"sample": True, "nsamples": 3}]
)
def test_every_prefixed_output_starts_with_its_prefix(tr, options):
    prefixes = ["der hund", "", "ein", "zwei katze rot", "Ωmega ", "die"] * 2
    found = tr.translations(LINES, tr.options(**options), prefixes)
    continued = False
    for prefix, texts in zip(prefixes, found.texts, strict=True):
        assert all(text.startswith(prefix) for text in texts), (prefix, texts)
        continued |= any(len(text) > len(prefix) for text in texts)
    assert continued


def test_prefixes_that_do_not_fit_are_one_line_errors(tr):
    with pytest.raises(NmtError, match=r"^prefixes: 1 prefixes for 12 input lines"):
        tr.translate(LINES, ["der"])
    long = ["der hund " * 4] * len(LINES)
    with pytest.raises(NmtError, match=r"^prefixes: line 1: its prefix has \d+ pieces, more than"):
        tr.translate(LINES, long, max_len_a=0.0, max_len_b=5)


def pieces(tr: Translator, **options) -> list[list[str]]:
    found = tr.translations(LINES, tr.options(**options), alignments=True)
    return [json.loads(row)["target"][:-1] for row in found.alignment_json_lines()]


def test_no_repeat_ngram_reaches_the_search(tr):
    def repeats(tokens: list[str]) -> bool:
        return len(set(zip(tokens, tokens[1:], strict=False))) < len(tokens) - 1

    assert any(repeats(tokens) for tokens in pieces(tr, beam=1, max_len_b=20))
    for options in ({"beam": 1}, {"beam": 3}, {"sample": True}):
        blocked = pieces(tr, no_repeat_ngram=2, max_len_b=20, **options)
        assert not any(repeats(tokens) for tokens in blocked), options


def test_same_seed_same_samples_at_batch_sizes_1_and_64(run, cpu_kind):
    tr = Translator.load(run, device="cpu")
    lines = sentences(64, seed=61)
    options = {"sample": True, "nsamples": 2, "temperature": 1.3, "topp": 0.95, "seed": 5}
    together = tr.translations(lines, tr.options(batch_tokens=10**6, **options))
    alone = tr.translations(lines, tr.options(batch_tokens=1, **options))
    assert together.texts == alone.texts
    assert tr.translations(lines, tr.options(**{**options, "seed": 6})).texts != together.texts


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"beam": 0}, r"^beam: 0 is not in \[1, 1024\]"),
        ({"topk": 5}, r"^topk: applies to sample only"),
        ({"sample": True, "beam": 3}, r"^beam: sample draws nsamples samples"),
        ({"sample": True, "nsamples": 2, "nbest": 3}, r"^nbest: 3 is more than nsamples"),
        ({"sample": True, "topp": 0.0}, r"^topp: 0.0 is not in \(0, 1\]"),
        ({"no_repeat_ngram": -1}, r"^no_repeat_ngram: -1 is not in"),
        ({"beams": 2}, r"beams: not a decoding option"),
        ({"beam": "5"}, r"^beam: expected int, got '5'"),
        ({"length_penalty": "0.6"}, r"^length_penalty: expected float, got '0.6'"),
    ],
)
def test_bad_options_are_one_line_errors(tr, options, message):
    with pytest.raises(OptionError, match=message) as error:
        tr.translate(LINES[:1], **options)
    assert "\n" not in str(error.value)


def test_one_string_is_not_a_list_of_sentences(tr):
    with pytest.raises(NmtError, match="sentences: give a list of strings"):
        tr.translate("ein haus")
    with pytest.raises(NmtError, match="^beam: does not apply to scoring"):
        tr.score(LINES[:1], LINES[:1], beam=5)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["ein haus", 1], r"^sentences\[1\]: expected a string, got 1$"),
        ([None], r"^sentences\[0\]: expected a string, got None$"),
        (["ein \ud800"], r"^sentences\[0\]: character 4 is a lone surrogate \(U\+D800\)"),
    ],
)
def test_every_sentence_must_be_text(tr, texts, message):
    with pytest.raises(NmtError, match=message):
        tr.translate(texts)
    with pytest.raises(NmtError, match=message.replace("sentences", "sources")):
        tr.score(texts, ["a house"] * len(texts))


PHRASES = [["hund"], [], ["rot", "katze"], ["der mann"], ["Ωmega"], ["zwei", "drei", "ein"]] * 2


@pytest.mark.parametrize(
    "options", [{"beam": 1}, {"beam": 4, "nbest": 2}, {"sample": True, "nsamples": 2}]
)
def test_every_output_contains_its_phrases(tr, options):
    """Recurrent and Transformer runs, greedy, beam and sampling: each phrase appears."""
    found = tr.translations(LINES, tr.options(**options), constraints=PHRASES)
    for phrases, texts in zip(PHRASES, found.texts, strict=True):
        assert all(phrase in text for phrase in phrases for text in texts), (phrases, texts)


def test_constrained_lines_translate_as_they_do_alone(tr):
    together = tr.translate(LINES, constraints=PHRASES, beam=4)
    alone = [
        tr.translate([line], constraints=[phrases], beam=4)[0]
        for line, phrases in zip(LINES, PHRASES, strict=True)
    ]
    assert together == alone
    plain = tr.translate(LINES, beam=4)
    assert tr.translate(LINES, constraints=[[]] * len(LINES), beam=4) == plain
    assert together != plain


def test_constraints_that_do_not_fit_are_one_line_errors(tr):
    with pytest.raises(NmtError, match=r"^constraints: 1 constraints for 12 input lines"):
        tr.translate(LINES, constraints=[["hund"]])
    with pytest.raises(NmtError, match=r"^constraints: give a list of strings"):
        tr.translate(LINES, constraints="hund")
    long = [["der hund " * 4]] * len(LINES)
    pattern = r"^constraints: line 1: its phrases \(and prefix\) have \d+ pieces, more than"
    with pytest.raises(NmtError, match=pattern):
        tr.translate(LINES, constraints=long, max_len_a=0.0, max_len_b=5)


def test_the_constraints_file_of_the_command_line(tmp_path, run, tr):
    source, target, terms = tmp_path / "in.de", tmp_path / "out.en", tmp_path / "terms.txt"
    source.write_text("".join(line + "\n" for line in LINES), encoding="utf-8")
    terms.write_text("".join("\t".join(p) + "\n" for p in PHRASES), encoding="utf-8")
    command = ["translate", str(run), "-i", str(source), "-o", str(target), "--beam", "3"]
    result = CliRunner().invoke(app, [*command, "--constraints", str(terms)])
    assert result.exit_code == 0, result.output
    expected = tr.translate(LINES, constraints=PHRASES, beam=3)
    assert target.read_text(encoding="utf-8").splitlines() == expected
    terms.write_text("hund\n", encoding="utf-8")
    result = CliRunner().invoke(app, [*command, "--constraints", str(terms)])
    assert result.exit_code == 2
    assert "terms.txt: 1 lines of constraints for 12 input lines" in result.output
