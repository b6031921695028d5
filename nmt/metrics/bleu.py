"""BLEU, chrF and TER tables of systems: sacrebleu scores, bootstrap intervals, paired tests.

A system is hypotheses and references of one test set (nmt/evaluation/evaluate.py makes them from
runs and files). Systems on the same test set are compared with sacrebleu's paired
bootstrap resampling against the first of them (or each against the one before it),
which also gives each metric a 95% confidence interval. A table shows BLEU and chrF
unless `metrics` (`nmt eval --metrics`) names others: TER is the third. Its rows are
written as text, Markdown, CSV or JSON by nmt/metrics/tables.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.significance import PairedTest

from nmt.config.schema import Range
from nmt.errors import OptionError, literal

# Resamples of the paired bootstrap: sacrebleu holds a row per resample and sentence, so
# a billion of them asked for 745 GiB; 10,000 already gives p-values to 1e-4.
BOOTSTRAP = Range("[0, 10000]")
# What `--metrics` may name: the column each is shown under and its sacrebleu metric. TER
# is an edit rate, lower is better; COMET would need model weights (see the README).
METRICS = {"bleu": ("BLEU", BLEU), "chrf": ("chrF", CHRF), "ter": ("TER", TER)}
DEFAULT_METRICS = ("bleu", "chrf")


def parse_metrics(text: str) -> tuple[str, ...]:
    """'bleu,chrf,ter' -> ("bleu", "chrf", "ter"): the metrics of a table, in that order."""
    names = tuple(part.strip().lower() for part in text.split(","))
    for name in names:
        if name not in METRICS:
            reason = f"{name!r} is not one of {', '.join(METRICS)}"
            raise OptionError("metrics", literal(reason), repr(text))
    if len(set(names)) != len(names):
        raise OptionError("metrics", "names a metric twice", repr(text))
    return names


@dataclass
class System:
    """One row to score: hypotheses and references of one test set, and where they came from."""

    name: str
    architecture: str  # seq2seq, bilstm, attention, transformer; "-" for a hypothesis file
    parameters: int | None
    test: str
    hypotheses: list[str]
    references: list[str]
    seconds: float | None = None  # decoding time; None for hypothesis files
    cached: bool = False  # hypotheses read from RUN/translations/
    sources: list[str] | None = None  # the source sentences, where known (--by-length)
    training: dict[str, Any] = field(default_factory=dict)  # the checkpoint's TrainState


@dataclass
class Row:
    system: str
    architecture: str
    parameters: int | None
    test: str
    bleu: float | None = None  # None: a metric the table does not show (--metrics)
    chrf: float | None = None
    ter: float | None = None
    bleu_ci: float | None = None  # half-width of the 95% bootstrap interval
    chrf_ci: float | None = None
    ter_ci: float | None = None
    bleu_p: float | None = None  # paired bootstrap p-value against the test set's first system
    chrf_p: float | None = None
    ter_p: float | None = None
    seconds: float | None = None
    cached: bool = False
    baseline: bool = False  # the first of several systems compared on this test set
    updates: int | None = None  # training of the checkpoint scored: updates, target tokens
    tokens: int | None = None
    train_seconds: float | None = None  # ... and wall time (validation included)


@dataclass
class Table:
    rows: list[Row]
    signatures: dict[str, str]  # metric name -> sacrebleu signature
    against: str = "the test's first row"  # what the p-values compare each row with
    metrics: tuple[str, ...] = DEFAULT_METRICS  # the METRICS shown, in order

    @property
    def headers(self) -> list[str]:
        names = [METRICS[metric][0] for metric in self.metrics]
        return [
            "system",
            "architecture",
            "parameters",
            "test",
            *names,
            *(f"p {name}" for name in names),
            "updates",
            "tokens",
            "train min",
            "decode s",
        ]

    def cells(self, row: Row) -> list[str]:
        def p(value: float | None) -> str:
            if value is None:
                return "baseline" if row.baseline else "-"
            return f"{value:.4f}"

        params = "-" if row.parameters is None else f"{row.parameters / 1e6:.2f}M"
        seconds = "-" if row.seconds is None else f"{row.seconds:.1f}" + "*" * row.cached
        return [
            row.system,
            row.architecture,
            params,
            row.test,
            *(with_ci(getattr(row, m), getattr(row, f"{m}_ci")) for m in self.metrics),
            *(p(getattr(row, f"{m}_p")) for m in self.metrics),
            "-" if row.updates is None else f"{row.updates:,}",
            "-" if row.tokens is None else f"{row.tokens / 1e6:.1f}M",
            "-" if row.train_seconds is None else f"{row.train_seconds / 60:.1f}",
            seconds,
        ]

    def fields(self, row: Row) -> dict[str, Any]:
        """The row as a dict for CSV and JSON, without the metrics the table does not show."""
        unshown = [metric for metric in METRICS if metric not in self.metrics]
        hidden = {f"{metric}{end}" for metric in unshown for end in ("", "_ci", "_p")}
        return {key: value for key, value in asdict(row).items() if key not in hidden}

    def notes(self) -> list[str]:
        notes = [f"{name} signature: {sig}" for name, sig in self.signatures.items()]
        if "ter" in self.metrics:
            notes.append("TER is an edit rate: lower is better")
        if any(getattr(row, f"{self.metrics[0]}_ci") is not None for row in self.rows):
            notes.append(f"± is the 95% bootstrap interval; p: paired bootstrap vs {self.against}")
        if any(row.cached for row in self.rows):
            notes.append("* decode time of a translation cached in RUN/translations/")
        return notes


def compare(
    systems: list[System],
    bootstrap: int = 1000,
    against: str = "first",
    metrics: tuple[str, ...] = DEFAULT_METRICS,
) -> Table:
    """The `metrics` (METRICS keys) of every system; with bootstrap > 0 also 95% CIs and
    paired p-values against the first system of each test set (same references), or with
    against="previous" each against the one before it (a story told row by row: does each
    step gain?)."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i, system in enumerate(systems):
        key = (system.test, hash(tuple(system.references)))
        groups.setdefault(key, []).append(i)
    rows: list[Row | None] = [None] * len(systems)
    signatures: dict[str, str] = {}
    for members in groups.values():
        references = systems[members[0]].references
        scored = _metric_rows(systems, members, references, bootstrap, metrics, signatures)
        if bootstrap > 0 and against == "previous":
            for before, after, row in zip(members[1:-1], members[2:], scored[2:], strict=True):
                pair = _metric_rows(systems, [before, after], references, bootstrap, metrics, {})
                for metric in metrics:
                    setattr(row, f"{metric}_p", getattr(pair[1], f"{metric}_p"))
        for i, found in zip(members, scored, strict=True):
            rows[i] = found
        if bootstrap > 0 and len(members) > 1:
            scored[0].baseline = True
    compared = "the row above" if against == "previous" else "the test's first row"
    return Table([row for row in rows if row is not None], signatures, compared, metrics)


def _metric_rows(systems, members, references, bootstrap, metrics, signatures) -> list[Row]:
    """Rows of the systems `members` (indices) on one test set; fills in `signatures`."""
    scorers = {METRICS[metric][0]: METRICS[metric][1]() for metric in metrics}
    rows = [_row(systems[i]) for i in members]
    if bootstrap > 0:
        named = [(systems[i].name, systems[i].hypotheses) for i in members]
        test = PairedTest(named, scorers, [references], test_type="bs", n_samples=bootstrap)
        sigs, results = test()
        keys = [key for key in results if key != "System"]  # sacrebleu's names: chrF2, ...
        for metric, name, key in zip(metrics, scorers, keys, strict=True):
            for row, result in zip(rows, results[key], strict=True):
                setattr(row, metric, float(result.score))
                setattr(row, f"{metric}_ci", _number(result.ci))
                setattr(row, f"{metric}_p", _number(result.p_value))
            signatures[name] = sigs[key].format()
        return rows
    for metric, (name, scorer) in zip(metrics, scorers.items(), strict=True):
        for row, i in zip(rows, members, strict=True):
            found = scorer.corpus_score(systems[i].hypotheses, [references])
            setattr(row, metric, float(found.score))
        signatures[name] = scorer.get_signature().format()
    return rows


def _number(value) -> float | None:
    return None if value is None else float(value)


def _row(system: System) -> Row:
    """A row of the system without its scores."""
    return Row(
        system.name,
        system.architecture,
        system.parameters,
        system.test,
        seconds=system.seconds,
        cached=system.cached,
        updates=system.training.get("step"),
        tokens=system.training.get("tokens"),
        train_seconds=system.training.get("seconds"),
    )


def with_ci(value: float, ci: float | None) -> str:
    return f"{value:.2f}" if ci is None else f"{value:.2f} ± {ci:.2f}"
