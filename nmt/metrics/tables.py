"""A table of scores as a terminal table, Markdown, CSV or JSON: what `nmt eval` prints and
writes. Any table with rows, signatures, the metrics it shows, headers, cells, fields and
notes renders: the systems compared (nmt/metrics/bleu.py) and BLEU by source length
(nmt/metrics/bleu_by_length.py)."""

from __future__ import annotations

import csv
import io
import json

from rich.table import Table as RichTable

from nmt.errors import OptionError
from nmt.metrics.bleu import METRICS, Table

FORMATS = ("md", "csv", "json")
TEXT_COLUMNS = ("system", "architecture", "test", "source words")  # left-justified


def to_markdown(table: Table) -> str:
    headers = table.headers
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(table.cells(row)) + " |" for row in table.rows]
    return "\n".join(lines + [""] + table.notes()) + "\n"


def to_csv(table: Table) -> str:
    out = io.StringIO()
    fields = list(table.fields(table.rows[0])) if table.rows else []
    signatures = {
        f"{metric}_signature": table.signatures.get(METRICS[metric][0], "")
        for metric in table.metrics
    }
    writer = csv.DictWriter(out, fieldnames=fields + list(signatures))
    writer.writeheader()
    for row in table.rows:
        writer.writerow({**table.fields(row), **signatures})
    return out.getvalue()


def to_json(table: Table) -> str:
    tree = {"rows": [table.fields(row) for row in table.rows], "signatures": table.signatures}
    return json.dumps(tree, indent=2) + "\n"


def render(table: Table, fmt: str) -> str:
    if fmt not in FORMATS:
        raise OptionError("format", f"use one of {', '.join(FORMATS)}", repr(fmt))
    return {"md": to_markdown, "csv": to_csv, "json": to_json}[fmt](table)


def rich_table(table: Table):
    """The terminal view: a rich Table, with the signatures as its caption."""
    view = RichTable(caption="\n".join(table.notes()), caption_justify="left")
    for header in table.headers:
        view.add_column(header, justify="left" if header in TEXT_COLUMNS else "right")
    for row in table.rows:
        view.add_row(*table.cells(row))
    return view
