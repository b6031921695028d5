"""bench/speed/memory.py: a CPU row's memory is the peak RSS of a process that did only its work."""

import pytest

from bench.speed import memory as bench_memory


@pytest.fixture
def memory():
    return bench_memory


def test_a_measured_row_gets_the_peak_rss_of_a_fresh_process(memory):
    held = b"\x01" * (300 * 2**20)  # this process's peak is now above 300 MB, the child's not
    row = memory.measure_row("cpu", dict, {"train_tok_per_s": 1.0, "notes": "untrained"})
    assert 5 < row["peak_mem_mb"] < 200 < memory.peak_rss_mb()
    assert row["notes"] == f"untrained; {memory.CPU_MEMORY_NOTE}"
    del held


def test_a_row_that_failed_keeps_its_null_memory(memory):
    row = memory.measure_row("cpu", dict, {"train_tok_per_s": None, "peak_mem_mb": None})
    assert row == {"train_tok_per_s": None, "peak_mem_mb": None}


def test_off_the_cpu_a_row_is_measured_here_and_keeps_its_own_memory(memory):
    row = memory.measure_row("cuda", dict, {"train_tok_per_s": 1.0, "peak_mem_mb": 7})
    assert row == {"train_tok_per_s": 1.0, "peak_mem_mb": 7}
