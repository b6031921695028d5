"""The command line starts without its heavy libraries: --help and argument errors are instant."""

import subprocess
import sys

from typer.testing import CliRunner

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
