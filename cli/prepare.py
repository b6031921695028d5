"""`nmt prepare` (corpus -> cleaned, encoded, cached splits) and `nmt corpora` (the cards)."""

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from nmt.atomic import STANDARD_OUTPUT, naming
from nmt_cli.common import user_errors

if TYPE_CHECKING:  # imported when run: datasets takes a second to load, --help should not
    from nmt.config.recipe import DataConfig
    from nmt.data.prepare import Prepared

stdout = Console()
PREPARE_HELP = (
    "Load a recipe's corpus, clean train, train sentencepiece, encode and cache all splits."
    "\n\nTrain is cleaned (empty side, too long, length ratio, duplicate pairs; the counts are "
    "printed and saved as clean_report.json); dev and test are never filtered. The cache is "
    "{data.cache_dir}/{corpus}-{src}-{tgt}-{fingerprint}: running again with the same data "
    "settings is a cache hit, a changed setting builds a new cache."
)
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Local corpus mirror, overrides data.data_dir (default: $NMT_DATA, else "
        "../shared/data if it exists, else the cards' URLs and hub ids).",
        show_default=False,
    ),
]


@user_errors
def prepare_command(
    recipe: Annotated[
        Path,
        typer.Argument(
            metavar="RECIPE",
            help="Recipe YAML; only its data: section is used.",
            show_default=False,
        ),
    ],
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Override a recipe field, e.g. --set data.vocab_size=16000 (repeatable)."
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Prepare a recipe's data (see PREPARE_HELP)."""
    start = time.perf_counter()
    from nmt.config.recipe import load_recipe
    from nmt.data.prepare import prepare

    cfg = load_recipe(recipe, overrides or []).data
    if data_dir is not None:
        cfg.data_dir = str(data_dir)
    prepared = prepare(cfg, progress=True)
    with naming(STANDARD_OUTPUT):
        print_summary(prepared, cfg, time.perf_counter() - start)


def print_summary(prepared: "Prepared", cfg: "DataConfig", seconds: float) -> None:
    """Pairs and pieces per split, vocabulary sizes, where the cache is, how long it took."""
    meta = prepared.meta
    table = Table(title=f"{Path(cfg.corpus).stem} {cfg.src}-{cfg.tgt}", title_justify="left")
    for column in ("split", "pairs", f"{cfg.src} pieces", f"{cfg.tgt} pieces"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for name, stats in meta["splits"].items():
        table.add_row(
            name, f"{stats['pairs']:,}", f"{stats['src_tokens']:,}", f"{stats['tgt_tokens']:,}"
        )
    stdout.print(table)
    kind = "joint" if cfg.joint_vocab else "separate"
    stdout.print(
        f"vocabulary: {kind} {cfg.spm_type}, src {meta['src_vocab_size']:,} / "
        f"tgt {meta['tgt_vocab_size']:,} pieces\n"
        f"cache: {prepared.dir}{' (cache hit)' if prepared.cache_hit else ''}\n"
        f"time: {seconds:.1f} s",
        highlight=False,
    )


@user_errors
def corpora_command(data_dir: DataDir = None) -> None:
    """List the corpus cards: languages, splits (and where each comes from), licence."""
    from nmt.data.corpus import card_names, load_card, resolve_mirror

    mirror = resolve_mirror(data_dir)
    table = Table(title=f"corpus cards (mirror: {mirror or 'none'})", title_justify="left")
    for column in ("name", "languages", "splits", "licence"):
        table.add_column(column, overflow="fold")
    for name in card_names():
        card = load_card(name)
        splits = []
        for split in card.split_names:
            source = card.source(split)
            if source.mirror_paths(mirror, card.languages):
                where = "mirror"
            else:
                where = "url" if source.url else "hub" if source.hub else "missing"
            splits.append(f"{split} ({where})")
        table.add_row(card.name, " ".join(card.languages), ", ".join(splits), card.licence)
    with naming(STANDARD_OUTPUT):
        stdout.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("prepare", help=PREPARE_HELP)(prepare_command)
    app.command("corpora")(corpora_command)
