"""The benchmark's results file: append rows to it, print it as a table with the targets.

    python -m bench.speed.results bench/results/DATE-DEVICE.json

Every script of the benchmark (ours.py, bare_lstm.py, peers/run_peer.py) appends its rows
to one file ({"device", "torch", "commands", "rows"}, schema in bench/PROTOCOL.md), so one
run of bench/speed/run.sh leaves one file. The table prints the rows, then each speed target of
the file's device (CPU or GPU) as measured ratio against required ratio. Standard library
only: the peers' scripts run under a bare python3.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

COLUMNS = {  # results field -> table heading
    "system": "system",
    "arch": "arch",
    "precision": "precision",
    "train_tok_per_s": "train tok/s",
    "peak_mem_mb": "peak MB",
    "decode_greedy_sent_per_s": "greedy sent/s",
    "decode_beam5_sent_per_s": "beam-5 sent/s",
    "decode_beam5_fixed30_sent_per_s": "beam-5 fixed-30 sent/s",
    "bleu_beam5": "BLEU beam-5",
    "limit_fraction": "beam-5 of limit",
    "limit_fraction_fixed30": "fixed-30 of limit",
}
ATTENTION = ("attention", "attention-luong")  # ours in Bahdanau order and in the peers' order
# what each precision of ours is compared with: neither peer has bf16, their fp16 is closest
PEER_PRECISION = {"fp32": "fp32", "bf16": "fp16"}


def append_rows(path: Path, rows: list[dict], device: str, torch_version: str) -> None:
    """Add rows (and the command that made them) to the results file, creating it if needed."""
    results = {"device": device, "torch": torch_version, "commands": [], "rows": []}
    if path.exists():
        results = json.loads(path.read_text(encoding="utf-8"))
    results.setdefault("commands", []).append(" ".join(sys.argv))
    results.setdefault("rows", []).extend(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


def repeat_summary(rates: list[float]) -> tuple[float, float]:
    """(median, spread) of repeated throughput measurements; spread = (max - min) / median,
    the protocol asks for under 5%."""
    middle = statistics.median(rates)
    return round(middle, 1), round((max(rates) - min(rates)) / middle, 4)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def rows_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, in the order they were measured."""
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(row.get(key)) for key in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def _find(rows: list[dict], system: str, arch: str | None, precision: str) -> dict | None:
    for row in rows:
        if (row["system"], row["precision"]) == (system, precision) and arch in (None, row["arch"]):
            return row
    return None


def _ratio(ours: dict | None, field: str, theirs: dict | None) -> float | None:
    if ours is None or theirs is None or not ours.get(field) or not theirs.get(field):
        return None
    return ours[field] / theirs[field]


# The targets (bench/speed/targets.json): for our attention rows and our transformer row,
# each field's required ratio against another system (a peer's row of the same
# architecture); for the rows without attention, training against the bare LSTM. Per device
# kind, with the issue each came from.
TARGETS = json.loads(Path(__file__).with_name("targets.json").read_text(encoding="utf-8"))
TARGET_ARCHS = {"attention": ATTENTION, "transformer": ("transformer",)}  # group -> our archs
FIELD_NAMES = {
    "train_tok_per_s": "training",
    "decode_beam5_fixed30_sent_per_s": "beam-5 fixed-30",
    "peak_mem_mb": "peak memory",
}
SYSTEM_NAMES = {"joey": "Joey", "onmt": "OpenNMT-py", "bare-lstm": "bare LSTM"}


def device_kind(device: str) -> str:
    """A results file's device as the targets know it: "cpu" or "gpu"."""
    return "cpu" if device == "cpu" else "gpu"


def target_checks(rows: list[dict], kind: str) -> list[tuple[str, float | None, str]]:
    """(what, measured ratio or None when a row is missing, the target) for every target of
    the device kind. Decoding always runs in fp32, so only the fp32 rows carry its targets."""
    checks = []
    for precision, peer_precision in PEER_PRECISION.items():
        bare = _find(rows, "bare-lstm", None, precision)
        for group, archs in TARGET_ARCHS.items():
            others = {"bare-lstm": bare}
            others |= {peer: _find(rows, peer, group, peer_precision) for peer in ("joey", "onmt")}
            for arch in archs:
                ours = _find(rows, "nmt", arch, precision)
                if ours is not None:
                    checks += _group_checks(ours, others, TARGETS[group][kind], precision)
        target = TARGETS["without_attention_training_vs_bare_lstm"][kind]
        for arch in ("seq2seq", "bilstm"):
            ours = _find(rows, "nmt", arch, precision)
            if ours is not None and target:
                ratio = _ratio(ours, "train_tok_per_s", bare)
                checks.append((f"{arch} {precision} training / bare LSTM", ratio, target))
    return checks


def _group_checks(
    ours: dict, others: dict[str, dict | None], targets: list[dict], precision: str
) -> list[tuple[str, float | None, str]]:
    """The checks of one row of ours against the rows its targets name."""
    checks = []
    for target_row in targets:
        field, system, target = (target_row[k] for k in ("field", "against", "required"))
        decoding = field.startswith("decode")
        if decoding and precision != "fp32":
            continue
        against = SYSTEM_NAMES[system]
        if system != "bare-lstm" and not decoding:
            against += f" {PEER_PRECISION[precision]}"
        what = f"{ours['arch']} {precision} {FIELD_NAMES[field]} / {against}"
        checks.append((what, _ratio(ours, field, others[system]), target))
    return checks


def _met(ratio: float | None, target: str) -> str:
    if ratio is None:
        return "not measured"
    bound = float(target.split()[1])
    return "met" if (ratio >= bound if target.startswith(">=") else ratio <= bound) else "missed"


def targets_table(rows: list[dict], kind: str) -> str:
    lines = ["| target | measured | required | |", "|---|---:|---|---|"]
    for what, ratio, target in target_checks(rows, kind):
        shown = "" if ratio is None else f"{ratio:.2f}x"
        lines.append(f"| {what} | {shown} | {target} | {_met(ratio, target)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a results file of bench/speed/run.sh")
    args = parser.parse_args()
    results = json.loads(args.results.read_text(encoding="utf-8"))
    print(f"device: {results['device']}, torch {results['torch']}\n")
    print(rows_table(results["rows"]) + "\n")
    print(targets_table(results["rows"], device_kind(results["device"])))


if __name__ == "__main__":
    main()
