"""Attention heat maps and training curves are written as PNG files; bad input is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nmt.errors import NmtError
from nmt.plot import attention_heatmap, read_metrics, training_curves
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
