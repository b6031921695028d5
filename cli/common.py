"""What every command shares: turning NmtError into one clear line and an exit code."""

import functools
from collections.abc import Callable

import typer
from rich.console import Console

from nmt.errors import NmtError

stderr = Console(stderr=True)


def user_errors(command: Callable) -> Callable:
    """Print an NmtError as `error: ...` on stderr and exit 2, without a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except NmtError as error:
            stderr.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper
