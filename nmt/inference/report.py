"""What happened to the input lines of a command: counted as they pass, warned about once
at the end instead of failing in the middle of a file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Report:
    """Counts of the input lines; `warnings()` turns them into messages for the user."""

    lines: int = 0
    translated: int = 0  # lines (or pairs) that went through the model
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
