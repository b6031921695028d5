"""Translating whole files: raw lines in, detokenised lines out, always one for one.

Lines are encoded with the run's sentencepiece model, grouped into length-sorted batches
of about `decode.batch_tokens` source tokens, searched (greedy for beam 1, sampling with
--sample, else batched beam search) and put back in input order. Blank lines never reach
the model and come out blank; over-long lines are truncated; invalid UTF-8 is replaced;
each case is counted so the caller can warn once at the end instead of failing in the
middle of a file. With --stream, lines are read and translated one at a time and each
translation is written as soon as it is ready; a line's translation is the same either way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from nmt.alignment import END, Alignment
from nmt.atomic import STANDARD_OUTPUT, naming, write_output
from nmt.batching import collate, token_batches
from nmt.config import DecodeConfig, Sampling, check_decode_options, check_search_options
from nmt.constraints import Constraints
from nmt.errors import NmtError
from nmt.search import Hypotheses, beam_search, greedy, length_limits, sample
from nmt.textio import decode_lines, read_lines, standard_stream, stream_lines

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

    def add(self, other: Report) -> None:
        """Count `other`'s lines too (streaming makes one report per line)."""
        for name in ("lines", "translated", "blank", "truncated", "invalid_utf8", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_source_len = other.max_source_len

    def warnings(self) -> list[str]:
        found = []
        if self.truncated:
            found.append(
                f"{self.truncated} line(s) longer than {self.max_source_len} pieces were truncated "
                "to that length (decode.max_source_len)"
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
    nbest: int = 1  # hypotheses written per line
    first_line: int = 0  # the number of the first line, from 0 (a stream's lines come alone)
    alignments: list[list[Alignment]] | None = None  # [line][rank]

    def best(self) -> list[str]:
        return [ranked[0] for ranked in self.texts]

    def outputs(self) -> list[tuple[int, int]]:
        """(line, rank) of every output line, in order: the best of each line, or with
        nbest > 1 each line's nbest."""
        return [
            (line, rank)
            for line, ranked in enumerate(self.texts)
            for rank in range(len(ranked) if self.nbest > 1 else 1)
        ]

    def output_lines(self) -> list[str]:
        """One line per input; with nbest > 1, nbest lines `i ||| hypothesis ||| score`."""
        if self.nbest == 1:
            return self.best()
        return [
            f"{self.first_line + line}{NBEST_SEPARATOR}{self.texts[line][rank]}"
            f"{NBEST_SEPARATOR}{self.scores[line][rank]:.4f}"
            for line, rank in self.outputs()
        ]

    def alignment_lines(self) -> list[str]:
        """A Pharaoh line per output line (nmt/alignment.py)."""
        return [self._alignments()[line][rank].pharaoh() for line, rank in self.outputs()]

    def alignment_json_lines(self) -> list[str]:
        """The attention weights of every output line as one JSON object a line."""
        aligned = self._alignments()
        return [aligned[line][rank].json(self.first_line + line) for line, rank in self.outputs()]

    def _alignments(self) -> list[list[Alignment]]:
        if self.alignments is None:
            raise NmtError("alignments were not asked for (alignments=True)")
        return self.alignments


def search_batch(
    model,
    src,
    src_lengths,
    decode: DecodeConfig,
    nbest: int,
    min_len: int,
    attention: bool,
    *,
    sampling: Sampling | None = None,
    lines: Sequence[int] = (),
    constraints: Constraints | None = None,
) -> Hypotheses:
    """Sampling with `sampling` (seeded by the `lines` numbers), else greedy for beam 1 and
    beam search otherwise; scores length-normalised in every mode."""
    limits = length_limits(src_lengths, decode.max_len_a, decode.max_len_b)
    if sampling is not None:
        return sample(
            model,
            src,
            src_lengths,
            limits,
            sampling,
            lines,
            decode.length_penalty,
            nbest,
            min_len,
            attention,
            constraints,
        )
    if decode.beam == 1 and nbest == 1:
        found = greedy(
            model,
            src,
            src_lengths,
            limits,
            min_len,
            return_attention=attention,
            constraints=constraints,
        )
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
        constraints=constraints,
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
    *,
    no_repeat_ngram: int = 0,
    sampling: Sampling | None = None,
    prefixes: Sequence[str] | None = None,
    first_line: int = 0,
    alignments: bool = False,
) -> Translations:
    """Translate raw lines (see the module docstring); `attention_dir` gets heat maps.

    prefixes: one per line, detokenised; each output starts with its line's prefix.
    first_line: the number of lines[0] in its input (sampling seeds each line by number).
    alignments: keep every output's attention (Translations.alignments).

    Decoding runs in fp32 even where training used bf16: the search is bound by kernel
    launches, not arithmetic, and bf16 casts only add kernels (measured on an H100).
    """
    check_search_options(decode, nbest, min_len, sampling)
    keep_attention = alignments or attention_dir is not None
    if keep_attention and not model.has_attention:
        option = "--attention" if attention_dir is not None else "--alignments"
        raise NmtError(f"{option}: this model has no attention (model.attention: none)")
    if prefixes is not None and len(prefixes) != len(lines):
        raise NmtError(f"--prefix: {len(prefixes)} prefixes for {len(lines)} input lines")
    start = time.perf_counter()
    report = Report(lines=len(lines), max_source_len=decode.max_source_len)
    texts: list[list[str]] = [[""] * nbest for _ in lines]
    scores: list[list[float]] = [[0.0] * nbest for _ in lines]
    aligned = [[Alignment.empty()] * nbest for _ in lines] if keep_attention else None
    wanted = [i for i, line in enumerate(lines) if line.strip()]
    encoded = tokenizer.encode_src([lines[i] for i in wanted]) if wanted else []
    rows = [(i, ids) for i, ids in zip(wanted, encoded, strict=True) if ids]
    report.blank = len(lines) - len(rows)
    report.truncated = sum(len(ids) > decode.max_source_len for _, ids in rows)
    rows = [(i, ids[: decode.max_source_len]) for i, ids in rows]
    report.translated = len(rows)
    forced = None if prefixes is None else _Prefixes(tokenizer, prefixes, rows, decode, first_line)
    batches = token_batches([len(ids) + 1 for _, ids in rows], decode.batch_tokens, shuffle=False)
    with _progress(progress) as bar:
        task = bar.add_task(label, total=len(rows))
        for members in batches:
            batch = collate([rows[j][1] for j in members], None, members).to(device)
            constraints = Constraints.build(
                None if forced is None else [forced.ids[j] for j in members],
                no_repeat_ngram,
                len(members),
                device,
            )
            found = search_batch(
                model,
                batch.src,
                batch.src_lengths,
                decode,
                nbest,
                min_len,
                keep_attention,
                sampling=sampling,
                lines=[first_line + rows[j][0] for j in members],
                constraints=constraints,
            )
            flat = [tokens for ranked in found.tokens for tokens in ranked]
            decoded = iter(tokenizer.decode_tgt(flat))
            for j, ranked, ranked_scores in zip(members, found.tokens, found.scores, strict=True):
                line = rows[j][0]
                found_texts = [next(decoded) for _ in ranked]
                if forced is not None:
                    found_texts = [forced.as_given(j, text) for text in found_texts]
                texts[line] = [_one_line(text) for text in found_texts]
                scores[line] = ranked_scores
            if aligned is not None:
                for j, ranked, weights in zip(members, found.tokens, found.attentions, strict=True):
                    line, ids = rows[j]
                    source = tokenizer.src_pieces(lines[line])[: len(ids)] + [END]
                    aligned[line] = [
                        Alignment(source, tokenizer.tgt_pieces_from_ids(tokens) + [END], w)
                        for tokens, w in zip(ranked, weights, strict=True)
                    ]
                    if attention_dir is not None:
                        _heat_map(aligned[line][0], attention_dir / f"{first_line + line:06d}.png")
            bar.advance(task, len(members))
    report.seconds = time.perf_counter() - start
    return Translations(texts, scores, report, nbest, first_line, aligned)


class _Prefixes:
    """The target ids each row to translate must start with, checked against its output
    limit; and the text of an output put back as given (nmt/constraints.py forces them)."""

    def __init__(self, tokenizer, prefixes: Sequence[str], rows, decode, first_line: int):
        self.given = [prefixes[line] for line, _ in rows]
        self.ids = tokenizer.encode_tgt(self.given) if rows else []
        self.decoded = tokenizer.decode_tgt(self.ids)
        src_lengths = torch.tensor([len(ids) + 1 for _, ids in rows], dtype=torch.long)
        limits = length_limits(src_lengths, decode.max_len_a, decode.max_len_b).tolist()
        for (line, _), ids, limit in zip(rows, self.ids, limits, strict=True):
            if len(ids) > limit:
                raise NmtError(
                    f"--prefix: line {first_line + line + 1}: its prefix has {len(ids)} pieces, "
                    f"more than the {limit} its source allows (decode.max_len_a x source "
                    "pieces + decode.max_len_b)"
                )

    def as_given(self, row: int, text: str) -> str:
        """The output text starting with the prefix exactly as the user wrote it, even where
        the target model had no piece for one of its characters."""
        decoded = self.decoded[row]
        return self.given[row] + text[len(decoded) :] if text.startswith(decoded) else text


def _one_line(text: str) -> str:
    """A hypothesis must never add a line to the output."""
    return text.replace("\n", " ").replace("\r", " ")


def _heat_map(alignment: Alignment, path: Path) -> None:
    from nmt.plot import attention_heatmap

    path.parent.mkdir(parents=True, exist_ok=True)
    attention_heatmap(alignment.weights, alignment.source, alignment.target, path)


def _progress(enabled: bool) -> Progress:
    """A bar on a terminal; elsewhere nothing (rich would leave an empty line in a log)."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )


def read_input(path: Path | None) -> tuple[list[str], int]:
    """Lines of a file or of stdin, invalid UTF-8 replaced: (lines, lines with bad bytes)."""
    if path is None:
        return decode_lines(standard_stream("stdin").read(), "<stdin>", errors="replace")
    return read_lines(path, errors="replace")


def write_lines(lines: list[str], path: Path | None) -> None:
    """One line each to stdout, or to `path` in one atomic step (an old file survives a
    failure whole, and no reader sees half of the new one)."""
    if path is None:
        write_now(lines, standard_stream("stdout"))
    else:
        write_output(path, _as_bytes(lines))


def write_now(lines: list[str], stream: BinaryIO) -> None:
    """One line each to `stream` (standard output), flushed: a reader at the other end has
    them at once."""
    with naming(STANDARD_OUTPUT):
        stream.write(_as_bytes(lines))
        stream.flush()


def _as_bytes(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


def translate_file(
    model_path: Path | Sequence[Path],
    source: Path | None,
    output: Path | None,
    decode_overrides: dict,
    device: str = "auto",
    nbest: int | None = None,
    min_len: int = 0,
    attention_dir: Path | None = None,
    *,
    prefix_file: Path | None = None,
    alignments: Path | None = None,
    alignments_json: Path | None = None,
) -> Report:
    """The whole `nmt translate`: load the run (several: an ensemble), read, translate,
    write; returns the report.

    decode_overrides: decoding options by name (DecodeConfig fields, no_repeat_ngram,
    sample, temperature, ...; None = keep the run's setting or the default); they are
    range-checked before anything is loaded. `output` and the alignment files are files in
    writable folders (nmt.atomic.output_file checks what a user typed), each written whole.
    """
    from nmt.api import Translator

    options = {**decode_overrides, "nbest": nbest, "min_len": min_len}
    check_decode_options(options)
    translator = Translator.load(*_paths(model_path), device=device)
    lines, invalid = read_input(source)
    prefixes = None if prefix_file is None else read_lines(prefix_file)
    result = translator.translations(
        lines,
        prefixes,
        alignments=alignments is not None or alignments_json is not None,
        attention_dir=attention_dir,
        progress=source is not None,
        **options,
    )
    result.report.invalid_utf8 = invalid
    write_lines(result.output_lines(), output)
    if alignments is not None:
        write_lines(result.alignment_lines(), alignments)
    if alignments_json is not None:
        write_lines(result.alignment_json_lines(), alignments_json)
    return result.report


def translate_stream(
    model_path: Path | Sequence[Path],
    source: BinaryIO,
    output: BinaryIO,
    decode_overrides: dict,
    device: str = "auto",
    nbest: int | None = None,
    min_len: int = 0,
    attention_dir: Path | None = None,
) -> Report:
    """`nmt translate --stream`: each line of `source` translated as soon as it is read,
    and its output lines written and flushed at once; the lines are those of the batched
    mode (batched translation equals one by one, and sampling seeds by line number).
    The arguments mean what they mean to translate_file."""
    from nmt.api import Translator

    options = {**decode_overrides, "nbest": nbest, "min_len": min_len}
    check_decode_options(options)
    translator = Translator.load(*_paths(model_path), device=device)
    report = Report(max_source_len=translator.decode.max_source_len)
    for number, (line, invalid) in enumerate(stream_lines(source)):
        result = translator.translations(
            [line], first_line=number, attention_dir=attention_dir, **options
        )
        result.report.invalid_utf8 = int(invalid)
        report.add(result.report)
        write_now(result.output_lines(), output)
    return report


def _paths(model_path: Path | Sequence[Path]) -> list[Path]:
    return [Path(model_path)] if isinstance(model_path, str | Path) else list(model_path)
