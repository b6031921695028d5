"""Write the peers' data folder from our prepared cache, so every system sees the same pieces.

    python -m bench.peers.export_data recipes/multi30k-de-en/attention.yaml bench/scratch/data

Layout written (split names as the peers' configs expect them):
    raw/{train,dev,test}.{SRC,TGT}   text (our cleaned train; dev and test as published)
    tok/{train,dev,test}.{SRC,TGT}   the same sentences as sentencepiece pieces, space-separated,
                                     piece for piece the ids our own model is trained on
    spm.model                        the joint sentencepiece model (detokenises hypotheses)
    joey.vocab                       Joey NMT voc_file: one piece a line (line n: id n + 4)
    onmt.vocab                       OpenNMT-py vocab: "piece count" a line (count in train)
    meta.json                        languages, split sizes, vocabulary size
Both vocabularies hold every piece of the sentencepiece model except its four specials, in
id order; each peer adds its own four specials, so all systems have the same output size.
Whitespace inside a piece is escaped (piece_names); run_peer.py maps tokens back to ids
through joey.vocab before detokenising.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import sentencepiece as spm

from nmt.config.recipe import load_recipe
from nmt.data.prepare import Prepared, prepare
from nmt.data.tokenizer import UNK
from nmt.errors import NmtError

N_SPECIALS = 4  # PAD, UNK, BOS, EOS hold ids 0-3 in every model we train
UNK_PIECE = "<unk>"  # the unknown token of both Joey NMT and OpenNMT-py


def piece_names(processor: spm.SentencePieceProcessor) -> list[str]:
    """Each id's token in the peers' files: its piece, whitespace escaped, UNK as <unk>.

    The peers split lines on whitespace, and Joey splits files with str.splitlines, so a
    piece holding a no-break space or a tab (our models keep both) would break apart;
    such characters are written as <U+00A0> and the like.
    """
    names = [
        "".join(f"<U+{ord(char):04X}>" if char.isspace() else char for char in piece)
        for piece in processor.id_to_piece(list(range(processor.get_piece_size())))
    ]
    names[UNK] = UNK_PIECE
    if len(set(names)) != len(names):
        raise NmtError("two sentencepiece pieces share a name once whitespace is escaped")
    return names


def write_lines(path: Path, lines: Iterable[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def export(
    splits: Mapping[str, Mapping[str, list]],
    spm_model: Path,
    out: Path,
    langs: tuple[str, str],
    test: str,
) -> dict:
    """Write the peers' data folder from prepared splits (columns src, tgt, src_ids, tgt_ids)."""
    ours = {"train": "train", "dev": "valid", "test": test}  # peer split name -> ours
    for name in ours.values():
        if name not in splits:
            raise NmtError(f"prepared data has no split {name!r} (has: {', '.join(splits)})")
    processor = spm.SentencePieceProcessor(model_file=str(spm_model))
    names = piece_names(processor)
    for sub in ("raw", "tok"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spm_model, out / "spm.model")
    counts: Counter[int] = Counter()
    meta: dict = {"src_lang": langs[0], "tgt_lang": langs[1], "test_split": test, "splits": {}}
    for peer_name, split_name in ours.items():
        split = splits[split_name]
        sizes = {"sentences": len(split["src"])}
        for side, lang in zip(("src", "tgt"), langs, strict=True):
            ids = split[f"{side}_ids"]
            if peer_name == "train":
                for row in ids:
                    counts.update(row)
            write_lines(out / "raw" / f"{peer_name}.{lang}", split[side])
            tokens = (" ".join(names[i] for i in row) for row in ids)
            write_lines(out / "tok" / f"{peer_name}.{lang}", tokens)
            sizes[f"{side}_pieces"] = sum(len(row) for row in ids)
        meta["splits"][peer_name] = sizes
    vocab = range(N_SPECIALS, len(names))
    write_lines(out / "joey.vocab", (names[i] for i in vocab))
    write_lines(out / "onmt.vocab", (f"{names[i]} {counts[i]}" for i in vocab))
    meta["vocab_pieces"] = len(vocab)
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def export_prepared(prepared: Prepared, out: Path, langs: tuple[str, str], test: str) -> dict:
    """export() from a Prepared; the peers share one vocabulary, so it must be joint."""
    if Path(prepared.src_spm).resolve() != Path(prepared.tgt_spm).resolve():
        raise NmtError("the peers' configs share one vocabulary: use data.joint_vocab: true")
    return export(prepared.splits, Path(prepared.src_spm), out, langs, test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipe", type=Path, help="recipe whose data section is prepared")
    parser.add_argument("out", type=Path, help="folder to write (created)")
    parser.add_argument("--test", default="test2016", help="test split name (default test2016)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    try:
        recipe = load_recipe(args.recipe, args.set)
        prepared = prepare(recipe.data, progress=True)
        meta = export_prepared(prepared, args.out, (recipe.data.src, recipe.data.tgt), args.test)
    except NmtError as error:
        raise SystemExit(f"error: {error}") from None
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
