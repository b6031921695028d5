"""`nmt eval` (BLEU / chrF / TER tables of runs or hypothesis files) and `nmt plot` (curves)."""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from nmt.errors import NmtError
from nmt.generation.decoding import CALL_OPTIONS
from nmt_cli.common import Device, Precision, Shortlist, decoding_options, stderr, user_errors

EVALUATED = [option for option in CALL_OPTIONS if option.policy("evaluated")]
Buckets = Annotated[
    str,
    typer.Option(
        help="With --by-length: the last word count of each source-length bucket but the "
        "open last one."
    ),
]
DEFAULT_BUCKETS = "10,15,20,25"  # source words: buckets 0-10, 11-15, 16-20, 21-25, 26+


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""

    @app.command("eval")
    @user_errors
    @decoding_options(EVALUATED)
    def evaluate(
        runs: Annotated[
            list[Path] | None,
            typer.Argument(
                metavar="MODEL",
                help="Run directories (best checkpoint), .pt files or folders of `nmt export` "
                "(no training columns); one row per model and test.",
                show_default=False,
            ),
        ] = None,
        test: Annotated[
            list[str] | None,
            typer.Option(
                help="A test split of the run's corpus, e.g. test2016 (repeatable); "
                "SPLIT-long (test2016-long) joins its consecutive pairs in groups of 1-4, "
                "for long sentences.",
                show_default="every test split of the corpus",
            ),
        ] = None,
        src: Annotated[
            Path | None,
            typer.Option(
                help="Translate this source file instead of a split (with --hyp: the source "
                "the files translate, for --by-length)."
            ),
        ] = None,
        ref: Annotated[
            Path | None, typer.Option(help="Reference translations of --src, or for --hyp.")
        ] = None,
        hyp: Annotated[
            list[Path] | None,
            typer.Option(help="An already translated file to score against --ref (repeatable)."),
        ] = None,
        options: dict[str, Any] | None = None,  # the decoding options: @decoding_options
        device: Device = "auto",
        precision: Precision = "auto",
        shortlist: Shortlist = False,
        bootstrap: Annotated[
            int,
            typer.Option(
                help="Paired bootstrap resamples for 95% intervals and p-values (see "
                "--against); 0 turns them off; at most 10000.",
            ),
        ] = 1000,
        metrics: Annotated[
            str,
            typer.Option(
                help="The sacrebleu metrics of the table, in its order: bleu, chrf, ter "
                "(translation edit rate, lower is better), comma-separated.",
            ),
        ] = "bleu,chrf",
        against: Annotated[
            str,
            typer.Option(
                help="What each row's p-value compares it with: first (the first system of "
                "its test set) or previous (the row above: does each step of a story gain?).",
            ),
        ] = "first",
        cache: Annotated[
            bool,
            typer.Option(
                help="Reuse translations in RUN/translations/ when still valid, and keep new "
                "ones there; --no-cache translates again and writes nothing into the run."
            ),
        ] = True,
        format: Annotated[
            str | None,
            typer.Option(
                "--format",
                "-f",
                help="md, csv or json.",
                show_default="a table on a terminal, else md; with -o: from its suffix",
            ),
        ] = None,
        output: Annotated[
            str | None, typer.Option("--output", "-o", help="Also write the table to this file.")
        ] = None,
        by_length: Annotated[
            bool,
            typer.Option(
                "--by-length",
                help="Score each source-length bucket on its own (Bahdanau et al.'s Figure 2); "
                "uses the cached translations.",
            ),
        ] = False,
        buckets: Buckets = DEFAULT_BUCKETS,
        ensemble: Annotated[
            bool,
            typer.Option(
                "--ensemble",
                help="The runs are one system, an ensemble (log-probabilities averaged at "
                "every step; one vocabulary; decode settings from the first run).",
            ),
        ] = False,
    ) -> None:
        """Score runs (or translation files) with sacrebleu BLEU and chrF (--metrics: and TER)
        in one table.

        Examples:

          nmt eval runs/seq2seq runs/bilstm runs/attention --test test2016

          nmt eval runs/attention --src test.de --ref test.en --metrics bleu,chrf,ter

          nmt eval --hyp a.en --hyp b.en --ref test.en

          nmt eval runs/seq2seq runs/attention --test test2016 --by-length

          nmt eval runs/attention --test test2016-long --by-length --buckets 10,20,30,40,50,60

          nmt eval runs/attention runs/attention-seed2 --ensemble --test test2016
        """
        from nmt.atomic import STANDARD_OUTPUT, naming, output_file, write_output
        from nmt.config.schema import check_number
        from nmt.evaluation.evaluate import file_systems, run_systems
        from nmt.metrics import bleu, tables
        from nmt.run.loading import model_files
        from nmt.textio import standard_stream

        runs, hyp, test = runs or [], hyp or [], test or []
        if not runs and not hyp:
            raise NmtError("eval: name run directories, or --hyp files with --ref")
        if hyp and ref is None:
            raise NmtError("--hyp needs --ref, the reference translations")
        if (src is None) != (ref is None) and runs:
            raise NmtError(
                "--src and --ref go together (the source to translate and its reference)"
            )
        if test and not runs:
            raise NmtError("--test names splits of a run's corpus: name the runs too")
        if src is not None and test:
            raise NmtError("use either --test splits or --src/--ref files, not both")
        if hyp and runs and src is None:
            raise NmtError("--hyp with runs needs --src/--ref so that all share one test set")
        check_number(bootstrap, bleu.BOOTSTRAP, "bootstrap")
        chosen = bleu.parse_metrics(metrics)
        if by_length and chosen != bleu.DEFAULT_METRICS:
            raise NmtError("--metrics: --by-length scores bleu and chrf only")
        if against not in ("first", "previous"):
            raise NmtError(f"--against {against!r}: use first or previous")
        reads = (src, ref, *hyp, *model_files(runs))
        table_file = None if output is None else output_file(output, "--output", reads)
        if ensemble and not runs:
            raise NmtError("--ensemble: name the runs that make the ensemble")
        systems = []
        for group in [runs] if ensemble else [[run] for run in runs]:
            systems += run_systems(
                group,
                test,
                src,
                ref,
                options,
                device,
                use_cache=cache,
                progress=True,
                precision=precision,
                shortlist=shortlist,
            )
        if hyp:
            systems += file_systems(hyp, ref, src)
        if by_length:
            from nmt.metrics.bleu_by_length import by_length as bleu_by_length
            from nmt.metrics.bleu_by_length import parse_edges

            table = bleu_by_length(systems, parse_edges(buckets), bootstrap)
        else:
            table = bleu.compare(systems, bootstrap, against, chosen)

        if table_file is not None:
            fmt = format or {".csv": "csv", ".json": "json"}.get(table_file.suffix, "md")
            write_output(table_file, tables.render(table, fmt).encode("utf-8"))
        with naming(STANDARD_OUTPUT):  # -o writes the table also, not instead
            if format is not None:
                standard_stream("stdout").write(tables.render(table, format).encode("utf-8"))
            elif Console().is_terminal:
                Console().print(tables.rich_table(table))
            else:
                standard_stream("stdout").write(tables.render(table, "md").encode("utf-8"))

    @app.command("plot")
    @user_errors
    def plot(
        runs: Annotated[
            list[Path], typer.Argument(metavar="RUN", help="Run directories (their metrics.jsonl).")
        ],
        output: Annotated[
            str,
            typer.Option(
                "--output",
                "-o",
                help="The picture to write: .png, .pdf, .svg, ... (no suffix: PNG).",
            ),
        ] = "curves.png",
        by_length: Annotated[
            bool,
            typer.Option(
                "--by-length",
                help="Plot BLEU and chrF by source length instead (translates the test set "
                "once; later calls and `nmt eval` reuse the translations).",
            ),
        ] = False,
        test: Annotated[
            str, typer.Option(help="With --by-length: the test split of the runs' corpus.")
        ] = "test2016",
        buckets: Buckets = DEFAULT_BUCKETS,
        device: Device = "auto",
    ) -> None:
        """Plot training loss and dev BLEU against updates for one or more runs, or with
        --by-length their test scores by source sentence length.

        Examples:

          nmt plot runs/seq2seq runs/attention -o curves.png

          nmt plot runs/seq2seq runs/bilstm runs/attention --by-length -o lengths.png
        """
        from nmt.atomic import output_file
        from nmt.metrics.plot import picture_format
        from nmt.run.loading import model_files

        picture = output_file(output, "--output", model_files(runs))
        picture_format(picture)  # before --by-length translates
        if by_length:
            from nmt.evaluation.evaluate import run_systems
            from nmt.metrics.bleu_by_length import by_length as bleu_by_length
            from nmt.metrics.bleu_by_length import parse_edges
            from nmt.metrics.plot import length_curves

            edges = parse_edges(buckets)
            systems = []
            for run in runs:
                systems += run_systems(run, [test], None, None, {}, device, progress=True)
            length_curves(bleu_by_length(systems, edges), picture)
        else:
            from nmt.metrics.plot import training_curves

            training_curves(runs, picture)
        stderr.print(f"wrote {picture}", highlight=False)
