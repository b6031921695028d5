"""A constraints file (`nmt translate --constraints`): the phrases each input line's
translation must contain, one line per input line.

A line is either tab-separated phrases or a JSON list of phrases (`["Hund", "im Park"]`,
for phrases that hold tabs); an empty line is no constraint. A bad line is an error naming
the file and the line.
"""

from __future__ import annotations

import json
from pathlib import Path

from nmt.errors import NmtError
from nmt.textio import read_lines


def parse_phrases(line: str, where: str) -> list[str]:
    """The phrases of one line; `where` (file:line) names it in an error."""
    if not line.lstrip().startswith("["):
        return [phrase for phrase in line.split("\t") if phrase.strip()]
    try:
        phrases = json.loads(line)
    except json.JSONDecodeError as error:
        raise NmtError(f"{where}: not a JSON list of phrases ({error.msg})") from None
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
        raise NmtError(f"{where}: a JSON line must be a list of strings")
    return [phrase for phrase in phrases if phrase.strip()]


def read_constraints(path: Path, input_lines: int) -> list[list[str]]:
    """The phrases per line of `path`, which must have one line per input line."""
    lines = read_lines(path)
    if len(lines) != input_lines:
        raise NmtError(
            f"{path}: {len(lines)} lines of constraints for {input_lines} input lines "
            "(one line per input line; an empty line for none)"
        )
    return [parse_phrases(line, f"{path}:{number}") for number, line in enumerate(lines, 1)]
