"""The run directory (everything a run writes) and the reports it makes while training.

A run directory holds what is needed to translate again later: the resolved recipe, the
sentencepiece models, checkpoints and metrics.jsonl. Training writes nowhere else.
"""

from __future__ import annotations

import errno
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from nmt.atomic import naming, write_atomic
from nmt.errors import NmtError
from nmt.extras import missing
from nmt.jsonio import parse_json


def safe_name(name: str) -> str:
    """A recipe name usable as one folder name: no separators, no leading dots."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return cleaned or "run"


def default_run_dir(recipe_name: str) -> Path:
    return Path("runs") / safe_name(recipe_name)


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory:

    recipe.yaml              the recipe as resolved (defaults and --set applied)
    src.model, tgt.model     the sentencepiece models (copies of the prepared ones)
    checkpoints/last.pt      everything a resumed run needs; step-NNNNNNNN.pt and best.pt
                             (the best dev BLEU) add no optimizer state; avg.pt averages
    metrics.jsonl            one JSON object per training or validation row
    shortlist.pt             the vocabulary shortlist `nmt shortlist` builds
                             (nmt/inference/shortlist.py)
    translations/            translations `nmt eval` caches
    .lock                    held by the `nmt train` using the directory (nmt/lock.py)
    """

    root: Path

    @property
    def recipe_file(self) -> Path:
        return self.root / "recipe.yaml"

    @property
    def src_model(self) -> Path:
        return self.root / "src.model"

    @property
    def tgt_model(self) -> Path:
        return self.root / "tgt.model"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def average(self) -> Path:
        return self.checkpoints / "avg.pt"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def shortlist(self) -> Path:
        return self.root / "shortlist.pt"

    @property
    def translations(self) -> Path:
        return self.root / "translations"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def is_run(self) -> bool:
        """Whether `nmt train` trained in this directory: it holds a checkpoint or the
        metrics of one. A .lock or an empty checkpoints/ alone does not count (anyone can
        make those); see `only_leftovers` for a start that saved nothing."""
        return self.metrics.is_file() or any(self.checkpoints.glob("*.pt"))

    def only_leftovers(self) -> bool:
        """Whether the directory holds nothing but what a start of `nmt train` that wrote
        no checkpoint nor metrics leaves (.lock, an empty checkpoints/, the sentencepiece
        models it copies again), so that training there loses nothing of the user's."""
        remade = {self.lock, self.checkpoints, self.src_model, self.tgt_model}
        found = set(self.root.iterdir())
        return found <= remade and not (
            self.checkpoints.is_dir() and any(self.checkpoints.iterdir())
        )

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:08d}.pt"

    def step_checkpoints(self) -> list[Path]:
        """The step-NNNNNNNN.pt files, oldest first."""
        found = self.checkpoints.glob("step-*.pt")
        return sorted(path for path in found if re.fullmatch(r"step-\d+\.pt", path.name))

    def prune(self, keep: int) -> None:
        """Delete all but the newest `keep` step checkpoints."""
        steps = self.step_checkpoints()
        for path in steps[: max(0, len(steps) - keep)]:
            path.unlink()


def parse_metrics(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of a metrics.jsonl, and its torn last line if it has one (None if not).

    Rows are written one whole line at a time, so only a process killed mid-write leaves
    a last line without its newline; a broken line anywhere else is an error naming it.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise NmtError(f"{path}: not a metrics log (byte {error.start} is not UTF-8)") from None
    lines = text.split("\n")
    torn = None
    if lines[-1]:  # no final newline: the last write was cut short unless it parses
        try:
            parse_json(lines[-1], str(path))
        except NmtError:
            torn = lines.pop()
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        row = parse_json(line, f"{path}: line {number}")
        if not isinstance(row, dict) or type(row.get("step")) is not int:
            raise NmtError(f"{path}: line {number} has no whole-number 'step' field")
        rows.append(row)
    return rows, torn


class MetricsLog:
    """metrics.jsonl: one JSON object a line, appended and flushed as training goes."""

    def __init__(self, path: Path):
        self.path = path

    def truncate_after(self, step: int) -> str | None:
        """Drop rows past `step` (a resumed run rewrites what the killed run logged after
        it) and a torn last line; returns what to tell the user about the latter."""
        if not self.path.is_file():
            return None
        rows, torn = parse_metrics(self.path)
        kept = "".join(json.dumps(row) + "\n" for row in rows if row["step"] <= step)
        write_atomic(self.path, kept.encode("utf-8"))
        if torn is None:
            return None
        return f"{self.path}: dropped its torn last line {torn[:40]!r} (a run killed mid-write)"

    def append(self, row: dict[str, Any]) -> None:
        with naming(self.path), self.path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(row) + "\n")


def _format_row(row: dict[str, Any]) -> str:
    parts = [f"epoch {row['epoch']}", f"step {row['step']}"]
    for key, value in row.items():
        if key in ("epoch", "step") or value is None:
            continue
        shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else value
        parts.append(f"{key} {shown}")
    return " | ".join(parts)


class Display(Console):
    """A rich console on which a reader that left is an OSError for the caller to drop:
    rich's own answer, SystemExit(1), would end a run before it saves."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "the reader of the display is gone")


class Reporter:
    """Sends every row to metrics.jsonl, TensorBoard (optional) and the display on stderr.

    The display is a rich progress bar on a terminal, plain lines otherwise, and nothing
    at all with progress=False (tests). With write=False (every data-parallel rank but 0)
    it neither writes nor shows anything: one rank reports for the job.
    """

    def __init__(self, run: RunDir, tensorboard: bool, progress: bool, write: bool = True):
        self.metrics = MetricsLog(run.metrics)
        self.console = Display(stderr=True, highlight=False, soft_wrap=True)
        self.write = write
        self.quiet = not (progress and write)
        self.bar: Progress | None = None
        self.task = None
        self.writer = _tensorboard_writer(run.tensorboard) if tensorboard and write else None

    def start(self, total_updates: int, step: int, epoch: int) -> None:
        if self.quiet or not self.console.is_terminal:
            return
        self.bar = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(
            "train", total=total_updates, completed=step, epoch=epoch, stats=""
        )

    def advance(self, step: int, epoch: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, epoch=epoch)

    def log(self, row: dict[str, Any]) -> None:
        if not self.write:
            return
        self.metrics.append(row)
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, int | float):
                    tag = f"valid/{key[6:]}" if key.startswith("valid_") else f"train/{key}"
                    self.writer.add_scalar(tag, value, row["step"])
        if self.bar is not None and "loss" in row:
            stats = f"loss {row['loss']:.3f} ppl {row['ppl']:.1f} {row['tok_per_s']:.0f} tok/s"
            self._display(lambda: self.bar.update(self.task, stats=stats))
        else:
            self.message(_format_row(row))

    def message(self, text: str) -> None:
        self._display(lambda: self.console.print(text))

    def _display(self, show: Callable[[], None]) -> None:
        """Show something on stderr. A display nobody reads any more (`| tee log` killed by
        the same Ctrl-C, `| head`, the terminal closed) is dropped, never an error: the run
        goes on, or saves on the signal that stopped it."""
        if self.quiet:
            return
        try:
            show()
        except OSError:
            self.quiet, self.bar = True, None

    def close(self) -> None:
        if self.bar is not None:
            self._display(self.bar.stop)
            self.bar = None
        if self.writer is not None:
            self.writer.close()


def _tensorboard_writer(folder: Path) -> Any:
    try:
        import tensorboard  # noqa: F401  torch's writer needs it, and says so without its name
        from torch.utils.tensorboard import SummaryWriter
    except ModuleNotFoundError as error:
        raise missing("tensorboard", error) from None
    return SummaryWriter(log_dir=str(folder))
