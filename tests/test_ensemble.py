"""Ensembles: one run alone, two copies of a run, log-probabilities averaged, one vocabulary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from test_search import random_sources, tiny_real_model, tiny_transformer
from test_translations import make_run, sentences
from typer.testing import CliRunner

from nmt import Translator
from nmt.data.batching import collate
from nmt.data.tokenizer import train_sentencepiece
from nmt.errors import NmtError
from nmt.generation.decoding import DecodingOptions
from nmt.inference.ensemble import Ensemble
from nmt.run.loading import load_for_inference
from nmt_cli.app import app

CPU = torch.device("cpu")
LINES = sentences(9, seed=40) + [""]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    first = make_run(root / "first")
    copy = root / "copy"
    shutil.copytree(first, copy)
    other_spm = root / "other-spm"
    other_spm.mkdir()
    train_sentencepiece(sentences(200, seed=41), other_spm / "joint.model", 60, "bpe", 1.0)
    return {
        "first": first,
        "copy": copy,
        "other": make_run(root / "other", spm_dir=other_spm),
        "plain": make_run(root / "plain", attention="none", spm_dir=first),
        "transformer": make_run(root / "transformer", spm_dir=first, arch="transformer"),
    }


@pytest.mark.parametrize("beam", [1, 3])
def test_an_ensemble_of_one_run_is_that_run(runs, beam):
    model, recipe, tokenizer = load_for_inference(runs["first"], CPU)
    options = DecodingOptions.build(recipe.decode, beam=beam, nbest=beam)
    alone = Translator(model, tokenizer, recipe, CPU).translations(LINES, options)
    one = Translator(Ensemble([model]).eval(), tokenizer, recipe, CPU).translations(LINES, options)
    assert one.texts == alone.texts
    for got, want in zip(one.scores, alone.scores, strict=True):
        assert got == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("options", [{"beam": 1}, {"beam": 3, "nbest": 3}, {"sample": True}])
def test_an_ensemble_of_two_copies_of_a_run_is_that_run(runs, options):
    single = Translator.load(runs["first"], device="cpu")
    single = single.translations(LINES, single.options(**options))
    pair = Translator.load(runs["first"], runs["copy"], device="cpu")
    assert isinstance(pair.model, Ensemble)
    double = pair.translations(LINES, pair.options(**options))
    assert double.texts == single.texts
    for got, want in zip(double.scores, single.scores, strict=True):
        assert got == pytest.approx(want, abs=1e-5)
    sources, targets = LINES[:-1], sentences(9, seed=42)
    for got, want in zip(
        pair.score(sources, targets),
        Translator.load(runs["first"], device="cpu").score(sources, targets),
        strict=True,
    ):
        assert got.tokens == pytest.approx(want.tokens, abs=1e-5)


@pytest.mark.parametrize("second", ["luong-gru", "transformer"])
def test_each_step_averages_the_members_log_probabilities(second):
    a = tiny_real_model("bahdanau")
    b = (
        tiny_transformer()
        if second == "transformer"
        else tiny_real_model("general", "luong", "gru")
    )
    ensemble = Ensemble([a, b]).eval()
    batch = collate(random_sources(4, 15, seed=43), None, [0, 1, 2, 3])
    prev = torch.tensor([2, 5, 6, 7])
    with torch.no_grad():
        enc = ensemble.encode(batch.src, batch.src_lengths)
        logits, _, attention = ensemble.step(prev, ensemble.initial_state(enc), enc)
        members = []
        for model in (a, b):
            member_enc = model.encode(batch.src, batch.src_lengths)
            out, _, _ = model.step(prev, model.initial_state(member_enc), member_enc)
            members.append(torch.log_softmax(out, dim=-1))
    mean = (members[0] + members[1]) / 2
    expected = torch.log_softmax(mean, dim=-1)  # averaged, then renormalised
    assert torch.allclose(torch.log_softmax(logits, dim=-1), expected, atol=1e-5)
    assert not torch.allclose(expected, members[0], atol=1e-3)
    assert attention.shape == (4, batch.src.size(1))


def test_runs_with_another_vocabulary_are_refused_by_name(runs):
    with pytest.raises(NmtError) as error:
        Translator.load(runs["first"], runs["other"], runs["copy"], device="cpu")
    message = str(error.value)
    assert str(runs["other"]) in message and str(runs["copy"]) not in message
    assert "one vocabulary" in message


def test_a_recurrent_run_and_a_transformer_translate_score_and_align_as_one(runs):
    """Mixed members share the sentencepiece models; the alignment is their mean attention
    (search's scores against scoring's, member by member: test_scoring.py)."""
    pair = Translator.load(runs["first"], runs["transformer"], device="cpu")
    found = pair.translations(LINES, pair.options(beam=3), alignments=True)
    assert len(found.alignment_lines()) == len(LINES)
    for ranked in found.alignments[:-1]:  # the last line is empty
        weights = ranked[0].weights
        assert weights.shape == (len(ranked[0].target), len(ranked[0].source))
        assert torch.allclose(weights.sum(1), torch.ones(weights.size(0)), atol=1e-5)
    totals = [score.total for score in pair.score(LINES[:-1], sentences(9, seed=44))]
    assert all(total < 0 for total in totals)


def test_alignments_need_attention_in_every_member(runs):
    mixed = Translator.load(runs["first"], runs["plain"], device="cpu")
    with pytest.raises(NmtError, match="^alignments: this model has no attention"):
        mixed.translations(LINES, mixed.options(), alignments=True)


def test_cli_ensembles_translate_score_and_eval(tmp_path, runs):
    source = tmp_path / "in.de"
    source.write_text("".join(line + "\n" for line in LINES), encoding="utf-8")
    pair = [str(runs["first"]), str(runs["copy"])]
    outputs = []
    for models in ([pair[0]], pair):
        outputs.append(tmp_path / f"{len(models)}.en")
        result = CliRunner().invoke(
            app, ["translate", *models, "-i", str(source), "-o", str(outputs[-1])]
        )
        assert result.exit_code == 0, result.output
    assert outputs[1].read_text(encoding="utf-8") == outputs[0].read_text(encoding="utf-8")
    scored = CliRunner().invoke(app, ["score", *pair, "-s", str(source), "-t", str(source)])
    assert scored.exit_code == 0 and scored.stdout.count("\n") == len(LINES)
    table = CliRunner().invoke(
        app,
        ["eval", *pair, "--ensemble", "--src", str(source), "--ref", str(source)]
        + ["--bootstrap", "0", "--format", "json"],
    )
    assert table.exit_code == 0, table.output
    assert '"system": "first+copy"' in table.stdout and table.stdout.count('"system"') == 1
    refused = CliRunner().invoke(app, ["translate", pair[0], str(runs["other"])], input="ein\n")
    assert refused.exit_code == 2 and "one vocabulary" in refused.output
