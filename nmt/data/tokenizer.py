"""Sentencepiece subwords: training the models and turning text into ids and back.

Models use the identity normalization and keep every space, so decoding the ids of
a sentence gives back exactly that sentence (given its characters were seen in
training): what the model outputs is plain text, ready for sacrebleu.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import sentencepiece as spm

from nmt.errors import NmtError

PAD, UNK, BOS, EOS = 0, 1, 2, 3
MAX_TRAINING_SENTENCES = 1_000_000  # sentencepiece samples this many (shuffled) lines


def train_sentencepiece(
    lines: Iterable[str],
    model: Path,
    vocab_size: int,
    model_type: Literal["unigram", "bpe"],
    character_coverage: float,
) -> Path:
    """Train on lines and write `model` (a .model file, plus its .vocab beside it: each
    piece and its score, for reading).

    The vocabulary size is a soft limit (hard_vocab_limit off): a corpus too small for
    it gets a smaller vocabulary instead of an error. The model comes through model_writer,
    not model_prefix, which sentencepiece records in the model: the same lines give the
    same bytes wherever they are built, so a run resumed after its prepared data was built
    again finds the model it started with.
    """
    proto = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=proto,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            pad_id=PAD,
            unk_id=UNK,
            bos_id=BOS,
            eos_id=EOS,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            hard_vocab_limit=False,
            input_sentence_size=MAX_TRAINING_SENTENCES,
            shuffle_input_sentence=True,
            num_threads=2,
            minloglevel=2,
        )
    except RuntimeError as error:
        raise NmtError(
            f"sentencepiece could not train {model.name} (vocab_size={vocab_size}): {error}"
        ) from None
    model.write_bytes(proto.getvalue())
    listing = "".join(f"{piece}\t{score:g}\n" for piece, score in pieces(model))
    model.with_suffix(".vocab").write_text(listing, encoding="utf-8")
    return model


def pieces(model: Path) -> list[tuple[str, float]]:
    """Each piece of a sentencepiece model with its score, in id order: what the model
    means, without what sentencepiece records of how it was trained."""
    processor = load_model(model)
    return [
        (processor.id_to_piece(i), processor.get_score(i))
        for i in range(processor.get_piece_size())
    ]


def load_model(path: Path) -> spm.SentencePieceProcessor:
    if not Path(path).is_file():
        raise NmtError(f"{path}: sentencepiece model not found")
    try:
        return spm.SentencePieceProcessor(model_file=str(path))
    except RuntimeError:  # sentencepiece's only error: the file does not parse
        raise NmtError(f"{path}: not a sentencepiece model (damaged, or another file)") from None


class Tokenizer:
    """Source and target sentencepiece models (one shared model when joint)."""

    def __init__(self, src_model: Path, tgt_model: Path):
        self.src = load_model(src_model)
        same = Path(src_model).resolve() == Path(tgt_model).resolve()
        self.tgt = self.src if same else load_model(tgt_model)

    @property
    def src_vocab_size(self) -> int:
        return self.src.get_piece_size()

    @property
    def tgt_vocab_size(self) -> int:
        return self.tgt.get_piece_size()

    def encode_src(self, lines: list[str]) -> list[list[int]]:
        """Ids without BOS/EOS (batching adds them)."""
        return self.src.encode(list(lines), out_type=int)

    def encode_tgt(self, lines: list[str]) -> list[list[int]]:
        return self.tgt.encode(list(lines), out_type=int)

    def decode_tgt(self, ids: list[list[int]]) -> list[str]:
        """Text of each id sequence, cut at the first EOS, with PAD and BOS ignored."""
        return [self.tgt.decode(_content(seq)) for seq in ids]

    def src_pieces(self, line: str) -> list[str]:
        return self.src.encode(line, out_type=str)

    def tgt_pieces_from_ids(self, ids: list[int]) -> list[str]:
        """One piece per id, so the pieces line up with the rows of an attention map."""
        return [self.tgt.id_to_piece(int(i)) for i in ids]

    def tgt_ids_from_pieces(self, pieces: list[str]) -> list[int]:
        """The id of each target piece; NmtError for one the model does not have."""
        ids = [self.tgt.piece_to_id(piece) for piece in pieces]
        for piece, i in zip(pieces, ids, strict=True):
            if self.tgt.id_to_piece(i) != piece:
                raise NmtError(f"{piece!r} is not a piece of the target sentencepiece model")
        return ids


def _content(seq: list[int]) -> list[int]:
    out = []
    for i in map(int, seq):
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(i)
    return out
