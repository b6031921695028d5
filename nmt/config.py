"""The one typed recipe schema: every default lives here.

A recipe is a YAML file with four sections (data, model, train, decode). Loading
checks every field against these dataclasses, so a typo or a wrong type is a
one-line error that names the field and the file instead of a silent default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from nmt.errors import NmtError


class RecipeError(NmtError):
    """A recipe field is unknown, mistyped or out of range."""


@dataclass
class DataConfig:
    corpus: str = "multi30k"  # a card name in data/ or a path to a card file
    src: str = "de"
    tgt: str = "en"
    data_dir: str | None = None  # local mirror; else $NMT_DATA; else the card's public source
    cache_dir: str = "prepared"  # where encoded splits and sentencepiece models are cached
    # cleaning (train only; dev and test are never filtered)
    max_words: int = 100  # drop pairs with a side longer than this many whitespace words
    max_ratio: float = 3.0  # drop pairs whose word-length ratio exceeds this
    dedupe: bool = True
    split_seed: int = 1234  # for corpora without an official split
    # sentencepiece
    joint_vocab: bool = True
    spm_type: Literal["unigram", "bpe"] = "unigram"
    vocab_size: int = 8000
    character_coverage: float = 1.0


@dataclass
class ModelConfig:
    cell: Literal["lstm", "gru", "rnn"] = "lstm"
    embed_dim: int = 256
    encoder_layers: int = 2
    encoder_hidden: int = 256  # per direction
    bidirectional: bool = True
    reverse_source: bool = False  # Sutskever et al. 2014 read the source backwards
    decoder_layers: int = 2
    decoder_hidden: int = 512
    attention: Literal["none", "bahdanau", "dot", "general"] = "bahdanau"
    # "bahdanau": attend with the previous state, then step (Bahdanau et al. 2015);
    # "luong": step first, attend with the new state (Luong et al. 2015; Joey, OpenNMT-py)
    attention_order: Literal["bahdanau", "luong"] = "bahdanau"
    attention_dim: int = 512
    dropout: float = 0.2
    tie_embeddings: bool = False  # share target embedding and output projection
    init: Literal["uniform", "xavier"] = "xavier"
    init_range: float = 0.1  # for init: uniform
    orthogonal_recurrent: bool = True


@dataclass
class TrainConfig:
    seed: int = 1
    batch_tokens: int = 4096  # target tokens per update (global, over all ranks)
    update_freq: int = 1  # gradient accumulation: micro-batches per update
    max_epochs: int = 30
    max_updates: int = 0  # 0: no limit
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    schedule: Literal["constant", "plateau", "inverse_sqrt", "halving"] = "plateau"
    warmup_updates: int = 0  # for inverse_sqrt
    lr_decay: float = 0.5  # plateau and halving factor
    plateau_patience: int = 2  # validations without dev-BLEU gain before decay
    halving_start_epoch: int = 5  # halving: decay once per epoch from this epoch on
    min_lr: float = 1e-6
    clip_norm: float = 1.0
    label_smoothing: float = 0.0
    validate_every: int = 500  # updates (0: only at epoch ends); every epoch also ends with one
    valid_batch_tokens: int = 2048
    early_stop_patience: int = 8  # validations without dev-BLEU gain; 0: never stop early
    keep_last: int = 3
    average_last: int = 0  # >1: also write the average of the last K checkpoints
    # auto: fp32 on every device measured so far (nmt/device.py); bf16: bf16 GEMMs under
    # autocast, recurrent state, attention softmax and loss in fp32
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: str = "auto"  # auto, cpu, cuda, cuda:1, ...
    max_bad_updates: int = 20  # consecutive NaN/inf losses before the run stops
    tensorboard: bool = False
    log_every: int = 50
    # under torchrun: how long a rank waits for the others (a dead or stuck rank, rank 0
    # validating) before the job fails with a timeout error; must exceed a validation
    ddp_timeout_minutes: float = 10.0


@dataclass
class DecodeConfig:
    beam: int = 5
    length_penalty: float = 1.0  # alpha in score / len**alpha; 0 turns it off
    max_len_a: float = 1.5  # output is at most a * source_length + b pieces
    max_len_b: int = 10
    batch_tokens: int = 4096  # source tokens per decoding batch
    max_source_len: int = 256  # longer inputs are truncated (and counted)


@dataclass
class Recipe:
    name: str = "recipe"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    """Return value converted to annotation, or raise RecipeError naming `where`."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise RecipeError(f"{where}: {value!r} is not one of {', '.join(map(str, allowed))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(value, inner[0], where)
    if annotation is float and not isinstance(value, bool):
        if isinstance(value, int):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    if annotation in (int, float, str, bool) and not (
        isinstance(value, annotation) and not (annotation is int and isinstance(value, bool))
    ):
        raise RecipeError(f"{where}: expected {annotation.__name__}, got {value!r}")
    return value


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise RecipeError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise RecipeError(f"{where}.{key}: unknown field (known: {', '.join(sorted(names))})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, f"{where}.{key}")
        else:
            kwargs[key] = _check_type(value, hint, f"{where}.{key}")
    return cls(**kwargs)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecipeError(f"--set {dotted}: {part} is not a section")
    node[leaf] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Split 'train.lr=3e-4' into ('train.lr', 0.0003), typing the value as YAML does."""
    if "=" not in text:
        raise RecipeError(f"--set {text!r}: expected key=value, e.g. train.lr=0.0003")
    key, raw = text.split("=", 1)
    return key.strip(), (yaml.safe_load(raw) if raw else "")


def recipe_from_dict(tree: dict, source: str, overrides: list[str] = ()) -> Recipe:
    tree = dict(tree or {})
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    try:
        return _build(Recipe, tree, "recipe")
    except RecipeError as error:
        raise RecipeError(f"{source}: {error}") from None


def read_yaml(path: Path, what: str, error: type[NmtError] = NmtError) -> Any:
    """The tree of a YAML file through safe_load (which never runs code from it); a missing
    file or bad YAML is one `error` naming the file."""
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as problem:
        raise error(f"{path}: not valid YAML ({problem})") from None


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    """Read a recipe YAML, apply key=value overrides, validate."""
    path = Path(path)
    tree = read_yaml(path, "recipe file", RecipeError)
    recipe = recipe_from_dict(tree, str(path), overrides)
    if "name" not in (tree or {}):
        recipe.name = path.stem
    return recipe
