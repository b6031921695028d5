"""Translating whole files: raw lines in, detokenised lines out, always one for one.

Lines are encoded with the run's sentencepiece model, grouped into length-sorted batches
of about `decode.batch_tokens` source tokens, searched (greedy for beam 1, else batched
beam search) and put back in input order. Blank lines never reach the model and come out
blank; over-long lines are truncated; invalid UTF-8 is replaced; each case is counted so
the caller can warn once at the end instead of failing in the middle of a file.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from nmt.atomic import write_output
from nmt.batching import collate, token_batches
from nmt.config import DecodeConfig, check_decode_options, check_search_options
from nmt.device import resolve_device
from nmt.errors import NmtError
from nmt.search import Hypotheses, beam_search, greedy, length_limits
from nmt.textio import decode_lines, read_lines

if TYPE_CHECKING:
    from nmt.tokenizer import Tokenizer

NBEST_SEPARATOR = " ||| "


@dataclass
class Report:
    """What happened to the input lines; `warnings()` turns it into messages for the user."""

    lines: int = 0
    translated: int = 0  # lines that went through the model
    blank: int = 0
    truncated: int = 0
    invalid_utf8: int = 0
    max_source_len: int = 0
    seconds: float = 0.0

    def warnings(self) -> list[str]:
        found = []
        if self.truncated:
            found.append(
                f"{self.truncated} line(s) longer than {self.max_source_len} pieces were "
                "translated truncated (decode.max_source_len)"
            )
        if self.invalid_utf8:
            found.append(
                f"{self.invalid_utf8} line(s) were not valid UTF-8; bad bytes became U+FFFD"
            )
        return found


@dataclass
class Translations:
    """Per input line, its hypotheses best first (nbest of them; blank lines give "")."""

    texts: list[list[str]]
    scores: list[list[float]]  # log-probability / length**length_penalty
    report: Report = field(default_factory=Report)

    def best(self) -> list[str]:
        return [ranked[0] for ranked in self.texts]

    def output_lines(self, nbest: int) -> list[str]:
        """One line per input; with nbest > 1, nbest lines `i ||| hypothesis ||| score`."""
        if nbest == 1:
            return self.best()
        return [
            f"{i}{NBEST_SEPARATOR}{text}{NBEST_SEPARATOR}{score:.4f}"
            for i, (texts, scores) in enumerate(zip(self.texts, self.scores, strict=True))
            for text, score in zip(texts, scores, strict=True)
        ]


def search_batch(
    model, src, src_lengths, decode: DecodeConfig, nbest: int, min_len: int, attention: bool
) -> Hypotheses:
    """Greedy for beam 1, beam search otherwise; scores length-normalised either way."""
    limits = length_limits(src_lengths, decode.max_len_a, decode.max_len_b)
    if decode.beam == 1 and nbest == 1:
        found = greedy(model, src, src_lengths, limits, min_len, return_attention=attention)
        alpha = decode.length_penalty
        found.scores = [
            [score / (len(tokens) + 1) ** alpha for tokens, score in zip(ts, ss, strict=True)]
            for ts, ss in zip(found.tokens, found.scores, strict=True)
        ]
        return found
    return beam_search(
        model,
        src,
        src_lengths,
        decode.beam,
        limits,
        decode.length_penalty,
        nbest,
        min_len,
        return_attention=attention,
    )


def translate_lines(
    model,
    tokenizer: Tokenizer,
    lines: list[str],
    decode: DecodeConfig,
    device: torch.device,
    nbest: int = 1,
    min_len: int = 0,
    attention_dir: Path | None = None,
    progress: bool = False,
    label: str = "translating",
) -> Translations:
    """Translate raw lines (see the module docstring); `attention_dir` gets heat maps.

    Decoding runs in fp32 even where training used bf16: the search is bound by kernel
    launches, not arithmetic, and bf16 casts only add kernels (measured on an H100).
    """
    check_search_options(decode, nbest, min_len)
    if attention_dir is not None and not model.has_attention:
        raise NmtError("--attention: this model has no attention (model.attention: none)")
    start = time.perf_counter()
    report = Report(lines=len(lines), max_source_len=decode.max_source_len)
    texts: list[list[str]] = [[""] * nbest for _ in lines]
    scores: list[list[float]] = [[0.0] * nbest for _ in lines]
    wanted = [i for i, line in enumerate(lines) if line.strip()]
    encoded = tokenizer.encode_src([lines[i] for i in wanted]) if wanted else []
    rows = [(i, ids) for i, ids in zip(wanted, encoded, strict=True) if ids]
    report.blank = len(lines) - len(rows)
    report.truncated = sum(len(ids) > decode.max_source_len for _, ids in rows)
    rows = [(i, ids[: decode.max_source_len]) for i, ids in rows]
    report.translated = len(rows)
    batches = token_batches([len(ids) + 1 for _, ids in rows], decode.batch_tokens, shuffle=False)
    with _progress(progress) as bar:
        task = bar.add_task(label, total=len(rows))
        for members in batches:
            batch = collate([rows[j][1] for j in members], None, members).to(device)
            found = search_batch(
                model,
                batch.src,
                batch.src_lengths,
                decode,
                nbest,
                min_len,
                attention_dir is not None,
            )
            flat = [tokens for ranked in found.tokens for tokens in ranked]
            decoded = iter(_one_line(text) for text in tokenizer.decode_tgt(flat))
            for j, ranked, ranked_scores in zip(members, found.tokens, found.scores, strict=True):
                line = rows[j][0]
                texts[line] = [next(decoded) for _ in ranked]
                scores[line] = ranked_scores
            if attention_dir is not None:
                _heat_maps(tokenizer, lines, rows, members, found, attention_dir)
            bar.advance(task, len(members))
    report.seconds = time.perf_counter() - start
    return Translations(texts, scores, report)


def _one_line(text: str) -> str:
    """A hypothesis must never add a line to the output."""
    return text.replace("\n", " ").replace("\r", " ")


def _heat_maps(tokenizer, lines, rows, members, found: Hypotheses, folder: Path) -> None:
    from nmt.plot import attention_heatmap

    folder.mkdir(parents=True, exist_ok=True)
    for j, ranked, weights in zip(members, found.tokens, found.attention, strict=True):
        line, ids = rows[j]
        src_pieces = tokenizer.src_pieces(lines[line])[: len(ids)] + ["</s>"]
        tgt_pieces = tokenizer.tgt_pieces_from_ids(ranked[0]) + ["</s>"]
        attention_heatmap(weights, src_pieces, tgt_pieces, folder / f"{line:06d}.png")


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
    )


def read_input(path: Path | None) -> tuple[list[str], int]:
    """Lines of a file or of stdin, invalid UTF-8 replaced: (lines, lines with bad bytes)."""
    if path is None:
        return decode_lines(sys.stdin.buffer.read(), "<stdin>", errors="replace")
    return read_lines(path, errors="replace")


def write_lines(lines: list[str], path: Path | None) -> None:
    """One line each to stdout, or to `path` in one atomic step (an old file survives a
    failure whole, and no reader sees half of the new one)."""
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_output(path, data)


def translate_file(
    model_path: Path,
    source: Path | None,
    output: Path | None,
    decode_overrides: dict,
    device: str = "auto",
    nbest: int = 1,
    min_len: int = 0,
    attention_dir: Path | None = None,
) -> Report:
    """The whole `nmt translate`: load the run, read, translate, write; returns the report.

    decode_overrides: DecodeConfig fields to change from the run's recipe (None = keep);
    they are range-checked before anything is loaded. `output` is a file in a writable
    folder (nmt.atomic.output_file checks what a user typed).
    """
    from nmt.checkpoint import load_for_inference

    check_decode_options({**decode_overrides, "nbest": nbest, "min_len": min_len})
    torch_device = resolve_device(device)
    model, recipe, tokenizer = load_for_inference(Path(model_path), torch_device)
    decode = replace(recipe.decode, **{k: v for k, v in decode_overrides.items() if v is not None})
    lines, invalid = read_input(source)
    result = translate_lines(
        model,
        tokenizer,
        lines,
        decode,
        torch_device,
        nbest,
        min_len,
        attention_dir,
        progress=source is not None,
    )
    result.report.invalid_utf8 = invalid
    write_lines(result.output_lines(nbest), output)
    return result.report
