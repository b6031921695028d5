"""The command line starts without its heavy libraries: --help and argument errors are instant."""

import subprocess
import sys

from typer.testing import CliRunner

from docs.gen_reference import command_names
from nmt_cli.app import app

HEAVY = ("torch", "datasets", "sentencepiece", "sacrebleu", "matplotlib", "fastapi", "uvicorn")


def test_help_loads_no_heavy_library():
    script = (
        "import sys\n"
        "from nmt_cli.app import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(name for name in {HEAVY!r} if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_help_names_both_families():
    """nmt trains the Transformer too: the one-line description must not say recurrent only."""
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Transformer" in result.stdout


def test_every_usage_line_names_its_arguments_in_capitals():
    """A positional reads as what to give (MODEL..., RUN, RECIPE), not as the parameter's
    Python name (`{models}...`)."""
    for name in command_names():
        result = CliRunner().invoke(app, [name, "--help"])
        usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
        for argument in usage.split("[OPTIONS]")[1].split():
            assert argument.strip("{}[].").isupper(), usage
