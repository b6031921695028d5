"""`nmt translate`: raw text in, translations out, one line for every input line."""

from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.common import stderr, user_errors

RECIPE = "the run's recipe"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""

    @app.command("translate")
    @user_errors
    def translate(
        model: Annotated[
            Path,
            typer.Argument(
                help="A run directory (uses its best checkpoint, else its last) or a .pt file.",
                show_default=False,
            ),
        ],
        input: Annotated[
            Path | None,
            typer.Option(
                "--input", "-i", help="Source text, one sentence a line.", show_default="stdin"
            ),
        ] = None,
        output: Annotated[
            str | None,
            typer.Option(
                "--output",
                "-o",
                help="The file translations go to, written whole when done.",
                show_default="stdout",
            ),
        ] = None,
        beam: Annotated[
            int | None, typer.Option(help="Beam size; 1 is greedy search.", show_default=RECIPE)
        ] = None,
        length_penalty: Annotated[
            float | None,
            typer.Option(
                help="alpha in score / length**alpha; 0 turns it off.", show_default=RECIPE
            ),
        ] = None,
        nbest: Annotated[
            int,
            typer.Option(
                help="Write the N best of every input as N lines `i ||| hypothesis ||| score` "
                "(i: input line number from 0; score: log-probability / length**alpha). "
                "Needs N <= beam.",
            ),
        ] = 1,
        batch_tokens: Annotated[
            int | None, typer.Option(help="Source tokens per decoding batch.", show_default=RECIPE)
        ] = None,
        max_len_a: Annotated[
            float | None,
            typer.Option(help="Output length limit a * source pieces + b: a.", show_default=RECIPE),
        ] = None,
        max_len_b: Annotated[
            int | None, typer.Option(help="Output length limit: b.", show_default=RECIPE)
        ] = None,
        min_len: Annotated[
            int, typer.Option(help="No output shorter than this many pieces (benchmarks).")
        ] = 0,
        max_source_len: Annotated[
            int | None,
            typer.Option(
                help="Longer inputs are cut to this many pieces, with a warning.",
                show_default=RECIPE,
            ),
        ] = None,
        device: Annotated[
            str, typer.Option(help="auto (CUDA if present), cpu, cuda, cuda:1...")
        ] = "auto",
        attention: Annotated[
            Path | None,
            typer.Option(
                metavar="DIR",
                help="Also write an attention heat map per sentence: DIR/<input line from 0>.png "
                "(attention models only).",
            ),
        ] = None,
    ) -> None:
        """Translate raw text with a trained run (sentencepiece in, detokenised text out).

        Blank input lines give blank output lines. Examples:

          nmt translate runs/attention -i test.de -o test.en --beam 5

          cat news.de | nmt translate runs/attention > news.en
        """
        from nmt.atomic import output_file
        from nmt.config import check_decode_options

        options = {
            "beam": beam,
            "length_penalty": length_penalty,
            "batch_tokens": batch_tokens,
            "max_len_a": max_len_a,
            "max_len_b": max_len_b,
            "max_source_len": max_source_len,
        }
        check_decode_options({**options, "nbest": nbest, "min_len": min_len})  # before torch
        target = None if output is None else output_file(output, "--output")
        from nmt.translate import translate_file

        report = translate_file(
            model,
            input,
            target,
            options,
            device=device,
            nbest=nbest,
            min_len=min_len,
            attention_dir=attention,
        )
        if input is not None:
            rate = report.translated / max(report.seconds, 1e-9)
            took = f"{report.seconds:.1f} s ({rate:.1f} sentences/s)"
            stderr.print(f"translated {report.lines} lines in {took}", highlight=False)
        for warning in report.warnings():
            stderr.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
