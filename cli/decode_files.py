"""The files and streams of `nmt translate` and `nmt score`: read whole (or line by line),
decoded through a Translator, written whole (or flushed line by line), with the alignment
files and heat maps when asked for. Only the commands read and write files; the Translator
takes and returns lists."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from nmt.errors import NmtError
from nmt.generation.constraint_file import read_constraints
from nmt.generation.decoding import DecodingOptions
from nmt.inference.decode_lines import DecodedLines
from nmt.inference.report import Report
from nmt.inference.translator import Translator
from nmt.metrics.plot import attention_heatmap, picture_format
from nmt.textio import read_input, read_lines, stream_lines, write_lines, write_now


def translate_file(
    translator: Translator,
    source: Path | None,
    output: Path | None,
    options: DecodingOptions,
    *,
    prefix_file: Path | None = None,
    constraint_file: Path | None = None,
    alignments: Path | None = None,
    alignments_json: Path | None = None,
    attention_dir: Path | None = None,
    pieces: bool = False,
) -> Report:
    """Translate a file (None: stdin) to `output` (None: stdout), each written whole;
    the alignment files and one heat map per line when named."""
    _check_attention(
        translator,
        alignments=alignments,
        alignments_json=alignments_json,
        attention_dir=attention_dir,
    )
    lines, invalid = read_input(source)
    prefixes = None if prefix_file is None else read_lines(prefix_file)
    constraints = None
    if constraint_file is not None:
        constraints = read_constraints(constraint_file, len(lines))
    result = translator.translations(
        lines,
        options,
        prefixes,
        constraints=constraints,
        alignments=alignments is not None or alignments_json is not None or bool(attention_dir),
        pieces=pieces,
        progress=None if source is None else "translating",
    )
    result.report.invalid_utf8 = invalid
    write_lines(result.output_lines(), output)
    if alignments is not None:
        write_lines(result.alignment_lines(), alignments)
    if alignments_json is not None:
        write_lines(result.alignment_json_lines(), alignments_json)
    if attention_dir is not None:
        _heat_maps(result, attention_dir)
    return result.report


def translate_stream(
    translator: Translator,
    source: BinaryIO,
    output: BinaryIO,
    options: DecodingOptions,
    *,
    attention_dir: Path | None = None,
    pieces: bool = False,
) -> Report:
    """Translate each line of `source` as soon as it is read, and write and flush its
    output lines at once: the lines translate_file writes (batched translation equals
    one by one, and sampling seeds by line number)."""
    _check_attention(translator, attention_dir=attention_dir)
    report = Report(max_source_len=options.max_source_len)
    for number, (line, invalid) in enumerate(stream_lines(source)):
        result = translator.translations(
            [line], options, first_line=number, alignments=bool(attention_dir), pieces=pieces
        )
        result.report.invalid_utf8 = int(invalid)
        report.add(result.report)
        write_now(result.output_lines(), output)
        if attention_dir is not None:
            _heat_maps(result, attention_dir)
    return report


def score_file(
    translator: Translator,
    source: Path,
    target: Path,
    output: Path | None,
    options: DecodingOptions,
    per_token: bool = False,
    pieces: bool = False,
) -> Report:
    """Score the pairs of two parallel files (their line counts must match), one line
    per pair (Score.line) to `output` in one atomic step, or to stdout."""
    sources, bad_sources = read_lines(source, errors="replace")
    targets, bad_targets = read_lines(target, errors="replace")
    if len(sources) != len(targets):
        raise NmtError(
            f"not parallel: {source} has {len(sources)} lines but {target} has {len(targets)}"
        )
    scored = translator.scores(sources, targets, options, pieces)
    write_lines([score.line(per_token) for score in scored.scores], output)
    return Report(
        lines=len(sources),
        translated=len(sources),
        truncated=scored.truncated,
        invalid_utf8=bad_sources + bad_targets,
        max_source_len=options.max_source_len,
        seconds=scored.seconds,
    )


def _check_attention(translator: Translator, **asked: Path | None) -> None:
    """Before any work: the files `asked` for (by option name) need attention, and heat
    maps the plot extra to draw them."""
    for option, path in asked.items():
        if path is not None:
            translator.check_attention(option)
    if asked.get("attention_dir") is not None:
        picture_format(asked["attention_dir"] / "0.png")


def _heat_maps(result: DecodedLines, folder: Path) -> None:
    """One picture of the best output's attention per translated line:
    FOLDER/000000.png for the first input line (its number from 0, six digits, so that the
    names sort in the input's order)."""
    folder.mkdir(parents=True, exist_ok=True)
    for line, ranked in enumerate(result.alignments or []):
        best = ranked[0]
        if best.target:
            path = folder / f"{result.first_line + line:06d}.png"
            attention_heatmap(best.weights, best.source, best.target, path)
