"""Translating files and streams the way `nmt translate` does (cli/decode_files.py), with
the tiny run of test_translations.py: one output line per input line, whatever the line
holds; what the report counts; n-best rows; heat maps; streaming gives the batched lines."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from test_translations import make_run, sentences
from typer.testing import CliRunner

from nmt.errors import NmtError
from nmt.inference.report import Report
from nmt.inference.translator import Translator
from nmt_cli.app import app
from nmt_cli.decode_files import translate_file, translate_stream


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "attention")


def translate_run_file(run, source, target, options, device="cpu", **files) -> Report:
    """`nmt translate`'s road: the run's Translator, its options, the file."""
    translator = Translator.load(run, device=device)
    return translate_file(translator, source, target, translator.options(**options), **files)


def garbage_lines(seed: int) -> tuple[bytes, int, int]:
    """A file mixing normal, empty, blank, very long and invalid-UTF-8 lines."""
    rng = random.Random(seed)
    lines, blank = [], 0
    for _ in range(rng.randint(0, 25)):
        kind = rng.choice(["text", "empty", "space", "long", "bad", "crlf"])
        text = sentences(1, rng.random())[0].encode()
        line = {
            "text": text,
            "empty": b"",
            "space": b" \t  ",
            "long": b" ".join([text] * 20),
            "bad": text + b" \xff\xfe " + text,
            "crlf": text + b"\r",
        }[kind]
        blank += kind in ("empty", "space")
        lines.append(line)
    # a final newline is optional, except after an empty last line (else it is no line)
    final = b"\n" if lines and (not lines[-1] or rng.random() < 0.5) else b""
    return b"\n".join(lines) + final, len(lines), blank


@pytest.mark.parametrize("seed", range(8))
def test_every_input_line_gives_one_output_line(tmp_path, run, seed):
    data, n_lines, n_blank = garbage_lines(seed)
    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_bytes(data)
    report = translate_run_file(
        run, source, target, {"max_source_len": 20, "batch_tokens": 64}, device="cpu"
    )
    out = target.read_text(encoding="utf-8").split("\n")
    assert out[-1] == ""
    out = out[:-1]
    assert len(out) == n_lines == report.lines
    inputs = data.decode("utf-8", errors="replace").split("\n")[:n_lines]
    for line, translated in zip(inputs, out, strict=True):
        if not line.strip():
            assert translated == ""
    assert report.blank == n_blank
    assert report.invalid_utf8 == sum(b"\xff" in line for line in data.split(b"\n"))


def test_truncation_and_invalid_bytes_are_reported(tmp_path, run):
    source = tmp_path / "in.txt"
    source.write_bytes(b"ein haus\n" + b"der hund " * 40 + b"\n\xff\xfe kind\n")
    report = translate_run_file(run, source, tmp_path / "out.txt", {"max_source_len": 10})
    assert (report.lines, report.truncated, report.invalid_utf8) == (3, 1, 1)
    warnings = " ".join(report.warnings())
    assert "truncated" in warnings and "UTF-8" in warnings


def test_nbest_format(tmp_path, run):
    source = tmp_path / "in.txt"
    source.write_text("ein haus\n\nder hund geht\n", encoding="utf-8")
    target = tmp_path / "out.txt"
    translate_run_file(run, source, target, {"beam": 3, "nbest": 2})
    rows = [line.split(" ||| ") for line in target.read_text(encoding="utf-8").splitlines()]
    assert [int(row[0]) for row in rows] == [0, 0, 1, 1, 2, 2]
    assert all(len(row) == 3 for row in rows)
    for first, second in (rows[0:2], rows[4:6]):
        assert float(first[2]) >= float(second[2])
    assert rows[2][1] == "" and rows[3][1] == ""


def test_attention_heat_maps(tmp_path, run):
    source = tmp_path / "in.txt"
    source.write_text("ein haus\n\nder hund geht\n", encoding="utf-8")
    translate_run_file(run, source, tmp_path / "out.txt", {}, attention_dir=tmp_path / "maps")
    pngs = sorted(path.name for path in (tmp_path / "maps").iterdir())
    assert pngs == ["000000.png", "000002.png"]
    assert (tmp_path / "maps" / "000000.png").read_bytes().startswith(b"\x89PNG")
    described = CliRunner().invoke(app, ["translate", "--help"], env={"COLUMNS": "300"})
    assert "DIR/000000.png for the first input line" in described.stdout


def test_attention_needs_an_attention_model(tmp_path):
    plain = make_run(tmp_path / "seq2seq", attention="none")
    source = tmp_path / "in.txt"
    source.write_text("ein haus\n", encoding="utf-8")
    with pytest.raises(NmtError, match="no attention"):
        translate_run_file(plain, source, tmp_path / "out.txt", {}, attention_dir=tmp_path / "maps")


@pytest.mark.parametrize(
    "options",
    [
        {"beam": 3},
        {"beam": 3, "nbest": 2, "no_repeat_ngram": 2},
        {"sample": True, "nsamples": 2, "topk": 8, "seed": 3},
    ],
)
def test_streaming_gives_the_lines_of_the_batched_mode(tmp_path, run, options, cpu_kind):
    data, n_lines, _ = garbage_lines(3)
    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_bytes(data)
    translator = Translator.load(run, device="cpu")
    options = translator.options(**options, max_source_len=20)
    translate_file(translator, source, target, options)
    out = io.BytesIO()
    report = translate_stream(translator, io.BytesIO(data), out, options)
    assert out.getvalue() == target.read_bytes()
    assert report.lines == n_lines
    assert report.invalid_utf8 == sum(b"\xff" in line for line in data.split(b"\n"))
