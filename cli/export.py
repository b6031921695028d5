"""`nmt export`: a run as ONNX graphs, or a Transformer run as a CTranslate2 model, that
decode without our training code."""

from pathlib import Path
from typing import Annotated

import typer

from nmt.errors import NmtError
from nmt_cli.common import stderr, user_errors


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""

    @app.command("export")
    @user_errors
    def export(
        run: Annotated[
            Path,
            typer.Argument(
                metavar="RUN",
                help="A run directory (best checkpoint, else last) or a .pt file.",
                show_default=False,
            ),
        ],
        output: Annotated[
            Path,
            typer.Option(
                "--output", "-o", help="A new or empty folder to write.", show_default=False
            ),
        ],
        format: Annotated[
            str,
            typer.Option(
                "--format",
                help="onnx (a recurrent run) or ctranslate2 (a Transformer run).",
            ),
        ] = "onnx",
        precision: Annotated[
            str,
            typer.Option(
                help="fp32, or int8: the matrix products quantized (onnx: by onnxruntime; "
                "ctranslate2: weights stored and decoded in int8)."
            ),
        ] = "fp32",
    ) -> None:
        """Export a recurrent run as ONNX graphs, or a Transformer run as a CTranslate2
        model.

        --format onnx: the encoder and one decoder step as ONNX graphs, the run's
        sentencepiece models and card.json (which inputs and outputs, in which order).
        `nmt translate DIR`, `nmt score DIR`, `nmt serve DIR` and nmt.Translator.load(DIR)
        then decode through onnxruntime.

        --format ctranslate2 (the ctranslate2 extra): the model as CTranslate2 writes it
        (model.bin, config.json, the vocabulary), the sentencepiece models and card.json.
        `nmt translate DIR`, `nmt serve DIR` and nmt.Translator.load(DIR) then decode with
        ctranslate2's own search, refusing the options it does not honour as nmt's search
        does (sampling, prefixes, constraints, attention, scoring). Examples:

          nmt export runs/quick -o exported/quick-int8 --precision int8
          nmt export runs/transformer -o exported/transformer-ct2 --format ctranslate2
        """
        if format == "onnx":
            from nmt.export.export_onnx import export_onnx

            card = export_onnx(run, output, precision)
        elif format == "ctranslate2":
            from nmt.export.export_ctranslate2 import export_ctranslate2

            card = export_ctranslate2(run, output, precision)
        else:
            raise NmtError(f"--format {format!r}: export as onnx or ctranslate2")
        stderr.print(f"wrote {card.parent} ({precision})", highlight=False)
