"""metrics.jsonl: a torn last line (a kill mid-write) is dropped and said; others are errors."""

import json
from pathlib import Path

import pytest

from nmt.errors import NmtError
from nmt.run.rundir import MetricsLog, parse_metrics

ROWS = [{"step": 2, "loss": 3.0}, {"step": 4, "loss": 2.0}, {"step": 6, "loss": 1.0}]


def write(path, tail: str = "") -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS) + tail)


def test_torn_last_line_is_dropped_and_reported(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write(path, '{"step": 8, "lo')
    assert parse_metrics(path) == (ROWS, '{"step": 8, "lo')
    note = MetricsLog(path).truncate_after(4)
    assert "dropped its torn last line" in note and str(path) in note
    assert path.read_text() == "".join(json.dumps(row) + "\n" for row in ROWS[:2])


def test_a_whole_last_row_without_newline_is_kept(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write(path, '{"step": 8}')
    assert parse_metrics(path) == ([*ROWS, {"step": 8}], None)
    assert MetricsLog(path).truncate_after(100) is None
    assert path.read_text().endswith('{"step": 8}\n')


def test_a_broken_line_before_the_last_names_file_and_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write(path, "{oops\n")
    with pytest.raises(NmtError, match=r"metrics\.jsonl: line 4 is not JSON"):
        parse_metrics(path)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_row_that_does_not_fit_on_the_disk_names_the_file():
    with pytest.raises(OSError) as error:
        MetricsLog(Path("/dev/full")).append({"step": 1})
    assert error.value.filename == "/dev/full"
