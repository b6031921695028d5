"""The command line starts without its heavy libraries: --help and argument errors are instant."""

import subprocess
import sys

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
