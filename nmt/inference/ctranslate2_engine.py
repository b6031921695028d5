"""A folder of `nmt export --format ctranslate2` decoded by ctranslate2's own search, so that
`nmt translate` and `nmt serve` get its speed.

nmt.Translator holds a CTranslate2Engine where it holds a model for other folders, and
nmt/inference/decode_lines.py hands it the source ids of each length-sorted batch instead
of running nmt's search: sentencepiece, blank and over-long lines, detokenisation and the
one-output-per-input rule stay decode_lines's. A call's options map onto
ctranslate2.Translator.translate_batch: beam -> beam_size, length_penalty (lp =
length**alpha, EOS counted, as ours), nbest -> num_hypotheses with their scores, min_len,
no_repeat_ngram; PAD and BOS are never output. The length limit is one per batch in
ctranslate2, so each batch gets its longest sentence's a * source + b (batches are
length-sorted, so the limits of a batch are close): a sentence of a batch whose limit is
larger may decode longer than nmt would let it. Threads: torch's intra-op threads.

What ctranslate2 cannot do as nmt's search does is refused before any work, naming the
option: sampling (one random stream per process, not a seeded draw per line), the coverage
penalty and the gnmt length norm (other formulas), prefixes and constraints, attention
(alignments, heat maps), scoring given translations, a shortlist or another precision than
the export's. Scores: ctranslate2 renormalises the distribution without PAD and BOS, so
they come out a few hundredths above nmt's (log-probabilities), the outputs alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nmt.config.recipe import Recipe, recipe_from_dict
from nmt.data.tokenizer import BOS, PAD, Tokenizer
from nmt.errors import NmtError, OptionError
from nmt.extras import missing
from nmt.generation.decoding import DecodingOptions
from nmt.generation.search import length_limits
from nmt.jsonio import read_json
from nmt.models.export_card import CARD, CT2_CARD, card_problem, export_refusal

ATTENTION = "give attention (ctranslate2's is not nmt's average over heads)"


def refusal(option: str, cannot: str) -> OptionError:
    """`option` refused by a CTranslate2 export, which `cannot` do what it asks."""
    return export_refusal(option, "ctranslate2", cannot)


class CTranslate2Engine:
    """An exported folder in a ctranslate2.Translator, behind what decode_lines calls."""

    has_attention = False  # ctranslate2's attention is not nmt's head average: not offered

    def __init__(self, translator: Any, card: dict[str, Any], tokenizer: Tokenizer) -> None:
        self.translator, self.card = translator, card
        self.precision = card["precision"]
        self.max_sequence = card["max_positions"]  # the position table's rows, BOS's included
        self.src_pieces = [tokenizer.src.id_to_piece(i) for i in range(tokenizer.src_vocab_size)]
        self.tgt_ids = tokenizer.tgt.piece_to_id
        self.never = [[tokenizer.tgt.id_to_piece(PAD)], [tokenizer.tgt.id_to_piece(BOS)]]

    @staticmethod
    def check(options: DecodingOptions) -> None:
        """Refuse what ctranslate2 does not do as nmt's search does (module docstring)."""
        if options.sampling is not None:
            raise refusal("sample", "sample as nmt does (a seeded draw per line)")
        if options.coverage_penalty:
            raise refusal(
                "coverage_penalty", "apply a coverage penalty (ctranslate2 gives no attention)"
            )
        if options.length_norm != "power" and options.length_penalty:
            raise refusal("length_norm", "divide by another length than length**alpha (power)")

    @staticmethod
    def check_call(prefixes: Sequence[str] | None, constraints: Any, alignments: bool) -> None:
        """Refuse the per-line inputs and outputs ctranslate2 does not give as nmt does."""
        for option, given, cannot in (
            ("prefixes", prefixes is not None, "start translations with prefixes"),
            ("constraints", constraints is not None, "constrain translations"),
            ("alignments", alignments, ATTENTION),
        ):
            if given:
                raise refusal(option, cannot)

    def translate_ids(
        self, sources: list[list[int]], options: DecodingOptions
    ) -> tuple[list[list[list[int]]], list[list[float]]]:
        """The options.nbest best target ids of each source (ids, EOS not included) and
        their scores, best first: one translate_batch call with the batch's length limit."""
        lengths = torch.tensor([len(ids) + 1 for ids in sources])
        limits = length_limits(lengths, options.max_len_a, options.max_len_b, self)
        results = self.translator.translate_batch(
            [[self.src_pieces[i] for i in ids] for ids in sources],
            beam_size=options.beam,
            num_hypotheses=options.nbest,
            length_penalty=options.length_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram,
            min_decoding_length=options.min_len,
            max_decoding_length=int(limits.max()),
            max_input_length=0,  # decode_lines has cut sources to max_source_len already
            suppress_sequences=self.never,
            return_scores=True,
        )
        tokens = [[[self.tgt_ids(piece) for piece in h] for h in r.hypotheses] for r in results]
        return tokens, [list(result.scores) for result in results]


def load_ctranslate2(folder: Path, device: str) -> tuple[CTranslate2Engine, Recipe, Tokenizer]:
    """(the engine, the recipe the run was trained with, its tokenizer) of an exported
    folder on `device` (auto: a GPU where ctranslate2 sees one, else the CPU)."""
    try:
        import ctranslate2
    except ModuleNotFoundError as error:
        raise missing("ctranslate2", error) from None
    path = Path(folder) / CARD
    card = read_json(path)
    if not isinstance(card, dict):
        raise NmtError(f"{path}: not a card of `nmt export --format ctranslate2`")
    problem = card_problem(card, CT2_CARD)
    if problem is not None:
        raise NmtError(f"{path}: {problem}")
    recipe = recipe_from_dict(card["recipe"], str(path))
    pieces = card["sentencepiece"]
    tokenizer = Tokenizer(folder / pieces["src"], folder / pieces["tgt"])
    gpus = ctranslate2.get_cuda_device_count()
    if device == "auto":
        device = "cuda" if gpus else "cpu"
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda") or (kind == "cpu" and index):
        raise OptionError("device", f"{device}: a CTranslate2 export runs on cpu, cuda or cuda:N")
    if kind == "cuda" and (not gpus or (index and (not index.isdigit() or int(index) >= gpus))):
        raise OptionError("device", f"{device}: ctranslate2 sees {gpus} GPU(s) here")
    try:
        translator = ctranslate2.Translator(
            str(folder),
            device=kind,
            device_index=int(index or 0),
            inter_threads=1,
            intra_threads=torch.get_num_threads() if kind == "cpu" else 0,
        )
    except (RuntimeError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise NmtError(f"{folder}: not a model ctranslate2 loads ({first})") from None
    return CTranslate2Engine(translator, card, tokenizer), recipe, tokenizer
