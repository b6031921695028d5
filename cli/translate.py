"""`nmt translate`: raw text in, translations out, one line for every input line."""

from pathlib import Path
from typing import Annotated, Any

import typer

from nmt.errors import NmtError
from nmt.generation.decoding import CALL_OPTIONS
from nmt_cli.common import (
    Device,
    Precision,
    Shortlist,
    decoding_options,
    stderr,
    user_errors,
    warn,
)

WHERE = "Input and output"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""

    @app.command("translate")
    @user_errors
    @decoding_options(CALL_OPTIONS)
    def translate(
        models: Annotated[
            list[Path],
            typer.Argument(
                metavar="MODEL",
                help="A run directory (uses its best checkpoint, else its last), a .pt file, "
                "or a folder of `nmt export` (onnx or ctranslate2); several runs make an "
                "ensemble (log-probabilities averaged at every step; one "
                "vocabulary; decode settings from the first).",
                show_default=False,
            ),
        ],
        input: Annotated[
            Path | None,
            typer.Option(
                "--input",
                "-i",
                help="Source text, one sentence a line.",
                show_default="stdin",
                rich_help_panel=WHERE,
            ),
        ] = None,
        output: Annotated[
            str | None,
            typer.Option(
                "--output",
                "-o",
                help="The file translations go to, written whole when done.",
                show_default="stdout",
                rich_help_panel=WHERE,
            ),
        ] = None,
        stream: Annotated[
            bool,
            typer.Option(
                "--stream",
                help="Read stdin line by line and write each translation to stdout as soon as "
                "it is ready (interactive use, pipes). Same lines as without it.",
                rich_help_panel=WHERE,
            ),
        ] = False,
        options: dict[str, Any] | None = None,  # the decoding options: @decoding_options
        prefix: Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                help="Line i of FILE (plain text) starts the translation of input line i, and "
                "the search continues from it (blank input lines stay blank).",
            ),
        ] = None,
        constraints: Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                help="Line i of FILE: phrases the translation of input line i must contain, "
                'tab-separated or as a JSON list (["Hund", "im Park"]); an empty line for '
                "none. Constrained beam search (Post & Vilar 2018).",
            ),
        ] = None,
        device: Device = "auto",
        precision: Precision = "auto",
        shortlist: Shortlist = False,
        attention: Annotated[
            Path | None,
            typer.Option(
                metavar="DIR",
                help="Also write an attention heat map per sentence: DIR/000000.png for the first "
                "input line, DIR/000001.png for the second... (attention models only).",
                rich_help_panel=WHERE,
            ),
        ] = None,
        alignments: Annotated[
            str | None,
            typer.Option(
                metavar="FILE",
                help="Also write a hard alignment per output line, from the attention: Pharaoh "
                "pairs `i-j`, source sentencepiece piece i to output piece j, both from 0, "
                "end-of-sentence left out (attention models only).",
                rich_help_panel=WHERE,
            ),
        ] = None,
        pieces: Annotated[
            bool,
            typer.Option(
                "--pieces",
                help="Write each output as its target sentencepiece pieces, space-separated: "
                "what `nmt score --pieces` scores exactly as search did.",
                rich_help_panel=WHERE,
            ),
        ] = False,
        alignments_json: Annotated[
            str | None,
            typer.Option(
                metavar="FILE",
                help="Also write the attention weights per output line as JSON lines: "
                '{"line", "source": pieces, "target": pieces, "weights": a row per target '
                "piece}, each side ending in </s>.",
                rich_help_panel=WHERE,
            ),
        ] = None,
    ) -> None:
        """Translate raw text with a trained run (sentencepiece in, detokenised text out).

        Blank input lines give blank output lines. With --nbest N, every input gives N lines
        `i ||| hypothesis ||| score` (i: its line number from 0). Examples:

          nmt translate runs/attention -i test.de -o test.en --beam 5

          cat news.de | nmt translate runs/attention > news.en

          nmt translate runs/a runs/b -i test.de --sample --topk 20 --nsamples 5 --seed 1
        """
        from nmt.atomic import output_file, output_folder
        from nmt.run.loading import model_files

        if attention is not None:
            attention = output_folder(str(attention), "--attention")
        if stream:
            given = {
                "--input": input,
                "--output": output,
                "--prefix": prefix,
                "--constraints": constraints,
                "--alignments": alignments,
                "--alignments-json": alignments_json,
            }
            for name, value in given.items():
                if value is not None:
                    raise NmtError(
                        f"{name}: not with --stream, which reads stdin and writes stdout"
                    )
        else:
            outputs = {
                "--output": output,
                "--alignments": alignments,
                "--alignments-json": alignments_json,
            }
            reads = (input, prefix, constraints, *model_files(models))
            target, hard, soft = (
                None if text is None else output_file(text, option, reads=reads)
                for option, text in outputs.items()
            )
        from nmt.inference.translator import Translator
        from nmt.textio import standard_stream
        from nmt_cli.decode_files import translate_file, translate_stream

        translator = Translator.load(
            *models, device=device, precision=precision, shortlist=shortlist
        )
        decoding = translator.options(**options)
        if stream:
            source, sink = standard_stream("stdin"), standard_stream("stdout")
            report = translate_stream(
                translator, source, sink, decoding, attention_dir=attention, pieces=pieces
            )
        else:
            report = translate_file(
                translator,
                input,
                target,
                decoding,
                prefix_file=prefix,
                constraint_file=constraints,
                alignments=hard,
                alignments_json=soft,
                attention_dir=attention,
                pieces=pieces,
            )
        if input is not None:
            rate = report.translated / max(report.seconds, 1e-9)
            took = f"{report.seconds:.1f} s ({rate:.1f} sentences/s)"
            stderr.print(f"translated {report.lines} lines in {took}", highlight=False)
        warn(report)
