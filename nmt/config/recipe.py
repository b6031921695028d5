"""The recipe: four sections (data, model, train, decode), every default and every range.

A recipe is a YAML file of these sections. Loading checks every field (nmt/config/schema.py), so
a typo, a wrong type or a value out of range is a one-line error that names the file, the
field, the value and what is allowed, before any work starts.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from nmt.config.schema import RecipeError, Section, build, policy, ranged, setting, shown
from nmt.config.yamlio import parse_yaml, read_yaml, yaml_problem
from nmt.errors import SpelledError, literal, shown_path

DEFAULT_CORPUS = "multi30k"
FILES = "files"  # data.corpus of a recipe that names its own files (data.files)
HUB = "hub"  # data.corpus of a recipe that names a Hugging Face dataset (data.hub)


def _hub_splits() -> dict[str, str]:
    return {"train": "train", "valid": "validation", "test": "test"}


@dataclass
class HubData(Section):
    """A Hugging Face dataset named in the recipe, read as a card's hub source is."""

    NAME: ClassVar[str] = "data.hub"
    # the dataset id (wmt/wmt16), or a local folder of JSON, CSV or Parquet files, which
    # `datasets` reads without the network; its rows hold a `translation` column keyed by
    # data.src and data.tgt, or one column named by each
    id: str = ""
    config: str | None = None  # the dataset's configuration (wmt16: ro-en), if it has several
    revision: str | None = None  # a branch, tag or commit of the dataset repository
    # our split name -> the dataset's: train and valid, then any test sets
    splits: dict[str, str] = field(default_factory=_hub_splits)

    def check_together(self) -> None:
        if not self.id:
            raise RecipeError("data.hub.id: name the dataset, e.g. wmt/wmt16 or a local folder")
        if not isinstance(self.splits, dict) or not all(
            isinstance(ours, str) and isinstance(theirs, str) and theirs
            for ours, theirs in self.splits.items()
        ):
            raise RecipeError(
                f"data.hub.splits: expected a mapping of our split names to the dataset's, "
                f"got {shown(self.splits)}"
            )
        for ours in self.splits:
            check_split_name(ours, "data.hub.splits")
        missing = [split for split in ("train", "valid") if split not in self.splits]
        if missing:
            raise RecipeError(
                f"data.hub.splits: needs a {missing[0]} split (has {', '.join(self.splits)}); "
                "train and valid train the model, any others are test sets"
            )


@dataclass
class DataConfig(Section):
    NAME: ClassVar[str] = "data"
    # a card name in data/, a path to a card file, "files" (data.files) or "hub" (data.hub)
    corpus: str = DEFAULT_CORPUS
    # instead of a card, the corpus's own files: split -> {src: path, tgt: path}, train and
    # valid and any test splits; in a recipe file relative to its folder (load_recipe), on
    # the command line to the current one. Sets corpus to "files".
    files: dict[str, dict[str, str]] | None = None
    # instead of a card, a Hugging Face dataset: {id, config, revision, splits}; on the
    # command line --set data.hub.id=wmt/wmt16 --set data.hub.config=ro-en. Sets corpus to
    # "hub"; it is cleaned and reported as a card's corpus is.
    hub: HubData | None = None
    src: str = setting("de", vocabulary=True)  # source language code, as the card names it
    tgt: str = setting("en", vocabulary=True)  # target language code
    data_dir: str | None = setting(  # local mirror; else $NMT_DATA; else the card's public source
        None, resumable=True, fingerprinted=False
    )
    cache_dir: str = setting(  # where encoded splits and sentencepiece models are cached
        "prepared", resumable=True, fingerprinted=False
    )
    # cleaning (train only; dev and test are never filtered); 0 turns a rule off
    max_words: int = ranged(100, "[0, 1e6]")  # drop pairs with a side of more whitespace words
    max_chars: int = ranged(1000, "[0, 1e8]")  # ... or of more characters (one-word lines)
    max_ratio: float = ranged(3.0, "0 or [1, 1e6]")  # ... or whose word-length ratio exceeds it
    dedupe: bool = True  # drop a pair seen before (same source and target)
    split_seed: int = ranged(1234, "[0, 4294967295]")  # for corpora without an official split
    # >1: also train on consecutive pairs joined in groups of 2..join_max (nmt/data/joining.py)
    join_max: int = ranged(1, "[1, 64]")
    # sentencepiece
    joint_vocab: bool = setting(  # one sentencepiece model for both sides, else one per side
        True, vocabulary=True
    )
    spm_type: Literal["unigram", "bpe"] = setting(  # the sentencepiece algorithm
        "unigram", vocabulary=True
    )
    vocab_size: int = ranged(8000, "[8, 1e6]", vocabulary=True)  # pieces per sentencepiece model
    character_coverage: float = ranged(  # what sentencepiece accepts
        1.0, "[0.98, 1]", vocabulary=True
    )
    # >0: the training pairs are segmented afresh each epoch (nmt/data/subword.py): a unigram
    # model samples its 64 best segmentations with P^alpha (Kudo 2018: 0.1), BPE skips each
    # merge with probability alpha (Provilkov et al. 2020: 0.1); dev and test never. 0: off
    subword_alpha: float = ranged(0.0, "[0, 1)", fingerprinted=False)

    def check_together(self) -> None:
        if self.files is not None and self.hub is not None:
            raise RecipeError("data.hub: a recipe names its own files or a dataset, not both")
        for own, value, what in ((FILES, self.files, "own files"), (HUB, self.hub, "dataset")):
            if value is None:
                if self.corpus == own:
                    raise RecipeError(
                        f"data.corpus: {own} names the recipe's {what}: give data.{own}"
                    )
                continue
            if self.corpus not in (own, DEFAULT_CORPUS):
                raise RecipeError(
                    f"data.{own}: a recipe names its {what} or a corpus card "
                    f"(data.corpus {self.corpus}), not both"
                )
            self.corpus = own
        if self.files is not None:
            check_files(self.files)


SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_split_name(name: Any, where: str) -> str:
    """A RecipeError naming `where` unless `name` is a split name (split_name_problem)."""
    problem = split_name_problem(name)
    if problem is not None:
        raise RecipeError(f"{where}: {problem}")
    return name


def split_name_problem(name: Any) -> str | None:
    """Why `name` is no split name, or None. A split name is a name, never a path: it names
    the prepared cache's folder and the cached translations' files, so `/some/dir` or `../x`
    would write outside them."""
    if not isinstance(name, str):
        return f"a split name is text, got {shown(name)}"
    if not SPLIT_NAME.fullmatch(name) or ".." in name:
        return (
            f"split name {shown(name)} is not a name (letters, digits, and _ . - after the "
            "first; no '..' or '/')"
        )
    return None


def check_files(files: Any) -> None:
    """data.files: a mapping of split names (train and valid among them) to {src, tgt} paths."""
    if not isinstance(files, dict) or not files:
        raise RecipeError(
            f"data.files: expected a mapping of splits to {{src: PATH, tgt: PATH}}, got "
            f"{shown(files)}"
        )
    for split, pair in files.items():
        where = f"data.files.{split!s:.60}"
        check_split_name(split, where)
        if not isinstance(pair, dict) or set(pair) != {"src", "tgt"}:
            raise RecipeError(f"{where}: expected {{src: PATH, tgt: PATH}}, got {shown(pair)}")
        for side, path in pair.items():
            if not isinstance(path, str) or not path:
                raise RecipeError(f"{where}.{side}: expected a file path, got {shown(path)}")
    missing = [split for split in ("train", "valid") if split not in files]
    if missing:
        raise RecipeError(
            f"data.files: needs a {missing[0]} split (has {', '.join(map(str, files)):.200}); "
            "train and valid train the model, any others are test sets"
        )


@dataclass
class ModelConfig(Section):
    NAME: ClassVar[str] = "model"
    # rnn: the recurrent encoder-decoder of seq2seq, bilstm and attention (nmt/models/model.py);
    # transformer: Vaswani et al. 2017 (nmt/models/transformer.py); the table of them is
    # nmt/models/architectures.py. A field an architecture alone reads names it (arch=).
    arch: Literal["rnn", "transformer"] = "rnn"
    cell: Literal["lstm", "gru", "rnn"] = setting(  # the recurrent unit; rnn: plain tanh
        "lstm", arch="rnn"
    )
    embed_dim: int = ranged(256, "[1, 65536]", arch="rnn")  # source and target embedding width
    encoder_layers: int = ranged(2, "[1, 64]")  # stacked layers of the encoder
    encoder_hidden: int = ranged(256, "[1, 65536]", arch="rnn")  # per direction
    bidirectional: bool = setting(  # the encoder also reads the source right to left
        True, arch="rnn"
    )
    reverse_source: bool = setting(  # Sutskever et al. 2014 read the source backwards
        False, arch="rnn"
    )
    decoder_layers: int = ranged(2, "[1, 64]")  # as many as encoder_layers
    decoder_hidden: int = ranged(512, "[1, 65536]", arch="rnn")  # units of each decoder layer
    # how the encoder's final states start the decoder (nmt/models/model.py, Bridge): identity
    # hands each layer's [forward; backward] states over unchanged, so decoder_hidden must
    # be directions * encoder_hidden; linear learns a map from them to any width
    bridge: Literal["identity", "linear"] = setting("identity", arch="rnn")
    attention: Literal["none", "bahdanau", "dot", "general"] = setting(  # score; none: off
        "bahdanau", arch="rnn"
    )
    # "bahdanau": attend with the previous state, then step (Bahdanau et al. 2015);
    # "luong": step first, attend with the new state (Luong et al. 2015; Joey, OpenNMT-py)
    attention_order: Literal["bahdanau", "luong"] = setting("bahdanau", arch="rnn")
    attention_dim: int = ranged(512, "[1, 65536]", arch="rnn")  # hidden width of the bahdanau score
    dropout: float = ranged(  # on embeddings, between layers and outputs
        0.2, "[0, 1)", free_on_fine_tune=True
    )
    tie_embeddings: bool = False  # share target embedding and output projection
    init: Literal["uniform", "xavier"] = setting(  # weights; xavier keeps N(0, 1) embeddings
        "xavier", arch="rnn", free_on_fine_tune=True
    )
    init_range: float = ranged(  # for init: uniform
        0.1, "(0, 10]", arch="rnn", free_on_fine_tune=True
    )
    orthogonal_recurrent: bool = setting(  # recurrent matrices start orthogonal, per gate
        True, arch="rnn", free_on_fine_tune=True
    )
    # transformer (encoder_layers, decoder_layers, dropout and tie_embeddings serve both)
    d_model: int = ranged(  # the width of every layer and embedding
        512, "[1, 65536]", arch="transformer"
    )
    heads: int = ranged(  # attention heads; d_model / heads features each
        8, "[1, 1024]", arch="transformer"
    )
    ffn_dim: int = ranged(  # inner width of each feed-forward block
        2048, "[1, 1e6]", arch="transformer"
    )
    positions: Literal["sinusoidal", "learned"] = setting(  # how a position is encoded
        "sinusoidal", arch="transformer"
    )
    # learned positions: the longest sequence, EOS included; training leaves out (and counts)
    # the training and dev pairs with a longer side, and decoding stops an output there
    max_positions: int = ranged(1024, "[1, 1e6]", arch="transformer")
    # one embedding matrix for source, target (and, with tie_embeddings, output): needs
    # data.joint_vocab, one sentencepiece model for both sides (Recipe checks it)
    share_embeddings: bool = setting(False, arch="transformer")

    def check_together(self) -> None:
        for item in dataclasses.fields(self):
            owner = policy(item, "arch")
            if owner not in (None, self.arch) and getattr(self, item.name) != item.default:
                raise RecipeError(
                    f"model.{item.name}: applies to model.arch {owner} only (this is {self.arch})"
                )
        own_checks = {"rnn": self._check_rnn, "transformer": self._check_transformer}
        if self.arch in own_checks:
            own_checks[self.arch]()

    def _check_transformer(self) -> None:
        if self.d_model % self.heads:
            raise RecipeError(
                f"model.d_model ({self.d_model}) must be divisible by model.heads "
                f"({self.heads}): each head reads an equal share of the features"
            )
        if self.positions == "sinusoidal" and self.d_model % 2:
            raise RecipeError(
                f"model.d_model ({self.d_model}) must be even for sinusoidal positions "
                "(each frequency is a sine and a cosine)"
            )

    def _check_rnn(self) -> None:
        if self.encoder_layers != self.decoder_layers:
            raise RecipeError(
                f"model.decoder_layers ({self.decoder_layers}) must equal model.encoder_layers "
                f"({self.encoder_layers}): each encoder layer's final state starts one decoder "
                "layer"
            )
        memory_dim = self.encoder_hidden * (2 if self.bidirectional else 1)
        if self.bridge == "identity" and memory_dim != self.decoder_hidden:
            raise RecipeError(
                f"model.bridge: identity hands the encoder's final states ({memory_dim} units "
                f"with both directions) to the decoder unchanged, but model.decoder_hidden is "
                f"{self.decoder_hidden}; make them equal or set model.bridge: linear"
            )
        if self.attention == "dot" and memory_dim != self.decoder_hidden:
            raise RecipeError(
                f"model.attention: dot needs encoder outputs ({memory_dim}) as wide as "
                f"model.decoder_hidden ({self.decoder_hidden}); use general or bahdanau"
            )


@dataclass
class TrainConfig(Section):
    NAME: ClassVar[str] = "train"
    seed: int = ranged(1, "[0, 4294967295]")  # initial weights, batch order, dropout
    # a run directory (its best checkpoint) or a .pt file to start from, with its
    # sentencepiece models; the optimizer, schedule and step count start afresh
    # (nmt/training/finetune.py). Relative to the current folder, as --run-dir is.
    init_from: str | None = None
    batch_tokens: int = ranged(4096, "[1, 1e8]")  # target tokens per update, over all ranks
    update_freq: int = ranged(1, "[1, 4096]")  # gradient accumulation: micro-batches per update
    max_epochs: int = ranged(  # passes over the training data at most
        30, "[1, 1e6]", resumable=True
    )
    max_updates: int = ranged(0, "[0, 1e12]", resumable=True)  # 0: no limit
    # wall-clock minutes of training and validation, over every resume; 0: no limit. Gives
    # models that run at different speeds the same budget (bench/speed/gpu_reference.sh)
    max_minutes: float = ranged(0.0, "[0, 1e9]", resumable=True)
    optimizer: Literal["adam", "sgd"] = "adam"  # sgd: plain, no momentum (Sutskever et al.)
    lr: float = ranged(1e-3, "[0, 100]")  # learning rate (inverse_sqrt: its peak)
    # how the rate changes (nmt/training/optim.py)
    schedule: Literal["constant", "plateau", "inverse_sqrt", "halving"] = "plateau"
    warmup_updates: int = ranged(0, "[0, 1e9]")  # for inverse_sqrt
    lr_decay: float = ranged(0.5, "(0, 1]")  # plateau and halving factor
    plateau_patience: int = ranged(2, "[1, 1e6]")  # validations without a better valid_metric
    # the dev score that marks the best checkpoint and drives plateau and early stopping:
    # greedy BLEU, or perplexity, which keeps falling where a weak model's BLEU stalls
    valid_metric: Literal["bleu", "ppl"] = "bleu"
    halving_start_epoch: int = ranged(5, "[1, 1e6]")  # halving: decay once per epoch from here
    min_lr: float = ranged(1e-6, "[0, 100]")  # no schedule goes below it
    clip_norm: float = ranged(1.0, "[0, 1e6]")  # 0: no clipping
    label_smoothing: float = ranged(0.0, "[0, 1)")  # mass spread over the other pieces
    # updates; 0: at every epoch end instead. The last update is validated too.
    validate_every: int = ranged(500, "[0, 1e9]")
    valid_batch_tokens: int = ranged(  # dev batches (no gradients)
        2048, "[1, 1e8]", resumable=True
    )
    # validations without a better valid_metric; 0: never stop early
    early_stop_patience: int = ranged(8, "[0, 1e6]", resumable=True)
    keep_last: int = ranged(  # step checkpoints kept besides last and best
        3, "[0, 10000]", resumable=True
    )
    average_last: int = ranged(  # >1: also write the average of the last K
        0, "[0, 10000]", resumable=True
    )
    # >0: validate and translate with an exponential moving average of the weights, which
    # moves by 1 - ema_decay an update (nmt/training/ema.py); 0: off
    ema_decay: float = ranged(0.0, "[0, 1)")
    # auto: fp32 on every device measured so far (nmt/device.py); bf16: bf16 GEMMs under
    # autocast, recurrent state, attention softmax and loss in fp32
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: str = setting("auto", resumable=True)  # auto, cpu, cuda, cuda:1, ...
    max_bad_updates: int = ranged(  # NaN/inf losses in a row before the run stops
        20, "[1, 1e6]", resumable=True
    )
    tensorboard: bool = setting(  # also log to RUN/tensorboard (the tensorboard extra)
        False, resumable=True
    )
    log_every: int = ranged(50, "[0, 1e9]", resumable=True)  # 0: no training rows
    # under torchrun: how long a rank waits for the others (a dead or stuck rank, rank 0
    # validating) before the job fails with a timeout error; must exceed a validation
    ddp_timeout_minutes: float = ranged(10.0, "(0, 10080]", resumable=True)

    def check_together(self) -> None:
        if self.update_freq > self.batch_tokens:
            raise RecipeError(
                f"train.update_freq ({self.update_freq}) must be at most train.batch_tokens "
                f"({self.batch_tokens}): each of its micro-batches needs a token"
            )


@dataclass(frozen=True)
class DecodeConfig(Section):
    NAME: ClassVar[str] = "decode"
    beam: int = ranged(5, "[1, 1024]", resumable=True, help="Beam size; 1 is greedy search.")
    length_penalty: float = ranged(
        1.0,
        "[0, 100]",
        resumable=True,
        help="alpha in score / lp; 0 turns it off.",
        scoring="alpha of the normalised score, total / (pieces + 1)**alpha (1: per piece).",
    )
    length_norm: Literal["power", "gnmt"] = setting(
        "power",
        resumable=True,
        help="lp: power (length**alpha) or gnmt (((5 + length) / 6)**alpha, Wu et al. 2016).",
    )
    coverage_penalty: float = ranged(
        0.0,
        "[0, 100]",
        resumable=True,
        metavar="BETA",
        help="Beam search adds BETA * sum over source words of log(min(attention received, "
        "1)) to each finished hypothesis (GNMT; attention models).",
    )
    max_len_a: float = ranged(
        1.5, "[0, 1000]", request=False, help="Output length limit a * source pieces + b: a."
    )
    max_len_b: int = ranged(10, "[0, 1e6]", request=False, help="Output length limit: b.")
    batch_tokens: int = ranged(
        4096,
        "[1, 1e8]",
        resumable=True,
        request=False,
        help="Source tokens per decoding batch.",
        scoring="Tokens of the longer side per batch.",
    )
    max_source_len: int = ranged(
        256,
        "[1, 1e6]",
        resumable=True,
        request=False,
        help="Longer inputs are cut to this many pieces, with a warning.",
        scoring="A longer source or target is cut to this many pieces, with a warning.",
    )


@dataclass
class Recipe:
    # the run is runs/<name> unless --run-dir says otherwise; a recipe file without a name
    # takes the file's (my.yaml: runs/my), and `recipe` is left to recipes made in code
    name: str = setting("recipe", resumable=True)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def __post_init__(self) -> None:
        if self.model.share_embeddings and not self.data.joint_vocab:
            raise RecipeError(
                "model.share_embeddings: needs data.joint_vocab: true (one sentencepiece "
                "model, so that an id means the same piece on both sides)"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def changes_from(self, before: Recipe, names: Iterable[str]) -> list[str]:
        """Each of the dotted fields `names` that this recipe sets otherwise than `before`,
        as 'train.lr (0.001 -> 0.01)': every one at once, so one refusal says them all."""
        old, new = before.flat(), self.flat()
        changed = [name for name in names if old[name] != new[name]]
        return [f"{name} ({old[name]!r} -> {new[name]!r})" for name in changed]

    def flat(self) -> dict[str, Any]:
        """Every field by its dotted name: {"train.lr": 0.001, ...}."""
        flat = {}
        for key, value in self.to_dict().items():
            if isinstance(value, dict):
                flat.update({f"{key}.{name}": inner for name, inner in value.items()})
            else:
                flat[key] = value
        return flat


def fields_where(name: str, value: Any = True) -> list[str]:
    """The dotted recipe fields (train.lr) whose policy `name` is `value` (schema.POLICIES),
    in the order they are declared."""
    found = []
    for item in dataclasses.fields(Recipe):
        if item.default_factory is dataclasses.MISSING:
            found += [item.name] if policy(item, name) == value else []
            continue
        section = dataclasses.fields(item.default_factory)
        found += [f"{item.name}.{leaf.name}" for leaf in section if policy(leaf, name) == value]
    return found


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecipeError(f"{part} is not a section")
    node[leaf] = value


class OverrideError(SpelledError, RecipeError):
    """A recipe error that names the override that caused it: in the `overrides` of
    load_recipe, `--set` on the command line."""


def _override(text: str) -> str:
    """An override as an OverrideError's message names it."""
    return "{overrides} " + literal(f"{text:.200}")


def parse_override(text: str) -> tuple[str, Any]:
    """Split 'train.lr=3e-4' into ('train.lr', 0.0003), typing the value as YAML does."""
    if "=" not in text:
        raise OverrideError(f"{_override(text)}: expected key=value, e.g. train.lr=0.0003")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), (parse_yaml(raw) if raw else "")
    except yaml.YAMLError as problem:
        problem_text = literal(yaml_problem(problem)[:200])
        raise OverrideError(f"{_override(text)}: the value is not YAML ({problem_text})") from None


def recipe_from_dict(tree: Any, source: str, overrides: Sequence[str] = ()) -> Recipe:
    """Build and check a recipe from its YAML tree with the key=value overrides applied
    (together, so that fields that must agree can be changed at once); an error names
    `source`, and the overrides of the fields it names."""
    if not isinstance(tree, dict):
        raise RecipeError(
            f"{source}: a recipe is a mapping of sections (data, model, train, decode), "
            f"not {type(tree).__name__} {shown(tree)}"
        )
    recipe = _build_from(tree, source)
    if not overrides:
        return recipe
    tree = copy.deepcopy(tree)
    for text in overrides:
        key, value = parse_override(text)
        try:
            _set_dotted(tree, key, value)
        except RecipeError as error:
            message = f"{literal(source)} with {_override(text)}: {literal(str(error))}"
            raise OverrideError(message) from None
    try:
        return build(Recipe, tree, "recipe")
    except RecipeError as error:
        named = [text for text in overrides if f"{text.split('=', 1)[0].strip()}" in str(error)]
        causes = ", ".join(_override(text) for text in named or overrides)
        message = f"{literal(source)} with {causes}: {literal(str(error))}"
        raise OverrideError(message) from None


def _build_from(tree: dict, source: str) -> Recipe:
    try:
        return build(Recipe, tree, "recipe")
    except RecipeError as error:
        raise RecipeError(f"{source}: {error}") from None


def _files_beside(tree: dict, folder: Path) -> None:
    """Make the paths of a recipe file's data.files absolute, relative ones taken from the
    recipe's folder; what is not a path is left for the schema to refuse."""
    files = tree["data"].get("files") if isinstance(tree.get("data"), dict) else None
    pairs = files.values() if isinstance(files, dict) else ()
    for pair in pairs:
        if isinstance(pair, dict):
            for side, value in pair.items():
                if isinstance(value, str) and value:
                    pair[side] = str((folder / Path(value).expanduser()).absolute())


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe YAML (onto its base's, when it names one), apply key=value overrides,
    validate. A recipe without a name is named after its own file, never its base's."""
    path = Path(path)
    own = _read_recipe(path)
    tree = _onto_base(own, path, (path.resolve(),)) if isinstance(own, dict) else own
    recipe = recipe_from_dict(tree, str(path), overrides)
    if "name" not in own:
        recipe.name = path.stem
    return recipe


def _read_recipe(path: Path) -> Any:
    """The YAML tree of one recipe file, its data.files made absolute."""
    tree = read_yaml(path, "recipe file", RecipeError)
    if tree is None:
        raise RecipeError(f"{path}: the recipe is empty (give at least its name or a section)")
    if isinstance(tree, dict):
        _files_beside(tree, path.parent)
    return tree


def _onto_base(tree: dict, path: Path, chain: tuple[Path, ...]) -> dict:
    """`tree` merged onto the tree of the recipe its `base:` names (a recipe file, relative
    to `path`'s folder, itself a whole recipe and read the same way), section by section;
    `chain` holds the files read so far, so that a cycle is an error, not a hang. Messages
    name the base by its path from here, not as written relative to `path`."""
    if "base" not in tree:
        return tree
    tree = dict(tree)
    base = tree.pop("base")
    if not isinstance(base, str) or Path(base).suffix not in (".yaml", ".yml"):
        raise RecipeError(f"{path}: recipe.base: expected a recipe file (.yaml), got {shown(base)}")
    base_path = shown_path(path.parent / base)
    if base_path.resolve() in chain:
        raise RecipeError(f"{path}: recipe.base: {base_path} makes a cycle of bases")
    if not base_path.is_file():
        raise RecipeError(f"{path}: recipe.base: {base_path} is not a file")
    base_tree = _read_recipe(base_path)
    if isinstance(base_tree, dict):
        base_tree = _onto_base(base_tree, base_path, (*chain, base_path.resolve()))
    recipe_from_dict(base_tree, str(base_path))  # a base's own errors name its file
    return _merged(base_tree, tree)


def _merged(base: dict, own: dict) -> dict:
    """`own`'s fields over `base`'s, a mapping in both merged the same way."""
    merged = dict(base)
    for key, value in own.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _merged(base[key], value) if both else value
    return merged
