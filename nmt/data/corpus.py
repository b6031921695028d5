"""Corpus cards: what a corpus is, which splits it has, and where each split comes from.

A card (data/NAME.yaml) lists for every split its sources in order of preference: a
file pair in the local mirror, then a public URL, then a Hugging Face hub dataset. The
first that works wins; when none does, one line says what was tried. Only the splits
asked for are resolved, so the mirrored test sets of a corpus whose training set is
not mirrored still load for evaluation. A recipe that names its own files (data.files)
gets a card made of them (`data_card`), so they go the same way as a card's splits; so
does a Hugging Face dataset a recipe names (data.hub).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import pickle
import random
import urllib.request
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nmt.config.recipe import FILES, DataConfig, check_split_name
from nmt.config.yamlio import read_yaml
from nmt.data.joining import LONG_GROUP_SIZES, LONG_SUFFIX, join_groups, long_base
from nmt.errors import NmtError, SpelledError, literal
from nmt.textio import decode_lines, read_parallel


def _cards_dir() -> Path:
    """data/ of the repository: the installed package nmt_cards (editable installs map it
    back), or beside nmt/ when the source tree is used without installing (PYTHONPATH)."""
    spec = importlib.util.find_spec("nmt_cards")
    if spec is None:
        return Path(__file__).resolve().parents[2] / "data"
    return Path(spec.submodule_search_locations[0])


CARDS_DIR = _cards_dir()
DEFAULT_MIRROR = Path("../shared/data")  # this workplace's layout; elsewhere set NMT_DATA
# Unicode spaces that some corpora use before French punctuation, read as a plain space.
SPACES = str.maketrans(
    dict.fromkeys(
        "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
        "\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000",
        " ",
    )
)


@dataclass(frozen=True)
class Hub:
    """A Hugging Face hub dataset split with a `translation` column (or one per language)."""

    id: str
    split: str
    config: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class Source:
    """Where one split (or the pool a split is cut from) comes from, in order of preference."""

    mirror: str | None = None  # "multi30k/train.{lang}.gz", relative to the mirror dir
    url: str | None = None  # "https://.../train.{lang}.gz", or one zip archive with `member`
    member: str | None = None  # tab-separated file inside the zip, one column per language
    columns: tuple[str, ...] = ()  # the language of each column of `member`
    hub: Hub | None = None
    files: tuple[str, str] | None = None  # a recipe's own source and target files (data.files)

    def mirror_pattern(self, mirror: Path, src: str, tgt: str) -> str:
        """The mirror files for display, e.g. /data/wmt14-en-de/train.{en,de}.gz."""
        return str(mirror / self.mirror.format(lang=f"{{{src},{tgt}}}"))

    def mirror_paths(self, mirror: Path | None, langs: Iterable[str]) -> list[Path] | None:
        """The mirror file of each language, or None when any is missing; a recipe's own
        files, whether or not they are there (reading them says which is not)."""
        if self.files is not None:
            return [Path(path) for path in self.files]
        if mirror is None or self.mirror is None:
            return None
        paths = [mirror / self.mirror.format(lang=lang) for lang in langs]
        return paths if all(path.is_file() for path in paths) else None

    def local_dataset_files(self) -> list[Path]:
        """The files of a hub source that is a local folder, which `datasets` reads from
        disk (so that an edited file is prepared again); none for a dataset id."""
        folder = Path(self.hub.id) if self.hub is not None else None
        if folder is None or not folder.is_dir():
            return []
        return sorted(path for path in folder.rglob("*") if path.is_file())


@dataclass(frozen=True)
class Card:
    """A corpus card as read from YAML; `raw` is the tree itself (it is fingerprinted)."""

    name: str
    description: str
    languages: tuple[str, ...]
    licence: str
    citation: str
    path: Path
    raw: dict[str, Any]
    splits: dict[str, Source] = field(default_factory=dict)  # official splits
    pool: Source | None = None  # corpora without a split: everything, to be cut
    holdout: dict[str, int] = field(default_factory=dict)  # pairs per held-out split
    normalize_spaces: bool = False  # read Unicode spaces as ASCII spaces

    @property
    def split_names(self) -> list[str]:
        return ["train", *self.holdout] if self.pool else list(self.splits)

    def source(self, split: str) -> Source:
        return self.pool if self.pool else self.splits[split]


def progress_bar(enabled: bool) -> Progress:
    """The one progress display of data preparation: on a stderr terminal, gone when done."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )


@contextmanager
def quiet_datasets() -> Iterator[None]:
    """Silence the tqdm bars of `datasets` (ours are the rich ones), then restore them."""
    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if enabled:
            datasets.enable_progress_bars()


def card_names() -> list[str]:
    """The names of the shipped cards (data/*.yaml)."""
    return sorted(path.stem for path in CARDS_DIR.glob("*.yaml"))


def load_card(corpus: str | Path) -> Card:
    """A card by name (data/NAME.yaml) or by path to a .yaml file."""
    path = Path(corpus)
    if path.suffix not in (".yaml", ".yml"):
        path = CARDS_DIR / f"{corpus}.yaml"
        if not path.is_file():
            known = ", ".join(card_names())
            raise NmtError(
                f"unknown corpus {str(corpus)!r} (known: {known}; or a card .yaml path; "
                "a Hugging Face dataset: data.hub.id)"
            )
    return _parse_card(read_yaml(path, "corpus card"), path)


def data_card(cfg: DataConfig) -> Card:
    """The card of a recipe's corpus: its card, or one made of the files or the Hugging
    Face dataset it names."""
    if cfg.hub is not None:
        return _hub_card(cfg)
    if cfg.files is None:
        return load_card(cfg.corpus)
    return Card(
        name=FILES,
        description="the files the recipe names (data.files)",
        languages=(cfg.src, cfg.tgt),
        licence="",
        citation="",
        path=Path("data.files"),
        raw={"files": cfg.files},
        splits={
            split: Source(files=(pair["src"], pair["tgt"])) for split, pair in cfg.files.items()
        },
    )


def _hub_card(cfg: DataConfig) -> Card:
    """A card of one hub source per split, for the dataset a recipe names (data.hub)."""
    hub = cfg.hub
    return Card(
        name=hub.id.rstrip("/").rsplit("/", 1)[-1] or hub.id,
        description=f"the Hugging Face dataset the recipe names (data.hub {hub.id})",
        languages=(cfg.src, cfg.tgt),
        licence="",
        citation="",
        path=Path("data.hub"),
        raw={"hub": dataclasses.asdict(hub)},
        splits={
            ours: Source(hub=Hub(id=hub.id, split=theirs, config=hub.config, revision=hub.revision))
            for ours, theirs in hub.splits.items()
        },
    )


def _parse_card(tree: Any, path: Path) -> Card:
    if not isinstance(tree, dict):
        raise NmtError(f"{path}: a corpus card must be a mapping")
    missing = [
        key
        for key in ("name", "languages", "description", "licence", "citation")
        if key not in tree
    ]
    if missing:
        raise NmtError(f"{path}: missing field {missing[0]!r}")
    if ("splits" in tree) == ("pool" in tree):
        raise NmtError(f"{path}: give either 'splits' or 'pool' (with 'holdout')")
    splits = {
        check_split_name(name, f"{path}: splits"): _parse_source(spec, f"{path}: splits.{name}")
        for name, spec in (tree.get("splits") or {}).items()
    }
    holdout = tree.get("holdout") or {}
    for name in holdout:
        check_split_name(name, f"{path}: holdout")
    if not all(isinstance(size, int) and size > 0 for size in holdout.values()):
        raise NmtError(f"{path}: holdout sizes must be positive pair counts, got {holdout}")
    if "pool" in tree and not holdout:
        raise NmtError(f"{path}: a 'pool' card needs 'holdout' sizes, e.g. {{valid: 2000}}")
    return Card(
        name=str(tree["name"]),
        description=str(tree["description"]).strip(),
        languages=tuple(str(lang) for lang in tree["languages"]),
        licence=str(tree["licence"]).strip(),
        citation=str(tree["citation"]).strip(),
        path=path,
        raw=tree,
        splits=splits,
        pool=_parse_source(tree["pool"], f"{path}: pool") if "pool" in tree else None,
        holdout=holdout,
        normalize_spaces=bool(tree.get("normalize_spaces", False)),
    )


def _parse_source(spec: Any, where: str) -> Source:
    known = {"mirror", "url", "member", "columns", "hub"}
    if not isinstance(spec, dict) or not spec or set(spec) - known:
        raise NmtError(f"{where}: expected a mapping with keys among {', '.join(sorted(known))}")
    hub = spec.get("hub")
    if hub is not None:
        if not isinstance(hub, dict) or not {"id", "split"} <= set(hub) <= set(Hub.__annotations__):
            raise NmtError(f"{where}.hub: needs id and split (and config, revision if any)")
        hub = Hub(**{key: str(value) for key, value in hub.items()})
    if spec.get("member") and not spec.get("columns"):
        raise NmtError(f"{where}: 'member' needs 'columns' (the language of each column)")
    return Source(
        mirror=spec.get("mirror"),
        url=spec.get("url"),
        member=spec.get("member"),
        columns=tuple(spec.get("columns", ())),
        hub=hub,
    )


def check_pair(card: Card, src: str, tgt: str) -> None:
    """Any two different languages of the card, in either direction."""
    if src == tgt or src not in card.languages or tgt not in card.languages:
        langs = ", ".join(card.languages)
        raise NmtError(
            f"corpus {card.name} has no {src}-{tgt} pair (languages: {langs}; "
            "any two, either direction)"
        )


def resolve_mirror(data_dir: str | Path | None) -> Path | None:
    """The local mirror: data_dir, else $NMT_DATA, else ../shared/data if it exists."""
    chosen = data_dir or os.environ.get("NMT_DATA")
    if not chosen:
        return DEFAULT_MIRROR.resolve() if DEFAULT_MIRROR.is_dir() else None
    path = Path(chosen).expanduser().resolve()
    if not path.is_dir():
        raise SpelledError(
            f"data dir {literal(str(path))} does not exist (from data.data_dir, {{data_dir}} "
            "or NMT_DATA)"
        )
    return path


def mirror_files(
    card: Card, mirror: Path | None, src: str, tgt: str, names: Iterable[str]
) -> list[Path]:
    """The local files that the given splits would be read from (for fingerprints)."""
    sources = dict.fromkeys(card.source(name) for name in names)  # dedupe, keep the order
    return [
        path
        for source in sources
        for path in source.mirror_paths(mirror, (src, tgt)) or source.local_dataset_files()
    ]


def load_splits(
    card: Card,
    src: str,
    tgt: str,
    mirror: Path | None,
    names: Iterable[str],
    seed: int = 1234,
    progress: bool = False,
) -> dict[str, datasets.Dataset]:
    """The named splits as datasets with columns src, tgt (raw text, nothing filtered);
    `NAME-long` is split NAME with its pairs joined (nmt/data/joining.py).

    `seed` picks the held-out splits of a card without an official split (its `pool`).
    """
    check_pair(card, src, tgt)
    names = list(names)
    joined = {name: long_base(name) for name in names if long_base(name) is not None}
    for name in names:
        if joined.get(name, name) not in card.split_names or joined.get(name) == "train":
            known = ", ".join(card.split_names)
            raise NmtError(
                f"corpus {card.name} has no split {name!r} (splits: {known}; and "
                f"SPLIT{LONG_SUFFIX} for each but train: its pairs joined in groups of 1-4)"
            )
    if joined:
        bases = [joined.get(name, name) for name in names]
        loaded = load_splits(card, src, tgt, mirror, dict.fromkeys(bases), seed, progress)
        return {
            name: join_groups(loaded[base], LONG_GROUP_SIZES) if name in joined else loaded[base]
            for name, base in zip(names, bases, strict=True)
        }
    with progress_bar(progress) as bar:
        task = bar.add_task(f"loading {card.name} {src}-{tgt}", total=len(names))
        if card.pool:
            pool = _load_source(card, "+".join(names), card.pool, src, tgt, mirror)
            parts = holdout_split(pool["src"][:], pool["tgt"][:], card.holdout, seed)
            bar.advance(task, len(names))
            return {name: pool.select(parts[name]) for name in names}
        loaded = {}
        for name in names:
            loaded[name] = _load_source(card, name, card.splits[name], src, tgt, mirror)
            bar.advance(task)
        return loaded


def _load_source(
    card: Card, split: str, source: Source, src: str, tgt: str, mirror: Path | None
) -> datasets.Dataset:
    """Try the mirror, the URL, the hub in turn; one NmtError line if none works."""
    tried = []
    paths = source.mirror_paths(mirror, (src, tgt))
    if paths:
        sources, targets = read_parallel(*paths)
        if not sources:
            raise NmtError(f"{paths[0]}: holds no lines; split {split} needs sentence pairs")
        return _normalized(card, _pairs(sources, targets))
    if source.mirror and mirror is None:
        tried.append(f"no mirror set (--data-dir or NMT_DATA) to find {source.mirror}")
    elif source.mirror:
        tried.append(f"not in the mirror ({source.mirror_pattern(mirror, src, tgt)})")
    attempts = []
    if source.url:
        attempts.append((f"url {source.url}", lambda: _from_url(source, src, tgt)))
    if source.hub:
        hub = source.hub
        label = f"hub {hub.id} ({hub.config or 'default'}, {hub.split})"
        attempts.append((label, lambda: _from_hub(hub, src, tgt)))
    for label, fetch in attempts:
        try:
            return _normalized(card, fetch())
        except NmtError:
            raise
        except Exception as error:  # datasets and urllib raise many kinds; report, don't crash
            reason = (str(error).strip().splitlines() or [""])[0][:160]
            tried.append(f"{label} failed: {type(error).__name__}: {reason}")
    raise NmtError(f"corpus {card.name}, split {split}: " + "; ".join(tried))


def _pairs(src: list[str], tgt: list[str]) -> datasets.Dataset:
    try:
        return datasets.Dataset.from_dict({"src": src, "tgt": tgt})
    except pickle.PicklingError as error:  # datasets fingerprints every new dataset with dill
        raise NmtError(
            f"datasets could not fingerprint the corpus ({error}): dill fails like this when "
            f"datasets is installed outside a folder named site-packages (pip install --target "
            f"DIR); install it into a virtual environment or a DIR named site-packages"
        ) from error


def _normalized(card: Card, ds: datasets.Dataset) -> datasets.Dataset:
    if not card.normalize_spaces:
        return ds
    with quiet_datasets():
        return ds.map(_translate_spaces, batched=True, load_from_cache_file=False)


def _translate_spaces(batch: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: [line.translate(SPACES) for line in batch[key]] for key in ("src", "tgt")}


def _offline() -> bool:
    """urllib knows nothing of the Hugging Face offline switches: honour them here too."""
    flags = (os.environ.get(name, "").upper() for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return any(flag in ("1", "ON", "YES", "TRUE") for flag in flags)


def _download(url: str) -> Path:
    """A local copy of url, kept in the datasets download cache (so offline reuse works)."""
    name = Path(url.split("?")[0]).name or "download"
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    target = Path(datasets.config.HF_DATASETS_CACHE) / "downloads" / "nmt" / digest / name
    if target.is_file():
        return target
    if _offline():
        raise ConnectionError("offline mode is on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)
    partial.replace(target)
    return target


def _from_url(source: Source, src: str, tgt: str) -> datasets.Dataset:
    if source.member is None:
        files = [_download(source.url.format(lang=lang)) for lang in (src, tgt)]
        return _pairs(*read_parallel(*files))
    name = f"{source.url}:{source.member}"
    with zipfile.ZipFile(_download(source.url)) as archive:
        rows = decode_lines(archive.read(source.member), name)
    where = [source.columns.index(lang) for lang in (src, tgt)]
    columns: dict[str, list[str]] = {"src": [], "tgt": []}
    for number, row in enumerate(rows, 1):
        fields = row.split("\t")
        if len(fields) <= max(where):
            raise NmtError(f"{name}: line {number} has {len(fields)} tab-separated fields")
        columns["src"].append(fields[where[0]])
        columns["tgt"].append(fields[where[1]])
    return datasets.Dataset.from_dict(columns)


def _from_hub(hub: Hub, src: str, tgt: str) -> datasets.Dataset:
    ds = datasets.load_dataset(hub.id, hub.config, split=hub.split, revision=hub.revision)
    if "translation" in ds.column_names:
        ds = ds.flatten()
        names = {f"translation.{src}": "src", f"translation.{tgt}": "tgt"}
    else:
        names = {src: "src", tgt: "tgt"}
    return ds.select_columns(list(names)).rename_columns(names)


def holdout_split(
    src: list[str], tgt: list[str], sizes: dict[str, int], seed: int
) -> dict[str, list[int]]:
    """Row indices of each held-out split (exactly `sizes`) and of train (the rest).

    Pairs that share a source OR a target sentence are linked, and every connected group
    goes wholly to one split: no held-out sentence is seen in training, whichever side is
    translated. Groups are visited in a seeded random order; each joins the first held-out
    split it fits in, else train.
    """
    if sum(sizes.values()) >= len(src):
        raise NmtError(f"held-out sizes {sizes} leave no training data out of {len(src)} pairs")
    groups = _linked_groups(src, tgt)
    random.Random(seed).shuffle(groups)
    room = dict(sizes)
    parts: dict[str, list[int]] = {name: [] for name in [*sizes, "train"]}
    for group in groups:
        name = next((name for name, left in room.items() if left >= len(group)), "train")
        parts[name].extend(group)
        if name in room:
            room[name] -= len(group)
    return {name: sorted(rows) for name, rows in parts.items()}


def _linked_groups(src: list[str], tgt: list[str]) -> list[list[int]]:
    """Connected components of pairs linked by an equal source or target (union-find)."""
    parent = list(range(len(src)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[int, str], int] = {}
    for side, lines in enumerate((src, tgt)):
        for i, line in enumerate(lines):
            a, b = root(i), root(first.setdefault((side, line), i))
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(src)):
        members[root(i)].append(i)
    return list(members.values())
