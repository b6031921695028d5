"""Corpus cards: finding them, pairs and directions, sources in order, held-out splits."""

import gzip
import importlib.util
import pickle
import random
import re
import zipfile
from pathlib import Path

import datasets
import pytest
import yaml

from nmt.data import corpus
from nmt.data.corpus import (
    CARDS_DIR,
    card_names,
    check_pair,
    holdout_split,
    load_card,
    load_splits,
    resolve_mirror,
)
from nmt.errors import NmtError
from nmt_cli.common import flag

TOY = {
    "name": "toy",
    "description": "a tiny corpus",
    "languages": ["de", "en", "fr"],
    "licence": "CC0",
    "citation": "nobody",
    "splits": {
        "train": {
            "mirror": "toy/train.{lang}.gz",
            "url": "https://example.org/toy/train.{lang}.gz",
            "hub": {"id": "someone/toy", "config": "de-en", "split": "train"},
        },
        "valid": {"mirror": "toy/valid.{lang}.gz"},
        "test2020": {"mirror": "toy/test.{lang}.gz"},
    },
}


def write_lines(path, lines, raw_prefix=b"", final_newline=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + ("\n" if final_newline else "")
    path.write_bytes(gzip.compress(raw_prefix + text.encode()))


def write_card(tmp_path, tree):
    path = tmp_path / f"{tree['name']}.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return load_card(path)


@pytest.fixture
def toy(tmp_path):
    """A card and a mirror where valid and test exist but train does not."""
    mirror = tmp_path / "mirror"
    for stem, n in (("valid", 3), ("test", 2)):
        for lang in ("de", "en", "fr"):
            write_lines(mirror / f"toy/{stem}.{lang}.gz", [f"{stem} {lang} {i}" for i in range(n)])
    return write_card(tmp_path, TOY), mirror


def test_every_shipped_card_loads_with_train_valid_and_tests():
    assert {"multi30k", "tatoeba-fra-eng", "iwslt14-de-en", "iwslt15-en-vi"} <= set(card_names())
    assert {"wmt14-en-de", "wmt14-en-fr", "wmt16-en-ro"} <= set(card_names())
    for name in card_names():
        card = load_card(name)
        assert card.name == name and card.path == CARDS_DIR / f"{name}.yaml"
        assert card.split_names[:2] == ["train", "valid"] and len(card.split_names) >= 3
        assert card.licence and card.citation and card.description and len(card.languages) >= 2
        assert all(card.source(split).mirror for split in card.split_names)
        assert card.source("train").url or card.source("train").hub


def test_cards_are_found_in_a_source_tree_without_an_install(monkeypatch):
    """PYTHONPATH=repo (no pip install): no package nmt_cards, the cards beside nmt/ serve."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "nmt_cards" else find_spec(name, *a),
    )
    folder = corpus._cards_dir()
    assert folder == Path(corpus.__file__).resolve().parents[2] / "data"
    assert (folder / "multi30k.yaml").is_file()


def test_unknown_corpus_lists_the_known_ones():
    with pytest.raises(NmtError, match="unknown corpus 'klingon'.*multi30k.*wmt14-en-de"):
        load_card("klingon")


def test_card_missing_a_field_names_it(tmp_path):
    tree = {key: value for key, value in TOY.items() if key != "licence"}
    with pytest.raises(NmtError, match="missing field 'licence'"):
        write_card(tmp_path, tree)


@pytest.mark.parametrize("name", ["/some/dir", "../../x", "a/b", ".hidden", "a..b", ""])
def test_a_cards_split_names_are_names_not_paths(tmp_path, name):
    tree = {**TOY, "splits": {**TOY["splits"], name: {"mirror": "toy/test.{lang}.gz"}}}
    with pytest.raises(NmtError, match=f"splits: split name '{re.escape(name)}' is not a name"):
        write_card(tmp_path, tree)
    pooled = {key: value for key, value in TOY.items() if key != "splits"}
    pooled |= {"pool": {"mirror": "toy/test.{lang}.gz"}, "holdout": {"valid": 2, name: 2}}
    with pytest.raises(NmtError, match=f"holdout: split name '{re.escape(name)}' is not a name"):
        write_card(tmp_path, pooled)


def test_unsupported_pair_lists_the_languages(toy):
    card, _ = toy
    check_pair(card, "fr", "de")
    for src, tgt in (("de", "vi"), ("en", "en")):
        with pytest.raises(NmtError, match=f"no {src}-{tgt} pair.*de, en, fr"):
            check_pair(card, src, tgt)


def test_any_pair_in_either_direction(toy):
    card, mirror = toy
    forward = load_splits(card, "de", "fr", mirror, ["valid"])["valid"]
    backward = load_splits(card, "fr", "de", mirror, ["valid"])["valid"]
    assert forward["src"][:] == ["valid de 0", "valid de 1", "valid de 2"]
    assert forward["tgt"][:] == backward["src"][:] == ["valid fr 0", "valid fr 1", "valid fr 2"]


def test_only_the_named_splits_resolve(toy):
    card, mirror = toy
    splits = load_splits(card, "de", "en", mirror, ["test2020", "valid"])
    assert {name: len(ds) for name, ds in splits.items()} == {"test2020": 2, "valid": 3}


def test_unmirrored_split_offline_is_one_line_naming_everything(toy):
    card, mirror = toy
    with pytest.raises(NmtError) as error:
        load_splits(card, "de", "en", mirror, ["train"])
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("corpus toy, split train:")
    assert str(mirror / "toy/train.{de,en}.gz") in message
    assert "https://example.org/toy/train.{lang}.gz" in message
    assert "hub someone/toy (de-en, train)" in message


def test_fingerprint_failure_says_how_to_install_datasets(toy, monkeypatch):
    """What dill raises for datasets installed with pip --target becomes one clear line."""
    card, mirror = toy

    def unpicklable(*args, **kwargs):
        raise pickle.PicklingError("Can't pickle <class 'MonthDayNano'>")

    monkeypatch.setattr(datasets.Dataset, "from_dict", unpicklable)
    with pytest.raises(NmtError) as error:
        load_splits(card, "de", "en", mirror, ["valid"])
    message = str(error.value)
    assert "\n" not in message
    assert "MonthDayNano" in message and "site-packages" in message


def test_unknown_split_lists_the_splits(toy):
    card, mirror = toy
    with pytest.raises(NmtError, match="no split 'test'.*train, valid, test2020"):
        load_splits(card, "de", "en", mirror, ["test"])


def test_bom_and_no_final_newline_in_a_mirror_file(tmp_path):
    mirror = tmp_path / "mirror"
    write_lines(mirror / "toy/test.de.gz", ["eins", "zwei"], "\ufeff".encode(), False)
    write_lines(mirror / "toy/test.en.gz", ["one", "two"], "\ufeff".encode(), False)
    card = write_card(tmp_path, TOY)
    test = load_splits(card, "de", "en", mirror, ["test2020"])["test2020"]
    assert test["src"][:] == ["eins", "zwei"] and test["tgt"][:] == ["one", "two"]


def test_mismatched_mirror_files_name_both(tmp_path):
    mirror = tmp_path / "mirror"
    write_lines(mirror / "toy/valid.de.gz", ["a", "b"])
    write_lines(mirror / "toy/valid.en.gz", ["a"])
    card = write_card(tmp_path, TOY)
    with pytest.raises(NmtError, match=r"valid\.de\.gz has 2 lines but .*valid\.en\.gz has 1"):
        load_splits(card, "de", "en", mirror, ["valid"])


def test_resolve_mirror_prefers_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NMT_DATA", str(tmp_path))
    assert resolve_mirror(None) == tmp_path.resolve()
    (tmp_path / "other").mkdir()
    assert resolve_mirror(tmp_path / "other") == (tmp_path / "other").resolve()
    with pytest.raises(NmtError) as error:
        resolve_mirror(tmp_path / "missing")
    missing = (tmp_path / "missing").resolve()
    where = "does not exist (from data.data_dir, {} or NMT_DATA)"
    assert str(error.value) == f"data dir {missing} " + where.format("data_dir")
    assert error.value.spelled(flag) == f"data dir {missing} " + where.format("--data-dir")


def pool_card(tmp_path, sizes):
    tree = {key: value for key, value in TOY.items() if key != "splits"}
    tree.update(
        name="pooled",
        languages=["en", "fr"],
        normalize_spaces=True,
        pool={"mirror": "pooled/all.{lang}.gz"},
        holdout=sizes,
    )
    return write_card(tmp_path, tree)


def linked_corpus(n_groups=60, seed=0):
    """Pairs where one English has several French and one French several English."""
    rng = random.Random(seed)
    en, fr = [], []
    for g in range(n_groups):
        for k in range(rng.choice([1, 1, 2, 3])):
            en.append(f"en {g}" if k < 2 else f"en {g} variant")
            fr.append(f"fr {g} {k}" if k < 2 else f"fr {g} 1")  # shares fr with k == 1
    return en, fr


def test_holdout_keeps_linked_pairs_together_in_both_directions():
    en, fr = linked_corpus()
    parts = holdout_split(en, fr, {"valid": 10, "test": 12}, seed=3)
    assert len(parts["valid"]) == 10 and len(parts["test"]) == 12
    assert sorted(sum(parts.values(), [])) == list(range(len(en)))
    for side in (en, fr):
        train = {side[i] for i in parts["train"]}
        for name in ("valid", "test"):
            assert not train & {side[i] for i in parts[name]}
    assert holdout_split(fr, en, {"valid": 10, "test": 12}, seed=3) == parts
    assert holdout_split(en, fr, {"valid": 10, "test": 12}, seed=4) != parts


def test_pooled_card_splits_reproducibly_and_normalizes_spaces(tmp_path):
    en, fr = linked_corpus()
    fr[0] = "Va\u202f!"
    mirror = tmp_path / "mirror"
    write_lines(mirror / "pooled/all.en.gz", en)
    write_lines(mirror / "pooled/all.fr.gz", fr)
    card = pool_card(tmp_path, {"valid": 5, "test": 8})
    assert card.split_names == ["train", "valid", "test"]
    splits = load_splits(card, "fr", "en", mirror, card.split_names, seed=7)
    assert [len(splits[name]) for name in ("valid", "test")] == [5, 8]
    assert sum(map(len, splits.values())) == len(en)
    everything = sum((splits[name]["src"][:] for name in splits), [])
    assert "Va !" in everything and "Va\u202f!" not in everything
    test_sources = set(splits["test"]["src"][:])
    assert not test_sources & set(splits["train"]["src"][:])
    again = load_splits(card, "en", "fr", mirror, ["test"], seed=7)["test"]
    assert set(again["tgt"][:]) == test_sources


def test_holdout_larger_than_the_pool_is_refused():
    with pytest.raises(NmtError, match="leave no training data"):
        holdout_split(["a", "b"], ["x", "y"], {"valid": 1, "test": 1}, seed=1)


@pytest.mark.integration
def test_real_tatoeba_split_has_no_test_source_in_train(mirror):
    card = load_card("tatoeba-fra-eng")
    splits = load_splits(card, "en", "fr", mirror, ["train", "test"], seed=1234)
    assert len(splits["test"]) == card.holdout["test"]
    for column in ("src", "tgt"):
        assert not set(splits["test"][column][:]) & set(splits["train"][column][:])


def test_hub_source_is_used_when_mirror_and_url_fail(toy, monkeypatch):
    card, mirror = toy
    rows = [{"de": "Hallo", "en": "Hello"}, {"de": "Welt", "en": "World"}]
    calls = []

    def fake_load_dataset(path, name, split, revision):
        calls.append((path, name, split))
        return datasets.Dataset.from_dict({"translation": rows, "id": ["0", "1"]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    train = load_splits(card, "en", "de", mirror, ["train"])["train"]
    assert calls == [("someone/toy", "de-en", "train")]
    assert train.column_names == ["src", "tgt"]
    assert train["src"][:] == ["Hello", "World"] and train["tgt"][:] == ["Hallo", "Welt"]


def test_url_zip_with_tab_separated_member(tmp_path, monkeypatch):
    archive = tmp_path / "fra-eng.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("fra.txt", "Go.\tVa !\tCC-BY 2.0\nHi.\tSalut\u00a0!\tCC-BY 2.0\n")
    tree = {key: value for key, value in TOY.items() if key != "splits"}
    url = "https://example.org/fra-eng.zip"
    tree.update(
        name="zipped",
        languages=["en", "fr"],
        normalize_spaces=True,
        pool={"url": url, "member": "fra.txt", "columns": ["en", "fr"]},
        holdout={"test": 1},
    )
    card = write_card(tmp_path, tree)
    monkeypatch.setattr("nmt.data.corpus._download", {url: archive}.__getitem__)
    splits = load_splits(card, "fr", "en", None, ["train", "test"], seed=1)
    pairs = sorted(
        zip(
            splits["train"]["src"][:] + splits["test"]["src"][:],
            splits["train"]["tgt"][:] + splits["test"]["tgt"][:],
            strict=True,
        )
    )
    assert pairs == [("Salut !", "Hi."), ("Va !", "Go.")]


def test_a_long_split_joins_its_base_split_in_groups_of_one_to_four(toy):
    card, mirror = toy
    splits = load_splits(card, "de", "en", mirror, ["valid-long", "valid"])
    assert splits["valid"]["src"][:] == ["valid de 0", "valid de 1", "valid de 2"]
    assert splits["valid-long"]["src"][:] == ["valid de 0", "valid de 1 valid de 2"]
    assert splits["valid-long"]["tgt"][:] == ["valid en 0", "valid en 1 valid en 2"]
    for bad in ("train-long", "nope-long"):
        with pytest.raises(NmtError, match=f"no split '{bad}'.*SPLIT-long"):
            load_splits(card, "de", "en", mirror, [bad])
