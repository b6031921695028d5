"""bench/speed/results.py: one results file from several scripts, and the targets as ratios."""

import json
import sys

from bench.speed import results


def row(system, arch, precision, tok_s, mem=None, fixed=None):
    return {
        "system": system,
        "arch": arch,
        "precision": precision,
        "train_tok_per_s": tok_s,
        "peak_mem_mb": mem,
        "decode_beam5_fixed30_sent_per_s": fixed,
    }


ROWS = [
    row("nmt", "attention", "fp32", 60_000.0, mem=1400, fixed=800.0),
    row("nmt", "seq2seq", "fp32", 150_000.0),
    row("joey", "attention", "fp32", 10_000.0, mem=2000, fixed=100.0),
    row("onmt", "attention", "fp32", 30_000.0, mem=1000, fixed=300.0),
    row("bare-lstm", "bare", "fp32", 200_000.0),
]


def test_rows_from_several_scripts_land_in_one_file(tmp_path, monkeypatch):
    path = tmp_path / "out/results.json"
    monkeypatch.setattr(sys, "argv", ["bench.py", "--device", "cuda"])
    results.append_rows(path, ROWS[:2], "GPU X", "2.11")
    monkeypatch.setattr(sys, "argv", ["run_peer.py", "joey"])
    results.append_rows(path, ROWS[2:], "GPU Y", "2.13")
    saved = json.loads(path.read_text())
    assert (saved["device"], saved["torch"]) == ("GPU X", "2.11")  # the first script's
    assert saved["commands"] == ["bench.py --device cuda", "run_peer.py joey"]
    assert saved["rows"] == ROWS


def test_targets_are_ratios_against_the_right_rows():
    checks = {what: (ratio, target) for what, ratio, target in results.target_checks(ROWS, "gpu")}
    assert checks["attention fp32 training / Joey fp32"] == (6.0, ">= 5")
    assert checks["attention fp32 training / OpenNMT-py fp32"] == (2.0, ">= 3")
    assert checks["attention fp32 training / bare LSTM"] == (0.3, ">= 0.5")
    assert checks["attention fp32 beam-5 fixed-30 / Joey"] == (8.0, ">= 10")
    assert checks["attention fp32 peak memory / Joey fp32"] == (0.7, "<= 1")
    assert checks["attention fp32 peak memory / OpenNMT-py fp32"] == (1.4, "<= 1")
    assert checks["seq2seq fp32 training / bare LSTM"] == (0.75, ">= 0.7")


def test_cpu_targets_are_the_cpu_issues_own():
    checks = {what: (ratio, target) for what, ratio, target in results.target_checks(ROWS, "cpu")}
    assert checks == {
        "attention fp32 training / bare LSTM": (0.3, ">= 0.9"),
        "attention fp32 training / OpenNMT-py fp32": (2.0, ">= 2"),
        "attention fp32 beam-5 fixed-30 / OpenNMT-py": (800.0 / 300.0, ">= 3"),
    }
    assert results.device_kind("cpu") == "cpu"
    assert results.device_kind("NVIDIA H200") == "gpu"


def test_the_transformer_is_set_against_the_peers_transformer_rows():
    transformers = [
        row("nmt", "transformer", "fp32", 9_000.0, fixed=60.0),
        row("onmt", "transformer", "fp32", 6_000.0, fixed=30.0),
    ]
    checks = {w: (r, t) for w, r, t in results.target_checks(ROWS + transformers, "cpu")}
    assert checks["transformer fp32 training / OpenNMT-py fp32"] == (1.5, ">= 1.3")
    assert checks["transformer fp32 beam-5 fixed-30 / OpenNMT-py"] == (2.0, ">= 1.5")
    assert checks["attention fp32 training / OpenNMT-py fp32"] == (2.0, ">= 2")  # its own peer row
    alone = results.target_checks([*ROWS, transformers[0]], "cpu")
    assert ("transformer fp32 training / OpenNMT-py fp32", None, ">= 1.3") in alone


def test_repeat_summary_is_the_median_and_the_relative_range():
    assert results.repeat_summary([100.0, 104.0, 98.0]) == (100.0, 0.06)


def test_targets_table_says_met_missed_and_not_measured():
    table = results.targets_table(ROWS, "gpu").splitlines()
    assert "| attention fp32 training / Joey fp32 | 6.00x | >= 5 | met |" in table
    assert "| attention fp32 training / OpenNMT-py fp32 | 2.00x | >= 3 | missed |" in table
    assert "| attention fp32 peak memory / OpenNMT-py fp32 | 1.40x | <= 1 | missed |" in table
    bf16 = results.targets_table([*ROWS, row("nmt", "attention", "bf16", 50_000.0)], "gpu")
    assert "| attention bf16 training / Joey fp16 |  | >= 5 | not measured |" in bf16


def test_rows_table_leaves_missing_fields_empty():
    lines = results.rows_table(ROWS).splitlines()
    assert lines[0].startswith("| system | arch | precision | train tok/s |")
    assert lines[2].startswith("| nmt | attention | fp32 | 60,000 | 1,400 |  |  | 800 |")
    assert len(lines) == 2 + len(ROWS)
