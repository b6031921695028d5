"""Translating lines: raw text in, detokenised text out, always one output for one input.

Lines are encoded with the run's sentencepiece model, grouped into length-sorted batches
of about `batch_tokens` source tokens, searched (nmt/generation/search.py, or ctranslate2's
search for a CTranslate2 export: nmt/inference/ctranslate2_engine.py) and put back in input
order. Blank lines never reach the model and come out blank, scored 0; over-long lines
are truncated and counted. A line's translation does not depend on its batch, so one line
at a time (a stream) gives what a whole file gives (with ctranslate2, unless the length
limit, one per batch there, cuts it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from nmt.data.batching import collate, token_batches
from nmt.data.tokenizer import Tokenizer
from nmt.errors import NmtError, OptionError
from nmt.generation.constraints import Constraints
from nmt.generation.decoding import DecodingOptions
from nmt.generation.search import length_limits, search
from nmt.inference.alignment import END, Alignment
from nmt.inference.ctranslate2_engine import CTranslate2Engine
from nmt.inference.report import Report
from nmt.models.interface import Model

NBEST_SEPARATOR = " ||| "


@dataclass
class DecodedLines:
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
        """A Pharaoh line per output line (nmt/inference/alignment.py)."""
        return [self._alignments()[line][rank].pharaoh() for line, rank in self.outputs()]

    def alignment_json_lines(self) -> list[str]:
        """The attention weights of every output line as one JSON object a line."""
        aligned = self._alignments()
        return [aligned[line][rank].json(self.first_line + line) for line, rank in self.outputs()]

    def _alignments(self) -> list[list[Alignment]]:
        if self.alignments is None:
            raise NmtError("alignments were not asked for (alignments=True)")
        return self.alignments


def require_attention(model: Model, option: str) -> None:
    """OptionError naming `option` unless `model` gives attention (alignments, heat maps,
    the coverage penalty read it)."""
    if not model.has_attention:
        raise OptionError(option, "this model has no attention (model.attention: none)")


def decode_lines(
    model: Model | CTranslate2Engine,
    tokenizer: Tokenizer,
    lines: Sequence[str],
    options: DecodingOptions,
    device: torch.device,
    *,
    prefixes: Sequence[str] | None = None,
    constraints: Sequence[Sequence[str]] | None = None,
    first_line: int = 0,
    alignments: bool = False,
    pieces: bool = False,
    progress: str | None = None,
) -> DecodedLines:
    """Translate raw lines (see the module docstring).

    prefixes: one per line, detokenised; each output starts with its line's prefix.
    constraints: one list of phrases per line (text); each output contains every phrase of
    its line (lexically constrained decoding, nmt/generation/constraints.py).
    first_line: the number of lines[0] in its input (sampling seeds each line by number).
    alignments: keep every output's attention (DecodedLines.alignments).
    pieces: each output as its target pieces, space-separated, instead of its text.
    progress: the label of a progress bar, shown on a terminal.

    Decoding runs in the precision of the model it is given, not training's: fp32 unless
    bf16 or int8 was asked for at nmt.Translator.load (on a GPU the search is bound by kernel
    launches, not arithmetic, and bf16 casts only add kernels: measured on an H100).
    """
    for option, wanted in (
        ("alignments", alignments),
        ("coverage_penalty", options.coverage_penalty),
    ):
        if wanted:
            require_attention(model, option)
    for option, given in (("prefixes", prefixes), ("constraints", constraints)):
        if given is not None and len(given) != len(lines):
            raise OptionError(option, f"{len(given)} {option} for {len(lines)} input lines")
    start, nbest = time.perf_counter(), options.nbest
    report = Report(lines=len(lines), max_source_len=options.max_source_len)
    texts: list[list[str]] = [[""] * nbest for _ in lines]
    scores: list[list[float]] = [[0.0] * nbest for _ in lines]
    aligned = [[Alignment.empty()] * nbest for _ in lines] if alignments else None
    wanted = [i for i, line in enumerate(lines) if line.strip()]
    encoded = tokenizer.encode_src([lines[i] for i in wanted]) if wanted else []
    rows = [(i, ids) for i, ids in zip(wanted, encoded, strict=True) if ids]
    report.blank = len(lines) - len(rows)
    report.truncated = sum(len(ids) > options.max_source_len for _, ids in rows)
    rows = [(i, ids[: options.max_source_len]) for i, ids in rows]
    report.translated = len(rows)
    forced = None if prefixes is None else _Prefixes(tokenizer, prefixes, rows, options, first_line)
    phrases = None
    if constraints is not None:
        phrases = _Phrases(tokenizer, constraints, rows, forced, options, first_line)
    batches = token_batches([len(ids) + 1 for _, ids in rows], options.batch_tokens, shuffle=False)
    with _progress(progress) as bar:
        task = bar.add_task(progress or "", total=len(rows))
        for members in batches:
            if isinstance(model, CTranslate2Engine):
                found_tokens, found_scores = model.translate_ids(
                    [rows[j][1] for j in members], options
                )
            else:
                batch = collate([rows[j][1] for j in members], None, members).to(device)
                rules = Constraints.build(
                    None if forced is None else [forced.ids[j] for j in members],
                    options.no_repeat_ngram,
                    len(members),
                    device,
                    None if phrases is None else [phrases.ids[j] for j in members],
                    length_limits(batch.src_lengths, options.max_len_a, options.max_len_b),
                )
                found = search(
                    model,
                    batch.src,
                    batch.src_lengths,
                    options,
                    [first_line + rows[j][0] for j in members],
                    alignments,
                    rules,
                )
                found_tokens, found_scores = found.tokens, found.scores
            flat = [tokens for ranked in found_tokens for tokens in ranked]
            if pieces:
                decoded = iter(" ".join(tokenizer.tgt_pieces_from_ids(ids)) for ids in flat)
            else:
                decoded = iter(tokenizer.decode_tgt(flat))
            for j, ranked, ranked_scores in zip(members, found_tokens, found_scores, strict=True):
                line = rows[j][0]
                found_texts = [next(decoded) for _ in ranked]
                if forced is not None and not pieces:
                    found_texts = [forced.as_given(j, text) for text in found_texts]
                if phrases is not None and not pieces:
                    found_texts = [phrases.as_given(j, text) for text in found_texts]
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
            bar.advance(task, len(members))
    report.seconds = time.perf_counter() - start
    return DecodedLines(texts, scores, report, nbest, first_line, aligned)


def _check_room(
    rows, needed: Sequence[int], options: DecodingOptions, first_line: int, option: str, what: str
) -> None:
    """Refuse a row whose forced pieces (`needed`, per row) exceed its output limit."""
    src_lengths = torch.tensor([len(ids) + 1 for _, ids in rows], dtype=torch.long)
    limits = length_limits(src_lengths, options.max_len_a, options.max_len_b).tolist()
    for (line, _), count, limit in zip(rows, needed, limits, strict=True):
        if count > limit:
            raise OptionError(
                option,
                f"line {first_line + line + 1}: its {what} {count} pieces, more than the "
                f"{limit} its source allows ({{max_len_a}} x source pieces + {{max_len_b}})",
            )


class _Prefixes:
    """The target ids each row to translate must start with, checked against its output
    limit; and the text of an output put back as given (nmt/generation/constraints.py forces
    them)."""

    def __init__(self, tokenizer, prefixes, rows, options: DecodingOptions, first_line: int):
        self.given = [prefixes[line] for line, _ in rows]
        self.ids = tokenizer.encode_tgt(self.given) if rows else []
        self.decoded = tokenizer.decode_tgt(self.ids)
        needed = [len(ids) for ids in self.ids]
        _check_room(rows, needed, options, first_line, "prefixes", "prefix has")

    def as_given(self, row: int, text: str) -> str:
        """The output text starting with the prefix exactly as the user wrote it, even where
        the target model had no piece for one of its characters."""
        decoded = self.decoded[row]
        return self.given[row] + text[len(decoded) :] if text.startswith(decoded) else text


class _Phrases:
    """The target ids of the phrases each row to translate must contain (blank phrases
    dropped), checked with its prefix against its output limit; and the text of an output
    with each phrase put back as given (nmt/generation/constraints.py makes them appear)."""

    def __init__(self, tokenizer, constraints, rows, forced: _Prefixes | None, options, first):
        self.given = [[text for text in constraints[line] if text.strip()] for line, _ in rows]
        self.ids, self.decoded = [], []
        for texts in self.given:
            ids = tokenizer.encode_tgt(texts) if texts else []
            self.ids.append([piece_ids for piece_ids in ids if piece_ids])
            self.decoded.append(tokenizer.decode_tgt(ids) if ids else [])
        needed = [sum(len(ids) for ids in row) for row in self.ids]
        if forced is not None:
            needed = [count + len(ids) for count, ids in zip(needed, forced.ids, strict=True)]
        _check_room(rows, needed, options, first, "constraints", "phrases (and prefix) have")

    def as_given(self, row: int, text: str) -> str:
        """The output text with each phrase as the user wrote it, even where the target
        model had no piece for one of its characters."""
        for given, decoded in zip(self.given[row], self.decoded[row], strict=True):
            if given not in text and decoded:
                text = text.replace(decoded, given, 1)
        return text


def _one_line(text: str) -> str:
    """A hypothesis must never add a line to the output."""
    return text.replace("\n", " ").replace("\r", " ")


def _progress(label: str | None) -> Progress:
    """A bar on a terminal; elsewhere nothing (rich would leave an empty line in a log)."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=label is None or not console.is_terminal,
    )
