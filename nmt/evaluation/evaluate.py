"""The systems `nmt eval` compares: runs translating test sets, and hypothesis files.

A system is one run (or an ensemble, or a folder of `nmt export`) on one test set, or a
hypothesis file. Runs translate the named test splits of their own corpus (raw text, never
cleaned) or a --src file through nmt.Translator, as `nmt translate` does; translations are
cached in RUN/translations/ and reused while the checkpoint, the decoding settings and the
source text stay the same (an exported folder's are not cached: eval writes nothing into
it). nmt/metrics/bleu.py scores and compares them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from rich.console import Console

from nmt.config.recipe import DecodeConfig, Recipe, split_name_problem
from nmt.data.corpus import data_card
from nmt.data.prepare import raw_splits
from nmt.errors import NmtError, OptionError, SpelledError, literal
from nmt.generation.decoding import DecodingOptions
from nmt.inference.translator import Translator
from nmt.jsonio import read_json
from nmt.metrics.bleu import System
from nmt.models.architectures import family
from nmt.models.export_card import is_export
from nmt.models.model import count_parameters
from nmt.run.checkpoint import training_record
from nmt.run.loading import resolve_checkpoint
from nmt.textio import read_lines

stderr = Console(stderr=True)
# Decoding options that change no best translation, so a cached one holds whatever they are.
UNCHANGING = ("batch_tokens", "nbest")


def check_counts(hypotheses: list[str], hyp_name: str, references: list[str], ref_name: str):
    if len(hypotheses) != len(references):
        raise NmtError(
            f"{hyp_name} has {len(hypotheses)} lines but the reference {ref_name} has "
            f"{len(references)}"
        )
    if not references:
        raise NmtError(f"{ref_name}: no lines to score")


def file_systems(
    hyp_files: list[Path], ref_file: Path, src_file: Path | None = None
) -> list[System]:
    """Systems from hypothesis files, all scored against one reference file (and, for
    scores by sentence length, translated from src_file)."""
    references = read_lines(ref_file)
    src = None
    if src_file is not None:
        src = read_lines(src_file, errors="replace")[0]
        check_counts(src, str(src_file), references, str(ref_file))
    systems = []
    for path in hyp_files:
        hypotheses = read_lines(path)
        check_counts(hypotheses, str(path), references, str(ref_file))
        systems.append(
            System(Path(path).name, "-", None, ref_file.name, hypotheses, references, sources=src)
        )
    return systems


def run_systems(
    run: Path | Sequence[Path],
    tests: list[str] | None,
    src_file: Path | None,
    ref_file: Path | None,
    options: dict[str, Any],
    device: str = "auto",
    use_cache: bool = True,
    progress: bool = False,
    precision: str = "auto",
    shortlist: bool = False,
) -> list[System]:
    """One system per test set for a run directory, checkpoint or exported folder, or for an
    ensemble of runs (a list; see the module docstring); `options` are decoding options by name;
    precision and shortlist as nmt.Translator.load takes them (a system decoded otherwise
    than in fp32 without a shortlist says how in its name)."""
    runs = [Path(run)] if isinstance(run, str | Path) else [Path(one) for one in run]
    translator = Translator.load(*runs, device=device, precision=precision, shortlist=shortlist)
    decoding = translator.options(**options)
    recipe = translator.recipe
    if is_export(runs[0]):  # alone: Translator.load refuses an export in an ensemble
        checkpoints, name = [], runs[0].resolve().name
        params, training = translator.model.card["parameters"], {}
    else:
        checkpoints = [resolve_checkpoint(one) for one in runs]
        name = "+".join(
            one.name if one.is_dir() else f"{checkpoint.parent.parent.name}/{checkpoint.stem}"
            for one, checkpoint in zip(runs, checkpoints, strict=True)
        )
        params = count_parameters(translator.model)
        training = training_record(checkpoints[0]) if len(runs) == 1 else {}
    if translator.setting != "fp32":
        name += f" [{translator.setting}]"
    arch = family(recipe.model) if len(runs) == 1 else f"ensemble of {len(runs)}"

    sets: list[tuple[str, list[str], list[str], str]] = []
    if src_file is not None:
        sources, references = read_lines(src_file, errors="replace")[0], read_lines(ref_file)
        check_counts(sources, str(src_file), references, str(ref_file))
        sets.append((src_file.name, sources, references, str(ref_file)))
    else:
        sets += _test_splits(recipe, tests)

    systems = []
    for test, sources, references, ref_name in sets:
        cache = None
        if use_cache and checkpoints:
            folder = checkpoints[0].parent.parent / "translations"
            cache = _Cache(folder, test, checkpoints, decoding, sources, translator.setting)
        hypotheses, seconds = cache.read() if cache else (None, None)
        cached = hypotheses is not None
        if not cached:
            translated = translator.translations(
                sources, decoding, progress=f"{name}: {test}" if progress else None
            )
            hypotheses, seconds = translated.best(), translated.report.seconds
            if cache:
                cache.write(hypotheses, seconds)
        check_counts(hypotheses, str(cache.text) if cache else name, references, ref_name)
        systems.append(
            System(
                name, arch, params, test, hypotheses, references, seconds, cached, sources, training
            )
        )
    return systems


def _test_splits(
    recipe: Recipe, tests: list[str] | None
) -> list[tuple[str, list[str], list[str], str]]:
    """(name, sources, references, description) of the run's corpus test splits."""
    for name in tests or ():
        problem = split_name_problem(name)
        if problem is not None:
            raise OptionError("tests", literal(problem))
    if not tests:
        card = data_card(recipe.data)
        tests = [name for name in card.split_names if name not in ("train", "valid")]
        if not tests:
            corpus = literal(card.name)
            use = "use {src_file} and {ref_file}"
            raise SpelledError(f"corpus {corpus} names no test split; {use}")
    splits = raw_splits(recipe.data, tests)
    where = f"{recipe.data.corpus} {recipe.data.src}-{recipe.data.tgt}"
    return [
        (name, list(splits[name]["src"]), list(splits[name]["tgt"]), f"{where} {name}")
        for name in tests
    ]


class _Cache:
    """RUN/translations/<test>.<checkpoint>.beam<k>.lp<alpha>[.<setting>].txt plus a .json
    of its key (an ensemble's files are in its first run, named ensemble-<hash of its
    checkpoints>; setting: the precision and shortlist when not fp32 alone)."""

    def __init__(
        self,
        folder: Path,
        test: str,
        checkpoints: Sequence[Path],
        decode: DecodingOptions,
        sources: list[str],
        setting: str = "fp32",
    ):
        first, others = checkpoints[0], checkpoints[1:]
        name = first.stem
        if others:
            paths = "\n".join(str(checkpoint.resolve()) for checkpoint in checkpoints)
            name = f"ensemble-{hashlib.sha256(paths.encode()).hexdigest()[:12]}"
        stem = f"{test}.{name}.beam{decode.beam}.lp{decode.length_penalty:g}"
        stem += "" if setting == "fp32" else f".{setting}"
        self.text = folder / f"{stem}.txt"
        self.meta = folder / f"{stem}.json"
        run = {item.name for item in fields(DecodeConfig)}
        unset = asdict(DecodingOptions())
        decoding = {  # a call's own options only where set: older caches stay valid
            name: value
            for name, value in asdict(decode).items()
            if name not in UNCHANGING and (name in run or value != unset[name])
        }
        stat = first.stat()
        self.key = {
            "checkpoint": str(first.resolve()),
            "checkpoint_size": stat.st_size,
            "checkpoint_mtime_ns": stat.st_mtime_ns,
            "decode": decoding,
            "source_sha256": hashlib.sha256("\n".join(sources).encode()).hexdigest(),
            "lines": len(sources),
            "setting": setting,
        }
        if others:
            self.key["ensemble"] = [
                [str(c.resolve()), c.stat().st_size, c.stat().st_mtime_ns] for c in others
            ]

    def read(self) -> tuple[list[str] | None, float | None]:
        try:
            meta = read_json(self.meta)
            lines = read_lines(self.text)
        except NmtError:
            return None, None
        if (
            not isinstance(meta, dict)
            or meta.get("key") != self.key
            or len(lines) != self.key["lines"]
        ):
            return None, None
        return lines, meta.get("seconds")

    def write(self, hypotheses: list[str], seconds: float) -> None:
        """Keep the translations for the next eval; a run that cannot be written to (read
        only, a full disk) is scored all the same, with a warning."""
        meta = {"key": self.key, "seconds": seconds}
        try:
            self.text.parent.mkdir(parents=True, exist_ok=True)
            self.text.write_text("".join(line + "\n" for line in hypotheses), encoding="utf-8")
            self.meta.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        except OSError as error:
            stderr.print(
                f"[yellow]warning:[/] {self.text.parent}: cannot cache the translations there "
                f"({error.strerror}); scored without caching (--no-cache skips the cache)",
                highlight=False,
                soft_wrap=True,
            )
