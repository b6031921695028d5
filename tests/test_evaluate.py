"""BLEU / chrF tables: scores equal sacrebleu's own, caching, formats, line-count errors."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
from pathlib import Path

import pytest
import sacrebleu
import torch
from test_shortlist import small_shortlist
from test_translations import make_run, sentences
from typer.testing import CliRunner

from nmt.config.recipe import DataConfig, DecodeConfig
from nmt.errors import NmtError
from nmt.evaluation.evaluate import file_systems, run_systems
from nmt.metrics.bleu import compare, parse_metrics
from nmt.metrics.tables import render
from nmt.models.model import count_parameters
from nmt.run.loading import load_for_inference
from nmt_cli.app import app

REFS = ["the cat sits on the mat .", "a dog runs in the park", "two men play football", "hello"]
HYP_A = ["the cat sits on a mat .", "a dog runs in a park", "two men play soccer", "hello"]
HYP_B = ["cat on mat", "the dog is running", "men playing football", "hi"]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    attention = make_run(root / "attention")
    return {
        "attention": attention,
        "seq2seq": make_run(root / "seq2seq", attention="none", spm_dir=attention),
    }


def test_hypothesis_files_score_like_sacrebleu(tmp_path):
    ref = write(tmp_path / "ref.en", REFS)
    hyps = [write(tmp_path / "a.en", HYP_A), write(tmp_path / "b.en", HYP_B)]
    table = compare(file_systems(hyps, ref), bootstrap=200)
    assert [row.system for row in table.rows] == ["a.en", "b.en"]
    for row, lines in zip(table.rows, (HYP_A, HYP_B), strict=True):
        assert row.bleu == pytest.approx(sacrebleu.corpus_bleu(lines, [REFS]).score)
        assert row.chrf == pytest.approx(sacrebleu.corpus_chrf(lines, [REFS]).score)
        assert row.test == "ref.en" and row.bleu_ci is not None
    assert table.rows[0].bleu_p is None and table.rows[1].bleu_p is not None
    assert table.signatures["BLEU"].startswith("nrefs:1|bs:200|seed:12345|case:mixed")
    assert "version:" + sacrebleu.__version__ in table.signatures["chrF"]
    plain = compare(file_systems(hyps, ref), bootstrap=0)
    assert [row.bleu for row in plain.rows] == pytest.approx([row.bleu for row in table.rows])
    assert plain.rows[1].bleu_p is None and "bs:" not in plain.signatures["BLEU"]


def test_against_previous_compares_each_row_with_the_row_above(tmp_path):
    ref = write(tmp_path / "ref.en", REFS)
    hyp_c = ["the cat sits .", "a dog runs", "two men play football", "hello"]
    a, b, c = (write(tmp_path / name, h) for name, h in (("a", HYP_B), ("b", hyp_c), ("c", HYP_A)))
    first = compare(file_systems([a, b, c], ref), bootstrap=200)
    chain = compare(file_systems([a, b, c], ref), bootstrap=200, against="previous")
    pair = compare(file_systems([b, c], ref), bootstrap=200)
    assert chain.rows[1].bleu_p == first.rows[1].bleu_p
    assert chain.rows[2].bleu_p == pair.rows[1].bleu_p != first.rows[2].bleu_p
    assert chain.rows[2].chrf_p == pair.rows[1].chrf_p
    assert "vs the row above" in render(chain, "md")


def test_mismatched_line_counts_name_both_files(tmp_path):
    ref = write(tmp_path / "ref.en", REFS)
    short = write(tmp_path / "short.en", HYP_A[:3])
    with pytest.raises(NmtError, match=r"short\.en has 3 lines but the reference .*ref\.en has 4"):
        file_systems([short], ref)
    result = CliRunner().invoke(app, ["eval", "--hyp", str(short), "--ref", str(ref)])
    assert result.exit_code == 2
    assert "3 lines" in result.output and "4" in result.output


def test_runs_table_rows_cache_and_formats(tmp_path, runs, cpu_kind):
    """Each kind of CPU translates afresh: its own copies of the runs, no cache between."""
    runs = {name: Path(shutil.copytree(run, tmp_path / name)) for name, run in runs.items()}
    lines = sentences(6, seed=11)
    src = write(tmp_path / "test.de", lines)
    ref = write(tmp_path / "test.en", REFS + REFS[:2])
    systems = []
    for name in ("seq2seq", "attention"):
        systems += run_systems(runs[name], None, src, ref, {}, "cpu")
    table = compare(systems, bootstrap=100)
    assert [(r.system, r.architecture, r.test) for r in table.rows] == [
        ("seq2seq", "seq2seq", "test.de"),
        ("attention", "attention", "test.de"),
    ]
    for row, name in zip(table.rows, ("seq2seq", "attention"), strict=True):
        model = load_for_inference(runs[name], torch.device("cpu"))[0]
        assert row.parameters == count_parameters(model)
        cached = sorted((runs[name] / "translations").glob("test.de.best.beam3.lp1.txt"))
        hyps = cached[0].read_text(encoding="utf-8").splitlines()
        assert row.bleu == pytest.approx(sacrebleu.corpus_bleu(hyps, [REFS + REFS[:2]]).score)
        assert row.seconds is not None and not row.cached
        assert (row.updates, row.tokens, row.train_seconds) == (1, 1234, 90.0)  # make_run's
    again = run_systems(runs["attention"], None, src, ref, {}, "cpu")[0]
    assert again.cached and again.hypotheses == systems[1].hypotheses
    checkpoint = runs["attention"] / "checkpoints" / "best.pt"
    os.utime(checkpoint, ns=(1, 1))  # a "new" checkpoint must be translated again
    assert not run_systems(runs["attention"], None, src, ref, {}, "cpu")[0].cached
    assert not run_systems(runs["attention"], None, src, ref, {"beam": 2}, "cpu")[0].cached

    markdown = render(table, "md")
    assert markdown.splitlines()[0].startswith("| system | architecture | parameters | test |")
    assert "| 1 | 0.0M | 1.5 |" in markdown  # updates, target tokens, training minutes
    assert "BLEU signature: nrefs:1" in markdown and "baseline" in markdown
    rows = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    assert [row["system"] for row in rows] == ["seq2seq", "attention"]
    assert float(rows[1]["bleu"]) == pytest.approx(table.rows[1].bleu)
    tree = json.loads(render(table, "json"))
    assert tree["signatures"]["BLEU"] == table.signatures["BLEU"]


def test_named_test_splits_of_the_run_corpus(tmp_path, runs):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    write(mirror / "toy" / "test.de", sentences(5, seed=12))
    write(mirror / "toy" / "test.en", REFS + ["one more"])
    card = tmp_path / "toy.yaml"
    card.write_text(
        "name: toy\ndescription: d\nlanguages: [de, en]\nlicence: l\ncitation: c\n"
        "splits:\n  train:\n    mirror: toy/test.{lang}\n"
        "  test2016:\n    mirror: toy/test.{lang}\n",
        encoding="utf-8",
    )
    data = DataConfig(corpus=str(card), data_dir=str(mirror))
    run = make_run(tmp_path / "toy-run", spm_dir=runs["attention"], data=data)
    result = CliRunner().invoke(
        app, ["eval", str(run), "--format", "json", "--bootstrap", "0", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    tree = json.loads(result.stdout)
    assert [(row["system"], row["test"]) for row in tree["rows"]] == [("toy-run", "test2016")]
    hyps = (run / "translations" / "test2016.best.beam3.lp1.txt").read_text().splitlines()
    expected = sacrebleu.corpus_bleu(hyps, [REFS + ["one more"]]).score
    assert tree["rows"][0]["bleu"] == pytest.approx(expected)

    cached = (run / "translations" / "test2016.best.beam3.lp1.txt").stat().st_mtime_ns
    by_length = CliRunner().invoke(app, ["eval", str(run), "--by-length", "--format", "json"])
    assert by_length.exit_code == 0, by_length.output
    rows = json.loads(by_length.stdout)["rows"]
    assert sum(row["sentences"] for row in rows) == 5
    png = tmp_path / "lengths.png"
    plotted = CliRunner().invoke(app, ["plot", str(run), "--by-length", "-o", str(png)])
    assert plotted.exit_code == 0, plotted.output
    assert png.read_bytes().startswith(b"\x89PNG")
    assert (run / "translations" / "test2016.best.beam3.lp1.txt").stat().st_mtime_ns == cached


def files_under(folder: Path) -> dict[str, int]:
    return {str(path): path.stat().st_mtime_ns for path in folder.rglob("*")}


def test_a_run_that_cannot_be_written_to_is_scored_all_the_same(tmp_path, runs):
    src, ref = write(tmp_path / "t.de", sentences(4, seed=13)), write(tmp_path / "t.en", REFS)
    run = runs["attention"]
    command = ["eval", str(run), "--src", str(src), "--ref", str(ref), "--bootstrap", "0"]
    before = files_under(run)
    result = CliRunner().invoke(app, [*command, "--no-cache", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert files_under(run) == before  # --no-cache writes nothing into the run
    blocked = make_run(tmp_path / "blocked-run", spm_dir=run)
    (blocked / "translations").write_text("a file where the cache folder would be")
    result = CliRunner().invoke(app, ["eval", str(blocked), *command[2:], "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "cannot cache the translations there" in result.output
    assert "t.de" in result.output  # the table is there


def test_cli_writes_the_table_file(tmp_path):
    ref = write(tmp_path / "ref.en", REFS)
    hyp = write(tmp_path / "a.en", HYP_A)
    out = tmp_path / "table.csv"
    result = CliRunner().invoke(
        app, ["eval", "--hyp", str(hyp), "--ref", str(ref), "-o", str(out), "--bootstrap", "50"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows[0]["system"] == "a.en"
    assert "| a.en |" in result.stdout  # also written to the file, not instead
    assert float(rows[0]["bleu"]) == pytest.approx(sacrebleu.corpus_bleu(HYP_A, [REFS]).score)


def test_cli_refuses_hyp_without_ref(tmp_path):
    hyp = write(tmp_path / "a.en", HYP_A)
    result = CliRunner().invoke(app, ["eval", "--hyp", str(hyp)])
    assert result.exit_code == 2 and "--ref" in result.output


@pytest.mark.parametrize("resamples", ["-1", "10001", "1000000000"])
def test_cli_bounds_the_bootstrap_before_any_work(tmp_path, resamples):
    hyp, ref = write(tmp_path / "a.en", HYP_A), write(tmp_path / "ref.en", REFS)
    command = ["eval", "--hyp", str(hyp), "--ref", str(ref), "--bootstrap", resamples]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: --bootstrap: {resamples} is not in [0, 10000]"
    ]


def test_ter_joins_the_table_with_its_signature_and_intervals(tmp_path):
    ref = write(tmp_path / "ref.en", REFS)
    hyps = [write(tmp_path / "a.en", HYP_A), write(tmp_path / "b.en", HYP_B)]
    table = compare(file_systems(hyps, ref), bootstrap=200, metrics=("bleu", "chrf", "ter"))
    for row, lines in zip(table.rows, (HYP_A, HYP_B), strict=True):
        assert row.ter == pytest.approx(sacrebleu.corpus_ter(lines, [REFS]).score)
        assert row.bleu == pytest.approx(sacrebleu.corpus_bleu(lines, [REFS]).score)
        assert row.ter_ci is not None and row.ter_ci > 0
    assert table.rows[0].ter_p is None and table.rows[1].ter_p is not None
    assert table.signatures["TER"].startswith("nrefs:1|bs:200|seed:12345|case:lc|tok:tercom")
    markdown = render(table, "md")
    assert "| BLEU | chrF | TER | p BLEU | p chrF | p TER |" in markdown
    assert "TER signature: nrefs:1" in markdown and "lower is better" in markdown
    rows = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    assert float(rows[1]["ter"]) == pytest.approx(table.rows[1].ter)
    assert rows[1]["ter_signature"] == table.signatures["TER"] and rows[1]["ter_ci"]
    tree = json.loads(render(table, "json"))
    assert tree["rows"][1]["ter_p"] == table.rows[1].ter_p and "TER" in tree["signatures"]
    plain = compare(file_systems(hyps, ref), bootstrap=0, metrics=("ter",))
    assert [row.ter for row in plain.rows] == pytest.approx([row.ter for row in table.rows])
    assert plain.rows[0].bleu is None and list(plain.signatures) == ["TER"]
    assert "bs:" not in plain.signatures["TER"]


def test_the_default_table_has_no_ter_columns(tmp_path):
    ref = write(tmp_path / "ref.en", REFS)
    table = compare(file_systems([write(tmp_path / "a.en", HYP_A)], ref), bootstrap=0)
    assert table.rows[0].ter is None and "TER" not in render(table, "md")
    header = render(table, "csv").splitlines()[0].split(",")
    assert not [name for name in header if name.startswith("ter")]
    assert header[-2:] == ["bleu_signature", "chrf_signature"]
    assert "ter" not in json.loads(render(table, "json"))["rows"][0]


def test_cli_metrics_option(tmp_path):
    ref = write(tmp_path / "ref.en", REFS)
    hyp = write(tmp_path / "a.en", HYP_A)
    base = ["eval", "--hyp", str(hyp), "--ref", str(ref), "--bootstrap", "0"]
    result = CliRunner().invoke(app, [*base, "--metrics", "ter,bleu", "--format", "json"])
    assert result.exit_code == 0, result.output
    tree = json.loads(result.stdout)
    assert list(tree["signatures"]) == ["TER", "BLEU"] and "chrf" not in tree["rows"][0]
    assert tree["rows"][0]["ter"] == pytest.approx(sacrebleu.corpus_ter(HYP_A, [REFS]).score)
    for bad, why in (("bleu,comet", "'comet' is not one of bleu, chrf, ter"), ("ter,ter", "twice")):
        refused = CliRunner().invoke(app, [*base, "--metrics", bad])
        assert refused.exit_code == 2, refused.output
        assert f"error: --metrics {bad!r}: " in refused.output and why in refused.output
        with pytest.raises(NmtError, match=f"^metrics {bad!r}: .*{why}"):
            parse_metrics(bad)


def test_a_table_format_is_refused_by_its_argument_name():
    with pytest.raises(NmtError, match=r"^format 'txt': use one of md, csv, json$"):
        render(compare([], bootstrap=0), "txt")


def test_eval_reads_the_test_splits_a_recipe_names_as_files(tmp_path, runs):
    src = write(tmp_path / "news.de", sentences(4, seed=13))
    ref = write(tmp_path / "news.en", REFS)
    other = write(tmp_path / "other.en", REFS[::-1])
    pair = {"src": str(src), "tgt": str(ref)}
    files = {"train": pair, "valid": pair, "news": pair, "other": {**pair, "tgt": str(other)}}
    data = DataConfig(files=files)
    run = make_run(tmp_path / "files-run", spm_dir=runs["attention"], data=data)
    base = ["eval", str(run), "--format", "json", "--bootstrap", "0", "--device", "cpu"]
    result = CliRunner().invoke(app, [*base, "--test", "news"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    hyps = (run / "translations" / "news.best.beam3.lp1.txt").read_text().splitlines()
    assert [row["test"] for row in rows] == ["news"]
    assert rows[0]["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [REFS]).score)
    every = CliRunner().invoke(app, base)  # every split but train and valid
    assert every.exit_code == 0, every.output
    assert [row["test"] for row in json.loads(every.stdout)["rows"]] == ["news", "other"]
    missing = CliRunner().invoke(app, [*base, "--test", "test2016"])
    assert missing.exit_code == 2 and "has no split 'test2016'" in missing.output


def test_a_precision_and_a_shortlist_make_systems_of_their_own(tmp_path, cpu_kind):
    run = make_run(tmp_path / "attention")
    small_shortlist(run)
    src = write(tmp_path / "test.de", sentences(6, seed=12))
    ref = write(tmp_path / "test.en", REFS + REFS[:2])
    plain = run_systems(run, None, src, ref, {}, "cpu")[0]
    fast = run_systems(run, None, src, ref, {}, "cpu", precision="int8", shortlist=True)[0]
    assert (plain.name, fast.name) == ("attention", "attention [int8+shortlist]")
    assert not fast.cached and fast.parameters == plain.parameters
    assert run_systems(run, None, src, ref, {}, "cpu", precision="int8", shortlist=True)[0].cached
    assert run_systems(run, None, src, ref, {}, "cpu", precision="fp32")[0].cached
    result = CliRunner().invoke(
        app, ["eval", str(run), "--src", str(src), "--ref", str(ref), "--precision", "int8"]
    )
    assert result.exit_code == 0 and "attention [int8]" in result.stdout, result.output
    if cpu_kind == "bf16":  # bf16 is asked for, and named, on every kind of CPU that has it
        bf16 = run_systems(run, None, src, ref, {}, "cpu", precision="bf16")[0]
        assert bf16.name == "attention [bf16]" and not bf16.cached


def test_a_test_split_is_a_name_never_a_path(runs):
    why = "is not a name (letters, digits, and _ . - after the first; no '..' or '/')"
    for name in ("/some/dir", "../../x"):
        result = CliRunner().invoke(app, ["eval", str(runs["attention"]), "--test", name])
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [f"error: --test: split name '{name}' {why}"]
        with pytest.raises(NmtError) as error:
            run_systems(runs["attention"], [name], None, None, {}, "cpu")
        assert str(error.value) == f"tests: split name '{name}' {why}"


def test_a_cached_translation_is_reused_under_the_same_options_only(tmp_path, runs):
    """nmt eval takes every option that changes the best translation: a call's own
    (no_repeat_ngram, sampling) are in the cache key when set, and only then, so a cache
    written before eval offered them stays valid."""
    run = Path(shutil.copytree(runs["attention"], tmp_path / "attention"))
    src = write(tmp_path / "test.de", sentences(3, seed=5))
    ref = write(tmp_path / "test.en", REFS[:3])
    assert not run_systems(run, None, src, ref, {}, "cpu")[0].cached
    (meta,) = (run / "translations").glob("*.json")
    decode = json.loads(meta.read_text(encoding="utf-8"))["key"]["decode"]
    assert set(decode) == {item.name for item in dataclasses.fields(DecodeConfig)} - {
        "batch_tokens"
    }
    assert run_systems(run, None, src, ref, {"batch_tokens": 7}, "cpu")[0].cached
    assert not run_systems(run, None, src, ref, {"no_repeat_ngram": 1}, "cpu")[0].cached
    assert not run_systems(run, None, src, ref, {"sample": True}, "cpu")[0].cached
    assert run_systems(run, None, src, ref, {"sample": True}, "cpu")[0].cached


def test_an_exported_folder_is_a_row_as_its_run_is(tmp_path, runs):
    """`nmt eval` takes what `nmt translate` takes: an exported folder scores as its run,
    without the training columns, and nothing is written into it."""
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from nmt.export.export_onnx import export_onnx

    export_onnx(runs["attention"], tmp_path / "exported")
    exported = sorted(path.name for path in (tmp_path / "exported").iterdir())
    src = write(tmp_path / "test.de", sentences(4, seed=11))
    ref = write(tmp_path / "test.en", REFS)
    command = ["eval", str(runs["attention"]), str(tmp_path / "exported"), "--no-cache"]
    result = CliRunner().invoke(app, [*command, "--src", str(src), "--ref", str(ref), "-f", "csv"])
    assert result.exit_code == 0, result.output
    run, folder = csv.DictReader(io.StringIO(result.stdout))
    assert folder["system"] == "exported [onnx-fp32]"
    for column in ("architecture", "parameters", "test", "bleu", "chrf"):
        assert folder[column] == run[column], column
    assert run["updates"] == "1" and folder["updates"] == folder["train_seconds"] == ""
    assert sorted(path.name for path in (tmp_path / "exported").iterdir()) == exported
