"""Reading a constraints file: tab-separated phrases or JSON lists, one line per input."""

from __future__ import annotations

import pytest

from nmt.errors import NmtError
from nmt.generation.constraint_file import parse_phrases, read_constraints


def test_tabs_json_and_empty_lines(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text('Hund\tim Park\n\n["a\\tb", "rot"]\n \t\n', encoding="utf-8")
    assert read_constraints(path, 4) == [["Hund", "im Park"], [], ["a\tb", "rot"], []]


def test_a_line_count_mismatch_names_the_file(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("Hund\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"terms.txt: 1 lines of constraints for 3 input lines"):
        read_constraints(path, 3)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('["Hund",', "not a JSON list of phrases"),
        ('["Hund", 3]', "a JSON line must be a list of strings"),
    ],
)
def test_a_bad_json_line_names_the_file_and_line(line, reason):
    with pytest.raises(NmtError, match=rf"^terms.txt:7: {reason}"):
        parse_phrases(line, "terms.txt:7")
