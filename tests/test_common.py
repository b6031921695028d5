"""Every command's errors: one line on stderr naming the file, folder or option, and an
exit code; errors of the environment (a full disk, a read-only folder, standard output that
cannot be written, standard input closed) too, never a traceback."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import typer
from test_plot import full_disk
from test_translations import make_run
from typer.testing import CliRunner

from nmt import atomic
from nmt.run.checkpoint import FORMAT, save_checkpoint
from nmt.run.rundir import RunDir
from nmt_cli.app import app

NMT = [sys.executable, "-m", "nmt"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run directory with a model and two step checkpoints."""
    root = make_run(tmp_path_factory.mktemp("runs") / "run")
    for step in (1, 2):
        payload = {"format": FORMAT, "model": {"w": torch.full((2,), float(step))}}
        save_checkpoint(RunDir(root).step_checkpoint(step), payload)
    return root


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def test_a_folder_that_cannot_be_written_is_one_line_naming_the_file(run, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", "/somewhere/.avg.pt.x.tmp")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    result = CliRunner().invoke(app, ["average", str(run), "--last", "2"])
    assert result.exit_code == 1
    assert one_line(result.output) == f"error: {run}/checkpoints/avg.pt: Read-only file system"


@pytest.mark.parametrize("where", ["--run-dir", "data.cache_dir"])
def test_a_folder_that_cannot_be_made_is_one_line_naming_it(
    tiny_recipe, tmp_path, monkeypatch, where
):
    locked, mkdir = tmp_path / "read-only", Path.mkdir

    def read_only(self: Path, *args, **kwargs) -> None:
        if locked in self.parents:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    folder = locked / "x"
    given = ["--run-dir", str(folder)] if where == "--run-dir" else ["--set", f"{where}={folder}"]
    run = [] if where == "--run-dir" else ["--run-dir", str(tmp_path / "run")]
    result = CliRunner().invoke(app, ["train", str(tiny_recipe), *given, *run])
    assert result.exit_code == 1
    assert one_line(result.output) == f"error: {folder}: Permission denied"


def test_a_full_disk_on_resume_is_one_line_naming_the_file(tiny_recipe, tmp_path):
    run = str(tmp_path / "run")
    assert CliRunner().invoke(app, ["train", str(tiny_recipe), "--run-dir", run]).exit_code == 0
    more = ["--set", "train.max_updates=6", "--set", "train.max_epochs=3"]
    with full_disk(500):  # a resume writes the run's recipe.yaml again (more than 500 bytes)
        result = CliRunner().invoke(
            app, ["train", str(tiny_recipe), "--run-dir", run, "--resume", *more]
        )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == f"error: {run}/recipe.yaml: File too large"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "command",
    [
        ["translate", "{run}", "-i", "{text}", "--device", "cpu"],
        ["score", "{run}", "-s", "{text}", "-t", "{text}", "--device", "cpu"],
        ["eval", "--hyp", "{text}", "--ref", "{text}"],
        ["average", "{run}", "--last", "2"],
        ["--help"],
        [],
        ["translate", "--help"],
    ],
)
def test_a_full_standard_output_is_one_line(tmp_path, run, command):
    text = tmp_path / "text"
    text.write_text("ein haus\nder hund\n", encoding="utf-8")
    arguments = [part.format(run=run, text=text) for part in command]
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [*NMT, *arguments], stdout=full, stderr=subprocess.PIPE, text=True, timeout=300
        )
    assert result.returncode == 1
    assert one_line(result.stderr) == "error: standard output: No space left on device"


def test_a_closed_standard_input_is_one_line(run):
    command = [*NMT, "translate", str(run), "--device", "cpu"]
    result = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.close(0),
    )
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("error: standard input is closed")


def test_the_inference_commands_declare_device_once():
    """translate, score, eval, plot and serve take --device from one declaration."""
    commands = typer.main.get_command(app).commands
    helps = {
        name: next(param.help for param in commands[name].params if param.name == "device")
        for name in ("translate", "score", "eval", "plot", "serve")
    }
    assert set(helps.values()) == {"auto (CUDA if present), cpu, cuda, cuda:1..."}


def test_each_command_offers_the_decoding_options_of_their_fields():
    """translate every option, eval those that change the best translation, score those of
    scoring with their scoring help: each flag made from its field (nmt/generation/decoding.py)."""
    from nmt.generation.decoding import CALL_OPTIONS, SCORING_OPTIONS
    from nmt_cli.app import app
    from nmt_cli.common import flag

    commands = typer.main.get_command(app).commands

    def helps(name: str) -> dict[str, str]:
        return {param.name: param.help for param in commands[name].params}

    translate, evaluate, score = helps("translate"), helps("eval"), helps("score")
    for option in CALL_OPTIONS:
        assert translate[option.name] == option.help(flag)
        assert (option.name in evaluate) == (option.name != "nbest")
        if option.name in SCORING_OPTIONS:
            assert score[option.name] == option.help(flag, scoring=True)
        else:
            assert option.name not in score
