"""What every command shares: turning NmtError into one clear line and an exit code."""

import functools
from collections.abc import Callable

import typer
from rich.console import Console
from rich.markup import escape

from nmt.errors import NmtError

stderr = Console(stderr=True)


def user_errors(command: Callable) -> Callable:
    """Print an NmtError as one `error: ...` line on stderr and exit 2, without a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except NmtError as error:
            line = escape(" ".join(str(error).split()))  # user text is no markup
            stderr.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def warn(report) -> None:
    """The warnings of a translation or scoring report, one line each on stderr."""
    for warning in report.warnings():
        stderr.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
