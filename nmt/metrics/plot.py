"""Pictures: attention heat maps of single translations, training curves of runs, and
BLEU by source sentence length.

Figures are drawn with matplotlib's object API on the Agg canvas, never through pyplot,
so plotting needs no display and changes no global backend. matplotlib is the plot extra
(`pip install 'nmt[plot]'`): without it this module still imports, and drawing is a
one-line error that says so.
"""

from __future__ import annotations

import io
import warnings
from numbers import Number
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nmt.atomic import write_output
from nmt.errors import NmtError
from nmt.extras import missing
from nmt.run.rundir import parse_metrics

try:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
except ModuleNotFoundError as error:
    FigureCanvasAgg = Figure = None
    _NOT_INSTALLED: NmtError | None = missing("plot", error)
else:
    _NOT_INSTALLED = None

if TYPE_CHECKING:
    from nmt.metrics.bleu_by_length import LengthTable

MAX_INCHES = 40.0  # very long sentences get smaller cells, not enormous files


def picture_format(path: Path) -> str:
    """The format of the picture file `path`: its suffix (png if it has none), one that
    matplotlib writes, or an NmtError naming the file (or the extra to install)."""
    if _NOT_INSTALLED is not None:
        raise _NOT_INSTALLED
    kind = Path(path).suffix.lower().removeprefix(".") or "png"
    formats = FigureCanvasAgg.get_supported_filetypes()
    if kind not in formats:
        raise NmtError(f"{path}: .{kind} is not a picture format ({', '.join(sorted(formats))})")
    return kind


def _save(figure: Figure, path: Path) -> None:
    """Draw the picture in memory and write it whole (nmt/atomic.py): a full disk keeps the
    file that was there."""
    FigureCanvasAgg(figure)
    picture = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")  # scripts without a font
        figure.savefig(picture, format=picture_format(path), dpi=100, bbox_inches="tight")
    write_output(Path(path), picture.getvalue())


def attention_heatmap(weights, src_pieces: list[str], tgt_pieces: list[str], path: Path) -> None:
    """weights [len(tgt_pieces), len(src_pieces)]: target rows, source columns, one PNG."""
    matrix = np.asarray(weights, dtype=np.float32)
    if matrix.shape != (len(tgt_pieces), len(src_pieces)):
        raise ValueError(
            f"attention {matrix.shape} does not match {len(tgt_pieces)} target x "
            f"{len(src_pieces)} source pieces"
        )
    cell = 0.3
    width = min(MAX_INCHES, 1.5 + cell * len(src_pieces))
    height = min(MAX_INCHES, 1.0 + cell * len(tgt_pieces))
    figure = Figure(figsize=(width, height))
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    size = max(4, min(9, 9 * MAX_INCHES / max(MAX_INCHES, cell * max(matrix.shape) + 1.5)))
    axes.set_xticks(range(len(src_pieces)), src_pieces, rotation=90, fontsize=size)
    axes.set_yticks(range(len(tgt_pieces)), tgt_pieces, fontsize=size)
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    axes.xaxis.tick_top()
    axes.xaxis.set_label_position("top")
    _save(figure, path)


def read_metrics(run: Path) -> list[dict]:
    """The rows of RUN/metrics.jsonl, but a last line a running training is writing; a
    broken line is an error naming file and line."""
    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        raise NmtError(f"{path}: not found (is {run} a run directory?)")
    return parse_metrics(path)[0]


def training_curves(runs: list[Path], path: Path) -> None:
    """Training loss and dev BLEU against updates, one line per run, in one PNG."""
    if not runs:
        raise NmtError("plot: name at least one run directory")
    figure = Figure(figsize=(11, 4.2))
    loss_axes, bleu_axes = figure.subplots(1, 2)
    plotted = False
    for run in runs:
        rows = read_metrics(run)
        label = Path(run).resolve().name
        for axes, key in ((loss_axes, "loss"), (bleu_axes, "valid_bleu")):
            points = [(row["step"], row[key]) for row in rows if isinstance(row.get(key), Number)]
            if points:
                steps, values = zip(*points, strict=True)
                axes.plot(steps, values, marker="." if len(points) < 30 else None, label=label)
                plotted = True
    if not plotted:
        names = ", ".join(str(run) for run in runs)
        raise NmtError(f"plot: no 'loss' or 'valid_bleu' rows in the metrics of {names}")
    loss_axes.set(title="training loss", xlabel="updates", ylabel="loss per token")
    bleu_axes.set(title="dev BLEU", xlabel="updates", ylabel="BLEU")
    for axes in (loss_axes, bleu_axes):
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)


LINE_STYLES = ("-", "--", ":", "-.")


def line_styles(architectures: list[str]) -> list[tuple[str, str]]:
    """(colour, line style) for systems of these architectures, in order: one colour per
    architecture, its first system solid, the next dashed, and so on, so that one family
    trained two ways (single and joined pairs, say) reads as pairs of lines."""
    order = list(dict.fromkeys(architectures))
    seen: dict[str, int] = {}
    styles = []
    for architecture in architectures:
        count = seen[architecture] = seen.get(architecture, -1) + 1
        colour = f"C{order.index(architecture) % 10}"  # matplotlib's default colour cycle
        styles.append((colour, LINE_STYLES[count % len(LINE_STYLES)]))
    return styles


def length_curves(table: LengthTable, path: Path) -> None:
    """BLEU and chrF against source length, one line per system with its 95% interval as a
    band: the models without attention should fall as sentences grow."""
    labels = list(dict.fromkeys(row.bucket for row in table.rows))
    systems = list(dict.fromkeys((row.system, row.test, row.architecture) for row in table.rows))
    styles = line_styles([architecture for _, _, architecture in systems])
    figure = Figure(figsize=(11, 4.2))
    for axes, metric in zip(figure.subplots(1, 2), ("bleu", "chrf"), strict=True):
        for (system, test, _), (colour, style) in zip(systems, styles, strict=True):
            rows = [row for row in table.rows if (row.system, row.test) == (system, test)]
            x = np.array([labels.index(row.bucket) for row in rows])
            y = np.array([getattr(row, metric) for row in rows])
            ci = np.array([getattr(row, f"{metric}_ci") or 0.0 for row in rows])
            name = system if len({t for _, t, _ in systems}) == 1 else f"{system} ({test})"
            axes.plot(x, y, marker="o", color=colour, linestyle=style, label=name)
            axes.fill_between(x, y - ci, y + ci, color=colour, alpha=0.15)
        axes.set_xticks(range(len(labels)), labels)
        title = "BLEU" if metric == "bleu" else "chrF"
        axes.set(title=f"{title} by source length", xlabel="source words", ylabel=title)
        axes.grid(alpha=0.3)
    figure.tight_layout()
    handles, names = axes.get_legend_handles_labels()
    figure.legend(  # one legend for both panels, below them: it never hides a curve
        handles,
        names,
        loc="upper center",
        bbox_to_anchor=(0.5, 0),
        ncol=min(4, len(names)),
        fontsize=8,
    )
    _save(figure, path)
