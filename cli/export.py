"""`nmt export`: a run as ONNX graphs that decode without our training code."""

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
        format: Annotated[str, typer.Option("--format", help="onnx (the one format).")] = "onnx",
        precision: Annotated[
            str,
            typer.Option(
                help="fp32, or int8: the graphs' matrix products quantized by onnxruntime."
            ),
        ] = "fp32",
    ) -> None:
        """Export a recurrent run as ONNX graphs that decode through onnxruntime.

        The folder holds the encoder and one decoder step as ONNX graphs, the run's
        sentencepiece models and card.json (which inputs and outputs, in which order).

        `nmt translate DIR`, `nmt score DIR`, `nmt serve DIR` and nmt.Translator.load(DIR)
        then decode through onnxruntime. Example:

          nmt export runs/quick -o exported/quick-int8 --precision int8
        """
        if format != "onnx":
            raise NmtError(f"--format {format!r}: the one export format is onnx")
        from nmt.export_onnx import export_onnx

        card = export_onnx(run, output, precision)
        stderr.print(f"wrote {card.parent} ({precision})", highlight=False)
