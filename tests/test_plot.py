"""Attention heat maps and training curves are written as pictures, whole; bad input is an
error."""

from __future__ import annotations

import contextlib
import json
import random
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nmt.errors import NmtError
from nmt.metrics.plot import attention_heatmap, line_styles, read_metrics, training_curves
from nmt_cli.app import app

PNG = b"\x89PNG\r\n\x1a\n"


def metrics_run(root: Path, rows: list[dict]) -> Path:
    root.mkdir(parents=True)
    (root / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def training_rows(scale: float) -> list[dict]:
    rows = []
    for step in range(50, 501, 50):
        rows.append({"epoch": 1, "step": step, "loss": scale * 5 / step**0.3, "ppl": 10.0})
        if step % 100 == 0:
            rows.append({"epoch": 1, "step": step, "valid_loss": 3.0, "valid_bleu": step / 20})
    return rows


def test_heatmap_png(tmp_path):
    weights = torch.softmax(torch.randn(4, 6), dim=1)
    out = tmp_path / "maps" / "000001.png"
    attention_heatmap(
        weights, ["▁ein", "▁Haus", "▁ist", "▁rot", ".", "</s>"], list("abc") + ["</s>"], out
    )
    assert out.read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="does not match"):
        attention_heatmap(weights, ["a"], ["b"], tmp_path / "bad.png")


def test_one_colour_per_architecture_and_a_new_line_style_for_each_repeat():
    styles = line_styles(["seq2seq", "attention", "seq2seq", "attention", "seq2seq"])
    assert styles == [("C0", "-"), ("C1", "-"), ("C0", "--"), ("C1", "--"), ("C0", ":")]
    assert line_styles(["a", "b", "c"]) == [("C0", "-"), ("C1", "-"), ("C2", "-")]


def test_training_curves_of_two_runs(tmp_path):
    runs = [metrics_run(tmp_path / name, training_rows(s)) for name, s in (("a", 1), ("b", 2))]
    out = tmp_path / "curves.png"
    training_curves(runs, out)
    assert out.read_bytes().startswith(PNG)
    result = CliRunner().invoke(app, ["plot", *map(str, runs), "-o", str(tmp_path / "cli.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli.png").read_bytes().startswith(PNG)


def test_broken_metrics_name_file_and_line(tmp_path):
    run = metrics_run(tmp_path / "run", training_rows(1))
    with (run / "metrics.jsonl").open("a") as log:
        log.write("{not json\n")
    with pytest.raises(NmtError, match=r"metrics\.jsonl: line 16 is not JSON"):
        read_metrics(run)
    result = CliRunner().invoke(app, ["plot", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "metrics.jsonl" in result.output


def test_runs_without_curves_are_refused(tmp_path):
    run = metrics_run(tmp_path / "run", [{"epoch": 1, "step": 1, "lr": 0.1}])
    with pytest.raises(NmtError, match="no 'loss' or 'valid_bleu'"):
        training_curves([run], tmp_path / "out.png")


@contextlib.contextmanager
def full_disk(size: int = 8192) -> Iterator[None]:
    """No file of this process grows past `size` bytes in the block: a write beyond fails
    (EFBIG), as on a disk that fills up (SIGXFSZ ignored, so that the write fails, not the
    process)."""
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)


def test_a_full_disk_keeps_the_old_picture_and_leaves_no_new_one(tmp_path):
    run = metrics_run(tmp_path / "run", training_rows(1))
    old = tmp_path / "curves.png"
    old.write_bytes(b"the old plot")
    for target in (old, tmp_path / "new.png"):
        with full_disk():
            result = CliRunner().invoke(app, ["plot", str(run), "-o", str(target)])
        assert result.exit_code == 2
        assert result.output.strip() == f"error: {target}: cannot write (File too large)"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["curves.png", "run"]
    assert old.read_bytes() == b"the old plot"


@pytest.mark.parametrize(
    ("output", "written", "error"),
    [
        ("p.xyz", None, "p.xyz: .xyz is not a picture format (avif, eps, gif, "),
        ("folder/", None, "--output {tmp}/folder/: is a folder; name the file to write"),
        ("plot", "plot", None),
        ("plot.SVG", "plot.SVG", None),
    ],
)
def test_the_picture_is_written_where_it_is_said_or_refused(tmp_path, output, written, error):
    run = metrics_run(tmp_path / "run", training_rows(1))
    (tmp_path / "folder").mkdir()
    result = CliRunner().invoke(app, ["plot", str(run), "-o", f"{tmp_path}/{output}"])
    if error is None:
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"wrote {tmp_path}/{written}"
        assert (tmp_path / written).stat().st_size > 1000
    else:
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and error.format(tmp=tmp_path) in lines[0], result.output
    made = {path.name for path in tmp_path.iterdir()} - {"run", "folder"}
    assert made == ({written} if written else set())


def test_a_metrics_log_of_random_bytes_is_one_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_bytes(random.Random(1).randbytes(3000))
    result = CliRunner().invoke(app, ["plot", str(run), "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {run}/metrics.jsonl: not a metrics log (byte ")
    assert len(result.output.strip().splitlines()) == 1
