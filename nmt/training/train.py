"""The training loop: teacher forcing, gradient accumulation, clipping, the optimizer step.

Around the loop: nmt/training/setup.py (building a run: its data, its sentencepiece models
and the Trainer), nmt/training/resume.py (the run lock, saving, resuming exactly),
nmt/run/train_state.py (where the run stands and when it stops), nmt/training/optim.py
(learning rates), nmt/training/validate.py (dev scores) and nmt/run/rundir.py (metrics and
the display).

The batches of an epoch (and with data.subword_alpha the segmentation of its pairs,
nmt/data/subword.py) are rebuilt from (seed, epoch) alone and every checkpoint holds
the position inside the epoch and the RNG states, so a run killed at any point and resumed
ends with the same parameters as one never interrupted.

Under torchrun the same loop runs on every rank (nmt/training/distributed.py): each takes its share
of every batch, and rank 0 alone validates and writes the run directory.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from nmt.atomic import write_atomic
from nmt.config.recipe import Recipe
from nmt.data.batching import Batch, ParallelData
from nmt.data.subword import SubwordSampler
from nmt.device import amp_dtype, autocast, resolve_device
from nmt.errors import NmtError
from nmt.models.architectures import build_model
from nmt.run.averaging import average_run
from nmt.run.checkpoint import load_model_state, training_payload
from nmt.run.rundir import Reporter, RunDir
from nmt.run.train_state import TrainResult, TrainState, stop_reason
from nmt.training import distributed
from nmt.training.ema import EMA
from nmt.training.finetune import Origin
from nmt.training.loss import loss_sums, perplexity
from nmt.training.optim import Schedule, build_optimizer
from nmt.training.resume import Checkpointer, Start
from nmt.training.validate import DevScores, validate

# Ctrl-C; clusters, `timeout`, `docker stop`; the terminal closed (ssh dropped)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Window:
    """Sums since the last metrics row."""

    loss: float = 0.0
    nll: float = 0.0
    tokens: int = 0
    seconds: float = 0.0


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
        checkpointer: Checkpointer | None = None,
        sampler: SubwordSampler | None = None,
        origin: Origin | None = None,
    ):
        self.recipe, self.cfg = recipe, recipe.train
        self.micro_tokens = self.cfg.batch_tokens // self.cfg.update_freq
        self.train_data, self.too_long = train_data.within(self.micro_tokens)
        # Learned positions hold sequences of max_positions pieces at most: longer pairs
        # are left out and counted, as pairs longer than a micro-batch are, rather than
        # stopping the run at the first one (prepare's cache knows no model to refuse by).
        self.longest_pair, self.beyond_positions = self.micro_tokens, 0
        if recipe.model.arch == "transformer" and recipe.model.positions == "learned":
            longest = recipe.model.max_positions
            self.longest_pair = min(self.micro_tokens, longest)
            self.train_data, self.beyond_positions = self.train_data.within(longest)
            valid_data, beyond = valid_data.within(longest)
            self.beyond_positions += beyond
        if not len(self.train_data):
            raise NmtError(
                f"train.batch_tokens: no training pair fits a micro-batch of {self.micro_tokens} "
                "tokens (train.batch_tokens / train.update_freq)"
            )
        self.valid_data, self.decode_fn = valid_data, decode_fn
        self.sampler = sampler
        self.sampled: tuple[int, ParallelData] | None = None  # the epoch segmented last
        self.vocab_sizes = vocab_sizes
        self.dist = distributed.init_from_env(self.cfg.ddp_timeout_minutes)
        self.checkpointer = checkpointer or Checkpointer(RunDir(Path(run_dir)), self.dist.main)
        self.device = distributed.local_device(
            resolve_device(self.cfg.device, "train.device"), self.dist
        )
        self.amp = amp_dtype(self.cfg.precision, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        random.seed(self.cfg.seed)
        torch.manual_seed(self.cfg.seed)
        self.model = build_model(recipe.model, *vocab_sizes).to(self.device)
        if origin is not None:  # weights of another run; the rest starts afresh
            load_model_state(self.model, origin.payload, origin.checkpoint)
        self.started_from = None if origin is None else origin.record()
        self.ema = EMA(self.model, self.cfg.ema_decay) if self.cfg.ema_decay else None
        self.net = distributed.wrap(self.model, self.dist, self.device)  # forward through this
        self.optimizer = build_optimizer(self.model.parameters(), self.cfg, self.device)
        self.schedule = Schedule(self.cfg, self.optimizer)
        self.state = TrainState()
        self.window = Window()
        self.progress = progress
        self.reporter: Reporter | None = None
        self.stop_reason: str | None = None
        self.stop_signal: int | None = None  # the signal that asked the run to stop
        self.clock = time.perf_counter()  # when state.seconds was last brought up to date

    def fit(self, start: Start) -> TrainResult:
        """Train from `start` (the run opened by setup.run_training) until a limit of the recipe,
        early stopping, Ctrl-C or SIGTERM."""
        distributed.barrier(self.dist)  # every rank has read the run before rank 0 writes
        self.checkpointer.clear_leftovers()
        note = None
        if start.payload is not None:
            average = None if self.ema is None else self.ema.model
            note = self.checkpointer.restore(
                start, self.model, self.optimizer, self.schedule, average
            )
            self.state = start.state
            self.started_from = start.payload.get("init_from")
        if self.dist.rank > 0:  # rank 0's RNG came from the seed or the checkpoint
            torch.manual_seed(self.cfg.seed + 7919 * self.dist.rank + self.state.step)
        self.reporter = self._start_reporting(note)
        self.clock = time.perf_counter()  # state.seconds counts from here
        try:
            with self._catch_stop_signals():
                while self.stop_reason is None:
                    self._run_epoch()
        finally:
            self.reporter.close()
        if self.dist.main:
            self._finish()
        distributed.barrier(self.dist)  # return when rank 0 has written everything
        root = self.checkpointer.run.root
        return TrainResult.of(root, self.state, self.stop_reason, signal=self.stop_signal)

    def epoch_data(self, epoch: int) -> ParallelData:
        """The training pairs of an epoch: as prepared, or segmented afresh by the sampler
        (those it makes longer than a micro-batch sit the epoch out)."""
        if self.sampler is None:
            return self.train_data
        if self.sampled is None or self.sampled[0] != epoch:
            self.sampled = (epoch, self.sampler.epoch(epoch).within(self.longest_pair)[0])
        return self.sampled[1]

    def epoch_updates(self, epoch: int, data: ParallelData | None = None) -> list[list[list[int]]]:
        """The updates of an epoch, each a list of update_freq batches, from (seed, epoch);
        of the epoch's own pairs unless `data` is given."""
        data = self.epoch_data(epoch) if data is None else data
        batches = data.batches(self.micro_tokens, shuffle=True, seed=self.cfg.seed + epoch)
        size = self.cfg.update_freq
        return [batches[i : i + size] for i in range(0, len(batches), size)]

    # The update loop: one screen, from the epoch's batches to the optimizer step.

    def _run_epoch(self) -> None:
        """The epoch's updates from its position on, until the epoch ends (its last update
        starts the next one, which has batches of its own) or the run stops."""
        epoch = self.state.epoch
        updates = self.epoch_updates(epoch)
        while self.stop_reason is None and self.state.epoch == epoch:
            self.state.position += 1
            self.update(updates[self.state.position - 1])
            self.reporter.advance(self.state.step, self.state.epoch)
            if distributed.any_rank(self.stop_signal is not None, self.dist, self.device):
                self.stop_signal = self.stop_signal or signal.SIGTERM  # another rank's
            self._after_update(epoch_done=self.state.position == len(updates))

    def update(self, group: list[list[int]]) -> None:
        """One optimizer update over a group of batches (gradient accumulation); under
        torchrun each rank computes its share of every batch."""
        started = time.perf_counter()
        self.model.train()
        data = self.epoch_data(self.state.epoch)
        n_tokens = sum(len(data.tgt_ids[i]) + 1 for indices in group for i in indices)  # all ranks'
        shards = [distributed.shard(indices, self.dist) for indices in group]
        batches = [(data.collate(part), weight) for part, weight in shards]
        sums = self._backward(batches, n_tokens)
        if sums is None or not self._clip_gradients():
            return self._skip_update()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        if self.ema is not None:
            self.ema.update(self.model, self.state.step)
        self.state.tokens += n_tokens
        self.state.bad_in_a_row = 0
        self.schedule.on_update(self.state.step)
        self._count(sums, n_tokens, time.perf_counter() - started)

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

    # Around the loop: bad updates, metrics, validation, checkpoints, stopping.

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

    def _count(self, sums: tuple[float, float], n_tokens: int, seconds: float) -> None:
        """Add an update to the window; every log_every updates, log the window as a row."""
        window = self.window
        window.loss, window.nll = window.loss + sums[0], window.nll + sums[1]
        window.tokens += n_tokens
        window.seconds += seconds
        if not (self.cfg.log_every and self.state.step % self.cfg.log_every == 0):
            return
        tokens = max(window.tokens, 1)
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

    def _after_update(self, epoch_done: bool) -> None:
        """Validate and save every validate_every updates (or at epoch ends when it is 0)
        and when a limit is reached; a stop signal saves last.pt (after the epoch end's
        checkpoint when it falls there) and stops."""
        state, every = self.state, self.cfg.validate_every
        now = time.perf_counter()
        state.seconds, self.clock = state.seconds + now - self.clock, now
        if self.cfg.max_minutes:  # rank 0's clock, so that every rank stops at the same update
            state.seconds = distributed.from_main(state.seconds, self.dist, self.device)
        if epoch_done:
            self.schedule.on_epoch_end(state.epoch)
            state.end_epoch()
        on_schedule = state.step > 0 and state.step % every == 0 if every else epoch_done
        due = on_schedule or stop_reason(state, self.cfg) is not None
        if due and (epoch_done or self.stop_signal is None):
            self._validate_and_save(state.epoch - 1 if epoch_done else state.epoch)
        elif self.stop_signal is not None and self.dist.main:
            self.checkpointer.save_last(self._checkpoint(), self.optimizer.state_dict())
        self.stop_reason = "interrupted" if self.stop_signal else stop_reason(state, self.cfg)

    def _validate_and_save(self, epoch: int) -> None:
        """Score the dev set (once per step), note it, write checkpoints. Rank 0 validates
        and saves; the others wait for its BLEU, so that the schedule and the stop rule
        agree on every rank."""
        state, improved, main = self.state, False, self.dist.main
        if state.validated_step != state.step:
            scores = self._validate() if main else None
            bleu = distributed.from_main(scores.bleu if main else 0.0, self.dist, self.device)
            ppl = distributed.from_main(scores.ppl if main else 0.0, self.dist, self.device)
            improved = state.record_validation(bleu, ppl, self.cfg.valid_metric)
            self.schedule.on_validation(improved)
            if main:
                self.reporter.log(
                    {
                        "step": state.step,
                        "epoch": epoch,
                        "valid_loss": scores.loss,
                        "valid_ppl": scores.ppl,
                        "valid_bleu": scores.bleu,
                        "best_bleu": state.best_bleu,
                        "best_ppl": state.best_ppl,
                    }
                )
        if main:
            keep = max(self.cfg.keep_last, self.cfg.average_last)
            self.checkpointer.save(self._checkpoint(), self.optimizer.state_dict(), improved, keep)

    def _checkpoint(self) -> dict[str, Any]:
        """What a checkpoint holds of this run, but the optimizer's state."""
        return training_payload(
            self.recipe,
            self.vocab_sizes,
            self.model,
            self.schedule.state_dict(),
            self.state,
            average=None if self.ema is None else self.ema.model,
            init_from=self.started_from,
        )

    def _validate(self) -> DevScores:
        """Dev scores of the weights a checkpoint offers for translation."""
        return validate(
            self.model if self.ema is None else self.ema.model,
            self.valid_data,
            self.decode_fn,
            self.cfg.valid_batch_tokens,
            self.recipe.decode,
            self.device,
            self.amp,
        )

    def _total_updates(self) -> int:
        """For the progress bar: as many updates an epoch as the prepared pairs make."""
        total = self.cfg.max_epochs * len(self.epoch_updates(1, self.train_data))
        return min(total, self.cfg.max_updates) if self.cfg.max_updates else total

    def _start_reporting(self, note: str | None) -> Reporter:
        """Write the recipe, open the metrics and the display, say what the run starts from."""
        run, main = self.checkpointer.run, self.dist.main
        notes = [note]
        if main:
            recipe = yaml.safe_dump(self.recipe.to_dict(), sort_keys=False)
            write_atomic(run.recipe_file, recipe.encode("utf-8"))
        reporter = Reporter(run, self.cfg.tensorboard, self.progress, write=main)
        if main:
            notes.append(reporter.metrics.truncate_after(self.state.step))
        if self.too_long:
            notes.append(
                f"{self.too_long} training pairs longer than a micro-batch "
                f"({self.micro_tokens} tokens: train.batch_tokens / train.update_freq) are "
                "left out"
            )
        if self.beyond_positions:
            notes.append(
                f"{self.beyond_positions} training and dev pairs with a side longer than "
                f"model.max_positions ({self.recipe.model.max_positions} learned positions, "
                "EOS included) are left out"
            )
        for text in filter(None, notes):
            reporter.message(text)
        if self.started_from is not None and self.state.step == 0:  # the first row says so
            origin = self.started_from
            reporter.log(
                {"step": 0, "epoch": 1, "init_from": origin["checkpoint"]}
                | {"init_step": origin["step"]}
            )
        reporter.start(self._total_updates(), self.state.step, self.state.epoch)
        return reporter

    @contextlib.contextmanager
    def _catch_stop_signals(self) -> Iterator[None]:
        """First Ctrl-C, SIGTERM or SIGHUP: finish the update, save last.pt, stop. Second:
        abort, as the signal does (exit 130, 143 or 129), leaving the checkpoints saved
        before it. The save never depends on the message (see Reporter.message)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self.stop_signal is not None:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)
            self.stop_signal = signum
            name = signal.Signals(signum).name
            self.reporter.message(f"{name}: stopping after this update ({name} again to abort)")

        previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, action in previous.items():
                signal.signal(signum, action)

    def _finish(self) -> None:
        if self.stop_reason == "interrupted":
            return
        run = self.checkpointer.run
        count = min(self.cfg.average_last, len(run.step_checkpoints()))
        if count > 1:
            average_run(run.root, count)
        metric, value = (
            ("ppl", self.state.best_ppl)
            if self.cfg.valid_metric == "ppl"
            else ("BLEU", self.state.best_bleu)
        )
        best = "none" if value is None else f"{value:.2f}"
        self.reporter.message(
            f"done ({self.stop_reason}) at step {self.state.step}: best dev {metric} {best} "
            "(best.pt); "
            f"checkpoints in {run.checkpoints}"
        )
