"""The card of an exported folder (card.json): what `nmt export` writes beside the graphs
(nmt/export/) and what loading an ONNX export checks field by field before it runs a graph
(nmt/models/onnx_model.py). Both formats' cards are named here: the ONNX one, decoded by
nmt's search through onnxruntime, and the CTranslate2 one, decoded by ctranslate2's search
(nmt/inference/ctranslate2_engine.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nmt.config.recipe import Recipe
from nmt.config.schema import shown
from nmt.errors import OptionError
from nmt.jsonio import read_json

CARD = "card.json"
CARD_FORMAT = "nmt-onnx"
CARD_VERSION = 1
CT2_CARD_FORMAT = "nmt-ctranslate2"  # nmt/export/export_ctranslate2.py's folders
EXPORT_PRECISIONS = ("fp32", "int8")  # what every format exports in
GRAPHS = {"encoder": "encoder", "decoder_step": "step"}  # card part -> its layout's name


def is_export(path: Path) -> bool:
    """Whether `path` is a folder `nmt export` wrote."""
    return (Path(path) / CARD).is_file()


def is_ctranslate2_export(path: Path) -> bool:
    """Whether the exported folder `path` is a CTranslate2 one (its card says so)."""
    card = read_json(Path(path) / CARD)
    return isinstance(card, dict) and card.get("format") == CT2_CARD_FORMAT


def export_format(path: Path) -> str:
    """The `nmt export --format` that wrote the exported folder `path`."""
    return "ctranslate2" if is_ctranslate2_export(path) else "onnx"


def export_refusal(option: str, export_format: str, cannot: str) -> OptionError:
    """The one line an exported folder refuses `option` with: what a folder of that format
    `cannot` do, and where it can be done (the run directory it was exported from)."""
    return OptionError(
        option,
        f"a folder of `nmt export --format {export_format}` cannot {cannot}; use the run directory",
    )


def layout(recipe: Recipe) -> dict[str, list[str]]:
    """The tensors of the two graphs, in order, for a recurrent model of `recipe`."""
    cfg = recipe.model
    state = ["h"] + (["c"] if cfg.cell == "lstm" else [])
    if cfg.attention != "none" and cfg.attention_order == "luong":
        state.append("feed")
    source = {"none": [], "dot": ["memory", "mask"]}.get(cfg.attention, ["memory", "keys", "mask"])
    return {
        "state": state,
        "encoder_inputs": ["src", "lengths"],
        "encoder_outputs": ["memory", "mask", *(["keys"] if "keys" in source else []), *state],
        "step_inputs": ["prev", *state, *source],
        # ONNX names each value once: the state a step gives is next_h, next_c, ...
        "step_outputs": [
            "logits",
            *[f"next_{name}" for name in state],
            *(["attention"] if source else []),
        ],
    }


FILES = ("encoder.file", "decoder_step.file", "sentencepiece.src", "sentencepiece.tgt")
EVERY_CARD = (  # what nmt/export/every_format.py's write_card gives every format's card
    ("version", int),
    ("precision", str),
    ("src_vocab", int),
    ("tgt_vocab", int),
    ("recipe", dict),
    ("sentencepiece.src", str),
    ("sentencepiece.tgt", str),
)
ONNX_CARD = (
    *EVERY_CARD,
    ("state", list),
    ("encoder.file", str),
    ("decoder_step.file", str),
    *((f"{part}.{ends}", list) for part in GRAPHS for ends in ("inputs", "outputs")),
)
CT2_CARD = (*EVERY_CARD, ("max_positions", int))


def _field(card: dict[str, Any], dotted: str) -> Any:
    """card["a"]["b"] for "a.b"; KeyError when a part is missing or not a mapping."""
    value: Any = card
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def card_problem(card: dict[str, Any], required: tuple[tuple[str, type], ...]) -> str | None:
    """What is wrong with a card's fields on their own (`required`: its format's, ONNX_CARD
    or CT2_CARD), or None."""
    for dotted, kind in required:
        try:
            value = _field(card, dotted)
        except KeyError:
            return f"{dotted}: missing"
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{dotted}: expected {kind.__name__}, got {shown(value)}"
    if card["version"] != CARD_VERSION:
        return f"version: {card['version']}; this nmt reads version {CARD_VERSION}"
    if card["precision"] not in EXPORT_PRECISIONS:
        return f"precision: {shown(card['precision'])} is not one of {', '.join(EXPORT_PRECISIONS)}"
    for name in ("src_vocab", "tgt_vocab"):
        if card[name] < 1:
            return f"{name}: {card[name]} is not a vocabulary size"
    for dotted in (name for name, _ in required if name in FILES):
        name = _field(card, dotted)
        if name in ("", ".", "..") or any(mark in name for mark in "/\\\0"):
            return f"{dotted}: {shown(name)} is not the name of a file in the folder"
    return None


def layout_problem(card: dict[str, Any], expected: dict[str, list[str]]) -> str | None:
    """Which of the card's tensor lists is not what a model of its recipe has, or None."""
    wanted = {"state": expected["state"]}
    for part, kind in GRAPHS.items():
        for ends in ("inputs", "outputs"):
            wanted[f"{part}.{ends}"] = expected[f"{kind}_{ends}"]
    for dotted, names in wanted.items():
        if _field(card, dotted) != names:
            return f"{dotted}: {shown(_field(card, dotted))}, where the model has {names}"
    return None
