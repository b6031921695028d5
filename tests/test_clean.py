"""Cleaning train: each rule, the counts per reason, and the printed table."""

import datasets
from rich.console import Console

from nmt.config.recipe import DataConfig
from nmt.data.clean import CleanReport, clean_pairs, clean_table, drop_reason

RULES = DataConfig(max_words=5, max_chars=30, max_ratio=2)


def test_drop_reason_for_each_rule():
    assert drop_reason("a b", "c d", RULES) is None
    assert drop_reason("   ", "c d", RULES) == "empty"
    assert drop_reason("a b", "", RULES) == "empty"
    assert drop_reason("a " * 6, "c " * 6, RULES) == "too_long"
    assert drop_reason("a", "c d e", RULES) == "ratio"
    assert drop_reason("a b", "c d e f", RULES) is None  # ratio 2 is allowed


def test_one_very_long_word_is_too_many_characters():
    assert drop_reason("x" * 31, "y", RULES) == "too_many_chars"
    assert drop_reason("x" * 1_000_000, "y" * 1_000_000, DataConfig()) == "too_many_chars"
    assert drop_reason("x" * 30, "y", RULES) is None


def test_zero_limits_turn_rules_off():
    off = DataConfig(max_words=0, max_chars=0, max_ratio=0)
    assert drop_reason("a " * 500, "c", off) is None
    assert drop_reason("x" * 10_000, "y", off) is None


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
        ("Donaudampfschifffahrt" * 2, "steamboat"),
    ]
    kept, report = clean_pairs(pairs(rows), DataConfig(max_words=5, max_chars=30, max_ratio=3))
    assert kept["src"][:] == ["ein Haus", "ein Hund"]
    assert report.dropped == {
        "empty": 2,
        "too_long": 1,
        "too_many_chars": 1,
        "ratio": 1,
        "duplicate": 1,
    }
    assert (report.before, report.after) == (8, 2)
    assert report.to_dict()["after"] == 2


def test_dedupe_off_keeps_duplicates():
    rows = [("a", "b"), ("a", "b"), ("a", "c")]
    kept, report = clean_pairs(pairs(rows), DataConfig(dedupe=False))
    assert len(kept) == 3 and report.dropped["duplicate"] == 0


def test_same_source_different_target_is_not_a_duplicate():
    kept, _ = clean_pairs(pairs([("a", "b"), ("a", "c")]), DataConfig(dedupe=True))
    assert kept["tgt"][:] == ["b", "c"]


def test_table_shows_every_reason_and_the_total():
    dropped = {"empty": 1, "too_long": 2, "too_many_chars": 0, "ratio": 0, "duplicate": 3}
    report = CleanReport(before=10, dropped=dropped)
    console = Console(record=True, width=80)
    console.print(clean_table(report))
    text = console.export_text()
    for label in ("empty", "too long", "too many chars", "ratio", "duplicate", "kept"):
        assert label in text
    assert "10" in text and " 4 " in text
