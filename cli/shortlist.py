"""`nmt shortlist`: (re)build a run's vocabulary shortlist with sizes of one's own."""

from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.common import stderr, user_errors


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""

    @app.command("shortlist")
    @user_errors
    def shortlist(
        run: Annotated[
            Path, typer.Argument(metavar="RUN", help="A run directory.", show_default=False)
        ],
        k: Annotated[int, typer.Option(help="Target pieces kept per source piece.")] = 20,
        frequent: Annotated[
            int, typer.Option(help="Most frequent target pieces, in every list.")
        ] = 200,
    ) -> None:
        """Build a run's vocabulary shortlist, which --shortlist decodes with.

        RUN/shortlist.pt is built once from the run's training data (its corpus's train
        split, encoded by the run's sentencepiece models).

        For each source piece the K target pieces that co-occur with it most tellingly
        (Dice coefficient over the training pairs), plus the most frequent target pieces.
        Example:

          nmt shortlist runs/quick --k 30 --frequent 300
        """
        from nmt.inference.shortlist_build import save_run_shortlist
        from nmt.run.loading import load_for_inference, resolve_checkpoint
        from nmt.run.rundir import RunDir

        checkpoint = resolve_checkpoint(run)
        _, recipe, tokenizer = load_for_inference(checkpoint, "cpu")
        folder = RunDir(checkpoint.parent.parent)
        built = save_run_shortlist(folder, recipe, tokenizer, k, frequent)
        per_sentence = built.frequent.numel() + k
        stderr.print(
            f"wrote {folder.shortlist}: {built.frequent.numel()} frequent pieces and {k} per "
            f"source piece, from {built.sentences:,} training pairs (a list holds at least "
            f"{per_sentence} of {built.tgt_vocab} pieces)",
            highlight=False,
        )
