"""What one model call does for many requests: translate or score a merged list of items.

A job is also the batcher's key: requests whose jobs are equal (same decoding options,
same kind of output) can share one call of nmt.Translator, which decodes them together.
"""

from __future__ import annotations

from dataclasses import dataclass

from nmt.generation.decoding import DecodingOptions
from nmt.generation.scoring import Score
from nmt.inference.alignment import Alignment
from nmt.inference.translator import Translator


@dataclass(frozen=True)
class Translated:
    """One sentence's hypotheses, best first, and the attention of the best (if asked)."""

    texts: list[str]
    scores: list[float]
    alignment: Alignment | None


@dataclass(frozen=True)
class TranslateJob:
    """Translate (sentence, prefix, phrases) items with one set of options."""

    options: DecodingOptions
    attention: bool  # keep the best hypothesis's attention
    prefixed: bool  # the items carry prefixes (None otherwise)
    constrained: bool = False  # the items carry lists of phrases (None otherwise)

    @property
    def samples(self) -> bool:
        """Sampling seeds each line by its number in the call, so a sampled request must
        have a call of its own to draw what it would draw alone."""
        return self.options.sampling is not None

    def run(
        self, translator: Translator, items: list[tuple[str, str | None, list[str] | None]]
    ) -> list[Translated]:
        prefixes = [prefix for _, prefix, _ in items] if self.prefixed else None
        constraints = [phrases for _, _, phrases in items] if self.constrained else None
        found = translator.translations(
            [sentence for sentence, _, _ in items],
            self.options,
            prefixes,
            constraints=constraints,
            alignments=self.attention,
        )
        aligned = found.alignments
        return [
            Translated(texts, scores, None if aligned is None else aligned[line][0])
            for line, (texts, scores) in enumerate(zip(found.texts, found.scores, strict=True))
        ]


@dataclass(frozen=True)
class ScoreJob:
    """Score (source, target) items by forced decoding with one set of options."""

    options: DecodingOptions

    def run(self, translator: Translator, items: list[tuple[str, str]]) -> list[Score]:
        sources = [source for source, _ in items]
        targets = [target for _, target in items]
        return translator.scores(sources, targets, self.options).scores
