"""The `nmt` command: one Typer app, one module per command."""

import sys

import typer

from nmt.atomic import STANDARD_OUTPUT
from nmt_cli import evaluate, export, prepare, score, serve, shortlist, train, translate
from nmt_cli.common import environment_error

app = typer.Typer(
    help="NMT: prepare a corpus, train a recurrent model or a Transformer, translate files, "
    "score BLEU, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for module in (prepare, train, translate, score, evaluate, serve, export, shortlist):
    module.register(app)


def main() -> None:
    """The command; an error writing outside a command (the help to /dev/full) is one line
    too, as `user_errors` makes it within one."""
    try:
        app()
    except OSError as error:
        if error.filename is None:  # Click writes the help and usage to standard output
            error.filename = STANDARD_OUTPUT
        sys.exit(environment_error(error))
