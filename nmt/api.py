"""`nmt.Translator`: the Python API, and the code behind `nmt translate` and `nmt score`.

    from nmt import Translator
    tr = Translator.load("runs/quick", device="cpu")
    tr.translate(["Ein Hund läuft."], beam=5)
    tr.score(["Ein Hund läuft."], ["A dog runs."])

Decoding options are the command-line options with underscores (beam=5, length_penalty=0.6,
nbest=3, min_len=2, no_repeat_ngram=3, sample=True, temperature=0.8, topk=20, topp=0.95,
nsamples=5, seed=1, batch_tokens, max_len_a, max_len_b, max_source_len); anything not
given keeps the run's decode setting. They pass the same checks as on the command line, so
a bad value or a combination that does not apply is an NmtError with a one-line message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from nmt.config import DecodeConfig, search_settings
from nmt.device import resolve_device
from nmt.ensemble import load_runs
from nmt.errors import NmtError
from nmt.scoring import Score, Scored, score_lines
from nmt.translate import Translations, translate_lines

SCORE_OPTIONS = ("length_penalty", "batch_tokens", "max_source_len")


class Hypothesis(NamedTuple):
    text: str
    score: float  # log-probability / length**length_penalty


class Translator:
    """A run, or an ensemble of runs, ready to translate and score (see the module
    docstring)."""

    def __init__(
        self, model: torch.nn.Module, tokenizer, decode: DecodeConfig, device: torch.device
    ) -> None:
        self.model, self.tokenizer, self.decode, self.device = model, tokenizer, decode, device

    @classmethod
    def load(cls, *runs: str | Path, device: str = "auto") -> Translator:
        """Run directories (best checkpoint, else last) or .pt files; several make an
        ensemble that averages their log-probabilities at every step. Decode settings
        default to the first run's recipe."""
        torch_device = resolve_device(device)
        model, recipe, tokenizer = load_runs([Path(run) for run in runs], torch_device)
        return cls(model, tokenizer, recipe.decode, torch_device)

    def translate(
        self, sentences: Sequence[str], prefixes: Sequence[str] | None = None, **options: Any
    ) -> list[str]:
        """The best translation of each sentence; `prefixes` (one per sentence, text)
        are what each translation must start with."""
        return self.translations(sentences, prefixes, **options).best()

    def nbest(
        self,
        sentences: Sequence[str],
        n: int,
        prefixes: Sequence[str] | None = None,
        **options: Any,
    ) -> list[list[Hypothesis]]:
        """The n best translations of each sentence with their scores, best first (with
        sample=True: the n best of the nsamples samples)."""
        found = self.translations(sentences, prefixes, nbest=n, **options)
        return [
            [Hypothesis(text, score) for text, score in zip(texts, scores, strict=True)]
            for texts, scores in zip(found.texts, found.scores, strict=True)
        ]

    def score(self, sources: Sequence[str], targets: Sequence[str], **options: Any) -> list[Score]:
        """The model's log-probability of each target given its source (forced decoding):
        total, total / (pieces + 1)**length_penalty, and per piece. Options:
        length_penalty, batch_tokens, max_source_len (longer sides are cut to it)."""
        return self.score_lines(sources, targets, **options).scores

    def translations(
        self,
        lines: Sequence[str],
        prefixes: Sequence[str] | None = None,
        *,
        first_line: int = 0,
        alignments: bool = False,
        attention_dir: Path | None = None,
        progress: bool = False,
        **options: Any,
    ) -> Translations:
        """Everything `nmt translate` writes: texts and scores per line and rank, the
        alignments when asked for, and a report of blank, truncated and invalid lines."""
        lines, prefixes = _texts(lines, "sentences"), _texts(prefixes, "prefixes")
        search = search_settings(self.decode, options)
        return translate_lines(
            self.model,
            self.tokenizer,
            lines,
            search.decode,
            self.device,
            search.nbest,
            search.min_len,
            attention_dir,
            progress,
            no_repeat_ngram=search.no_repeat_ngram,
            sampling=search.sampling,
            prefixes=prefixes,
            first_line=first_line,
            alignments=alignments,
        )

    def score_lines(self, sources: Sequence[str], targets: Sequence[str], **options: Any) -> Scored:
        """Everything `nmt score` writes: a Score per pair, and the time it took."""
        ignored = sorted(set(options) - set(SCORE_OPTIONS))
        if ignored:
            raise NmtError(f"score: {ignored[0]} does not apply to scoring given translations")
        search = search_settings(self.decode, options)
        sources, targets = _texts(sources, "sources"), _texts(targets, "targets")
        return score_lines(self.model, self.tokenizer, sources, targets, search.decode, self.device)


def _texts(texts: Sequence[str] | None, what: str) -> list[str] | None:
    """A list of lines; one string alone is refused (it would be read as its characters)."""
    if isinstance(texts, str):
        raise NmtError(f"{what}: give a list of strings, not one string")
    return None if texts is None else list(texts)
