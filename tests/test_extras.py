"""The server and the pictures are extras: without them every other command works, and
the ones that need them say in one line which extra to install."""

import subprocess
import sys

import pytest

MISSING = """
import sys
sys.modules[{module!r}] = None  # as if it were not installed
from nmt_cli.app import app
app(sys.argv[1:])
"""


def run_without(module: str, *arguments: str) -> subprocess.CompletedProcess:
    code = MISSING.format(module=module)
    command = [sys.executable, "-c", code, *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("module", "extra", "arguments"),
    [
        ("fastapi", "serve", ["serve", "runs/none"]),
        ("uvicorn", "serve", ["serve", "runs/none"]),
        ("matplotlib", "plot", ["plot", "runs/none", "-o", "curves.png"]),
        (
            "ctranslate2",
            "ctranslate2",
            ["export", "runs/none", "-o", "out/ct2", "--format", "ctranslate2"],
        ),
    ],
)
def test_a_command_without_its_extra_names_it_in_one_line(tmp_path, module, extra, arguments):
    done = run_without(module, *[str(tmp_path / a) if "/" in a else a for a in arguments])
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"error: {module} is not installed; it comes with nmt's {extra} extra: "
        f"pip install 'nmt[{extra}]'"
    )


def test_translation_needs_no_extra():
    done = run_without("matplotlib", "translate", "--help")
    assert done.returncode == 0, done.stderr
    code = "import sys; sys.modules['fastapi'] = sys.modules['matplotlib'] = None; import nmt"
    code += "; nmt.Translator"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
