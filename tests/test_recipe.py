import dataclasses
import math
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nmt.config.recipe import (
    DataConfig,
    DecodeConfig,
    ModelConfig,
    Recipe,
    TrainConfig,
    fields_where,
    load_recipe,
    parse_override,
)
from nmt.config.schema import Range, RecipeError, setting
from nmt_cli.app import app


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_name_from_file(tmp_path):
    recipe = load_recipe(write(tmp_path, "model:\n  cell: gru\n"))
    assert recipe.name == "r"
    assert recipe.model.cell == "gru"
    assert recipe.train == Recipe().train


def test_unknown_field_names_field_and_file(tmp_path):
    path = write(tmp_path, "train:\n  lrr: 0.1\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: recipe\.train\.lrr: unknown field"):
        load_recipe(path)


def test_wrong_type_and_choice(tmp_path):
    with pytest.raises(RecipeError, match=r"recipe\.train\.batch_tokens: expected int"):
        load_recipe(write(tmp_path, "train:\n  batch_tokens: many\n"))
    with pytest.raises(RecipeError, match=r"recipe\.model\.cell: 'lstn' is not one of"):
        load_recipe(write(tmp_path, "model:\n  cell: lstn\n"))


def test_float_fields_accept_yaml_exponents(tmp_path):
    recipe = load_recipe(write(tmp_path, "train:\n  lr: 1e-3\n  clip_norm: 5\n"))
    assert recipe.train.lr == pytest.approx(1e-3)
    assert recipe.train.clip_norm == 5.0


def test_whole_number_fields_accept_their_range_as_written(tmp_path):
    path = write(tmp_path, "train:\n  max_updates: 1e12\n  max_epochs: 2.0e+1\n")
    recipe = load_recipe(path, ["train.keep_last=1e1"])
    assert (recipe.train.max_updates, recipe.train.max_epochs, recipe.train.keep_last) == (
        10**12,
        20,
        10,
    )
    assert type(recipe.train.max_updates) is int
    with pytest.raises(RecipeError, match=r"recipe\.train\.max_epochs: expected int, got 2\.5"):
        load_recipe(write(tmp_path, "train:\n  max_epochs: 2.5\n"))


def bomb(levels: int) -> str:
    """A recipe of a few hundred bytes whose name stands for 9**levels strings."""
    text = "&a0 [x, x, x, x, x, x, x, x, x]"
    for level in range(1, levels):
        text = f"&a{level} [{text}" + f", *a{level - 1}" * 8 + "]"
    return f"name: {text}\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (bomb(9), "line 1, column 1: expands to more than 10,000 values"),
        (bomb(7), "line 1, column 1: expands to more than 10,000 values"),
        ("name: &a [x, *a]\n", "line 1, column 1: expands to more than 10,000 values"),
        ("name: " + "[" * 20_000 + "]" * 20_000, "line 1, column 26: nested deeper than 20 levels"),
    ],
)
def test_what_a_recipe_may_expand_to_is_bounded(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert str(error.value) == f"{path}: not valid YAML ({problem})"


def test_an_error_quotes_a_value_cut_short(tmp_path):
    with pytest.raises(RecipeError) as error:
        load_recipe(write(tmp_path, "name: [" + ", ".join(["x" * 500] * 200) + "]\n"))
    message = str(error.value)
    assert message.startswith(f"{tmp_path}/r.yaml: recipe.name: expected str, got ['xxx")
    assert len(message) < 500


def test_overrides(tmp_path):
    path = write(tmp_path, "train:\n  lr: 0.1\n")
    sets = ["train.lr=3e-4", "model.bidirectional=false", "model.encoder_hidden=512"]
    recipe = load_recipe(path, [*sets, "data.src=fr"])
    assert recipe.train.lr == pytest.approx(3e-4)
    assert recipe.model.bidirectional is False and recipe.model.encoder_hidden == 512
    assert recipe.data.src == "fr"
    with pytest.raises(RecipeError, match="expected key=value"):
        parse_override("train.lr")
    with pytest.raises(RecipeError, match=r"recipe\.train\.nope"):
        load_recipe(path, ["train.nope=1"])


@pytest.mark.parametrize("text", ["train.lr={}", "train.lr=[{}", "{}", "data.files.{}={{}}"])
def test_an_override_error_quotes_a_long_value_cut_short(tmp_path, text):
    path = write(tmp_path, "train:\n  lr: 0.1\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(path, [text.format("a" * 20_000)])
    assert len(str(raised.value)) < 600


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "absent.yaml")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(write(tmp_path, "train: [\n"))


def test_empty_list_scalar_and_folder_recipes_are_one_line_errors(tmp_path):
    with pytest.raises(RecipeError, match=r"r\.yaml: the recipe is empty"):
        load_recipe(write(tmp_path, ""))
    with pytest.raises(RecipeError, match=r"r\.yaml: a recipe is a mapping of .* not list"):
        load_recipe(write(tmp_path, "- train\n- model\n"))
    with pytest.raises(RecipeError, match=r"r\.yaml: a recipe is a mapping of .* not int"):
        load_recipe(write(tmp_path, "3\n"))
    (tmp_path / "recipes").mkdir()
    with pytest.raises(RecipeError, match=r"recipes: is a directory, not a recipe file"):
        load_recipe(tmp_path / "recipes")


def test_a_key_given_twice_is_an_error_naming_its_line(tmp_path):
    path = write(tmp_path, "train:\n  lr: 0.1\nmodel:\n  cell: gru\ntrain:\n  lr: 0.2\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: not valid YAML \(line 5, .*duplicate key"):
        load_recipe(path)


def test_bad_yaml_in_a_set_value_is_one_line(tmp_path):
    with pytest.raises(RecipeError) as error:
        load_recipe(write(tmp_path, "name: r\n"), ["train.lr=[1"])
    assert str(error.value).startswith("overrides train.lr=[1: the value is not YAML (line 1")
    assert "\n" not in str(error.value)


def test_out_of_range_names_file_field_value_and_range(tmp_path):
    path = write(tmp_path, "train:\n  update_freq: 0\n")
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert str(error.value) == f"{path}: recipe.train.update_freq: 0 is not in [1, 4096]"
    with pytest.raises(RecipeError) as error:
        load_recipe(write(tmp_path, "name: r\n"), ["decode.beam=0"])
    message = "with overrides decode.beam=0: recipe.decode.beam: 0 is not in [1, 1024]"
    assert str(error.value).endswith(message)


def test_fields_checked_together():
    with pytest.raises(RecipeError, match=r"train\.update_freq \(8\) must be at most"):
        TrainConfig(batch_tokens=4, update_freq=8)
    with pytest.raises(RecipeError, match=r"model\.decoder_layers \(2\) must equal"):
        ModelConfig(encoder_layers=4)
    with pytest.raises(RecipeError, match=r"model\.attention: dot needs"):
        ModelConfig(attention="dot", encoder_hidden=100, bridge="linear")
    with pytest.raises(RecipeError, match=r"model\.bridge: identity .*\(200 units"):
        ModelConfig(encoder_hidden=100)


def test_each_architecture_refuses_the_fields_of_the_other(tmp_path):
    with pytest.raises(
        RecipeError, match=r"^model\.heads: applies to model\.arch transformer only"
    ):
        ModelConfig(heads=4)
    with pytest.raises(RecipeError, match=r"^model\.cell: applies to model\.arch rnn only"):
        ModelConfig(arch="transformer", cell="gru")
    ModelConfig(arch="transformer", encoder_layers=1, decoder_layers=3)  # no bridge to match
    path = write(tmp_path, "model:\n  arch: transformer\n  attention: none\n")
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert str(error.value) == (
        f"{path}: recipe.model.attention: applies to model.arch rnn only (this is transformer)"
    )


def test_transformer_sizes_checked_together():
    with pytest.raises(
        RecipeError, match=r"model\.d_model \(100\) must be divisible by model\.heads \(8\)"
    ):
        ModelConfig(arch="transformer", d_model=100)
    with pytest.raises(RecipeError, match=r"model\.d_model \(9\) must be even for sinusoidal"):
        ModelConfig(arch="transformer", d_model=9, heads=3)
    assert ModelConfig(arch="transformer", d_model=9, heads=3, positions="learned").d_model == 9


def test_shared_embeddings_need_a_joint_vocabulary(tmp_path):
    path = write(tmp_path, "model:\n  arch: transformer\n  share_embeddings: true\n")
    assert load_recipe(path).model.share_embeddings
    with pytest.raises(RecipeError) as error:
        load_recipe(path, ["data.joint_vocab=false"])
    assert str(error.value).startswith(
        f"{path} with overrides data.joint_vocab=false: recipe.model.share_embeddings: needs "
        "data.joint_vocab: true"
    )
    assert "\n" not in str(error.value)


def test_ranges():
    assert 1 in Range("[1, 64]") and 64 in Range("[1, 64]") and 65 not in Range("[1, 64]")
    assert 0 not in Range("(0, 1]") and 1.0 in Range("(0, 1]") and 1.0 not in Range("[0, 1)")
    assert 0 in Range("0 or [1, 10]") and 0.5 not in Range("0 or [1, 10]")
    assert math.nan not in Range("[0, 1)") and math.inf not in Range("[0, 1e300]")
    assert 10**400 not in Range("[0, 1e6]")


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "decode": DecodeConfig}
NUMERIC = [
    (name, item.name, typing.get_type_hints(cls)[item.name])
    for name, cls in SECTIONS.items()
    for item in dataclasses.fields(cls)
    if typing.get_type_hints(cls)[item.name] in (int, float)
]


def test_every_numeric_field_has_a_range_that_holds_its_default():
    for section, name, _ in NUMERIC:
        item = {f.name: f for f in dataclasses.fields(SECTIONS[section])}[name]
        assert "range" in item.metadata, f"{section}.{name}"
        assert item.default in item.metadata["range"], f"{section}.{name}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (f"{section}.{name}", value)
        for section, name, kind in NUMERIC
        for value in ("0", "-1", "nan", "1e30" if kind is float else str(10**30))
    ],
)
def test_any_value_of_a_numeric_field_is_a_one_line_error_or_a_run(
    tiny_recipe, tmp_path, field, value
):
    run = tmp_path / "run"
    setting = f"{field}={value}"
    arguments = ["train", str(tiny_recipe), "--set", setting, "--run-dir", str(run)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 2:
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert f"--set {setting}: recipe.{field}:" in lines[0]
    else:
        assert (run / "checkpoints" / "last.pt").is_file()


def test_fields_that_must_agree_change_together_by_set(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model:\n  encoder_layers: 1\n  decoder_layers: 1\n", encoding="utf-8")
    both = ["model.encoder_layers=2", "model.decoder_layers=2"]
    recipe = load_recipe(path, both)
    assert (recipe.model.encoder_layers, recipe.model.decoder_layers) == (2, 2)
    with pytest.raises(RecipeError, match=r"with overrides model\.encoder_layers=3: .*must equal"):
        load_recipe(path, ["train.lr=0.01", "model.encoder_layers=3"])


def test_a_recipe_file_without_a_name_is_named_as_the_reference_says(tmp_path):
    from docs import gen_reference

    recipe = tmp_path / "my.yaml"
    recipe.write_text("train:\n  lr: 0.01\n", encoding="utf-8")
    assert load_recipe(recipe).name == "my"
    meaning = next(item for item in gen_reference.recipe_fields() if item.name == "name").meaning
    assert "a recipe file without a name takes the file's (my.yaml: runs/my)" in meaning


def test_a_section_left_empty_is_refused_and_an_optional_one_may_be_null(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data:\n", encoding="utf-8")  # a section with nothing under it: null
    with pytest.raises(RecipeError, match=r"recipe\.data: expected a mapping, got None"):
        load_recipe(recipe)
    recipe.write_text("data:\n  hub: null\n", encoding="utf-8")
    assert load_recipe(recipe).data.hub is None


def test_a_field_carries_its_policies():
    """The 6 name lists that resume, fine-tuning and the cache fingerprint kept outside the
    schema are read from the fields: each list as it was."""
    assert set(fields_where("resumable")) == {
        "name",
        "data.data_dir",
        "data.cache_dir",
        *(
            f"decode.{name}"
            for name in (
                "beam",
                "length_penalty",
                "length_norm",
                "coverage_penalty",
                "batch_tokens",
                "max_source_len",
            )
        ),
        *(
            f"train.{name}"
            for name in (
                "max_epochs",
                "max_updates",
                "max_minutes",
                "early_stop_patience",
                "valid_batch_tokens",
                "keep_last",
                "average_last",
                "device",
                "max_bad_updates",
                "tensorboard",
                "log_every",
                "ddp_timeout_minutes",
            )
        ),
    }
    assert fields_where("free_on_fine_tune") == [
        "model.dropout",
        "model.init",
        "model.init_range",
        "model.orthogonal_recurrent",
    ]
    assert fields_where("vocabulary") == [
        f"data.{name}"
        for name in ("src", "tgt", "joint_vocab", "spm_type", "vocab_size", "character_coverage")
    ]
    assert fields_where("fingerprinted", False) == [
        "data.data_dir",
        "data.cache_dir",
        "data.subword_alpha",
    ]


def test_an_unknown_policy_is_refused_where_the_field_is_declared():
    with pytest.raises(TypeError, match="no field policy 'resumeable'"):
        setting(1, resumeable=True)


ROOT = Path(__file__).resolve().parents[1]


def test_a_recipe_takes_its_bases_fields_and_overrides_them_section_by_section(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "kids").mkdir()
    pair = "{src: data/t.de, tgt: data/t.en}"
    base = f"name: parent\ndata:\n  files: {{train: {pair}, valid: {pair}}}\n"
    base += "  vocab_size: 300\ntrain:\n  lr: 0.01\n"
    (tmp_path / "parent.yaml").write_text(base, encoding="utf-8")
    child = tmp_path / "kids" / "child.yaml"
    child.write_text("base: ../parent.yaml\ndata:\n  src: en\n  tgt: de\n", encoding="utf-8")
    recipe = load_recipe(child)
    assert (recipe.name, recipe.data.src, recipe.data.tgt) == ("child", "en", "de")
    assert (recipe.data.vocab_size, recipe.train.lr) == (300, 0.01)
    assert Path(recipe.data.files["train"]["src"]).resolve() == tmp_path / "data" / "t.de"


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"a": "base: a.yaml\n"}, r"a\.yaml: recipe\.base: .*/a\.yaml makes a cycle of bases$"),
        (
            {"a": "base: b.yaml\n", "b": "base: a.yaml\n"},
            r"b\.yaml: recipe\.base: .*/a\.yaml makes a cycle of bases$",
        ),
        ({"a": "base: gone.yaml\n"}, r"a\.yaml: recipe\.base: .*gone\.yaml is not a file$"),
        ({"a": "base: run.py\n"}, r"a\.yaml: recipe\.base: expected a recipe file \(\.yaml\)"),
        ({"a": "base: [b.yaml]\n"}, r"a\.yaml: recipe\.base: expected a recipe file"),
        ({"a": "base: b.yaml\n", "b": "train:\n  lr: -1\n"}, r"b\.yaml: recipe\.train\.lr: -1"),
    ],
)
def test_a_base_that_cannot_be_read_is_one_line_naming_the_file(tmp_path, files, problem):
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError, match=problem) as error:
        load_recipe(tmp_path / "a.yaml")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("base", "problem"),
    [
        ("train:\n  lr: -1\n", "recipes/x/y.yaml: recipe.train.lr: -1"),
        (None, "recipes/sub/child.yaml: recipe.base: recipes/x/y.yaml is not a file"),
        (
            "base: ../sub/child.yaml\n",
            "recipes/x/y.yaml: recipe.base: recipes/sub/child.yaml makes",
        ),
    ],
)
def test_a_base_is_named_by_its_path_from_here_not_as_written(tmp_path, monkeypatch, base, problem):
    """`base: ../x/y.yaml` is relative to the recipe's folder; a message says where it is."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes" / "sub").mkdir(parents=True)
    (tmp_path / "recipes" / "x").mkdir()
    Path("recipes/sub/child.yaml").write_text("base: ../x/y.yaml\n", encoding="utf-8")
    if base is not None:
        Path("recipes/x/y.yaml").write_text(base, encoding="utf-8")
    with pytest.raises(RecipeError) as error:
        load_recipe("recipes/sub/child.yaml")
    assert str(error.value).startswith(problem)


def test_a_base_outside_the_current_folder_is_named_by_its_absolute_path(tmp_path, monkeypatch):
    for folder in ("here", "recipes"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path / "here")
    (tmp_path / "recipes" / "child.yaml").write_text("base: ../gone.yaml\n", encoding="utf-8")
    with pytest.raises(RecipeError) as error:
        load_recipe(tmp_path / "recipes" / "child.yaml")
    assert f"recipe.base: {tmp_path.resolve() / 'gone.yaml'} is not a file" in str(error.value)


def test_each_en_de_recipe_is_its_de_en_twin_the_other_way():
    twins = sorted(ROOT.glob("recipes/multi30k-en-de*/*.yaml"))
    assert len(twins) == 8
    for path in twins:
        twin = load_recipe(Path(str(path).replace("en-de", "de-en")))
        recipe = load_recipe(path)
        assert (recipe.name, recipe.data.src, recipe.data.tgt) == (
            path.parent.name + "-" + path.stem,
            "en",
            "de",
        )
        recipe.name, recipe.data.src, recipe.data.tgt = twin.name, "de", "en"
        assert recipe == twin
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 6


def test_a_recipe_on_a_base_trains(tiny_recipe, tmp_path):
    derived = tmp_path / "en-de.yaml"
    derived.write_text(f"base: {tiny_recipe}\ndata:\n  src: en\n  tgt: de\n", encoding="utf-8")
    run = tmp_path / "run"
    arguments = ["train", str(derived), "--set", "train.max_updates=2", "--run-dir", str(run)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "src: en" in (run / "recipe.yaml").read_text(encoding="utf-8")
