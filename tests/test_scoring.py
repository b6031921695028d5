"""Forced decoding: scores equal search's own, whatever the batching; `nmt score` output."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_search import random_sources, tiny_real_model, tiny_transformer
from test_translations import make_run, sentences
from typer.testing import CliRunner

from nmt.data.batching import collate
from nmt.errors import NmtError
from nmt.generation.decoding import DecodingOptions
from nmt.generation.scoring import score_ids
from nmt.generation.search import beam_search, greedy, length_limits
from nmt.inference.ensemble import Ensemble
from nmt_cli.app import app

CPU = torch.device("cpu")


def models() -> dict[str, torch.nn.Module]:
    second = tiny_real_model("bahdanau")
    with torch.no_grad():
        for param in second.parameters():
            param.add_(0.3 * torch.randn_like(param))
    return {
        "attention": tiny_real_model("bahdanau"),
        "luong gru": tiny_real_model("general", "luong", "gru"),
        "no attention": tiny_real_model("none"),
        "ensemble": Ensemble([tiny_real_model("bahdanau"), second]).eval(),
        "transformer": tiny_transformer(),
        "rnn + transformer": Ensemble([tiny_real_model("bahdanau"), tiny_transformer()]).eval(),
    }


@pytest.mark.parametrize("name", list(models()))
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_the_score_of_a_beam_output_is_the_beams_own_score(name, alpha):
    model = models()[name]
    sources = random_sources(6, 15, seed=30)
    batch = collate(sources, None, list(range(6)))
    limits = length_limits(batch.src_lengths, 1.5, 4)
    options = DecodingOptions(beam=4, length_penalty=alpha, nbest=4)
    found = beam_search(model, batch.src, batch.src_lengths, limits, options)
    pairs = [
        (src, hyp) for src, ranked in zip(sources, found.tokens, strict=True) for hyp in ranked
    ]
    scored = score_ids(model, *zip(*pairs, strict=True), 64, alpha, CPU)
    expected = [score for ranked in found.scores for score in ranked]
    assert [s.normalised for s in scored] == pytest.approx(expected, abs=1e-4)


def test_the_score_of_a_greedy_output_is_its_raw_log_probability():
    model = models()["attention"]
    sources = random_sources(5, 15, seed=31)
    batch = collate(sources, None, list(range(5)))
    found = greedy(model, batch.src, batch.src_lengths, 9)
    scored = score_ids(model, sources, [ranked[0] for ranked in found.tokens], 64, 0.0, CPU)
    assert [s.total for s in scored] == pytest.approx([r[0] for r in found.scores], abs=1e-4)


def test_batched_scores_equal_one_by_one():
    model = models()["ensemble"]
    sources = random_sources(12, 15, seed=32)
    targets = random_sources(12, 13, seed=33, max_len=12)
    together = score_ids(model, sources, targets, 200, 1.0, CPU)
    for src, tgt, score in zip(sources, targets, together, strict=True):
        (alone,) = score_ids(model, [src], [tgt], 1, 1.0, CPU)
        assert alone.total == pytest.approx(score.total, abs=1e-5)
        assert alone.tokens == pytest.approx(score.tokens, abs=1e-5)
        assert len(score.tokens) == len(tgt) + 1
        assert score.total == pytest.approx(sum(score.tokens))
        assert score.normalised == pytest.approx(score.total / (len(tgt) + 1))


def test_score_refuses_unequal_counts():
    with pytest.raises(NmtError, match="3 sources but 2 targets"):
        score_ids(models()["attention"], [[4]] * 3, [[5]] * 2, 64, 1.0, CPU)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "attention")


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_cli_writes_one_line_per_pair(tmp_path, run):
    src = write(tmp_path / "in.de", sentences(5, 34) + [""])
    tgt = write(tmp_path / "in.en", sentences(6, 35))
    out = tmp_path / "scores.tsv"
    args = ["score", str(run), "-s", str(src), "-t", str(tgt), "-o", str(out)]
    result = CliRunner().invoke(app, [*args, "--per-token", "--length-penalty", "0"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6 and all(len(row) == 3 for row in rows)
    for total, normalised, tokens in rows:
        values = [float(v) for v in tokens.split()]
        assert float(total) == float(normalised) == pytest.approx(sum(values), abs=1e-3)
        assert float(total) < 0
    plain = CliRunner().invoke(app, args[:-2])
    assert [line.count("\t") for line in plain.stdout.splitlines()] == [1] * 6


def test_cli_refuses_unequal_line_counts_in_one_line(tmp_path, run):
    src = write(tmp_path / "in.de", sentences(3, 36))
    tgt = write(tmp_path / "in.en", sentences(2, 37))
    result = CliRunner().invoke(app, ["score", str(run), "-s", str(src), "-t", str(tgt)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: not parallel: {src} has 3 lines but {tgt} has 2"
    ]


def test_a_side_longer_than_the_source_limit_is_cut_and_said(tmp_path, run):
    long = "ein haus " * 2000  # thousands of pieces: a 5 MB line took minutes and gigabytes
    src = write(tmp_path / "in.de", [long, "ein haus", "der hund"])
    tgt = write(tmp_path / "in.en", ["der hund", long, "ein haus"])
    out = tmp_path / "scores.tsv"
    command = ["score", str(run), "-s", str(src), "-t", str(tgt), "-o", str(out), "--per-token"]
    for limit, cut in ((None, 256), ("10", 10)):
        options = [] if limit is None else ["--max-source-len", limit]
        result = CliRunner().invoke(app, [*command, *options])
        assert result.exit_code == 0, result.output
        assert result.output.strip().splitlines()[-1] == (
            f"warning: 2 line(s) longer than {cut} pieces were truncated to that length "
            "(decode.max_source_len)"
        )
        rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
        assert len(rows[1][2].split()) == cut + 1  # the target's pieces and EOS


def nbest_rows(text: str) -> list[tuple[int, str, float]]:
    """(line, hypothesis, score) of `nmt translate --nbest` output."""
    rows = [line.split(" ||| ") for line in text.splitlines()]
    return [(int(line), hypothesis, float(score)) for line, hypothesis, score in rows]


def test_nmt_score_of_a_blank_line_is_what_translate_reported(tmp_path, run):
    """A blank line never reaches the model: translate gives "" scored 0, and scoring the
    pair gives 0 too (it gave the model's log-probability of EOS, -7.4 on a trained run)."""
    src = write(tmp_path / "in.de", ["ein haus", "", "  "])
    out = tmp_path / "nbest.txt"
    command = ["translate", str(run), "-i", str(src), "-o", str(out), "--beam", "2"]
    assert CliRunner().invoke(app, [*command, "--nbest", "2", "--pieces"]).exit_code == 0
    rows = nbest_rows(out.read_text(encoding="utf-8"))
    tgt = write(tmp_path / "out.en", [hypothesis for _, hypothesis, _ in rows])
    pairs = write(tmp_path / "pairs.de", [["ein haus", "", "  "][line] for line, _, _ in rows])
    command = ["score", str(run), "-s", str(pairs), "-t", str(tgt), "--pieces"]
    scored = CliRunner().invoke(app, command)
    assert scored.exit_code == 0, scored.output
    normalised = [float(line.split("\t")[1]) for line in scored.stdout.splitlines()]
    assert normalised == pytest.approx([score for _, _, score in rows], abs=2e-4)
    assert normalised[2:] == [0.0] * 4


def test_sampled_outputs_scored_by_their_pieces_give_the_search_scores(tmp_path, run):
    """Sampling may draw pieces that sentencepiece would not make of their text; its score
    is of the pieces drawn, and `--pieces` on both sides scores exactly those."""
    lines = sentences(12, 38) + [""]
    src = write(tmp_path / "in.de", lines)
    out = tmp_path / "samples.txt"
    sampling = ["--sample", "--nsamples", "10", "--temperature", "1.5", "--seed", "3"]
    command = ["translate", str(run), "-i", str(src), "-o", str(out), *sampling, "--pieces"]
    assert CliRunner().invoke(app, command).exit_code == 0
    rows = nbest_rows(out.read_text(encoding="utf-8"))
    assert len(rows) == 10 * len(lines)
    tgt = write(tmp_path / "pieces.en", [hypothesis for _, hypothesis, _ in rows])
    pairs = write(tmp_path / "pairs.de", [lines[line] for line, _, _ in rows])
    scored = CliRunner().invoke(
        app, ["score", str(run), "-s", str(pairs), "-t", str(tgt), "--pieces"]
    )
    assert scored.exit_code == 0, scored.output
    normalised = [float(line.split("\t")[1]) for line in scored.stdout.splitlines()]
    assert normalised == pytest.approx([score for _, _, score in rows], abs=2e-4)


def test_a_target_of_unknown_pieces_is_one_line_naming_it(tmp_path, run):
    src = write(tmp_path / "in.de", ["ein haus", "der hund"])
    tgt = write(tmp_path / "in.en", ["", "nopiece"])
    result = CliRunner().invoke(
        app, ["score", str(run), "-s", str(src), "-t", str(tgt), "--pieces"]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: target line 2: 'nopiece' is not a piece of the target sentencepiece model"
    )
