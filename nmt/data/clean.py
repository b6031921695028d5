"""Cleaning the training split, counting every pair dropped and why.

Only train is cleaned: filtering dev or test would change the task being scored.
Each pair is dropped for the first rule it breaks, in the order of REASONS, so the
counts add up to the number of pairs removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import datasets
from rich.table import Table

from nmt.config.recipe import DataConfig

REASONS = ("empty", "too_long", "too_many_chars", "ratio", "duplicate")


def drop_reason(src: str, tgt: str, rules: DataConfig) -> str | None:
    """Why this pair should go (a REASONS entry but "duplicate"), or None to keep it.

    Lengths are whitespace words (too_long, ratio) and characters (too_many_chars: one word
    of a million characters is one word); a limit of 0 turns its rule off.
    """
    src_len, tgt_len = len(src.split()), len(tgt.split())
    if not src_len or not tgt_len:
        return "empty"
    if rules.max_words and max(src_len, tgt_len) > rules.max_words:
        return "too_long"
    if rules.max_chars and max(len(src), len(tgt)) > rules.max_chars:
        return "too_many_chars"
    if rules.max_ratio and max(src_len, tgt_len) / min(src_len, tgt_len) > rules.max_ratio:
        return "ratio"
    return None


@dataclass
class CleanReport:
    """How many pairs went in and how many were dropped for each reason."""

    before: int
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))

    @property
    def after(self) -> int:
        return self.before - sum(self.dropped.values())

    def to_dict(self) -> dict:
        return {"before": self.before, "after": self.after, "dropped": dict(self.dropped)}


def clean_pairs(ds: datasets.Dataset, rules: DataConfig) -> tuple[datasets.Dataset, CleanReport]:
    """The pairs of ds (columns src, tgt) that pass every rule, in their original order."""
    report = CleanReport(before=len(ds))
    seen: set[int] = set()
    keep = []
    row = 0
    for batch in ds.iter(batch_size=10_000):
        for src, tgt in zip(batch["src"], batch["tgt"], strict=True):
            reason = drop_reason(src, tgt, rules)
            if reason is None and rules.dedupe:
                key = hash((src, tgt))  # a 64-bit hash keeps memory small on big corpora
                reason = "duplicate" if key in seen else None
                seen.add(key)
            if reason is None:
                keep.append(row)
            else:
                report.dropped[reason] += 1
            row += 1
    return (ds if len(keep) == len(ds) else ds.select(keep)), report


def clean_table(report: CleanReport) -> Table:
    """The report as a small table: one row per reason, then what is left."""
    table = Table()
    table.add_column("pairs")
    table.add_column("count", justify="right")
    table.add_row("before", f"{report.before:,}")
    for reason, count in report.dropped.items():
        table.add_row(f"dropped: {reason.replace('_', ' ')}", f"{count:,}")
    table.add_row("kept", f"{report.after:,}", style="bold")
    return table
