"""BLEU and chrF tables of systems: sacrebleu scores, bootstrap intervals, paired tests.

A system is hypotheses and references of one test set (nmt/evaluate.py makes them from
runs and files). Systems on the same test set are compared with sacrebleu's paired
bootstrap resampling against the first of them (or each against the one before it),
which also gives each metric a 95% confidence interval.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table as RichTable
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

from nmt.errors import NmtError

FORMATS = ("md", "csv", "json")
TEXT_COLUMNS = ("system", "architecture", "test", "source words")  # left-justified


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
    bleu: float
    chrf: float
    bleu_ci: float | None = None  # half-width of the 95% bootstrap interval
    chrf_ci: float | None = None
    bleu_p: float | None = None  # paired bootstrap p-value against the test set's first system
    chrf_p: float | None = None
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

    headers = [
        "system",
        "architecture",
        "parameters",
        "test",
        "BLEU",
        "chrF",
        "p BLEU",
        "p chrF",
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
            with_ci(row.bleu, row.bleu_ci),
            with_ci(row.chrf, row.chrf_ci),
            p(row.bleu_p),
            p(row.chrf_p),
            "-" if row.updates is None else f"{row.updates:,}",
            "-" if row.tokens is None else f"{row.tokens / 1e6:.1f}M",
            "-" if row.train_seconds is None else f"{row.train_seconds / 60:.1f}",
            seconds,
        ]

    def notes(self) -> list[str]:
        notes = [f"{name} signature: {sig}" for name, sig in self.signatures.items()]
        if any(row.bleu_ci is not None for row in self.rows):
            notes.append(f"± is the 95% bootstrap interval; p: paired bootstrap vs {self.against}")
        if any(row.cached for row in self.rows):
            notes.append("* decode time of a translation cached in RUN/translations/")
        return notes


def compare(systems: list[System], bootstrap: int = 1000, against: str = "first") -> Table:
    """BLEU and chrF of every system; with bootstrap > 0 also 95% CIs and paired p-values
    against the first system of each test set (same references), or with against="previous"
    each against the one before it (a story told row by row: does each step gain?)."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i, system in enumerate(systems):
        key = (system.test, hash(tuple(system.references)))
        groups.setdefault(key, []).append(i)
    rows: list[Row | None] = [None] * len(systems)
    signatures: dict[str, str] = {}
    for members in groups.values():
        references = systems[members[0]].references
        scored = _metric_rows(systems, members, references, bootstrap, signatures)
        if bootstrap > 0 and against == "previous":
            for before, after, row in zip(members[1:-1], members[2:], scored[2:], strict=True):
                pair = _metric_rows(systems, [before, after], references, bootstrap, {})
                row.bleu_p, row.chrf_p = pair[1].bleu_p, pair[1].chrf_p
        for i, found in zip(members, scored, strict=True):
            rows[i] = found
        if bootstrap > 0 and len(members) > 1:
            scored[0].baseline = True
    compared = "the row above" if against == "previous" else "the test's first row"
    return Table([row for row in rows if row is not None], signatures, compared)


def _metric_rows(systems, members, references, bootstrap, signatures) -> list[Row]:
    metrics = {"BLEU": BLEU(), "chrF": CHRF()}
    rows = []
    if bootstrap > 0:
        named = [(systems[i].name, systems[i].hypotheses) for i in members]
        test = PairedTest(named, metrics, [references], test_type="bs", n_samples=bootstrap)
        sigs, results = test()
        bleu_key, chrf_key = (key for key in results if key != "System")
        for position, i in enumerate(members):
            bleu, chrf = results[bleu_key][position], results[chrf_key][position]
            rows.append(
                _row(
                    systems[i], bleu.score, chrf.score, bleu.ci, chrf.ci, bleu.p_value, chrf.p_value
                )
            )
        signatures.update({"BLEU": sigs[bleu_key].format(), "chrF": sigs[chrf_key].format()})
        return rows
    for i in members:
        bleu = metrics["BLEU"].corpus_score(systems[i].hypotheses, [references])
        chrf = metrics["chrF"].corpus_score(systems[i].hypotheses, [references])
        rows.append(_row(systems[i], bleu.score, chrf.score))
    signatures.update({name: metric.get_signature().format() for name, metric in metrics.items()})
    return rows


def _row(system: System, bleu, chrf, bleu_ci=None, chrf_ci=None, bleu_p=None, chrf_p=None):
    def number(x):
        return None if x is None else float(x)

    return Row(
        system.name,
        system.architecture,
        system.parameters,
        system.test,
        float(bleu),
        float(chrf),
        number(bleu_ci),
        number(chrf_ci),
        number(bleu_p),
        number(chrf_p),
        system.seconds,
        system.cached,
        updates=system.training.get("step"),
        tokens=system.training.get("tokens"),
        train_seconds=system.training.get("seconds"),
    )


# ---- rendering: the same rows as a terminal table, markdown, CSV or JSON ----


def with_ci(value: float, ci: float | None) -> str:
    return f"{value:.2f}" if ci is None else f"{value:.2f} ± {ci:.2f}"


def to_markdown(table: Table) -> str:
    headers = table.headers
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(table.cells(row)) + " |" for row in table.rows]
    return "\n".join(lines + [""] + table.notes()) + "\n"


def to_csv(table: Table) -> str:
    out = io.StringIO()
    fields = list(asdict(table.rows[0])) if table.rows else []
    writer = csv.DictWriter(out, fieldnames=fields + ["bleu_signature", "chrf_signature"])
    writer.writeheader()
    for row in table.rows:
        extra = {
            "bleu_signature": table.signatures.get("BLEU", ""),
            "chrf_signature": table.signatures.get("chrF", ""),
        }
        writer.writerow({**asdict(row), **extra})
    return out.getvalue()


def to_json(table: Table) -> str:
    tree = {"rows": [asdict(row) for row in table.rows], "signatures": table.signatures}
    return json.dumps(tree, indent=2) + "\n"


def render(table: Table, fmt: str) -> str:
    if fmt not in FORMATS:
        raise NmtError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    return {"md": to_markdown, "csv": to_csv, "json": to_json}[fmt](table)


def rich_table(table: Table):
    """The terminal view: a rich Table, with the signatures as its caption."""
    view = RichTable(caption="\n".join(table.notes()), caption_justify="left")
    for header in table.headers:
        view.add_column(header, justify="left" if header in TEXT_COLUMNS else "right")
    for row in table.rows:
        view.add_row(*table.cells(row))
    return view
