"""The vocabulary shortlist: what it keeps, that decoding stays within each sentence's own
list whatever the batch, and that `nmt score` with it never drops a reference's piece."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch
from test_translations import make_run, sentences
from typer.testing import CliRunner

from nmt import Translator
from nmt.config.recipe import load_recipe
from nmt.data.tokenizer import EOS, Tokenizer
from nmt.errors import NmtError
from nmt.inference.shortlist import Shortlist, build_shortlist
from nmt.run.rundir import RunDir
from nmt_cli.app import app


def test_each_source_piece_lists_the_target_pieces_it_goes_with():
    rng = random.Random(0)
    pairs = []
    for _ in range(400):
        words = rng.sample(range(10, 30), 4)  # source piece w translates as w + 100
        noise = [5] * rng.randint(1, 3)  # a target piece in every sentence
        pairs.append((words, [w + 100 for w in words] + noise))
    found = build_shortlist(pairs, 40, 140, k=3, frequent=2)
    assert [found.per_source[w, 0].item() for w in range(10, 30)] == list(range(110, 130))
    assert found.frequent.tolist()[0] == 5 and len(found.frequent) == 2
    assert found.per_source[35].tolist() == [EOS] * 3  # never seen: nothing but EOS
    assert found.sentences == 400
    allowed = found.allowed(torch.tensor([[10, 11, 0], [12, 12, 12]]))
    assert allowed.shape == (2, 140)
    listed = set(allowed[0].nonzero().squeeze(1).tolist())
    assert {110, 111, 5, EOS} <= listed and 112 not in listed
    assert 112 in set(allowed[1].nonzero().squeeze(1).tolist())


def small_shortlist(run: Path) -> Path:
    """Give a tiny run (make_run's) a small shortlist, 3 pieces per source piece and 4
    frequent ones, so that most of its 60 pieces are off every list."""
    tokenizer = Tokenizer(run / "src.model", run / "tgt.model")
    lines = sentences(300, seed=11)
    pairs = list(zip(tokenizer.encode_src(lines), tokenizer.encode_tgt(lines[::-1]), strict=True))
    build_shortlist(pairs, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size, 3, 4).save(
        RunDir(run).shortlist
    )
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return small_shortlist(make_run(tmp_path_factory.mktemp("runs") / "attention"))


@pytest.fixture(scope="module")
def shortlisted(run) -> Translator:
    return Translator.load(run, device="cpu", shortlist=True)


def test_every_output_piece_is_on_its_own_sentences_list(shortlisted, run):
    lines = sentences(30, seed=12)
    found = shortlisted.translations(lines, shortlisted.options(beam=3, nbest=3), pieces=True)
    listed = Shortlist.load(RunDir(run).shortlist)
    tokenizer = shortlisted.tokenizer
    for line, ranked in zip(lines, found.texts, strict=True):
        src = torch.tensor([tokenizer.encode_src([line])[0] + [EOS]])
        allowed = set(listed.allowed(src)[0].nonzero().squeeze(1).tolist())
        for pieces in ranked:
            assert set(tokenizer.tgt_ids_from_pieces(pieces.split())) <= allowed
    full = Translator.load(run, device="cpu")
    assert found.best() != full.translations(lines, full.options(beam=3), pieces=True).best()


def test_a_translation_does_not_depend_on_its_batch(run, cpu_kind):
    shortlisted = Translator.load(run, device="cpu", shortlist=True)
    lines = sentences(12, seed=13)
    for beam in (1, 3):
        together = shortlisted.translate(lines, beam=beam, batch_tokens=1000)
        assert together == [shortlisted.translate([line], beam=beam)[0] for line in lines]


def test_nmt_score_never_drops_a_reference_piece(tmp_path, run, shortlisted):
    """References unrelated to their sources are mostly pieces off the source's list: each
    is scored (finite), renormalised over the list and its own pieces, so never below the
    full vocabulary's score."""
    sources, references = sentences(20, seed=14), sentences(20, seed=15)
    src, tgt = tmp_path / "src.de", tmp_path / "ref.en"
    src.write_text("".join(f"{line}\n" for line in sources), encoding="utf-8")
    tgt.write_text("".join(f"{line}\n" for line in references), encoding="utf-8")
    command = ["score", str(run), "-s", str(src), "-t", str(tgt), "--per-token"]
    with_list = CliRunner().invoke(app, [*command, "--shortlist"])
    without = CliRunner().invoke(app, command)
    assert with_list.exit_code == 0 and without.exit_code == 0, with_list.output
    rows = [line.split("\t") for line in with_list.stdout.splitlines()]
    full = [float(line.split("\t")[0]) for line in without.stdout.splitlines()]
    assert len(rows) == len(full) == 20
    for (total, _, pieces), whole in zip(rows, full, strict=True):
        assert all(math.isfinite(float(value)) for value in pieces.split())
        assert whole - 1e-4 <= float(total) < 0
    listed = Shortlist.load(RunDir(run).shortlist)
    tokenizer = shortlisted.tokenizer
    ids = tokenizer.encode_tgt(references)
    off_list = 0
    for line, target in zip(sources, ids, strict=True):
        allowed = listed.allowed(torch.tensor([tokenizer.encode_src([line])[0] + [EOS]]))[0]
        off_list += sum(not allowed[i] for i in target)
    assert off_list > 20  # the test scores pieces the shortlist alone would have dropped


def test_a_search_output_scores_as_search_scored_it(shortlisted):
    lines = sentences(10, seed=16)
    found = shortlisted.translations(lines, shortlisted.options(beam=3), pieces=True)
    scores = shortlisted.score(lines, found.best(), pieces=True, length_penalty=1.0)
    searched = [ranked[0] for ranked in found.scores]
    assert [s.normalised for s in scores] == pytest.approx(searched, abs=2e-4)


def test_int8_and_an_ensemble_take_the_shortlist(run):
    lines = sentences(8, seed=17)
    for translator in (
        Translator.load(run, device="cpu", precision="int8", shortlist=True),
        Translator.load(run, run, device="cpu", shortlist=True),
    ):
        assert all(translator.translate(lines, beam=2))
    assert Translator.load(run, device="cpu", precision="int8", shortlist=True).setting == (
        "int8+shortlist"
    )


def test_nmt_shortlist_builds_it_from_the_training_data(tmp_path, tiny_recipe):
    run = make_run(tmp_path / "run", data=load_recipe(tiny_recipe).data)
    with pytest.raises(NmtError, match=r"shortlist.pt: no shortlist yet; `nmt shortlist "):
        Translator.load(run, device="cpu", shortlist=True)
    result = CliRunner().invoke(app, ["shortlist", str(run), "--k", "2", "--frequent", "5"])
    assert result.exit_code == 0, result.output
    built = Shortlist.load(RunDir(run).shortlist)
    translator = Translator.load(run, device="cpu", shortlist=True)
    assert (built.sentences, built.per_source.size(1), len(built.frequent)) == (60, 2, 5)
    assert built.tgt_vocab == translator.tokenizer.tgt_vocab_size
    assert all(translator.translate(sentences(4, seed=18)))


def test_a_shortlist_of_other_pieces_is_refused_in_one_line(tmp_path):
    run = make_run(tmp_path / "run")
    build_shortlist([([5], [6])], 10, 10, k=3).save(RunDir(run).shortlist)
    with pytest.raises(NmtError, match="shortlist.pt: made for other sentencepiece models"):
        Translator.load(run, device="cpu", shortlist=True)


def test_k_is_bounded_by_the_target_vocabulary_before_the_corpus_is_read(tmp_path):
    run = make_run(tmp_path / "run")
    size = Tokenizer(run / "src.model", run / "tgt.model").tgt_vocab_size
    for k in (size + 1, 10**9, 0):
        result = CliRunner().invoke(app, ["shortlist", str(run), "--k", str(k)])
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [
            f"error: --k: {k} is not in [1, {size}] (the target vocabulary size)"
        ]
    assert not RunDir(run).shortlist.exists()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"per_source": None}, "lacks per_source"),
        ({"frequent": torch.tensor([1.0, 2.0])}, "frequent: not a 1-dimensional tensor of int64"),
        ({"frequent": torch.tensor([-1])}, r"frequent: ids outside \[0, 10\)"),
        ({"per_source": torch.full((10, 3), 10)}, r"per_source: ids outside \[0, 10\)"),
        ({"per_source": torch.zeros(10, dtype=torch.long)}, "per_source: not a 2-dimensional"),
        ({"tgt_vocab": -4}, "tgt_vocab: -4 is not an integer of at least 1"),
        ({"sentences": "many"}, "sentences: 'many' is not an integer of at least 0"),
    ],
)
def test_a_damaged_shortlist_is_refused_in_one_line_naming_the_file(tmp_path, change, problem):
    path = tmp_path / "shortlist.pt"
    build_shortlist([([5], [6])], 10, 10, k=3).save(path)
    payload = torch.load(path, weights_only=True)
    for key, value in change.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    torch.save(payload, path)
    with pytest.raises(NmtError, match=f"^{path}: {problem}") as error:
        Shortlist.load(path)
    assert "\n" not in str(error.value)
