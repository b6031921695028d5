"""What every command shares: turning NmtError, and the errors of the environment (a full
disk, a folder that cannot be written, a closed pipe), into one clear line and an exit code."""

import contextlib
import errno
import functools
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from nmt.atomic import STANDARD_OUTPUT, naming
from nmt.errors import NmtError, SpelledError
from nmt.generation.decoding import CallOption
from nmt.run.rundir import Display

stderr = Console(stderr=True)
# The arguments whose flag is not their Python name with dashes, and the exporters, which
# `nmt export` picks by its --format.
FLAGS = {
    "prefixes": "--prefix",
    "attention_dir": "--attention",
    "overrides": "--set",
    "src_file": "--src",
    "ref_file": "--ref",
    "tests": "--test",
    "window_ms": "--batch-wait-ms",
    "hosts": "--allow-host",
    "export_onnx": "--format onnx",
    "export_ctranslate2": "--format ctranslate2",
}


def flag(option: str) -> str:
    """The command-line spelling of an argument: no_repeat_ngram -> --no-repeat-ngram."""
    return FLAGS.get(option, "--" + option.replace("_", "-"))


def decoding_options(
    chosen: Sequence[CallOption], scoring: bool = False
) -> Callable[[Callable], Callable]:
    """Give a command the `chosen` decoding options (nmt/generation/decoding.py) as flags,
    each with its field's help (scoring: its help for scoring), where the command's own
    `options` parameter stands; the command receives them in it, one dict by name (None:
    not given), for nmt.Translator.options."""

    def add(command: Callable) -> Callable:
        signature = inspect.signature(command)
        flags = [_flag_parameter(option, scoring) for option in chosen]
        parameters = []
        for parameter in signature.parameters.values():
            parameters += flags if parameter.name == "options" else [parameter]

        @functools.wraps(command)
        def with_options(*args, **kwargs):
            given = {option.name: kwargs.pop(option.name) for option in chosen}
            return command(*args, options=given, **kwargs)

        with_options.__signature__ = signature.replace(parameters=parameters)
        return with_options

    return add


def _flag_parameter(option: CallOption, scoring: bool) -> inspect.Parameter:
    """The typer parameter of one decoding option: a switch (--sample) or a value that
    defaults to None, so that the run's setting applies."""
    settings = {
        "help": option.help(flag, scoring),
        "metavar": option.policy("metavar"),
        "rich_help_panel": option.panel,
    }
    if option.type is bool:
        annotation = Annotated[bool, typer.Option(flag(option.name), **settings)]
        default = False
    else:
        shown = option.default_shown(flag)
        annotation = Annotated[option.type | None, typer.Option(show_default=shown, **settings)]
        default = None
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Parameter(option.name, kind, annotation=annotation, default=default)


def user_errors(command: Callable) -> Callable:
    """Print an NmtError (exit 2; an argument named by its flag) or an OSError (exit 1) as one
    `error: ...` line on stderr, without a traceback. Standard output is flushed before the
    command returns, so that one which cannot be written fails here, not in Python's exit."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            result = command(*args, **kwargs)
            with naming(STANDARD_OUTPUT):
                if sys.stdout is not None:
                    sys.stdout.flush()
            return result
        except SpelledError as error:
            _fail(error.spelled(flag), 2)
        except NmtError as error:
            _fail(str(error), 2)
        except OSError as error:
            raise typer.Exit(environment_error(error)) from None

    return wrapper


def environment_error(error: OSError) -> int:
    """The exit code of a command that `error` ended, its one line printed: 0 (and no
    line) for a standard output whose reader left (`| head -1` is a normal end), else 1."""
    _drop_unwritable_stdout()
    if error.errno == errno.EPIPE and error.filename in (None, STANDARD_OUTPUT):
        return 0
    reason = error.strerror or str(error)
    _print_error(reason if error.filename is None else f"{error.filename}: {reason}")
    return 1


def _fail(message: str, code: int) -> NoReturn:
    """Print `message` as one error line and exit with `code`."""
    _print_error(message)
    raise typer.Exit(code) from None


def _print_error(message: str) -> None:
    line = escape(" ".join(message.split()))  # user text is no markup
    stderr.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)


def _drop_unwritable_stdout() -> None:
    """Point a standard output that cannot be written at /dev/null, so that Python's exit
    does not fail on the bytes left in its buffer."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def note(text: str) -> None:
    """A line on stderr that may find nobody reading it (the `| tee log` that the same
    Ctrl-C stopped, a closed terminal): then it is dropped, not an error."""
    with contextlib.suppress(OSError):
        Display(stderr=True).print(text, highlight=False, soft_wrap=True)


def warn(report) -> None:
    """The warnings of a translation or scoring report, one line each on stderr."""
    for warning in report.warnings():
        stderr.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


# The device of the commands that load a run for inference (nmt train reads its recipe's).
Device = Annotated[str, typer.Option(help="auto (CUDA if present), cpu, cuda, cuda:1...")]
SPEED = "CPU speed"
Precision = Annotated[
    str,
    typer.Option(
        help="auto (fp32: a translation does not depend on its batch), fp32, bf16 (CPUs with "
        "AVX512-BF16 or AMX, and GPUs: often faster on such CPUs, a translation may then depend on "
        "its batch), int8 (CPU: int8 weights, scores change a little, may depend on the "
        "batch). An exported model runs in its export's precision.",
        rich_help_panel=SPEED,
    ),
]
Shortlist = Annotated[
    bool,
    typer.Option(
        "--shortlist/--no-shortlist",
        help="Compute the output layer over a vocabulary shortlist only (the run's "
        "shortlist.pt, which `nmt shortlist RUN` builds): faster; scores are "
        "normalised over the shortlist.",
        rich_help_panel=SPEED,
    ),
]
