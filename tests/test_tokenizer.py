"""Sentencepiece: fixed special ids, exact round trips, decoding rules, tiny corpora."""

import random

import pytest

from nmt.data.tokenizer import BOS, EOS, PAD, UNK, Tokenizer, train_sentencepiece
from nmt.errors import NmtError

WORDS = "der die das Haus Hund Katze läuft schnell über Straße Mann Frau rot grün".split()


def sentences(n=300, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) for _ in range(n)]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("spm") / "joint.model"
    return train_sentencepiece(sentences(), path, 60, "unigram", 1.0)


def test_special_ids_are_fixed(model):
    tok = Tokenizer(model, model)
    assert [tok.tgt.id_to_piece(i) for i in (PAD, UNK, BOS, EOS)] == [
        "<pad>",
        "<unk>",
        "<s>",
        "</s>",
    ]
    assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)


def test_round_trip_is_exact_including_spaces(model):
    tok = Tokenizer(model, model)
    lines = ["der Hund läuft schnell", "  die  Katze ", "rot"]
    ids = tok.encode_src(lines)
    assert all(i not in (PAD, BOS, EOS) for seq in ids for i in seq)
    assert tok.decode_tgt(ids) == lines


def test_decode_stops_at_eos_and_ignores_pad_and_bos(model):
    tok = Tokenizer(model, model)
    ids = tok.encode_tgt(["der Mann"])[0]
    assert tok.decode_tgt([[BOS, *ids, EOS, *tok.encode_tgt(["Haus"])[0], PAD, PAD]]) == [
        "der Mann"
    ]
    assert tok.decode_tgt([[PAD, *ids, PAD]]) == ["der Mann"]


def test_pieces_line_up_with_ids(model):
    tok = Tokenizer(model, model)
    ids = tok.encode_tgt(["die Frau läuft"])[0]
    pieces = tok.tgt_pieces_from_ids([*ids, EOS])
    assert len(pieces) == len(ids) + 1 and pieces[-1] == "</s>"
    assert "".join(tok.src_pieces("die Frau läuft")).replace("\u2581", " ").strip() == (
        "die Frau läuft"
    )


def test_joint_shares_one_model_separate_has_two(model, tmp_path):
    other = train_sentencepiece(
        [s.upper() for s in sentences()], tmp_path / "tgt.model", 50, "bpe", 1.0
    )
    joint, separate = Tokenizer(model, model), Tokenizer(model, other)
    assert joint.src is joint.tgt and joint.src_vocab_size == joint.tgt_vocab_size
    assert separate.src is not separate.tgt
    assert separate.decode_tgt(separate.encode_tgt(["DER HUND"])) == ["DER HUND"]


def test_the_same_lines_give_the_same_model_bytes_in_any_folder(model, tmp_path):
    again = train_sentencepiece(sentences(), tmp_path / "other.model", 60, "unigram", 1.0)
    assert again.read_bytes() == model.read_bytes()
    vocab = again.with_suffix(".vocab").read_text(encoding="utf-8").splitlines()
    assert vocab[:4] == ["<pad>\t0", "<unk>\t0", "<s>\t0", "</s>\t0"]
    assert len(vocab) == Tokenizer(again, again).src_vocab_size


def test_vocab_too_large_for_a_tiny_corpus_shrinks(tmp_path):
    path = train_sentencepiece(["a b c", "b c d"], tmp_path / "tiny.model", 5000, "unigram", 1.0)
    assert 4 < Tokenizer(path, path).src_vocab_size < 5000


def test_missing_model_is_one_line(tmp_path):
    with pytest.raises(NmtError, match=r"nope\.model: sentencepiece model not found"):
        Tokenizer(tmp_path / "nope.model", tmp_path / "nope.model")


def test_training_failure_is_an_nmt_error(tmp_path):
    with pytest.raises(NmtError, match="sentencepiece could not train empty.model"):
        train_sentencepiece([], tmp_path / "empty.model", 100, "unigram", 1.0)
