"""BLEU by source length: buckets partition the test set; each bucket scores as sacrebleu."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import sacrebleu
from typer.testing import CliRunner

from nmt.errors import NmtError
from nmt.evaluation.evaluate import file_systems
from nmt.metrics.bleu import System
from nmt.metrics.bleu_by_length import bucket_labels, by_length, parse_edges, partition
from nmt.metrics.plot import length_curves
from nmt.metrics.tables import render
from nmt_cli.app import app

WORDS = "the a dog cat runs sits on in park mat big small red house".split()
PNG = b"\x89PNG\r\n\x1a\n"


def corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(0, 32))) for _ in range(n)]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_buckets_partition_every_line_by_word_count():
    sources = corpus(300, seed=1)
    edges = (10, 15, 20, 25)
    members = partition(sources, edges)
    assert sorted(i for bucket in members for i in bucket) == list(range(len(sources)))
    labels = bucket_labels(edges)
    assert labels == ["0-10", "11-15", "16-20", "21-25", "26+"]
    for label, bucket in zip(labels, members, strict=True):
        low, _, high = label.partition("-")
        for i in bucket:
            words = len(sources[i].split())
            assert int(low.rstrip("+")) <= words and (not high or words <= int(high))


def test_each_bucket_scores_as_sacrebleu_on_its_lines():
    sources = corpus(200, seed=2)
    references = corpus(200, seed=3)
    hypotheses = [references[i] if i % 3 else sources[i] for i in range(200)]
    system = System("sys", "-", None, "t", hypotheses, references, sources=sources)
    table = by_length([system], (10, 20), bootstrap=100)
    members = [m for m in partition(sources, (10, 20)) if m]
    assert [row.sentences for row in table.rows] == [len(m) for m in members]
    for row, bucket in zip(table.rows, members, strict=True):
        hyps = [hypotheses[i] for i in bucket]
        refs = [[references[i] for i in bucket]]
        assert row.bleu == pytest.approx(sacrebleu.corpus_bleu(hyps, refs).score)
        assert row.chrf == pytest.approx(sacrebleu.corpus_chrf(hyps, refs).score)
        assert row.bleu_ci is not None and row.bleu_ci > 0
    assert "bs:100" in table.signatures["BLEU"]
    assert by_length([system], (10, 20), bootstrap=0).rows[0].bleu_ci is None


@pytest.mark.parametrize("text", ["", "a", "0,5", "10,10", "20,10"])
def test_bad_bucket_edges_are_one_line_errors(text):
    with pytest.raises(NmtError, match=f"^buckets {text!r}: expected"):
        parse_edges(text)


def test_cli_by_length_table_and_plot(tmp_path):
    sources = corpus(60, seed=4)
    references = corpus(60, seed=5)
    src = write(tmp_path / "test.de", sources)
    ref = write(tmp_path / "test.en", references)
    hyp = write(tmp_path / "hyp.en", references[:30] + sources[30:])
    args = ["eval", "--hyp", str(hyp), "--ref", str(ref), "--src", str(src), "--by-length"]
    result = CliRunner().invoke(app, [*args, "--format", "json", "--buckets", "10,20"])
    assert result.exit_code == 0, result.output
    tree = json.loads(result.output)
    assert sum(row["sentences"] for row in tree["rows"]) == 60
    assert {row["bucket"] for row in tree["rows"]} <= {"0-10", "11-20", "21+"}
    markdown = render(by_length(file_systems([hyp], ref, src), (10, 20)), "md")
    assert markdown.startswith("| system | architecture | test | source words | sentences |")

    without_src = CliRunner().invoke(app, [*args[:5], "--by-length"])
    assert without_src.exit_code == 2
    assert "error: hyp.en: --by-length needs the source sentences (--src)" in without_src.output
    with pytest.raises(
        NmtError, match=r"^hyp\.en: by_length needs the source sentences \(src_file\)$"
    ):
        by_length(file_systems([hyp], ref), (10, 20))
    bad_buckets = CliRunner().invoke(app, [*args, "--buckets", "9,x"])
    assert bad_buckets.exit_code == 2
    assert "error: --buckets '9,x': expected word counts like" in bad_buckets.output

    out = tmp_path / "lengths.png"
    length_curves(by_length(file_systems([hyp, ref], ref, src), (10, 20), bootstrap=50), out)
    assert out.read_bytes().startswith(PNG)
