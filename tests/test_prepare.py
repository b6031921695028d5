"""The prepare pipeline on a tiny fake mirror, the cache, the CLI, and Multi30k for real."""

import errno
import gzip
import json
import os
import random
import re

import pytest
import sentencepiece
import yaml
from typer.testing import CliRunner

from nmt.config.recipe import load_recipe
from nmt.data import prepare as prepare_module
from nmt.data.prepare import open_prepared, prepare, raw_splits
from nmt.data.tokenizer import BOS, EOS, PAD
from nmt.errors import NmtError
from nmt_cli.app import app

DE = "der die das Haus Hund Katze läuft schnell über Straße Mann Frau rot grün".split()
EN = "the a house dog cat runs fast over street man woman red green blue".split()
CARD = {
    "name": "toy",
    "description": "a tiny corpus",
    "languages": ["de", "en"],
    "licence": "CC0",
    "citation": "nobody",
    "splits": {
        "train": {"mirror": "toy/train.{lang}.gz"},
        "valid": {"mirror": "toy/valid.{lang}.gz"},
        "test": {"mirror": "toy/test.{lang}.gz"},
    },
}
DIRTY = [("", "a green cat"), ("eins", "one two three four five"), ("x " * 30, "y " * 30)]


def pieces(model):
    processor = sentencepiece.SentencePieceProcessor(model_file=str(model))
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]


def toy_pairs(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        k = rng.randint(2, 8)
        rows.append(
            (" ".join(rng.choice(DE) for _ in range(k)), " ".join(rng.choice(EN) for _ in range(k)))
        )
    return rows


def write_split(mirror, stem, rows):
    for lang, column in (("de", 0), ("en", 1)):
        path = mirror / f"toy/{stem}.{lang}.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress("".join(row[column] + "\n" for row in rows).encode()))


@pytest.fixture
def setup(tmp_path):
    """A fake mirror (dirty rows in every split) and a recipe file pointing at it."""
    mirror = tmp_path / "mirror"
    train = toy_pairs(200, 0)
    write_split(mirror, "train", train + DIRTY + train[:4])  # 3 dirty, 4 duplicates
    write_split(mirror, "valid", toy_pairs(10, 1) + DIRTY)
    write_split(mirror, "test", toy_pairs(10, 2) + DIRTY[:1] * 2)
    card = tmp_path / "toy.yaml"
    card.write_text(yaml.safe_dump(CARD, sort_keys=False), encoding="utf-8")
    recipe = tmp_path / "recipe.yaml"
    data = {"corpus": str(card), "data_dir": str(mirror), "cache_dir": str(tmp_path / "cache")}
    data.update(src="de", tgt="en", vocab_size=60, max_words=20, max_ratio=3.0)
    recipe.write_text(yaml.safe_dump({"data": data}), encoding="utf-8")
    return recipe, mirror, tmp_path / "cache"


def test_prepare_cleans_train_only_and_encodes_every_split(setup):
    recipe, _, cache = setup
    prepared = prepare(load_recipe(recipe).data, progress=False)
    assert prepared.dir.parent == cache and prepared.dir.name.startswith("toy-de-en-")
    assert list(prepared.splits) == ["train", "valid", "test"]
    assert [len(prepared.splits[name]) for name in ("valid", "test")] == [13, 12]
    report = json.loads((prepared.dir / "clean_report.json").read_text())
    assert report["raw_sizes"] == {"train": 207, "valid": 13, "test": 12}
    dropped = {"empty": 1, "too_long": 1, "too_many_chars": 0, "ratio": 1, "duplicate": 4}
    assert report["train"]["dropped"] == dropped
    assert len(prepared.splits["train"]) == report["train"]["after"] == 200
    valid = prepared.splits["valid"]
    assert set(valid.column_names) == {"src", "tgt", "src_ids", "tgt_ids"}
    assert valid["src"][-3:] == [row[0] for row in DIRTY]  # dev keeps even its dirty rows
    ids = [i for seq in valid["src_ids"][:] + valid["tgt_ids"][:] for i in seq]
    assert ids and not {PAD, BOS, EOS} & set(ids)
    tokenizer = prepared.tokenizer()
    test = prepared.splits["test"]
    assert tokenizer.decode_tgt(test["tgt_ids"][:]) == test["tgt"][:]
    assert prepared.src_spm == prepared.tgt_spm and prepared.src_spm.is_file()


def test_join_max_adds_joined_training_pairs_and_keeps_the_vocabulary(setup):
    recipe, _, _ = setup
    plain = prepare(load_recipe(recipe).data, progress=False)
    joined = prepare(load_recipe(recipe, ["data.join_max=3"]).data, progress=False)
    assert joined.dir != plain.dir
    assert pieces(joined.src_spm) == pieces(plain.src_spm)  # trained on single pairs alone
    train, single = joined.splits["train"], plain.splits["train"]
    assert len(train) == len(single) + 80  # 200 pairs in groups of 2, 3, 2, 3, ...
    assert train["src"][:200] == single["src"][:]
    assert train["src"][200] == " ".join(single["src"][:2])
    assert train["tgt_ids"][200] == joined.tokenizer().encode_tgt([train["tgt"][200]])[0]
    assert [len(joined.splits[name]) for name in ("valid", "test")] == [13, 12]


def test_second_run_is_a_cache_hit_with_the_same_data(setup):
    recipe, _, cache = setup
    cfg = load_recipe(recipe).data
    first = prepare(cfg, progress=False)
    second = prepare(cfg, progress=False)
    assert not first.cache_hit and second.cache_hit and second.dir == first.dir
    for name in first.splits:
        assert second.splits[name].to_dict() == first.splits[name].to_dict()
    assert [path.name for path in cache.iterdir()] == [first.dir.name]  # no temp folder left


def test_a_pair_of_one_very_long_word_each_is_cleaned_out_and_counted(setup):
    recipe, mirror, _ = setup
    long_word = ("x" * 100_000, "y" * 100_000)
    write_split(mirror, "train", toy_pairs(50, 0) + [long_word])
    prepared = prepare(load_recipe(recipe).data, progress=False)
    report = json.loads((prepared.dir / "clean_report.json").read_text())
    assert report["train"]["dropped"]["too_many_chars"] == 1
    assert report["rules"]["max_chars"] == 1000
    assert max(map(len, prepared.splits["train"]["src"][:])) < 1000


def test_prepare_removes_the_temporary_folders_of_killed_builds(setup):
    from nmt.lock import FileLock

    recipe, _, cache = setup
    abandoned = cache / ".toy-de-en-0123456789ab.deadbeef.tmp"
    (abandoned / "splits").mkdir(parents=True)
    (abandoned / "splits" / "part").write_bytes(b"\0" * 1000)
    (cache / ".toy-de-en-0123456789ab.0badf00d.tmp.lock").write_text("4242\n")  # no folder
    running = cache / ".toy-de-en-0123456789ab.cafef00d.tmp"
    running.mkdir()
    build = FileLock(cache / f"{running.name}.lock")
    assert build.acquire()  # a build still going on
    try:
        prepared = prepare(load_recipe(recipe).data, progress=False)
        left = sorted(path.name for path in cache.iterdir())
        assert left == sorted([running.name, build.path.name, prepared.dir.name])
    finally:
        build.release()


def test_changed_settings_rebuild_but_locations_do_not(setup, tmp_path):
    recipe, mirror, _ = setup
    base = prepare(load_recipe(recipe).data, progress=False).dir.name
    bigger = prepare(load_recipe(recipe, ["data.vocab_size=70"]).data, progress=False)
    assert bigger.dir.name != base and not bigger.cache_hit
    elsewhere = load_recipe(recipe, [f"data.cache_dir={tmp_path / 'other'}"]).data
    assert prepare(elsewhere, progress=False).dir.name == base
    os.utime(mirror / "toy/test.en.gz", (1, 1))
    assert prepare(load_recipe(recipe).data, progress=False).dir.name != base


def test_separate_vocabularies_give_two_models(setup):
    recipe, _, _ = setup
    prepared = prepare(load_recipe(recipe, ["data.joint_vocab=false"]).data, progress=False)
    assert prepared.src_spm.name == "src.model" and prepared.tgt_spm.name == "tgt.model"
    tokenizer = prepared.tokenizer()
    assert tokenizer.src is not tokenizer.tgt
    src_pieces = {tokenizer.src.id_to_piece(i) for i in range(tokenizer.src_vocab_size)}
    assert "▁Hund" in src_pieces and "▁dog" not in src_pieces
    assert open_prepared(prepared.dir).meta["src_vocab_size"] == tokenizer.src_vocab_size


def test_bpe_type_is_used(setup):
    recipe, _, _ = setup
    prepared = prepare(load_recipe(recipe, ["data.spm_type=bpe"]).data, progress=False)
    tokenizer = prepared.tokenizer()
    test = prepared.splits["test"]
    assert tokenizer.src.encode("Haus", out_type=str)  # the model loads and segments
    assert tokenizer.decode_tgt(test["tgt_ids"][:]) == test["tgt"][:]


def test_failed_build_leaves_no_cache_behind(setup):
    recipe, mirror, cache = setup
    (mirror / "toy/test.en.gz").unlink()
    with pytest.raises(NmtError, match="corpus toy, split test: not in the mirror"):
        prepare(load_recipe(recipe).data, progress=False)
    assert not cache.exists() or not any(cache.iterdir())


def test_unknown_pair_is_refused_before_any_work(setup):
    recipe, _, cache = setup
    with pytest.raises(NmtError, match="no en-fr pair"):
        prepare(load_recipe(recipe, ["data.src=en", "data.tgt=fr"]).data, progress=False)
    assert not cache.exists()


def test_raw_splits_need_only_the_named_files(setup):
    recipe, mirror, _ = setup
    for lang in ("de", "en"):
        (mirror / f"toy/train.{lang}.gz").unlink()
    test = raw_splits(load_recipe(recipe).data, ["test"])["test"]
    assert len(test) == 12 and test.column_names == ["src", "tgt"]


def test_cli_prepare_prints_summary_then_cache_hit(setup):
    recipe, _, _ = setup
    runner = CliRunner()
    first = runner.invoke(app, ["prepare", str(recipe)])
    assert first.exit_code == 0, first.output
    assert "train" in first.output and "200" in first.output and "cache:" in first.output
    second = runner.invoke(app, ["prepare", str(recipe), "--set", "data.vocab_size=60"])
    assert second.exit_code == 0 and "(cache hit)" in second.output


def test_cli_prepare_error_is_one_line_exit_2(setup, tmp_path):
    recipe, _, _ = setup
    result = CliRunner().invoke(app, ["prepare", str(recipe), "--data-dir", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "error: data dir" in result.output and "Traceback" not in result.output


def test_cli_corpora_lists_the_cards(tmp_path):
    result = CliRunner().invoke(app, ["corpora", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "multi30k" in result.output and "wmt14-en-de" in result.output
    assert "train (url)" in result.output and "(hub)" in result.output


@pytest.mark.integration
def test_multi30k_de_en_from_the_real_mirror(mirror, tmp_path):
    recipe = tmp_path / "m30k.yaml"
    data = {"corpus": "multi30k", "src": "de", "tgt": "en", "vocab_size": 4000}
    data.update(data_dir=str(mirror), cache_dir=str(tmp_path / "cache"))
    recipe.write_text(yaml.safe_dump({"data": data}), encoding="utf-8")
    prepared = prepare(load_recipe(recipe).data, progress=False)
    report = json.loads((prepared.dir / "clean_report.json").read_text())
    assert report["raw_sizes"] == {"train": 29_000, "valid": 1_014, "test2016": 1_000}
    test = prepared.splits["test2016"]
    assert len(test) == 1_000 and test["src"][0].startswith("Ein Mann mit einem orangefarbenen")
    tokenizer = prepared.tokenizer()
    assert tokenizer.decode_tgt(test["tgt_ids"][:]) == test["tgt"][:]
    assert [tokenizer.src.decode(ids) for ids in test["src_ids"][:]] == test["src"][:]


def test_a_full_disk_while_building_names_the_cache_and_leaves_nothing(setup, monkeypatch):
    recipe, _, cache = setup

    def full(path, tree) -> None:  # a write to an open file names no file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(prepare_module, "_write_json", full)
    with pytest.raises(OSError) as error:
        prepare(load_recipe(recipe).data, progress=False)
    assert error.value.filename.startswith(f"{cache}/toy-de-en-")
    assert [path.name for path in cache.iterdir()] == []


def write_files(folder, name, rows):
    """Plain text files NAME.de and NAME.en, as a user has them."""
    folder.mkdir(parents=True, exist_ok=True)
    for lang, column in (("de", 0), ("en", 1)):
        text = "".join(row[column] + "\n" for row in rows)
        (folder / f"{name}.{lang}").write_text(text, encoding="utf-8")


@pytest.fixture
def own_files(tmp_path):
    """A recipe that names its files (relative to its folder) instead of a corpus card:
    the same pairs as `setup`'s mirror, so the same cleaning report."""
    folder = tmp_path / "corpus"
    train = toy_pairs(200, 0)
    write_files(folder, "train", train + DIRTY + train[:4])
    write_files(folder, "dev", toy_pairs(10, 1) + DIRTY)
    write_files(folder, "news", toy_pairs(10, 2) + DIRTY[:1] * 2)
    files = {
        split: {"src": f"corpus/{name}.de", "tgt": f"corpus/{name}.en"}
        for split, name in (("train", "train"), ("valid", "dev"), ("news2024", "news"))
    }
    data = {"files": files, "src": "de", "tgt": "en", "vocab_size": 60, "max_words": 20}
    data.update(cache_dir=str(tmp_path / "cache"), max_ratio=3.0)
    recipe = tmp_path / "own.yaml"
    recipe.write_text(yaml.safe_dump({"data": data}, sort_keys=False), encoding="utf-8")
    return recipe, folder


def test_a_recipe_names_its_own_files_and_gets_the_same_cleaning(own_files, setup, monkeypatch):
    recipe, folder = own_files
    monkeypatch.chdir(folder)  # paths are relative to the recipe, not to the current folder
    cfg = load_recipe(recipe).data
    assert cfg.corpus == "files" and cfg.files["valid"]["src"] == str(folder / "dev.de")
    prepared = prepare(cfg, progress=False)
    assert prepared.dir.name.startswith("files-de-en-")
    assert list(prepared.splits) == ["train", "valid", "news2024"]
    report = json.loads((prepared.dir / "clean_report.json").read_text())
    from_card = prepare(load_recipe(setup[0]).data, progress=False)
    card_report = json.loads((from_card.dir / "clean_report.json").read_text())
    assert report["train"] == card_report["train"] and report["corpus"] == "files"
    assert report["raw_sizes"] == {"train": 207, "valid": 13, "news2024": 12}
    assert prepared.splits["train"]["src"][:] == from_card.splits["train"]["src"][:]
    assert prepare(cfg, progress=False).cache_hit
    os.utime(folder / "news.en", (1, 1))  # an edited file is prepared again
    assert not prepare(cfg, progress=False).cache_hit
    assert raw_splits(cfg, ["news2024"])["news2024"]["tgt"][-1] == DIRTY[0][1]


def test_errors_in_a_recipes_own_files_name_the_file_and_line(own_files):
    recipe, folder = own_files
    (folder / "dev.en").write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(NmtError, match=rf"not parallel: {folder}/dev\.de has 13 lines but "):
        prepare(load_recipe(recipe).data, progress=False)
    (folder / "dev.en").write_bytes(b"a\nb\n" * 6 + b"\xff\n")
    with pytest.raises(NmtError, match=rf"{folder}/dev\.en: line 13 is not valid UTF-8"):
        prepare(load_recipe(recipe).data, progress=False)
    (folder / "dev.en").unlink()
    with pytest.raises(NmtError, match=rf"{folder}/dev\.en: file not found"):
        prepare(load_recipe(recipe).data, progress=False)
    result = CliRunner().invoke(app, ["prepare", str(recipe)])
    assert result.exit_code == 2 and result.output.startswith(f"error: {folder}/dev.en: file")


def test_a_recipes_own_files_are_regular_files_with_lines(own_files):
    recipe, folder = own_files
    (folder / "dev.de").write_bytes(b"")
    (folder / "dev.en").write_bytes(b"")
    result = CliRunner().invoke(app, ["prepare", str(recipe)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {folder}/dev.de: holds no lines; split valid needs sentence pairs"
    ]
    (folder / "dev.en").unlink()
    os.mkfifo(folder / "dev.en")  # no writer: reading it would wait for ever
    result = CliRunner().invoke(app, ["prepare", str(recipe)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {folder}/dev.en: not a regular file (a FIFO, device or socket); name a file"
    ]


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("data.corpus=multi30k-x", "data.files: a recipe names its own files or a corpus card"),
        ("data.files.valid=null", "data.files.valid: expected {src: PATH, tgt: PATH}, got None"),
        ("data.files.valid={src: a}", "data.files.valid: expected {src: PATH, tgt: PATH}"),
        ("data.files.train.src=3", "data.files.train.src: expected a file path, got 3"),
        ("data.files={news: {src: a, tgt: b}}", "data.files: needs a train split (has news)"),
        ("data.files./some/dir={src: a, tgt: b}", "data.files./some/dir: split name '/some/dir'"),
        (
            "data.files={train: {src: a, tgt: b}, valid: {src: a, tgt: b}, ../x: {src: a, tgt: b}}",
            "data.files.../x: split name '../x' is not a name",
        ),
    ],
)
def test_a_recipes_files_section_is_checked(own_files, setting, problem):
    recipe, _ = own_files
    with pytest.raises(NmtError, match=re.escape(f"recipe.{problem}")):
        load_recipe(recipe, [setting])


def test_corpus_files_without_files_is_refused(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data:\n  corpus: files\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"recipe\.data\.corpus: files names the recipe's own"):
        load_recipe(recipe)


@pytest.fixture
def hub_folder(tmp_path):
    """`setup`'s pairs as a dataset that `datasets` reads from disk (never the network):
    one JSON lines file per split, each row a `translation` keyed by language."""
    folder = tmp_path / "toy-hub"
    folder.mkdir()
    train = toy_pairs(200, 0)
    splits = {
        "train": train + DIRTY + train[:4],
        "validation": toy_pairs(10, 1) + DIRTY,
        "test": toy_pairs(10, 2) + DIRTY[:1] * 2,
    }
    for name, rows in splits.items():
        lines = (json.dumps({"translation": {"de": de, "en": en}}) + "\n" for de, en in rows)
        (folder / f"{name}.jsonl").write_text("".join(lines), encoding="utf-8")
    return folder


def test_a_recipe_names_a_hugging_face_dataset_and_gets_the_same_cleaning(hub_folder, setup):
    card_recipe = setup[0]
    recipe = card_recipe.parent / "hub.yaml"
    tree = yaml.safe_load(card_recipe.read_text(encoding="utf-8"))
    del tree["data"]["corpus"], tree["data"]["data_dir"]
    recipe.write_text(yaml.safe_dump(tree), encoding="utf-8")
    cfg = load_recipe(recipe, [f"data.hub.id={hub_folder}"]).data  # as --set gives it
    assert cfg.corpus == "hub" and cfg.hub.splits["valid"] == "validation"
    prepared = prepare(cfg, progress=False)
    assert prepared.dir.name.startswith("toy-hub-de-en-")
    assert list(prepared.splits) == ["train", "valid", "test"]
    report = json.loads((prepared.dir / "clean_report.json").read_text())
    from_card = prepare(load_recipe(card_recipe).data, progress=False)
    card_report = json.loads((from_card.dir / "clean_report.json").read_text())
    assert report["train"] == card_report["train"]
    assert report["raw_sizes"] == {"train": 207, "valid": 13, "test": 12}
    assert prepared.splits["train"]["src"][:] == from_card.splits["train"]["src"][:]
    assert prepare(cfg, progress=False).cache_hit
    os.utime(hub_folder / "test.jsonl", (1, 1))  # an edited file of a local dataset: again
    assert not prepare(cfg, progress=False).cache_hit
    reversed_cfg = load_recipe(recipe, [f"data.hub.id={hub_folder}", "data.src=en"])
    with pytest.raises(NmtError, match="corpus toy-hub has no en-en pair"):
        prepare(reversed_cfg.data, progress=False)


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("data.corpus=multi30k-x", "data.hub: a recipe names its dataset or a corpus card"),
        ("data.hub.id=", "data.hub.id: name the dataset"),
        ("data.hub.splits={train: train}", "data.hub.splits: needs a valid split (has train)"),
        ("data.hub.splits={train: 3, valid: v}", "data.hub.splits: expected a mapping of our"),
        ("data.hub.splitz=x", "data.hub.splitz: unknown field"),
        ("data.files={train: {src: a, tgt: b}}", "data.hub: a recipe names its own files or a"),
    ],
)
def test_a_recipes_hub_section_is_checked(setup, setting, problem):
    with pytest.raises(NmtError, match=re.escape(f"recipe.{problem}")):
        load_recipe(setup[0], ["data.hub.id=wmt/wmt16", setting])


def test_corpus_hub_without_hub_is_refused(setup):
    with pytest.raises(NmtError, match=r"recipe\.data\.corpus: hub names the recipe's dataset"):
        load_recipe(setup[0], ["data.corpus=hub"])


def test_a_missing_hub_dataset_is_one_line_naming_it(setup, tmp_path):
    cfg = load_recipe(setup[0], [f"data.hub.id={tmp_path / 'nowhere'}", "data.corpus=hub"]).data
    with pytest.raises(NmtError, match=r"corpus nowhere, split train: hub .*nowhere \(default"):
        prepare(cfg, progress=False)


def test_a_recipe_naming_a_local_dataset_trains(hub_folder, tiny_recipe, tmp_path):
    tree = yaml.safe_load(tiny_recipe.read_text(encoding="utf-8"))
    tree["data"] = {"hub": {"id": str(hub_folder)}, "cache_dir": str(tmp_path / "cache")} | {
        "src": "de",
        "tgt": "en",
        "vocab_size": 60,
    }
    recipe = tmp_path / "hub.yaml"
    recipe.write_text(yaml.safe_dump(tree), encoding="utf-8")
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(recipe), "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "checkpoints/best.pt").is_file()
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").open()][-1] == 3
    assert load_recipe(run / "recipe.yaml").data.hub.id == str(hub_folder)  # as resuming reads it
