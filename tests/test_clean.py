"""Cleaning train: each rule, the counts per reason, and the printed table."""

import datasets
from rich.console import Console

from nmt.clean import CleanReport, clean_pairs, clean_table, drop_reason


def test_drop_reason_for_each_rule():
    assert drop_reason("a b", "c d", max_words=5, max_ratio=2) is None
    assert drop_reason("   ", "c d", max_words=5, max_ratio=2) == "empty"
    assert drop_reason("a b", "", max_words=5, max_ratio=2) == "empty"
    assert drop_reason("a " * 6, "c " * 6, max_words=5, max_ratio=2) == "too_long"
    assert drop_reason("a", "c d e", max_words=5, max_ratio=2) == "ratio"
    assert drop_reason("a b", "c d e f", max_words=5, max_ratio=2) is None  # ratio 2 is allowed


def test_zero_limits_turn_rules_off():
    assert drop_reason("a " * 500, "c", max_words=0, max_ratio=0) is None


def pairs(rows):
    return datasets.Dataset.from_dict({"src": [s for s, _ in rows], "tgt": [t for _, t in rows]})


def test_clean_pairs_counts_every_reason_and_keeps_order():
    rows = [
        ("ein Haus", "a house"),
        ("", "empty source"),
        ("zu " * 8, "too " * 8),
        ("kurz", "this is far too long"),
        ("ein Haus", "a house"),  # duplicate of the first
        ("ein Hund", "a dog"),
        ("", "empty source"),  # empty again: counted as empty, not duplicate
    ]
    kept, report = clean_pairs(pairs(rows), max_words=5, max_ratio=3.0, dedupe=True)
    assert kept["src"][:] == ["ein Haus", "ein Hund"]
    assert report.dropped == {"empty": 2, "too_long": 1, "ratio": 1, "duplicate": 1}
    assert (report.before, report.after) == (7, 2)
    assert report.to_dict()["after"] == 2


def test_dedupe_off_keeps_duplicates():
    rows = [("a", "b"), ("a", "b"), ("a", "c")]
    kept, report = clean_pairs(pairs(rows), max_words=5, max_ratio=3.0, dedupe=False)
    assert len(kept) == 3 and report.dropped["duplicate"] == 0


def test_same_source_different_target_is_not_a_duplicate():
    kept, _ = clean_pairs(pairs([("a", "b"), ("a", "c")]), 5, 3.0, dedupe=True)
    assert kept["tgt"][:] == ["b", "c"]


def test_table_shows_every_reason_and_the_total():
    report = CleanReport(before=10, dropped={"empty": 1, "too_long": 2, "ratio": 0, "duplicate": 3})
    console = Console(record=True, width=80)
    console.print(clean_table(report))
    text = console.export_text()
    for label in ("empty", "too long", "ratio", "duplicate", "kept"):
        assert label in text
    assert "10" in text and " 4 " in text
