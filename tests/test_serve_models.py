"""Loading the runs a server holds: their names, and what GET /v1/models says of them."""

from __future__ import annotations

import json

import pytest
from test_shortlist import small_shortlist
from test_translations import make_run

from nmt.errors import NmtError
from nmt.run.checkpoint import load_checkpoint, save_checkpoint
from nmt.serve.models import load_models


def test_a_run_is_named_after_its_folder_and_a_checkpoint_after_both(tmp_path):
    run = make_run(tmp_path / "quick")
    by_folder, by_file = load_models([run, run / "checkpoints" / "best.pt"], "cpu")
    assert (by_folder.name, by_file.name) == ("quick", "quick-best")
    assert by_folder.info.parameters == sum(
        p.numel() for p in by_folder.translator.model.parameters()
    )


def test_two_models_may_not_share_a_name(tmp_path):
    first = make_run(tmp_path / "a" / "quick")
    second = make_run(tmp_path / "b" / "quick", spm_dir=first)
    with pytest.raises(NmtError, match="two models would be named 'quick'"):
        load_models([first, second], "cpu")


def test_dev_bleu_is_the_one_logged_at_the_checkpoint_step(tmp_path):
    run = make_run(tmp_path / "quick")  # its checkpoint is from step 1
    rows = [
        {"step": 1, "loss": 3.0},
        {"step": 1, "valid_loss": 2.0, "valid_bleu": 12.5, "best_bleu": 12.5},
        {"step": 2, "valid_loss": 1.9, "valid_bleu": 13.0, "best_bleu": 13.0},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (model,) = load_models([run], "cpu")
    assert (model.info.step, model.info.dev_bleu) == (1, 12.5)


def test_no_dev_bleu_without_metrics_or_for_an_average(tmp_path):
    run = make_run(tmp_path / "quick")
    (model,) = load_models([run], "cpu")
    assert model.info.dev_bleu is None
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "valid_bleu": 9.0}) + "\n")
    payload = load_checkpoint(run / "checkpoints" / "best.pt")
    save_checkpoint(run / "checkpoints" / "avg.pt", {**payload, "averaged": ["best.pt"]})
    (average,) = load_models([run / "checkpoints" / "avg.pt"], "cpu")
    assert average.info.dev_bleu is None


def test_a_missing_run_is_one_line(tmp_path):
    with pytest.raises(NmtError, match="neither a checkpoint file nor a run directory"):
        load_models([tmp_path / "nothing"], "cpu")


def test_cost_counts_source_pieces_and_their_end(tmp_path):
    (model,) = load_models([make_run(tmp_path / "quick")], "cpu")
    pieces = model.translator.tokenizer.encode_src(["ein hund", "die katze"])
    assert model.source_tokens(["ein hund", "die katze"]) == sum(len(p) + 1 for p in pieces)


def test_a_model_is_served_in_the_precision_asked_for(tmp_path, cpu_kind):
    """auto serves fp32 on every CPU: what one user gets does not depend on who else asks."""
    run = make_run(tmp_path / "quick")
    small_shortlist(run)
    (plain,) = load_models([run], "cpu")
    (fast,) = load_models([run], "cpu", "int8", True)
    assert (plain.info.precision, fast.info.precision) == ("fp32", "int8+shortlist")
    if cpu_kind == "bf16":
        (bf16,) = load_models([run], "cpu", "bf16")
        assert bf16.info.precision == "bf16"
    else:
        with pytest.raises(NmtError, match=r"^precision bf16: needs a CPU with bf16"):
            load_models([run], "cpu", "bf16")
    assert fast.info.parameters == plain.info.parameters
    with pytest.raises(NmtError, match=r"^precision 'fp16': use one of"):
        load_models([run], "cpu", "fp16")
