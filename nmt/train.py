"""The training loop: teacher forcing, clipping, schedules, validation, checkpoints, resume.

Everything a run needs to continue lives in RUN/checkpoints/last.pt: weights, optimizer,
schedule, RNG states, the epoch and the position inside it. The batches of an epoch are
rebuilt from (seed, epoch) alone, so a run killed at any point and resumed from last.pt
ends with the same parameters as one never interrupted.

Under torchrun the same loop runs on every rank (nmt/distributed.py): each takes its share
of every batch, and rank 0 alone validates and writes the run directory.
"""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from nmt import distributed
from nmt.atomic import remove_temporaries
from nmt.batching import Batch, ParallelData
from nmt.checkpoint import (
    FORMAT,
    average_run,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)
from nmt.config import Recipe
from nmt.device import amp_dtype, autocast, resolve_device
from nmt.errors import NmtError
from nmt.loss import loss_sums, perplexity
from nmt.model import build_model
from nmt.optim import Schedule, build_optimizer
from nmt.prepare import prepare
from nmt.rundir import Reporter, RunDir, default_run_dir, open_run_dir
from nmt.validate import DevScores, validate


@dataclass
class TrainState:
    """Where training stands; stored in last.pt so that a resumed run picks up exactly."""

    step: int = 0  # optimizer updates done
    epoch: int = 1  # the current epoch, from 1
    position: int = 0  # updates of this epoch already consumed (done or skipped)
    best_bleu: float | None = None
    stale: int = 0  # validations since best_bleu improved (early stopping)
    bad_updates: int = 0  # updates skipped for a NaN/inf loss, in total
    bad_in_a_row: int = 0
    validated_step: int = -1  # the step of the latest validation


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    best_bleu: float | None
    stop_reason: str  # max_updates, max_epochs, early_stop or interrupted


@dataclass
class Window:
    """Sums since the last metrics row."""

    loss: float = 0.0
    nll: float = 0.0
    tokens: int = 0
    seconds: float = 0.0


def rng_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "python": [version, list(internal), gauss],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


class Trainer:
    """Trains one model on prepared ids; used by `train` and directly by tests."""

    def __init__(
        self,
        recipe: Recipe,
        train_data: ParallelData,
        valid_data: ParallelData,
        decode_fn: Callable[[list[list[int]]], list[str]],
        run_dir: Path,
        vocab_sizes: tuple[int, int],
        progress: bool = True,
    ):
        self.recipe, self.cfg = recipe, recipe.train
        self.train_data, self.valid_data, self.decode_fn = train_data, valid_data, decode_fn
        self.run = RunDir(Path(run_dir))
        self.vocab_sizes = vocab_sizes
        self.dist = distributed.init_from_env(self.cfg.ddp_timeout_minutes)
        self.device = distributed.local_device(
            resolve_device(self.cfg.device, "train.device"), self.dist
        )
        self.amp = amp_dtype(self.cfg.precision, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        random.seed(self.cfg.seed)
        torch.manual_seed(self.cfg.seed)
        self.model = build_model(recipe.model, *vocab_sizes).to(self.device)
        self.net = distributed.wrap(self.model, self.dist, self.device)  # forward through this
        self.optimizer = build_optimizer(self.model.parameters(), self.cfg, self.device)
        self.schedule = Schedule(self.cfg, self.optimizer)
        self.state = TrainState()
        self.window = Window()
        self.progress = progress
        self.reporter: Reporter | None = None
        self.stop_reason: str | None = None
        self.interrupted = False

    def fit(self, resume: bool = False) -> TrainResult:
        """Train until max_updates, max_epochs, early stopping or Ctrl-C."""
        open_run_dir(self.run.root, resume)
        distributed.barrier(self.dist)  # every rank checked the run directory before any write
        main = self.dist.main
        if main:
            remove_temporaries(self.run.checkpoints)
        if resume:
            self._restore(self.run.last)
        if self.dist.rank > 0:  # rank 0's RNG came from the seed or last.pt; own dropout masks
            torch.manual_seed(self.cfg.seed + 7919 * self.dist.rank + self.state.step)
        if self._at_limit():
            self.stop_reason = "max_updates"
        if main:
            self.run.recipe_file.write_text(
                yaml.safe_dump(self.recipe.to_dict(), sort_keys=False), encoding="utf-8"
            )
        self.reporter = Reporter(self.run, self.cfg.tensorboard, self.progress, write=main)
        if main:
            self.reporter.metrics.truncate_after(self.state.step)
        self.reporter.start(self._total_updates(), self.state.step, self.state.epoch)
        try:
            with self._catch_sigint():
                while self.stop_reason is None:
                    self._run_epoch()
        finally:
            self.reporter.close()
        if main:
            self._finish()
        distributed.barrier(self.dist)  # return when rank 0 has written everything
        return TrainResult(
            self.run.root, self.state.step, self.state.epoch, self.state.best_bleu, self.stop_reason
        )

    def epoch_updates(self, epoch: int) -> list[list[list[int]]]:
        """The updates of an epoch, each a list of update_freq batches, from (seed, epoch)."""
        micro_tokens = max(1, self.cfg.batch_tokens // self.cfg.update_freq)
        batches = self.train_data.batches(micro_tokens, shuffle=True, seed=self.cfg.seed + epoch)
        size = self.cfg.update_freq
        return [batches[i : i + size] for i in range(0, len(batches), size)]

    def _total_updates(self) -> int:
        per_epoch = len(self.epoch_updates(1))
        total = self.cfg.max_epochs * per_epoch
        return min(total, self.cfg.max_updates) if self.cfg.max_updates else total

    def _run_epoch(self) -> None:
        updates = self.epoch_updates(self.state.epoch)
        while self.stop_reason is None and self.state.position < len(updates):
            self.state.position += 1
            self.update(updates[self.state.position - 1])
            self.reporter.advance(self.state.step, self.state.epoch)
            self.interrupted = distributed.any_rank(self.interrupted, self.dist, self.device)
            self._after_update(epoch_done=self.state.position == len(updates))

    def update(self, group: list[list[int]]) -> None:
        """One optimizer update over a group of batches (gradient accumulation); under
        torchrun each rank computes its share of every batch."""
        started = time.perf_counter()
        self.model.train()
        tgt_ids = self.train_data.tgt_ids
        n_tokens = sum(len(tgt_ids[i]) + 1 for indices in group for i in indices)  # all ranks'
        shards = [distributed.shard(indices, self.dist) for indices in group]
        batches = [(self.train_data.collate(part), weight) for part, weight in shards]
        sums = self._backward(batches, n_tokens)
        if sums is None or not self._clip_gradients():
            return self._skip_update()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.state.bad_in_a_row = 0
        self.schedule.on_update(self.state.step)
        window = self.window
        window.loss, window.nll = window.loss + sums[0], window.nll + sums[1]
        window.tokens += n_tokens
        window.seconds += time.perf_counter() - started
        if self.cfg.log_every and self.state.step % self.cfg.log_every == 0:
            self._log_window()

    def _backward(
        self, batches: list[tuple[Batch, float]], n_tokens: int
    ) -> tuple[float, float] | None:
        """Teacher-forced loss / n_tokens of the whole update (n_tokens over all ranks),
        backpropagated batch by batch; (loss sum, NLL sum) over all ranks, or None when
        either is not finite. DDP averages gradients over ranks: dividing by n_tokens / world
        makes that average the gradient of the global sum."""
        loss_total = nll_total = 0.0
        per_rank = n_tokens / self.dist.world
        for number, (batch, weight) in enumerate(batches, 1):
            batch = batch.to(self.device)
            with distributed.no_sync(self.net, sync=number == len(batches)):
                with autocast(self.device, self.amp):
                    logits = self.net(batch.src, batch.src_lengths, batch.tgt_in)
                loss, nll = loss_sums(logits, batch.tgt_out, self.cfg.label_smoothing)
                loss, nll = loss * weight, nll * weight
                (loss / per_rank).backward()
            loss_value, nll_value = torch.stack([loss.detach(), nll.detach()]).tolist()
            loss_total, nll_total = loss_total + loss_value, nll_total + nll_value
        sums = distributed.sum_over_ranks([loss_total, nll_total], self.dist, self.device)
        return (sums[0], sums[1]) if all(map(math.isfinite, sums)) else None

    def _clip_gradients(self) -> bool:
        """Scale the gradients to norm <= clip_norm (0: no clipping); False if not finite."""
        max_norm = self.cfg.clip_norm if self.cfg.clip_norm > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        return math.isfinite(norm.item())

    def _skip_update(self) -> None:
        """A NaN/inf loss or gradient: drop the gradients, count it, stop after too many."""
        self.optimizer.zero_grad(set_to_none=True)
        state = self.state
        state.bad_updates += 1
        state.bad_in_a_row += 1
        self.reporter.message(f"step {state.step}: non-finite loss or gradient, update skipped")
        if state.bad_in_a_row >= self.cfg.max_bad_updates:
            raise NmtError(
                f"stopped after step {state.step}: {state.bad_in_a_row} updates in a row had a "
                "NaN or infinite loss (train.max_bad_updates); lower train.lr or train.clip_norm"
            )

    def _log_window(self) -> None:
        window, tokens = self.window, max(self.window.tokens, 1)
        self.reporter.log(
            {
                "step": self.state.step,
                "epoch": self.state.epoch,
                "loss": window.loss / tokens,
                "ppl": perplexity(window.nll / tokens),
                "lr": self.schedule.lr,
                "tok_per_s": window.tokens / max(window.seconds, 1e-9),
                "bad_updates": self.state.bad_updates,
            }
        )
        self.window = Window()

    def _at_limit(self) -> bool:
        return self.cfg.max_updates > 0 and self.state.step >= self.cfg.max_updates

    def _after_update(self, epoch_done: bool) -> None:
        """Validate and save at epoch ends, every validate_every and at max_updates; Ctrl-C
        saves last.pt (after the epoch end's checkpoint when it falls there) and stops."""
        state, every = self.state, self.cfg.validate_every
        if epoch_done:
            finished = state.epoch
            self.schedule.on_epoch_end(finished)
            state.epoch, state.position = finished + 1, 0
            if state.epoch > self.cfg.max_epochs:
                self.stop_reason = "max_epochs"
            self._validate_and_save(finished)
        elif self.interrupted:
            if self.dist.main:
                save_checkpoint(self.run.last, self._full_payload())
        elif self._at_limit() or (state.step > 0 and every and state.step % every == 0):
            self._validate_and_save(state.epoch)
        if self.interrupted:
            self.stop_reason = "interrupted"
        elif self._at_limit() and self.stop_reason is None:
            self.stop_reason = "max_updates"

    def _validate_and_save(self, epoch: int) -> None:
        """Score the dev set (once per step), update best/patience, write checkpoints.
        Rank 0 validates and saves; the others wait for its BLEU, so that the schedule and
        the early stop agree on every rank."""
        state, improved, main = self.state, False, self.dist.main
        if state.validated_step != state.step:
            scores = self._validate() if main else None
            bleu = distributed.from_main(scores.bleu if main else 0.0, self.dist, self.device)
            state.validated_step = state.step
            improved = state.best_bleu is None or bleu > state.best_bleu
            state.best_bleu = bleu if improved else state.best_bleu
            state.stale = 0 if improved else state.stale + 1
            self.schedule.on_validation(bleu)
            if main:
                self.reporter.log(
                    {
                        "step": state.step,
                        "epoch": epoch,
                        "valid_loss": scores.loss,
                        "valid_ppl": scores.ppl,
                        "valid_bleu": scores.bleu,
                        "best_bleu": state.best_bleu,
                    }
                )
            patience = self.cfg.early_stop_patience
            if patience and state.stale >= patience and self.stop_reason is None:
                self.stop_reason = "early_stop"
        if main:
            self._save(improved)

    def _validate(self) -> DevScores:
        return validate(
            self.model,
            self.valid_data,
            self.decode_fn,
            self.cfg.valid_batch_tokens,
            self.recipe.decode,
            self.device,
            self.amp,
        )

    def _save(self, improved: bool) -> None:
        keep = max(self.cfg.keep_last, self.cfg.average_last)
        copies = [self.run.best] if improved else []
        if keep > 0:
            save_checkpoint(self.run.step_checkpoint(self.state.step), self._weights(), copies)
        elif copies:
            save_checkpoint(self.run.best, self._weights())
        save_checkpoint(self.run.last, self._full_payload())
        self.run.prune(keep)

    def _weights(self) -> dict[str, Any]:
        """What translation needs: weights, recipe, vocabulary sizes."""
        return {
            "format": FORMAT,
            "recipe": self.recipe.to_dict(),
            "src_vocab": self.vocab_sizes[0],
            "tgt_vocab": self.vocab_sizes[1],
            "model": self.model.state_dict(),
            "step": self.state.step,
            "epoch": self.state.epoch,
            "best_bleu": self.state.best_bleu,
        }

    def _full_payload(self) -> dict[str, Any]:
        """Weights plus everything a resumed run needs to continue exactly."""
        return {
            **self._weights(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "state": asdict(self.state),
            "rng": rng_state(),
        }

    def _restore(self, path: Path) -> None:
        payload = load_checkpoint(path)
        load_model_state(self.model, payload, path)
        try:
            self.optimizer.load_state_dict(payload["optimizer"])
            self.schedule.load_state_dict(payload["schedule"])
            self.state = TrainState(**payload["state"])
            set_rng_state(payload["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise NmtError(
                f"{path}: cannot resume from it ({type(error).__name__}: {error})"
            ) from None

    @contextlib.contextmanager
    def _catch_sigint(self) -> Iterator[None]:
        """First Ctrl-C: finish the update, save last.pt, stop. Second: abort at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True
            self.reporter.message("stopping after this update (Ctrl-C again to abort)")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _finish(self) -> None:
        if self.stop_reason == "interrupted":
            return
        count = min(self.cfg.average_last, len(self.run.step_checkpoints()))
        if count > 1:
            average_run(self.run.root, count)
        best = "none" if self.state.best_bleu is None else f"{self.state.best_bleu:.2f}"
        self.reporter.message(
            f"done ({self.stop_reason}) at step {self.state.step}: best dev BLEU {best}; "
            f"checkpoints in {self.run.checkpoints}"
        )


def _copy_model(source: Path, target: Path, resume: bool) -> None:
    """Copy a sentencepiece model into the run; a resumed run must keep the one it had."""
    if resume and target.is_file() and target.read_bytes() != source.read_bytes():
        raise NmtError(
            f"{target}: differs from the prepared {source}; the data settings changed since "
            "this run started (resume with the run's recipe.yaml)"
        )
    shutil.copyfile(source, target)


def train(
    recipe: Recipe, run_dir: Path | None = None, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Prepare the data (cached), set up the run directory and train; under torchrun, rank 0
    prepares and copies first and the other ranks then read its cache."""
    ctx = distributed.init_from_env(recipe.train.ddp_timeout_minutes)
    run = open_run_dir(Path(run_dir) if run_dir else default_run_dir(recipe.name), resume)
    with distributed.main_first(ctx):
        prepared = prepare(recipe.data, progress=progress and ctx.main)
        if "valid" not in prepared.splits:
            raise NmtError(f"{recipe.data.corpus}: the corpus has no valid split to validate on")
        if ctx.main:
            _copy_model(prepared.src_spm, run.src_model, resume)
            _copy_model(prepared.tgt_spm, run.tgt_model, resume)
    tokenizer = prepared.tokenizer()
    trainer = Trainer(
        recipe,
        ParallelData.from_dataset(prepared.splits["train"]),
        ParallelData.from_dataset(prepared.splits["valid"]),
        tokenizer.decode_tgt,
        run.root,
        (tokenizer.src_vocab_size, tokenizer.tgt_vocab_size),
        progress=progress and ctx.main,
    )
    try:
        return trainer.fit(resume)
    finally:
        distributed.shutdown()
