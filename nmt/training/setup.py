"""Building a training run around the loop: open the run directory (the lock, where it
starts, what --resume may change), prepare the data (cached), copy the sentencepiece models
into the run, and build the Trainer (nmt/training/train.py) that trains it from there; under
torchrun, rank 0 prepares and copies first (nmt/training/distributed.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nmt.atomic import write_atomic
from nmt.config.recipe import Recipe
from nmt.data.batching import ParallelData
from nmt.data.prepare import Prepared, prepare
from nmt.data.subword import SubwordSampler
from nmt.data.tokenizer import pieces
from nmt.errors import NmtError
from nmt.run.rundir import RunDir, default_run_dir
from nmt.run.train_state import TrainResult
from nmt.training import distributed
from nmt.training.finetune import Origin, load_origin
from nmt.training.resume import Checkpointer, Start
from nmt.training.train import Trainer


def _copy_model(source: Path, target: Path, resume: bool) -> None:
    """Copy a sentencepiece model into the run; a resumed run keeps the one it had, which
    must hold the same pieces and scores (models trained before nmt/data/tokenizer.py wrote
    them reproducibly differ in their bytes when the data was prepared again)."""
    if resume and target.is_file():
        if target.read_bytes() != source.read_bytes() and pieces(target) != pieces(source):
            raise NmtError(
                f"{target}: differs from the prepared {source}; the data settings changed "
                "since this run started (resume with the run's recipe.yaml)"
            )
        return
    write_atomic(target, source.read_bytes())


def _kept_vocabulary(
    recipe: Recipe, run: RunDir, origin: Origin | None, main: bool
) -> tuple[Path, Path] | None:
    """The sentencepiece models a run started from another (train.init_from) prepares its
    data with: that run's, copied into this one when it starts (by rank 0); None when the
    models are to be trained."""
    if not recipe.train.init_from:
        return None
    if origin is not None and main:
        write_atomic(run.src_model, origin.run.src_model.read_bytes())
        write_atomic(run.tgt_model, origin.run.tgt_model.read_bytes())
    return run.src_model, run.tgt_model


def _sampler(recipe: Recipe, prepared: Prepared) -> SubwordSampler | None:
    """What data.subword_alpha asks for: the prepared training text segmented afresh each
    epoch (nmt/data/subword.py); None when it is 0."""
    if not recipe.data.subword_alpha:
        return None
    texts = prepared.splits["train"].select_columns(["src", "tgt"]).to_dict()
    return SubwordSampler(
        (prepared.src_spm, prepared.tgt_spm),
        recipe.data.spm_type,
        recipe.data.subword_alpha,
        (texts["src"], texts["tgt"]),
        recipe.train.seed,
    )


def run_training(
    checkpointer: Checkpointer,
    recipe: Recipe,
    resume: bool,
    trainer: Callable[[Start], Trainer],
) -> TrainResult:
    """Open the run once (the lock, where it starts, what --resume may change) and train it
    from there; a run already finished returns before `trainer` builds anything. `trainer`
    is given where the run starts (a run started from another loads that one's weights only
    when it starts afresh)."""
    with checkpointer.open(recipe, resume) as start:
        if start.finished is not None:
            root = checkpointer.run.root
            return TrainResult.of(root, start.state, start.finished, already_finished=True)
        return trainer(start).fit(start)


def train(
    recipe: Recipe,
    run_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    skip_damaged: bool = False,
) -> TrainResult:
    """Open the run directory, prepare the data (cached), copy the sentencepiece models into
    the run and train; with train.init_from, from another run's weights and sentencepiece
    models (nmt/training/finetune.py). Under torchrun, rank 0 prepares and copies first and the
    other ranks then read its cache. skip_damaged: see nmt/training/resume.py."""
    ctx = distributed.init_from_env(recipe.train.ddp_timeout_minutes)
    run = RunDir(Path(run_dir) if run_dir else default_run_dir(recipe.name))
    checkpointer = Checkpointer(run, ctx.main, skip_damaged)

    def trainer(start: Start) -> Trainer:
        fresh = recipe.train.init_from and start.payload is None
        origin = load_origin(recipe) if fresh else None
        with distributed.main_first(ctx):
            vocabulary = _kept_vocabulary(recipe, run, origin, ctx.main)
            prepared = prepare(recipe.data, progress and ctx.main, vocabulary)
            if "valid" not in prepared.splits:
                raise NmtError(
                    f"{recipe.data.corpus}: the corpus has no valid split to validate on"
                )
            if ctx.main:
                _copy_model(prepared.src_spm, run.src_model, resume)
                _copy_model(prepared.tgt_spm, run.tgt_model, resume)
        tokenizer = prepared.tokenizer()
        return Trainer(
            recipe,
            ParallelData.from_dataset(prepared.splits["train"]),
            ParallelData.from_dataset(prepared.splits["valid"]),
            tokenizer.decode_tgt,
            run.root,
            (tokenizer.src_vocab_size, tokenizer.tgt_vocab_size),
            progress=progress and ctx.main,
            checkpointer=checkpointer,
            sampler=_sampler(recipe, prepared),
            origin=origin,
        )

    try:
        result = run_training(checkpointer, recipe, resume, trainer)
    except BaseException:
        distributed.shutdown(meet=False)
        raise
    distributed.shutdown()
    return result
