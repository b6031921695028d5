"""BLEU and chrF by source sentence length: the picture of Bahdanau et al. 2015, Figure 2.

A model without attention must squeeze the whole source into one vector, so its scores
fall as sentences grow; in Bahdanau et al.'s figure the attention model's held. Each test
set is split into buckets by the number of whitespace-separated words of the source, and
each bucket is scored on its own (sacrebleu, with a 95% bootstrap interval), from
translations `nmt eval` already made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import pairwise

from sacrebleu.metrics import BLEU, CHRF

from nmt.errors import OptionError, SpelledError, literal
from nmt.metrics.bleu import System, with_ci


@dataclass
class LengthRow:
    system: str
    architecture: str
    test: str
    bucket: str  # "0-10", "11-15", ..., "26+" source words
    sentences: int
    bleu: float
    chrf: float
    bleu_ci: float | None = None  # half-width of the 95% bootstrap interval
    chrf_ci: float | None = None


@dataclass
class LengthTable:
    rows: list[LengthRow]
    signatures: dict[str, str]

    headers = ["system", "architecture", "test", "source words", "sentences", "BLEU", "chrF"]
    metrics = ("bleu", "chrf")  # what nmt/metrics/tables.py's CSV gives a signature column

    def fields(self, row: LengthRow) -> dict:
        return asdict(row)

    def cells(self, row: LengthRow) -> list[str]:
        return [
            row.system,
            row.architecture,
            row.test,
            row.bucket,
            str(row.sentences),
            with_ci(row.bleu, row.bleu_ci),
            with_ci(row.chrf, row.chrf_ci),
        ]

    def notes(self) -> list[str]:
        notes = [f"{name} signature: {sig}" for name, sig in self.signatures.items()]
        if any(row.bleu_ci is not None for row in self.rows):
            notes.append("± is the 95% bootstrap interval of the bucket's score")
        return notes


def parse_edges(text: str) -> tuple[int, ...]:
    """'10,15,20' -> (10, 15, 20): the last word count of each bucket but the open last."""
    try:
        edges = tuple(int(part) for part in text.split(","))
    except ValueError:
        reason = "expected word counts like 10,15,20,25"
        raise OptionError("buckets", reason, repr(text)) from None
    if not edges or edges[0] < 1 or any(b <= a for a, b in pairwise(edges)):
        raise OptionError("buckets", "expected increasing positive word counts", repr(text))
    return edges


def bucket_labels(edges: tuple[int, ...]) -> list[str]:
    lows = (0, *(edge + 1 for edge in edges))
    return [f"{low}-{high}" for low, high in zip(lows[:-1], edges, strict=True)] + [f"{lows[-1]}+"]


def bucket_of(sentence: str, edges: tuple[int, ...]) -> int:
    words = len(sentence.split())
    return next((i for i, edge in enumerate(edges) if words <= edge), len(edges))


def partition(sources: list[str], edges: tuple[int, ...]) -> list[list[int]]:
    """Line indices of each bucket; every line is in exactly one."""
    members: list[list[int]] = [[] for _ in range(len(edges) + 1)]
    for i, sentence in enumerate(sources):
        members[bucket_of(sentence, edges)].append(i)
    return members


def by_length(systems: list[System], edges: tuple[int, ...], bootstrap: int = 1000) -> LengthTable:
    """One row per system and non-empty bucket of its test set's sources; `edges` as
    parse_edges gives them."""
    metrics = {"BLEU": BLEU(), "chrF": CHRF()}
    rows = []
    for system in systems:
        if system.sources is None:
            raise SpelledError(
                f"{literal(system.name)}: {{by_length}} needs the source sentences ({{src_file}})"
            )
        buckets = zip(bucket_labels(edges), partition(system.sources, edges), strict=True)
        for label, indices in buckets:
            if not indices:
                continue
            hyps = [system.hypotheses[i] for i in indices]
            refs = [[system.references[i] for i in indices]]
            scores = {
                name: metric.corpus_score(hyps, refs, n_bootstrap=max(1, bootstrap))
                for name, metric in metrics.items()
            }
            bleu, chrf = scores["BLEU"], scores["chrF"]
            rows.append(
                LengthRow(
                    system.name,
                    system.architecture,
                    system.test,
                    label,
                    len(indices),
                    float(bleu.score),
                    float(chrf.score),
                    float(bleu._ci) if bootstrap > 1 else None,  # sacrebleu's bootstrap
                    float(chrf._ci) if bootstrap > 1 else None,
                )
            )
    signatures = {name: metric.get_signature().format() for name, metric in metrics.items()}
    return LengthTable(rows, signatures)
