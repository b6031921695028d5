"""`nmt train` (train or resume a recipe) and `nmt average` (average the last checkpoints).

torch and datasets load inside the commands, so that `--help` and argument errors are
instant.
"""

from pathlib import Path
from typing import Annotated

import typer

from nmt.errors import NmtError
from nmt_cli.common import flag, note, stderr, user_errors


def train_command(
    recipe: Annotated[
        Path, typer.Argument(metavar="RECIPE", help="Recipe YAML, e.g. recipes/quick.yaml.")
    ],
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a recipe field: key=value, e.g. train.lr=3e-4."),
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default: runs/<recipe name>).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue from the run's newest checkpoint (last.pt, else step-N.pt or "
            "best.pt). A finished run trains on only if --set raised the limit it stopped at.",
        ),
    ] = False,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from this run's weights (its best checkpoint, or a .pt file) and "
            "sentencepiece models, with the recipe's data; the optimizer, schedule and step "
            "count start afresh. Sets train.init_from.",
            show_default=False,
        ),
    ] = None,
    skip_damaged: Annotated[
        bool,
        typer.Option(
            "--skip-damaged",
            help="With --resume: when newer checkpoints are damaged, resume from the newest "
            "that loads, keeping the damaged ones as NAME.damaged.",
        ),
    ] = False,
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda, cuda:1 (default: the recipe's train.device).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Local corpus mirror (default: $NMT_DATA, ../shared/data).")
    ] = None,
) -> None:
    """Train a model as the recipe says (the data is prepared first, or read from the cache),
    or go on from another run's model with --init-from (fine-tuning on new data).

    Ctrl-C, SIGTERM or SIGHUP (the terminal closed) saves RUN/checkpoints/last.pt and
    stops (exit 130, 143 or 129), even when its output pipe (| tee log) is gone.
    """
    from nmt.config.recipe import load_recipe

    if skip_damaged and not resume:
        raise NmtError("--skip-damaged: goes with --resume")
    loaded = load_recipe(recipe, overrides or [])  # a bad recipe fails before torch loads
    if init_from is not None:
        loaded.train.init_from = str(init_from.absolute())
    if device is not None:
        loaded.train.device = device
    if data_dir is not None:
        loaded.data.data_dir = str(data_dir)
    from nmt.training.setup import train

    result = train(loaded, run_dir, resume=resume, skip_damaged=skip_damaged)
    if result.already_finished:
        stderr.print(result.finished_message(flag), highlight=False, soft_wrap=True)
    elif result.stop_reason == "interrupted":
        sets = "".join(f" --set {text}" for text in overrides or [])
        sets += f" --init-from {init_from}" if init_from is not None else ""
        note(
            f"interrupted at step {result.step}; saved {result.run_dir}/checkpoints/last.pt. "
            f"Resume with: nmt train {recipe}{sets} --run-dir {result.run_dir} --resume"
        )
        raise typer.Exit(128 + result.signal)


def average_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="Run directory.")],
    last: Annotated[int, typer.Option(help="How many of the newest step checkpoints.")] = 5,
) -> None:
    """Write RUN/checkpoints/avg.pt: the mean weights of the newest step checkpoints (all
    of them when the run kept fewer than --last)."""
    from nmt.atomic import STANDARD_OUTPUT, naming
    from nmt.run.averaging import average_run

    written, count = average_run(run, last)
    fewer = f"; the run kept {count} (train.keep_last)" if count < last else ""
    with naming(STANDARD_OUTPUT):
        typer.echo(f"wrote {written} (average of the last {count} checkpoints{fewer})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("train")(user_errors(train_command))
    app.command("average")(user_errors(average_command))
