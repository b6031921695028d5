"""The checkpoints of a training run: the run lock, where a run starts, saving and restoring.

A checkpoint holds everything a resumed run needs to continue exactly: the weights (and
their moving average, nmt/training/ema.py), the progress (nmt/run/train_state.py), the schedule, the
random number generators and, in last.pt only, the optimizer's state. A save writes
last.pt first, then step-N.pt (with best.pt as its copy), so whenever a save is cut short
(a kill, a full disk) last.pt is the newest state. `--resume` starts from the newest
checkpoint: last.pt, else the step checkpoints newest first, else best.pt; from one
without optimizer state the optimizer starts afresh, and the run says so. A newer
checkpoint that does not load (truncated, damaged, planted) stops the resume, naming it
and what an older one would lose; with --skip-damaged the run resumes from the newest
that loads and first renames the damaged ones to NAME.damaged, so that the run never
writes over them.

While a run trains, rank 0 holds an OS lock on RUN/.lock (nmt/lock.py): a second `nmt
train` on the same directory is refused at once, naming the pid of the first.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nmt.atomic import remove_temporaries
from nmt.config.recipe import Recipe, fields_where, recipe_from_dict
from nmt.errors import NmtError, SpelledError, literal
from nmt.lock import FileLock
from nmt.run.checkpoint import (
    load_checkpoint,
    load_training_weights,
    save_checkpoint,
    set_rng_state,
    tokenizer_fingerprint,
)
from nmt.run.rundir import RunDir, parse_metrics
from nmt.run.train_state import TrainState, stop_reason
from nmt.training.optim import Schedule


def _nothing_to_resume(root: Path) -> SpelledError:
    return SpelledError(f"{literal(str(root))}: nothing to resume from; train without {{resume}}")


@dataclass
class Start:
    """Where a run starts: afresh (no payload), or from the checkpoint `path`."""

    path: Path | None = None
    payload: dict[str, Any] | None = None
    state: TrainState | None = None
    finished: str | None = None  # a stop reason that already holds: nothing left to train
    damaged: dict[Path, Path] = field(default_factory=dict)  # newer ones, and their new names


def _aside(path: Path) -> Path:
    """A free name beside `path` to keep a damaged checkpoint under: NAME.damaged[-N]."""
    names = (f"{path.name}.damaged" + ("" if n == 1 else f"-{n}") for n in itertools.count(1))
    return next(path.with_name(name) for name in names if not path.with_name(name).exists())


# What `--resume` may change (the fields declared resumable=True in nmt/config/recipe.py):
# what does not enter the updates. That is the limits (a run stops sooner or goes on),
# logging, the checkpoints kept, where the run runs (another device computes the same
# updates up to floating-point order) and where files live, and the decoding settings
# validation does not read. Not train.precision (bf16 rounds every product),
# train.validate_every and decode.max_len_a/b: validations and the dev BLEU of their
# greedy outputs drive the plateau schedule, early stopping and best.pt. Nor
# train.ema_decay (the average is what validation scores), data.subword_alpha (how every
# epoch is segmented), data.files (the pairs themselves) and train.init_from (the weights
# the run started from, which its checkpoints record; a resume does not read it again).
def changed_fields(saved: dict[str, Any], recipe: Recipe, source: str) -> list[str]:
    """The fields `recipe` changes from the checkpoint's recipe that a resume cannot honour
    (all but those declared resumable), as 'train.lr (0.001 -> 0.01)'."""
    may_change = set(fields_where("resumable"))
    fixed = [name for name in recipe.flat() if name not in may_change]
    return recipe.changes_from(recipe_from_dict(saved, source), fixed)


class Checkpointer:
    """Owns RUN/checkpoints for one run; only rank 0 (`main`) locks and writes."""

    def __init__(self, run: RunDir, main: bool = True, skip_damaged: bool = False) -> None:
        self.run, self.main, self.skip_damaged = run, main, skip_damaged
        self.lock = FileLock(run.lock)
        self.start: Start | None = None
        self.sentencepiece: dict[str, str] | None = None

    @contextlib.contextmanager
    def open(self, recipe: Recipe, resume: bool) -> Iterator[Start]:
        """Hold the run directory for the block: lock it, find where the run starts and
        refuse what cannot work, all before anything in it is written; a refusal leaves no
        folder that this open made (nor its lock). An open inside an open of the same
        checkpointer shares the outer one."""
        if self.start is not None:
            yield self.start
            return
        root = self.run.root
        if root.exists() and not root.is_dir():
            raise NmtError(f"{root}: exists and is not a directory")
        if resume and not root.exists():
            raise _nothing_to_resume(root)
        if root.is_dir() and not self.run.is_run() and not self.run.only_leftovers():
            raise SpelledError(
                f"{literal(str(root))}: not empty and not a run directory; train in a new or "
                "empty {run_dir} (a run writes recipe.yaml, src.model, tgt.model, checkpoints/ "
                "and more there)"
            )
        created = not root.exists()
        root.mkdir(parents=True, exist_ok=True)
        if self.main and not self.lock.acquire():
            raise SpelledError(
                f"{literal(str(root))}: in use by another nmt train (pid {self.lock.holder()}); "
                "wait for it to end or train in another {run_dir}"
            )
        try:
            self.start = self._find_start(recipe, resume)
            yield self.start
        except BaseException:
            if self.main and created:
                self._remove_if_unwritten()
            raise
        finally:
            self.start = None
            if self.main:
                self.lock.release()

    def _remove_if_unwritten(self) -> None:
        """Remove the run folder when it holds nothing but the lock (a refused run); the
        lock file goes while still held, so no other run can be holding it."""
        root = self.run.root
        if {path.name for path in root.iterdir()} == {self.run.lock.name}:
            self.run.lock.unlink()
            with contextlib.suppress(OSError):  # another run wrote into it meanwhile
                root.rmdir()

    def _find_start(self, recipe: Recipe, resume: bool) -> Start:
        """The newest checkpoint that loads and holds a training state (see the module
        docstring); refusals point away from themselves, never to each other."""
        run = self.run
        existing = [
            path
            for path in (run.last, *reversed(run.step_checkpoints()), run.best)
            if path.is_file()
        ]
        problems: dict[Path, str] = {}
        for path in existing:
            try:
                payload = load_checkpoint(path)
            except NmtError as error:
                problems[path] = str(error)
                continue
            if "state" in payload:
                break
            problems[path] = f"{path}: holds weights but no training state"
        else:
            if any(run.checkpoints.glob("*.pt")):  # unreadable, old, or avg.pt alone
                why = next(iter(problems.values()), "no last, step or best checkpoint")
                refusal = f"{run.root}: none of its checkpoints can be resumed ({why})"
                raise SpelledError(
                    f"{literal(refusal)}; move {literal(str(run.checkpoints))} away or train "
                    "in another {run_dir}"
                )
            if resume:
                raise _nothing_to_resume(run.root)
            return Start()
        if not resume:
            raise SpelledError(
                f"{literal(str(run.root))}: this run directory already has checkpoints; use "
                "{resume} to continue it or {run_dir} to train in another one"
            )
        changes = changed_fields(payload["recipe"], recipe, str(path))
        if changes:
            changed, own = literal(", ".join(changes)), literal(str(run.recipe_file))
            raise SpelledError(
                f"{literal(str(path))}: {{resume}} cannot change {changed}; resume with the "
                f"run's own settings ({own}) or train in another {{run_dir}}"
            )
        state = TrainState(**payload["state"])
        if problems and not self.skip_damaged:
            raise self._damaged(problems, path, state.step)
        damaged = {newer: _aside(newer) for newer in problems}
        return Start(path, payload, state, stop_reason(state, recipe.train), damaged)

    def _damaged(self, problems: dict[Path, str], path: Path, step: int) -> SpelledError:
        """Why newer checkpoints stop a resume, and what resuming from `path` would lose."""
        logged = None
        with contextlib.suppress(NmtError, OSError):
            logged = max((row["step"] for row in parse_metrics(self.run.metrics)[0]), default=None)
        lost = f"the updates after step {step}"
        if logged is not None and logged > step:
            lost += f" (metrics.jsonl logged up to step {logged})"
        names = ", ".join(newer.name for newer in problems)
        why = literal(
            f"{next(iter(problems.values()))}; resuming from {path.name} would lose {lost}"
        )
        return SpelledError(
            f"{why}: to do so, add {{skip_damaged}}, which keeps {literal(names)} aside as "
            "NAME.damaged"
        )

    def clear_leftovers(self) -> None:
        """Delete what a killed save left and set aside the damaged checkpoints the start
        passes over (rank 0, once every rank has read the run)."""
        if self.main:
            self.run.checkpoints.mkdir(exist_ok=True)
            remove_temporaries(self.run.checkpoints)
            for path, aside in self.start.damaged.items():
                path.rename(aside)

    def restore(
        self,
        start: Start,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        average: torch.nn.Module | None = None,
    ) -> str | None:
        """Load start's checkpoint into the model (and the moving average of its weights,
        train.ema_decay), the optimizer, the schedule and the RNGs (start.state is the run's
        state); a note for the user when newer checkpoints were set aside or it lacks the
        optimizer's state."""
        path, payload = start.path, start.payload
        load_training_weights(model, average, payload, path)
        try:
            if "optimizer" in payload:
                optimizer.load_state_dict(payload["optimizer"])
            schedule.load_state_dict(payload["schedule"])
            set_rng_state(payload["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise NmtError(
                f"{path}: cannot resume from it ({type(error).__name__}: {error})"
            ) from None
        notes = [
            f"{newer} does not load: kept as {aside.name}" for newer, aside in start.damaged.items()
        ]
        if "optimizer" not in payload:
            notes.append(f"resuming from {path}: the optimizer state starts afresh")
        return "; ".join(notes) or None

    def save(
        self, payload: dict[str, Any], optimizer: dict[str, Any], improved: bool, keep: int
    ) -> None:
        """last.pt, then a step checkpoint (and best.pt when `improved`), then pruning to the
        `keep` newest step checkpoints; `payload` is checkpoint.training_payload's."""
        payload = self.save_last(payload, optimizer)
        copies = [self.run.best] if improved else []
        if keep > 0:
            save_checkpoint(self.run.step_checkpoint(payload["step"]), payload, copies)
        elif copies:
            save_checkpoint(self.run.best, payload)
        self.run.prune(keep)

    def save_last(self, payload: dict[str, Any], optimizer: dict[str, Any]) -> dict[str, Any]:
        """last.pt, the full state; returns the payload with the fingerprint of the run's
        sentencepiece models (what translation checks), without the optimizer's state."""
        if self.run.src_model.is_file() and self.run.tgt_model.is_file():
            if self.sentencepiece is None:
                self.sentencepiece = tokenizer_fingerprint(self.run)
            payload = {**payload, "sentencepiece": self.sentencepiece}
        save_checkpoint(self.run.last, {**payload, "optimizer": optimizer})
        return payload
