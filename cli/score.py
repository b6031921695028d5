"""`nmt score`: the model's log-probability of given translations (forced decoding)."""

from pathlib import Path
from typing import Annotated, Any

import typer

from nmt.generation.decoding import CALL_OPTIONS, SCORING_OPTIONS
from nmt_cli.common import (
    Device,
    Precision,
    Shortlist,
    decoding_options,
    stderr,
    user_errors,
    warn,
)

SCORING = [option for option in CALL_OPTIONS if option.name in SCORING_OPTIONS]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""

    @app.command("score")
    @user_errors
    @decoding_options(SCORING, scoring=True)
    def score(
        models: Annotated[
            list[Path],
            typer.Argument(
                metavar="MODEL",
                help="A run directory (best checkpoint, else last), a .pt file or an exported "
                "folder; several runs make an ensemble (log-probabilities averaged at every step).",
                show_default=False,
            ),
        ],
        source: Annotated[
            Path, typer.Option("--source", "-s", help="Source sentences, one a line.")
        ],
        target: Annotated[
            Path,
            typer.Option(
                "--target", "-t", help="Their translations to score, line by line with -s."
            ),
        ],
        output: Annotated[
            str | None,
            typer.Option(
                "--output",
                "-o",
                help="The file scores go to, written whole when done.",
                show_default="stdout",
            ),
        ] = None,
        per_token: Annotated[
            bool,
            typer.Option(
                "--per-token",
                help="Add a third column: the log-probability of every target piece, EOS last.",
            ),
        ] = False,
        pieces: Annotated[
            bool,
            typer.Option(
                "--pieces",
                help="The targets are target sentencepiece pieces, space-separated (`nmt "
                "translate --pieces`), scored as they are; without it each target is text, "
                "scored as the target model encodes it.",
            ),
        ] = False,
        options: dict[str, Any] | None = None,  # the scoring options: @decoding_options
        device: Device = "auto",
        precision: Precision = "auto",
        shortlist: Shortlist = False,
    ) -> None:
        """Score given translations: their log-probability under the model (forced decoding).

        Each target line is scored given its source line by teacher forcing, to filter noisy
        corpora or rerank. One output line per pair, tab-separated: the total
        log-probability of the target pieces and EOS, then total / (pieces + 1)**alpha (the
        score search gives the same output; for a sampled output, score its --pieces). A
        blank source with an empty target scores 0, as translation does. With --shortlist
        each pair's shortlist holds its target's pieces, and scores are normalised over it.
        Example:

          nmt score runs/attention -s test.de -t test.en -o scores.tsv --per-token
        """
        from nmt.atomic import output_file
        from nmt.run.loading import model_files

        reads = (source, target, *model_files(models))
        scores = None if output is None else output_file(output, "--output", reads)
        from nmt.inference.translator import Translator
        from nmt_cli.decode_files import score_file

        translator = Translator.load(
            *models, device=device, precision=precision, shortlist=shortlist
        )
        decoding = translator.score_options(**options)
        report = score_file(translator, source, target, scores, decoding, per_token, pieces)
        rate = report.lines / max(report.seconds, 1e-9)
        took = f"{report.seconds:.1f} s ({rate:.1f} pairs/s)"
        stderr.print(f"scored {report.lines} pairs in {took}", highlight=False)
        warn(report)
