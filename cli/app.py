"""The `nmt` command: one Typer app, one module per command."""

import typer

from nmt_cli import evaluate, export, prepare, score, serve, shortlist, train, translate

app = typer.Typer(
    help="Recurrent NMT: prepare a corpus, train a model, translate files, score BLEU, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for module in (prepare, train, translate, score, evaluate, serve, export, shortlist):
    module.register(app)


def main() -> None:
    app()
