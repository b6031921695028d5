"""Translation with a tiny random model and a tiny sentencepiece model: lines through the
search (nmt/inference/decode_lines.py) and `nmt translate` (its files and streams:
test_decode_files.py).

`make_run` writes a run directory the way training does (recipe, sentencepiece models,
checkpoints/best.pt); most tests of inference use it too.
"""

from __future__ import annotations

import os
import random
import selectors
import shutil
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from nmt.config.recipe import DataConfig, DecodeConfig, ModelConfig, Recipe
from nmt.data.batching import collate
from nmt.data.tokenizer import train_sentencepiece
from nmt.device import resolve_device
from nmt.errors import NmtError
from nmt.generation.decoding import DecodingOptions
from nmt.generation.search import search
from nmt.inference.translator import Translator
from nmt.models.architectures import build_model
from nmt.run.checkpoint import FORMAT, save_checkpoint
from nmt.run.loading import load_for_inference
from nmt.run.train_state import TrainState
from nmt_cli.app import app

WORDS = "ein zwei drei haus katze hund mann frau kind geht sieht das die der und rot blau".split()


TINY_TRANSFORMER = dict(
    arch="transformer",
    d_model=16,
    heads=2,
    ffn_dim=32,
    encoder_layers=1,
    decoder_layers=2,
    dropout=0.0,
)


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(2, 8))) for _ in range(n)]


def make_run(
    root: Path,
    attention: str = "bahdanau",
    spm_dir: Path | None = None,
    data: DataConfig | None = None,
    arch: str = "rnn",
    model_config: ModelConfig | None = None,
) -> Path:
    """A run directory with a randomly initialised tiny model (what training would leave):
    recurrent with `attention`, or with arch "transformer" a Transformer, or `model_config`."""
    root.mkdir(parents=True, exist_ok=True)
    spm = (spm_dir or root) / "joint.model"
    if not spm.is_file():
        train_sentencepiece(sentences(200, seed=0), spm, 60, "unigram", 1.0)
    for name in ("src.model", "tgt.model"):
        shutil.copy(spm, root / name)
    model_cfg = ModelConfig(
        embed_dim=16,
        encoder_layers=1,
        encoder_hidden=8 if attention != "none" else 16,  # the bridge hands over 16 units
        decoder_layers=1,
        decoder_hidden=16,
        attention=attention,
        attention_dim=12,
        dropout=0.0,
        bidirectional=attention != "none",
        reverse_source=attention == "none",
    )
    if arch == "transformer":
        model_cfg = ModelConfig(**TINY_TRANSFORMER, tie_embeddings=True, share_embeddings=True)
    model_cfg = model_config or model_cfg
    recipe = Recipe(
        name=root.name,
        data=data or DataConfig(),
        model=model_cfg,
        decode=DecodeConfig(beam=3, max_len_b=5),
    )
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict()), encoding="utf-8")
    torch.manual_seed(0)
    vocab = _vocab_size(spm)
    model = build_model(model_cfg, vocab, vocab)
    payload = {
        "format": FORMAT,
        "recipe": recipe.to_dict(),
        "src_vocab": vocab,
        "tgt_vocab": vocab,
        "model": model.state_dict(),
        "step": 1,
        "epoch": 1,
        "best_bleu": 0.0,
        "state": asdict(TrainState(step=1, tokens=1234, seconds=90.0)),
    }
    save_checkpoint(root / "checkpoints" / "best.pt", payload)
    return root


def _vocab_size(spm: Path) -> int:
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(spm)).get_piece_size()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "attention")


@pytest.fixture(scope="module")
def loaded(run):
    return load_for_inference(run, torch.device("cpu"))


def test_batched_translation_equals_one_by_one(loaded):
    translator = Translator(*loaded[:1], loaded[2], loaded[1], torch.device("cpu"))
    lines = sentences(7, seed=1)
    for beam in (1, 3):
        options = translator.options(beam=beam, batch_tokens=40)
        together = translator.translations(lines, options)
        assert together.report.translated == 7
        for line, best in zip(lines, together.best(), strict=True):
            assert translator.translations([line], options).best() == [best]


def test_fixed_length_decoding(loaded):
    model, recipe, tokenizer = loaded
    ids = tokenizer.encode_src(sentences(4, 3))
    batch = collate(ids, None, list(range(4)))
    for beam in (1, 2):
        decode = replace(recipe.decode, beam=beam, max_len_a=0.0, max_len_b=6)
        found = search(
            model, batch.src, batch.src_lengths, DecodingOptions.build(decode, min_len=6)
        )
        assert [len(ranked[0]) for ranked in found.tokens] == [6] * 4


def test_bad_options_are_one_line_errors(loaded):
    recipe = loaded[1]
    with pytest.raises(NmtError, match="nbest: 3 is more than beam"):
        DecodingOptions.build(replace(recipe.decode, beam=2), nbest=3)
    with pytest.raises(NmtError, match="beam: 0 is not in"):
        DecodingOptions.build(recipe.decode, beam=0)


def test_cli_stdin_to_stdout(run):
    result = CliRunner().invoke(
        app, ["translate", str(run), "--beam", "2"], input="ein haus\n\n  \nder hund\n"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\n")[1:3] == ["", ""]
    assert len(result.stdout.split("\n")) == 5


def test_cli_error_is_one_line(tmp_path, run):
    result = CliRunner().invoke(app, ["translate", str(run), "-i", str(tmp_path / "missing.de")])
    assert result.exit_code == 2
    assert "missing.de" in result.output


def test_device_names_are_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(NmtError, match="^device 'gpu0': not a device"):
        resolve_device("gpu0")


def test_output_goes_whole_into_place_and_a_failure_keeps_the_old_file(tmp_path, run, monkeypatch):
    from nmt import atomic

    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("ein haus\nder hund\n", encoding="utf-8")
    target.write_text("old\n" * 246, encoding="utf-8")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    result = CliRunner().invoke(app, ["translate", str(run), "-i", str(source), "-o", str(target)])
    assert result.exit_code == 2 and "out.txt: cannot write (No space left" in result.output
    assert target.read_text(encoding="utf-8") == "old\n" * 246
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.txt", "out.txt"]


@pytest.mark.parametrize("where", ["missing/out.txt", "folder/"])
def test_an_output_that_cannot_be_written_is_refused_before_translating(tmp_path, run, where):
    source = tmp_path / "in.txt"
    source.write_text("ein haus\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    output = f"{tmp_path}/{where}"
    for command in (["translate", str(run), "-i", str(source)], ["eval", str(run)]):
        result = CliRunner().invoke(app, [*command, "-o", output])
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [result.output.strip()]
        assert f"--output {output}: " in result.output
    assert not (tmp_path / "folder" / "out.txt").exists()


def assert_outputs_refused(commands: list[list[str]]) -> None:
    """Each command, whose last option names one of its own inputs as an output, is refused
    in one line before it writes."""
    for command in commands:
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [
            f"error: {command[-2]} {command[-1]}: is an input of this command; write to another "
            "file"
        ]


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tmp_path, run):
    source = tmp_path / "in.de"
    source.write_text("ein haus\n", encoding="utf-8")
    (tmp_path / "link.de").symlink_to(source)
    commands = [
        ["translate", str(run), "-i", str(source), "--output", str(source)],
        ["translate", str(run), "-i", str(source), "--output", str(tmp_path / "link.de")],
        ["translate", str(run), "-i", str(source), "--alignments", str(source)],
        ["score", str(run), "-s", str(source), "-t", str(source), "--output", str(source)],
        ["eval", "--hyp", str(source), "--ref", str(source), "--output", str(source)],
    ]
    assert_outputs_refused(commands)
    assert source.read_text(encoding="utf-8") == "ein haus\n"


def test_an_output_that_is_a_file_of_the_model_is_refused_and_the_run_kept(tmp_path, run):
    source = tmp_path / "in.de"
    source.write_text("ein haus\n", encoding="utf-8")
    best, vocabulary = run / "checkpoints" / "best.pt", str(run / "tgt.model")
    before = {path: path.read_bytes() for path in (best, run / "tgt.model")}
    commands = [
        ["translate", str(best), "-i", str(source), "--output", str(best)],
        ["translate", str(run), "-i", str(source), "--alignments", vocabulary],
        ["score", str(run), "-s", str(source), "-t", str(source), "--output", vocabulary],
        ["eval", str(run), "--src", str(source), "--ref", str(source), "--output", str(best)],
        ["plot", str(run), "--output", str(run / "recipe.yaml")],
    ]
    assert_outputs_refused(commands)
    assert {path: path.read_bytes() for path in before} == before


def test_special_files_and_links_as_outputs_stay_what_they_are(tmp_path, run):
    source = tmp_path / "in.de"
    source.write_text("ein haus\nder hund\n", encoding="utf-8")
    target = tmp_path / "out.en"
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.en"
    link.symlink_to(target)
    result = CliRunner().invoke(app, ["translate", str(run), "-i", str(source), "-o", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and len(target.read_text(encoding="utf-8").splitlines()) == 2
    result = CliRunner().invoke(app, ["translate", str(run), "-i", str(source), "-o", "/dev/null"])
    assert result.exit_code == 0, result.output
    assert Path("/dev/null").is_char_device()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    result = CliRunner().invoke(app, ["translate", str(run), "-i", str(source), "-o", str(fifo)])
    assert result.exit_code == 0, result.output
    assert len(reader.communicate(timeout=60)[0].splitlines()) == 2
    assert fifo.is_fifo()


def test_a_reader_that_leaves_the_stream_is_a_normal_end(run):
    lines = "printf 'ein haus\\n%.0s' {1..2000}"
    child = subprocess.run(
        f"{lines} | {sys.executable} -m nmt translate {run} --stream | head -1; "
        "exit ${PIPESTATUS[1]}",
        shell=True,
        capture_output=True,
        timeout=300,
        check=False,
        executable="/bin/bash",
    )
    assert (child.returncode, child.stderr, len(child.stdout.splitlines())) == (0, b"", 1)


def test_a_damaged_sentencepiece_model_in_the_run_is_one_line(tmp_path, run):
    damaged = tmp_path / "run"
    shutil.copytree(run, damaged)
    (damaged / "src.model").write_bytes(random.Random(1).randbytes(300))
    result = CliRunner().invoke(app, ["translate", str(damaged)], input="ein haus\n")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {damaged}/src.model: not a sentencepiece model (damaged, or another file)"
    )


def test_attention_naming_a_file_is_one_line(tmp_path, run):
    source = tmp_path / "in.de"
    source.write_text("ein haus\n", encoding="utf-8")
    command = ["translate", str(run), "-i", str(source), "--attention", str(source)]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2
    assert result.output.strip() == f"error: --attention {source}: is a file; name a folder"


OPTIONS = {
    "--beam": int,
    "--nbest": int,
    "--length-penalty": float,
    "--batch-tokens": int,
    "--max-len-a": float,
    "--max-len-b": int,
    "--min-len": int,
    "--max-source-len": int,
}


@pytest.mark.parametrize(
    ("option", "value"),
    [
        (option, value)
        for option, kind in OPTIONS.items()
        for value in ("0", "-1", str(10**30)) + (("nan", "1e30") if kind is float else ())
    ],
)
def test_any_decoding_option_value_is_a_one_line_error_or_a_translation(run, option, value):
    result = CliRunner().invoke(app, ["translate", str(run), option, value], input="ein haus\n")
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 2:
        assert result.output.strip().splitlines() == [f"error: {result.output[7:].strip()}"]
        assert option in result.output
    else:
        assert result.stdout.count("\n") == 1


def test_a_minimum_length_beyond_the_limit_is_refused(run):
    result = CliRunner().invoke(app, ["translate", str(run), "--min-len", "6"], input="ein\n")
    assert result.exit_code == 2
    assert "--min-len: 6 is more than --max-len-b (5)" in result.output


def read_line(stream, wait: float = 120.0) -> bytes:
    """One line of a child's output; b"" if none came within `wait` seconds (a hang guard,
    not a measurement)."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    ready = selector.select(wait)
    selector.close()
    return stream.readline() if ready else b""


def test_stream_answers_each_line_before_the_input_ends(tmp_path, run):
    lines = sentences(3, seed=9)
    batched = CliRunner().invoke(
        app, ["translate", str(run), "--beam", "2"], input="".join(f"{line}\n" for line in lines)
    )
    assert batched.exit_code == 0, batched.output
    child = subprocess.Popen(
        [sys.executable, "-m", "nmt", "translate", str(run), "--stream", "--beam", "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        answers = []
        for line in lines:
            child.stdin.write(f"{line}\n".encode())
            child.stdin.flush()  # the input stays open
            answers.append(read_line(child.stdout))
        child.stdin.close()
        assert child.stdout.read() == b""
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
    assert b"".join(answers).decode() == batched.stdout


@pytest.mark.parametrize(
    "option", [["-i", "in.txt"], ["-o", "out.txt"], ["--prefix", "p.txt"], ["--alignments", "a"]]
)
def test_stream_refuses_files_in_one_line(run, option):
    result = CliRunner().invoke(app, ["translate", str(run), "--stream", *option], input="ein\n")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {option[0].replace('-i', '--input').replace('-o', '--output')}: not with "
        "--stream, which reads stdin and writes stdout"
    ]


def test_one_translate_checks_its_options_once(run, monkeypatch):
    """Built once where the command reads its flags, passed down whole (they were
    checked five times: the command, translate_file, twice in search_settings and in
    decode_lines)."""
    checked = []
    check = DecodingOptions.check_together
    monkeypatch.setattr(
        DecodingOptions, "check_together", lambda self: (checked.append(self), check(self))
    )
    command = ["translate", str(run), "--beam", "2", "--nbest", "2", "--no-repeat-ngram", "2"]
    result = CliRunner().invoke(app, command, input="ein haus\nder hund\n")
    assert result.exit_code == 0, result.output
    assert [(options.beam, options.nbest) for options in checked] == [(2, 2)]
