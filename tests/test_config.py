from pathlib import Path

import pytest

from nmt.config import Recipe, RecipeError, load_recipe, parse_override


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


def test_overrides(tmp_path):
    path = write(tmp_path, "train:\n  lr: 0.1\n")
    recipe = load_recipe(path, ["train.lr=3e-4", "model.bidirectional=false", "data.src=fr"])
    assert recipe.train.lr == pytest.approx(3e-4)
    assert recipe.model.bidirectional is False
    assert recipe.data.src == "fr"
    with pytest.raises(RecipeError, match="expected key=value"):
        parse_override("train.lr")
    with pytest.raises(RecipeError, match=r"recipe\.train\.nope"):
        load_recipe(path, ["train.nope=1"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "absent.yaml")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(write(tmp_path, "train: [\n"))
