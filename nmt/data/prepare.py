"""Prepared data: corpus card -> raw splits -> cleaned train -> sentencepiece -> encoded ids.

The result is cached in `{cache_dir}/{corpus}-{src}-{tgt}-{fingerprint}`. The fingerprint
covers everything that changes the result (the card, the data settings but where files
live, PIPELINE_VERSION, and the size and mtime of the mirror files or the recipe's own
files read), so a second run
is a cache hit and a changed setting is a rebuild. A cache is built under a temporary
name and renamed when complete: a killed run never leaves a half-built cache behind, and
the next prepare removes the temporary folder it left (a build holds an OS lock on
`.NAME.tmp.lock` while it runs, so a build still running is never touched).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from stat import S_ISREG
from typing import Any

import datasets
from rich.console import Console

from nmt.atomic import naming
from nmt.config.recipe import DataConfig
from nmt.config.schema import policy
from nmt.data.clean import CleanReport, clean_pairs, clean_table
from nmt.data.corpus import (
    Card,
    check_pair,
    data_card,
    load_splits,
    mirror_files,
    progress_bar,
    quiet_datasets,
    resolve_mirror,
)
from nmt.data.joining import with_joined
from nmt.data.tokenizer import Tokenizer, train_sentencepiece
from nmt.errors import NmtError
from nmt.jsonio import read_json
from nmt.lock import FileLock

PIPELINE_VERSION = 1  # bump when a change here changes what a cache holds
META, REPORT, SPLITS = "prepared.json", "clean_report.json", "splits"
FEATURES = datasets.Features(
    {
        "src": datasets.Value("string"),
        "tgt": datasets.Value("string"),
        "src_ids": datasets.List(datasets.Value("int32")),
        "tgt_ids": datasets.List(datasets.Value("int32")),
    }
)
stderr = Console(stderr=True)
Vocabulary = tuple[Path, Path] | None  # given sentencepiece models (source, target)


@dataclass
class Prepared:
    """A prepared cache folder: encoded splits and the sentencepiece models."""

    dir: Path
    splits: dict[str, datasets.Dataset]  # columns src, tgt (text), src_ids, tgt_ids (no BOS/EOS)
    src_spm: Path
    tgt_spm: Path  # the same file as src_spm when the vocabulary is joint
    meta: dict[str, Any]  # what prepared.json says: settings, sizes, vocab sizes
    cache_hit: bool = False

    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.src_spm, self.tgt_spm)


def raw_splits(
    cfg: DataConfig, names: Iterable[str] | None = None, progress: bool = False
) -> dict[str, datasets.Dataset]:
    """Raw text splits (columns src, tgt) of the configured corpus; all when names is None.

    Nothing is cleaned or encoded: this is what `nmt eval` scores against.
    """
    card = data_card(cfg)
    names = card.split_names if names is None else names
    mirror = resolve_mirror(cfg.data_dir)
    return load_splits(card, cfg.src, cfg.tgt, mirror, names, cfg.split_seed, progress)


def fingerprint(
    card: Card, cfg: DataConfig, mirror: Path | None, vocabulary: Vocabulary = None
) -> str:
    """A hash of everything that makes this prepared data what it is."""
    # not where things live, nor what training alone reads (fingerprinted=False)
    settings = {
        item.name: getattr(cfg, item.name) for item in fields(cfg) if policy(item, "fingerprinted")
    }
    if card.pool is None:
        settings.pop("split_seed")  # only corpora cut by us depend on it
    files = [
        (_shown_path(path, mirror), *_stamp(path))
        for path in mirror_files(card, mirror, cfg.src, cfg.tgt, card.split_names)
    ]
    blob = {"version": PIPELINE_VERSION, "card": card.raw, "data": settings, "mirror": files}
    if vocabulary is not None:  # sentencepiece models given, not trained
        blob["vocabulary"] = [
            hashlib.sha256(model.read_bytes()).hexdigest() for model in vocabulary
        ]
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def _shown_path(path: Path, mirror: Path | None) -> str:
    """A mirror file relative to the mirror (which may move); a recipe's own file as named."""
    if mirror is not None and path.is_relative_to(mirror):
        return path.relative_to(mirror).as_posix()
    return str(path)


def _stamp(path: Path) -> tuple[int, int]:
    """Size and modification time of a file read; a file that is not there, or is no
    regular file (a FIFO would hang the run, a device never ends), is named."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise NmtError(f"{path}: file not found") from None
    if not S_ISREG(stat.st_mode):
        raise NmtError(f"{path}: not a regular file (a FIFO, device or socket); name a file")
    return stat.st_size, stat.st_mtime_ns


def prepare(cfg: DataConfig, progress: bool = True, vocabulary: Vocabulary = None) -> Prepared:
    """The prepared data for cfg, from the cache when nothing that matters changed.

    vocabulary: the source and target sentencepiece models to encode with, instead of
    training them on the cleaned train split (a run that starts from another keeps that
    run's, nmt/training/finetune.py). With progress, bars, the cleaning table and where the cache is
    go to stderr.
    """
    start = time.perf_counter()
    card = data_card(cfg)
    check_pair(card, cfg.src, cfg.tgt)
    if "train" not in card.split_names:
        raise NmtError(f"corpus {card.name} has no train split (splits: {card.split_names})")
    mirror = resolve_mirror(cfg.data_dir)
    key = fingerprint(card, cfg, mirror, vocabulary)
    folder = Path(cfg.cache_dir) / f"{card.name}-{cfg.src}-{cfg.tgt}-{key[:12]}"
    remove_abandoned_builds(folder.parent)
    hit = (folder / META).is_file()
    if not hit:
        with naming(folder):  # a build writes nowhere else
            _build(card, cfg, mirror, key, folder, progress, vocabulary)
    prepared = open_prepared(folder, cache_hit=hit)
    if progress:
        what = "cache hit" if hit else "prepared"
        stderr.print(f"{what}: {folder} ({time.perf_counter() - start:.1f} s)", highlight=False)
    return prepared


def open_prepared(folder: Path, cache_hit: bool = False) -> Prepared:
    """A finished cache folder, splits memory-mapped from disk."""
    folder = Path(folder)
    if not (folder / META).is_file():
        raise NmtError(f"{folder}: not a prepared data folder (no {META})")
    meta = read_json(folder / META)
    if not isinstance(meta, dict) or not {"src_spm", "tgt_spm"} <= set(meta):
        raise NmtError(f"{folder / META}: not the record of a prepared data folder")
    splits = dict(datasets.load_from_disk(str(folder / SPLITS)))
    return Prepared(
        folder, splits, folder / meta["src_spm"], folder / meta["tgt_spm"], meta, cache_hit
    )


def _build_lock(tmp: Path) -> FileLock:
    return FileLock(tmp.with_name(tmp.name + ".lock"))


def remove_abandoned_builds(cache_dir: Path) -> None:
    """Delete the temporary folders (and lock files) of builds whose process is gone: their
    lock is free. Taking it first keeps a build that starts meanwhile from losing its folder."""
    if not cache_dir.is_dir():
        return
    names = {path.name.removesuffix(".lock") for path in cache_dir.glob(".*.tmp*")}
    for tmp in sorted(cache_dir / name for name in names if name.endswith(".tmp")):
        lock = _build_lock(tmp)
        if lock.acquire():
            shutil.rmtree(tmp, ignore_errors=True)
            lock.path.unlink(missing_ok=True)
            lock.release()


def _build(
    card: Card,
    cfg: DataConfig,
    mirror: Path | None,
    key: str,
    folder: Path,
    progress: bool,
    vocabulary: Vocabulary,
) -> None:
    """Build the cache in a temporary folder beside `folder`, then rename it into place."""
    start = time.perf_counter()
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    lock = _build_lock(tmp)
    lock.acquire()  # a name of its own: always free
    try:
        tmp.mkdir()
        raw = load_splits(
            card, cfg.src, cfg.tgt, mirror, card.split_names, cfg.split_seed, progress
        )
        train, report = clean_pairs(raw["train"], cfg)
        if progress:
            stderr.print(f"cleaning {card.name} {cfg.src}-{cfg.tgt} train:", highlight=False)
            stderr.print(clean_table(report))
        if report.after == 0:
            raise NmtError(f"corpus {card.name}: cleaning left no training pairs {report.dropped}")
        _write_json(tmp / REPORT, _report(card, cfg, raw, report))
        if vocabulary is None:
            src_spm, tgt_spm = _train_models(train, cfg, tmp, progress)  # on unjoined pairs
        else:
            src_spm, tgt_spm = _copy_models(vocabulary, tmp)
        train = with_joined(train, cfg.join_max)
        if progress and cfg.join_max > 1:
            added = len(train) - report.after
            stderr.print(f"joined: {added:,} pairs of 2-{cfg.join_max} training pairs added")
        tokenizer = Tokenizer(src_spm, tgt_spm)
        stats, encoded = _encode({**raw, "train": train}, tokenizer, key, progress)
        with quiet_datasets():
            datasets.DatasetDict(encoded).save_to_disk(str(tmp / SPLITS))
        meta = {
            "version": PIPELINE_VERSION,
            "fingerprint": key,
            "data": asdict(cfg),
            "src_spm": src_spm.name,
            "tgt_spm": tgt_spm.name,
            "src_vocab_size": tokenizer.src_vocab_size,
            "tgt_vocab_size": tokenizer.tgt_vocab_size,
            "splits": stats,
            "build_seconds": round(time.perf_counter() - start, 2),
        }
        _write_json(tmp / META, meta)  # written last: its presence marks a complete cache
        _move_into_place(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        lock.path.unlink(missing_ok=True)
        lock.release()


def _report(
    card: Card, cfg: DataConfig, raw: dict[str, datasets.Dataset], report: CleanReport
) -> dict[str, Any]:
    """What clean_report.json says: sizes before cleaning, the rules, what train lost."""
    return {
        "corpus": card.name,
        "pair": f"{cfg.src}-{cfg.tgt}",
        "raw_sizes": {name: len(ds) for name, ds in raw.items()},
        "rules": {
            "max_words": cfg.max_words,
            "max_chars": cfg.max_chars,
            "max_ratio": cfg.max_ratio,
            "dedupe": cfg.dedupe,
        },
        "train": report.to_dict(),
        "not_filtered": [name for name in raw if name != "train"],
    }


def _move_into_place(tmp: Path, folder: Path) -> None:
    if folder.exists() and not (folder / META).is_file():
        shutil.rmtree(folder)  # an unfinished leftover (not ours: ours are renamed whole)
    try:
        os.rename(tmp, folder)
    except OSError:
        if not (folder / META).is_file():
            raise  # else another run finished the same cache first: keep theirs


def _train_models(
    train: datasets.Dataset, cfg: DataConfig, folder: Path, progress: bool
) -> tuple[Path, Path]:
    """One joint model on both sides, or one model per side."""
    sides = {"joint": ("src", "tgt")} if cfg.joint_vocab else {"src": ("src",), "tgt": ("tgt",)}
    models = {}
    with progress_bar(progress) as bar:
        for name, columns in sides.items():
            task = bar.add_task(
                f"sentencepiece {name} {cfg.spm_type} {cfg.vocab_size}",
                total=len(train) * len(columns),
            )
            models[name] = train_sentencepiece(
                _lines(train, columns, lambda n, task=task: bar.advance(task, n)),
                folder / f"{name}.model",
                cfg.vocab_size,
                cfg.spm_type,
                cfg.character_coverage,
            )
    if cfg.joint_vocab:
        return models["joint"], models["joint"]
    return models["src"], models["tgt"]


def _copy_models(vocabulary: tuple[Path, Path], folder: Path) -> tuple[Path, Path]:
    """The given models, copied into the cache: one joint.model when they are the same."""
    src, tgt = (model.read_bytes() for model in vocabulary)
    if src == tgt:
        (folder / "joint.model").write_bytes(src)
        return folder / "joint.model", folder / "joint.model"
    (folder / "src.model").write_bytes(src)
    (folder / "tgt.model").write_bytes(tgt)
    return folder / "src.model", folder / "tgt.model"


def _lines(
    ds: datasets.Dataset, columns: tuple[str, ...], advance: Callable[[int], object]
) -> Iterator[str]:
    """Every line of the given columns, telling `advance` how many went by."""
    for batch in ds.iter(batch_size=10_000):
        for column in columns:
            yield from batch[column]
            advance(len(batch[column]))


def _encode(
    splits: dict[str, datasets.Dataset], tokenizer: Tokenizer, key: str, progress: bool
) -> tuple[dict[str, dict[str, int]], dict[str, datasets.Dataset]]:
    """Add src_ids and tgt_ids to every split; also count pairs and tokens per split."""
    stats = {
        name: {"pairs": len(ds), "src_tokens": 0, "tgt_tokens": 0} for name, ds in splits.items()
    }
    encoded = {}
    with progress_bar(progress) as bar, quiet_datasets():
        task = bar.add_task("encoding", total=sum(len(ds) for ds in splits.values()))
        for name, ds in splits.items():

            def ids(batch: dict[str, list], counts: dict[str, int] = stats[name]) -> dict:
                src, tgt = tokenizer.encode_src(batch["src"]), tokenizer.encode_tgt(batch["tgt"])
                counts["src_tokens"] += sum(map(len, src))
                counts["tgt_tokens"] += sum(map(len, tgt))
                bar.advance(task, len(src))
                return {"src_ids": src, "tgt_ids": tgt}

            encoded[name] = ds.map(
                ids,
                batched=True,
                batch_size=10_000,
                features=FEATURES,
                # a name of our own, so datasets does not try to hash the tokenizer closure
                new_fingerprint=hashlib.sha256(f"{key}/{name}".encode()).hexdigest()[:32],
                load_from_cache_file=False,
            )
    return stats, encoded


def _write_json(path: Path, tree: dict) -> None:
    path.write_text(json.dumps(tree, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
