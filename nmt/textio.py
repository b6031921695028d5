"""Reading text files line by line, exactly as written; writing lines whole.

Corpus files and user input arrive as plain or gzip files, sometimes with a BOM and
no final newline. Lines are split on "\\n" only (never on the other characters that
`str.splitlines` treats as breaks, which would shift one side of a parallel corpus),
and only the BOM and the newline itself are removed: inner and edge spaces stay.

Every reader takes its input in chunks and refuses a line longer than MAX_LINE_BYTES as
soon as it has read that much of it, naming the source and the line: input without
newlines (/dev/zero, a binary file) is one clear error, not all memory and a MemoryError.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal, overload

from nmt.atomic import STANDARD_OUTPUT, naming, write_output
from nmt.errors import NmtError

BOM = "\ufeff"
GZIP_MAGIC = b"\x1f\x8b"
MAX_LINE_BYTES = 1 << 20  # far above any sentence; below what fills a machine's memory
CHUNK_BYTES = 1 << 20  # read at a time; at most MAX_LINE_BYTES (see read_bounded)


def read_bytes(path: str | Path) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic number; no line
    longer than MAX_LINE_BYTES."""
    path = Path(path)
    try:
        with path.open("rb") as raw:
            if raw.peek(2)[:2] != GZIP_MAGIC:
                return read_bounded(raw, str(path))
            try:
                with gzip.GzipFile(fileobj=raw) as unzipped:
                    return read_bounded(unzipped, str(path))
            except (gzip.BadGzipFile, EOFError, zlib.error) as error:
                raise NmtError(f"{path}: not a valid gzip file ({error})") from None
    except FileNotFoundError:
        raise NmtError(f"{path}: file not found") from None
    except OSError as error:
        raise NmtError(f"{path}: cannot read ({error.strerror or error})") from None


def read_bounded(stream: BinaryIO, name: str) -> bytes:
    """All of `stream`, read a chunk at a time; NmtError naming `name` and the line as soon
    as a line is longer than MAX_LINE_BYTES. A chunk is no longer than that bound, so only
    a line that runs across chunks can pass it: counting the bytes since the last newline
    is enough."""
    chunks, newlines, open_line = [], 0, 0
    while chunk := stream.read(CHUNK_BYTES):
        first = chunk.find(b"\n")
        if first < 0:
            open_line += len(chunk)
        else:
            _check_length(open_line + first, name, newlines + 1)
            newlines += chunk.count(b"\n")
            open_line = len(chunk) - chunk.rfind(b"\n") - 1
        _check_length(open_line, name, newlines + 1)
        chunks.append(chunk)
    return b"".join(chunks)


def _check_length(length: int, name: str, line: int) -> None:
    if length > MAX_LINE_BYTES:
        raise NmtError(
            f"{name}: line {line} is longer than {MAX_LINE_BYTES} bytes (1 MiB); "
            "give text with one sentence a line"
        )


def standard_stream(name: str) -> BinaryIO:
    """The bytes of sys.stdin or sys.stdout; NmtError when the shell closed it (`<&-`)."""
    stream = getattr(sys, name)
    if stream is None:
        what = "input" if name == "stdin" else "output"
        raise NmtError(f"standard {what} is closed (<&- or >&-): use a file or a pipe")
    return stream.buffer


@overload
def decode_lines(data: bytes, name: str, errors: Literal["strict"] = "strict") -> list[str]: ...
@overload
def decode_lines(data: bytes, name: str, errors: Literal["replace"]) -> tuple[list[str], int]: ...
def decode_lines(data, name, errors="strict"):
    """Split UTF-8 bytes into lines; `name` is what error messages call the source.

    strict: invalid UTF-8 raises NmtError naming `name` and the line number.
    replace: bad bytes become U+FFFD; returns (lines, number of lines that had some).
    """
    chunks = data.split(b"\n")
    if chunks[-1] == b"":
        chunks.pop()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        if errors == "strict":
            line = data.count(b"\n", 0, error.start) + 1
            raise NmtError(
                f"{name}: line {line} is not valid UTF-8 "
                f"(byte 0x{data[error.start]:02x}; use UTF-8 text)"
            ) from None
        decoded = [_decode_replacing(chunk) for chunk in chunks]
        return _tidy([text for text, _ in decoded]), sum(bad for _, bad in decoded)
    lines = _tidy(text.split("\n")[: len(chunks)])
    return lines if errors == "strict" else (lines, 0)


def _decode_replacing(chunk: bytes) -> tuple[str, bool]:
    """UTF-8 text of one line, bad bytes as U+FFFD, and whether it had any."""
    try:
        return chunk.decode("utf-8"), False
    except UnicodeDecodeError:
        return chunk.decode("utf-8", errors="replace"), True


def stream_lines(stream: BinaryIO, name: str = "<stdin>") -> Iterator[tuple[str, bool]]:
    """The lines of a stream one at a time, each as soon as it is complete, exactly as
    `decode_lines(errors="replace")` gives them; with whether it had bytes that were not
    UTF-8. A line longer than MAX_LINE_BYTES is an NmtError naming `name`."""
    for number, raw in enumerate(iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b"")):
        line = raw.removesuffix(b"\n")
        _check_length(len(line), name, number + 1)
        text, bad = _decode_replacing(line)
        if number == 0:
            text = text.removeprefix(BOM)
        yield text.removesuffix("\r"), bad


def _tidy(lines: list[str]) -> list[str]:
    """Drop a leading BOM and the "\\r" of CRLF newlines, nothing else."""
    if lines and lines[0].startswith(BOM):
        lines[0] = lines[0][1:]
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@overload
def read_lines(path: str | Path, errors: Literal["strict"] = "strict") -> list[str]: ...
@overload
def read_lines(path: str | Path, errors: Literal["replace"]) -> tuple[list[str], int]: ...
def read_lines(path, errors="strict"):
    """Lines of a plain or gzip UTF-8 file (see `decode_lines` for `errors`)."""
    return decode_lines(read_bytes(path), str(path), errors)


def read_parallel(src_path: str | Path, tgt_path: str | Path) -> tuple[list[str], list[str]]:
    """Both sides of a line-aligned corpus; refuses files whose line counts differ."""
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise NmtError(
            f"not parallel: {src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}"
        )
    return src, tgt


def read_input(path: Path | None) -> tuple[list[str], int]:
    """Lines of a file or of stdin, invalid UTF-8 replaced: (lines, lines with bad bytes)."""
    if path is None:
        stdin = read_bounded(standard_stream("stdin"), "<stdin>")
        return decode_lines(stdin, "<stdin>", errors="replace")
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
