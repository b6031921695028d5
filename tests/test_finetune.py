"""Starting a run from another run's weights with a new data section (train.init_from)."""

import json

import pytest
import torch
import yaml
from test_prepare import toy_pairs, write_files
from typer.testing import CliRunner

from nmt.config.recipe import load_recipe
from nmt.run.checkpoint import load_checkpoint
from nmt.run.rundir import RunDir
from nmt_cli.app import app


@pytest.fixture(scope="module")
def first_run(tiny_recipe, tmp_path_factory):
    """A finished run of the tiny recipe (the toy corpus card)."""
    run = tmp_path_factory.mktemp("first") / "run"
    result = CliRunner().invoke(app, ["train", str(tiny_recipe), "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    return RunDir(run)


@pytest.fixture
def new_data(tiny_recipe, tmp_path):
    """The tiny recipe with other pairs, named as files instead of the card."""
    tree = yaml.safe_load(tiny_recipe.read_text(encoding="utf-8"))
    for split, seed in (("train", 7), ("dev", 8)):
        write_files(tmp_path / "news", split, toy_pairs(40 if split == "train" else 6, seed))
    files = {
        split: {"src": f"news/{name}.de", "tgt": f"news/{name}.en"}
        for split, name in (("train", "train"), ("valid", "dev"))
    }
    tree["data"] = {
        key: value for key, value in tree["data"].items() if key not in ("corpus", "data_dir")
    } | {"files": files}
    tree["name"] = "adapted"
    tree["train"]["max_epochs"] = 10  # max_updates (3) stops it
    recipe = tmp_path / "adapted.yaml"
    recipe.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return recipe


def train(*args: str):
    return CliRunner().invoke(app, ["train", *map(str, args)])


def test_a_run_starts_from_another_with_its_weights_and_vocabulary(first_run, new_data, tmp_path):
    run = RunDir(tmp_path / "adapted")
    frozen = ["--set", "train.lr=0", "--set", "train.min_lr=0"]  # the weights stay as loaded
    result = train(new_data, "--init-from", first_run.root, "--run-dir", run.root, *frozen)
    assert result.exit_code == 0, result.output
    assert run.src_model.read_bytes() == first_run.src_model.read_bytes()
    assert run.tgt_model.read_bytes() == first_run.tgt_model.read_bytes()
    start = load_checkpoint(first_run.best)
    last = load_checkpoint(run.last)
    for name, tensor in start["model"].items():
        assert torch.equal(last["model"][name], tensor), name
    assert last["init_from"] == {"checkpoint": str(first_run.best.resolve()), "step": start["step"]}
    assert last["step"] == 3 and last["recipe"]["data"]["corpus"] == "files"
    assert {float(state["step"]) for state in last["optimizer"]["state"].values()} == {3.0}
    recipe = load_recipe(run.recipe_file)
    assert recipe.train.init_from == str(first_run.root.absolute())
    rows = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert rows[0] == {"step": 0, "epoch": 1} | {
        "init_from": str(first_run.best.resolve()),
        "init_step": start["step"],
    }

    away = first_run.root.with_name("away")
    first_run.root.rename(away)  # a resume needs nothing of the first run: it has its models
    try:
        more = train(
            run.recipe_file, "--run-dir", run.root, "--resume", "--set", "train.max_updates=5"
        )
    finally:
        away.rename(first_run.root)
    assert more.exit_code == 0, more.output
    assert load_checkpoint(run.last)["init_from"] == last["init_from"]
    rows = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert [row for row in rows if "init_from" in row] == rows[:1]


def test_the_new_data_is_prepared_with_the_first_runs_models(first_run, new_data, tmp_path):
    from nmt.data.prepare import prepare

    run = RunDir(tmp_path / "adapted")
    result = train(new_data, "--init-from", first_run.root, "--run-dir", run.root)
    assert result.exit_code == 0, result.output
    cfg = load_recipe(new_data).data
    own = prepare(cfg, progress=False)  # the same files with a vocabulary of their own
    kept = prepare(cfg, progress=False, vocabulary=(run.src_model, run.tgt_model))
    assert kept.cache_hit and kept.dir != own.dir
    assert kept.src_spm.read_bytes() == first_run.src_model.read_bytes()
    assert kept.splits["train"]["src_ids"][:] == kept.tokenizer().encode_src(
        kept.splits["train"]["src"][:]
    )


@pytest.mark.parametrize(
    ("settings", "fields"),
    [
        (["model.attention_dim=12"], "model.attention_dim (8 -> 12)"),
        (
            ["data.vocab_size=70", "model.embed_dim=6", "data.spm_type=bpe"],
            "model.embed_dim (8 -> 6), data.spm_type ('unigram' -> 'bpe'), "
            "data.vocab_size (60 -> 70)",
        ),
    ],
)
def test_another_shape_or_vocabulary_is_refused_in_one_line_naming_every_field(
    first_run, new_data, tmp_path, settings, fields
):
    sets = [word for setting in settings for word in ("--set", setting)]
    result = train(new_data, "--init-from", first_run.root, "--run-dir", tmp_path / "r", *sets)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: train.init_from: this recipe changes {fields} from {first_run.best}; a run "
        "started from another keeps its model's shape and vocabulary"
    ]
    assert not (tmp_path / "r").exists()  # no run folder left behind, not even its lock


def test_dropout_may_differ_and_a_missing_run_is_named(first_run, new_data, tmp_path):
    dropout = train(
        new_data,
        "--init-from",
        first_run.best,
        "--run-dir",
        tmp_path / "a",
        "--set",
        "model.dropout=0.5",
    )
    assert dropout.exit_code == 0, dropout.output
    missing = train(new_data, "--init-from", tmp_path / "nowhere", "--run-dir", tmp_path / "b")
    assert missing.exit_code == 2
    assert f"error: train.init_from: {tmp_path / 'nowhere'}: neither a checkpoint" in missing.output
