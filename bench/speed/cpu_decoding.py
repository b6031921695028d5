"""Translation at CPU speed (issue 24): every precision and the shortlist, one run, one table.

    python -m bench.speed.cpu_decoding RUN [--quick QUICK] [--bench] [--onmt] [--out FILE]

RUN, a trained attention run (the small one: runs/multi30k-de-en-small-attention), decodes
the 1,000 sentences of its corpus's test2016 (raw text, as `nmt eval` reads it) through
nmt.Translator in every setting, on --threads threads (default 2), ~64 sentences a batch
(--batch-tokens 1024, as bench/PROTOCOL.md), after a warm-up on 64 sentences, loading
excluded:

  fp32; bf16 (only on a CPU with bf16 instructions, else a row saying so); bf16 with the
  shortlist (same); int8; int8 with the shortlist; fp32 with the shortlist; onnxruntime
  fp32 and int8 (the run exported to a temporary folder by nmt/export/export_onnx.py).

Each row: beam 5 to EOS in sentences/s with its BLEU (sacrebleu, the test references),
beam 5 at exactly 30 pieces (the protocol's cross-system row), and greedy; with the
shortlist also the mean size of a sentence's list. RUN/shortlist.pt is built with the
default sizes if RUN has none (`nmt shortlist RUN --k K --frequent F` first for others).

--quick QUICK: greedy decoding of the quick-start model (runs/quick) in fp32 and in every
setting (target: the fastest >= 2x fp32).
--bench: the peers' bench model (embeddings 256, 2 x 256 bidirectional encoder, 2 x 512
decoder in their Luong order, 8,000 joint pieces: bench/speed/ours.py's), untrained, in a
temporary run folder, at beam 5 and exactly 30 pieces in every setting: the rows to set
beside OpenNMT-py's, which has that model. Its BLEU means nothing and is not reported.
--onmt: OpenNMT-py 3.5.1's rows from the same run, by bench/peers/run_peer.py (its venv is
bench/scratch/venvs/onmt: `bash bench/peers/setup.sh --only onmt`; its data the export of
bench/peers/export_data.py in bench/scratch/data, made here if missing), after
--onmt-updates updates of training (the fixed-30 decode does the same work trained or not).

The targets of issue 24 are printed as met or missed: the fastest setting >= 3x our fp32
at beam 5 (RUN) and >= 3x OpenNMT-py at beam 5 fixed-30 (--bench against --onmt), BLEU
within 0.5 of fp32, and greedy of the quick model >= 2x fp32 (--quick). With --out the
rows are appended to a results file (bench/speed/results.py's format).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from pathlib import Path

import sacrebleu
import torch

from bench import ROOT
from bench.speed.ours import bench_recipe
from bench.speed.results import append_rows
from nmt import Translator
from nmt.data.prepare import prepare, raw_splits
from nmt.data.tokenizer import EOS
from nmt.device import BF16_FLAGS, cpu_has_bf16
from nmt.export.export_onnx import export_onnx
from nmt.inference.shortlist import Shortlist
from nmt.inference.shortlist_build import save_run_shortlist
from nmt.models.architectures import build_model
from nmt.run.checkpoint import FORMAT, save_checkpoint
from nmt.run.rundir import RunDir
from nmt.run.train_state import TrainState

TEST = "test2016"
SETTINGS = [  # (row name, precision, shortlist); onnx-* rows load an exported folder
    ("fp32", "fp32", False),
    ("bf16", "bf16", False),
    ("bf16+shortlist", "bf16", True),
    ("int8", "int8", False),
    ("int8+shortlist", "int8", True),
    ("fp32+shortlist", "fp32", True),
    ("onnx-fp32", "fp32", False),
    ("onnx-int8", "int8", False),
]
MODES = {  # results field -> decoding options
    "decode_beam5_sent_per_s": {"beam": 5},
    "decode_beam5_fixed30_sent_per_s": {
        "beam": 5,
        "max_len_a": 0.0,
        "max_len_b": 30,
        "min_len": 30,
    },
    "decode_greedy_sent_per_s": {"beam": 1},
}
ONMT_DATA = ROOT / "bench/scratch/data"
WARM_UP = 64  # sentences decoded before the clock starts


def cpu_description() -> dict:
    """The CPU's model name, thread count and whether it has bf16 instructions."""
    name, flags = platform.processor(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags |= set(line.split(":", 1)[1].split())
    simd = sorted(flag for flag in flags if flag.startswith(("avx", "amx")))
    return {"model": name, "bf16": cpu_has_bf16(), "simd_flags": simd, "cores": os.cpu_count()}


def load(run: Path, setting: tuple[str, str, bool], exported: dict[str, Path]) -> Translator:
    name, precision, shortlist = setting
    if name.startswith("onnx-"):
        return Translator.load(exported[precision])
    return Translator.load(run, device="cpu", precision=precision, shortlist=shortlist)


def nmt_translate(
    translator: Translator, batch_tokens: int, lines: list[str], options: dict
) -> list[str]:
    """The best translation of each line with `options` (MODES' decoding options)."""
    chosen = translator.options(batch_tokens=batch_tokens, **options)
    return translator.translations(lines, chosen).best()


def timed(
    translate: Callable[[list[str]], list[str]], sources: list[str]
) -> tuple[float, list[str]]:
    """(sentences/s over `sources` after a warm-up on WARM_UP of them, the translations)."""
    translate(sources[:WARM_UP])
    start = time.perf_counter()
    found = translate(sources)
    return round(len(sources) / (time.perf_counter() - start), 1), found


def list_size(run: Path, translator: Translator, sources: list[str]) -> float:
    """The mean number of target pieces a sentence's shortlist holds."""
    shortlist = Shortlist.load(RunDir(run).shortlist)
    sizes = [
        int(shortlist.allowed(torch.tensor([ids + [EOS]])).sum())
        for ids in translator.tokenizer.encode_src(sources)
    ]
    return round(sum(sizes) / len(sizes), 1)


@contextmanager
def exports(run: Path) -> Iterator[dict[str, Path]]:
    """The run exported to ONNX in fp32 and int8, in a temporary folder."""
    with tempfile.TemporaryDirectory() as scratch:
        folders = {precision: Path(scratch) / precision for precision in ("fp32", "int8")}
        for precision, folder in folders.items():
            export_onnx(run, folder, precision)
        yield folders


def measure(run: Path, label: str, modes: list[str], args: argparse.Namespace) -> list[dict]:
    """A row per setting for `run`: the `modes` fields (and BLEU with beam 5 to EOS)."""
    tr = Translator.load(run, device="cpu", precision="fp32")
    if not RunDir(run).shortlist.is_file():
        save_run_shortlist(RunDir(run), tr.recipe, tr.tokenizer)
    test = raw_splits(tr.recipe.data, [TEST])[TEST]
    sources, references = test["src"][: args.lines], test["tgt"][: args.lines]
    rows = []
    with exports(run) as exported:
        for setting in SETTINGS:
            name, precision, shortlist = setting
            row: dict = {"system": "nmt", "arch": label, "precision": name}
            if precision == "bf16" and not cpu_has_bf16():
                row["notes"] = f"not available on this CPU (no {' or '.join(BF16_FLAGS)})"
                rows.append(row)
                print(json.dumps(row), flush=True)
                continue
            translator = load(run, setting, exported)
            for field in modes:
                translate = partial(nmt_translate, translator, args.batch_tokens)
                rate, best = timed(partial(translate, options=MODES[field]), sources)
                row[field] = rate
                if field == "decode_beam5_sent_per_s" and label != "bench":
                    row["bleu_beam5"] = round(sacrebleu.corpus_bleu(best, [references]).score, 2)
            row["details"] = {"run": str(run), "sentences": len(sources), "threads": args.threads}
            if shortlist:
                row["details"]["mean_shortlist_pieces"] = list_size(run, translator, sources)
                row["details"]["target_vocabulary"] = translator.tokenizer.tgt_vocab_size
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def bench_run(folder: Path) -> Path:
    """The peers' bench model, untrained, as a run folder (what `nmt train` would leave)."""
    recipe = bench_recipe("attention-luong")
    prepared = prepare(recipe.data, progress=False)
    tokenizer = prepared.tokenizer()
    torch.manual_seed(1)
    sizes = (tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    model = build_model(recipe.model, *sizes)
    run = RunDir(folder)
    folder.mkdir(parents=True)
    run.src_model.write_bytes(prepared.src_spm.read_bytes())
    run.tgt_model.write_bytes(prepared.tgt_spm.read_bytes())
    payload = {
        "format": FORMAT,
        "recipe": recipe.to_dict(),
        "src_vocab": sizes[0],
        "tgt_vocab": sizes[1],
        "model": model.state_dict(),
        "step": 0,
        "state": asdict(TrainState()),
    }
    save_checkpoint(run.best, payload)
    return folder


def onmt_rows(args: argparse.Namespace) -> list[dict]:
    """OpenNMT-py's rows by bench/peers/run_peer.py, in a process of its own."""
    out = Path(tempfile.mkdtemp()) / "onmt.json"
    if not (ONMT_DATA / "meta.json").is_file():
        recipe = ROOT / "recipes/multi30k-de-en/attention.yaml"
        command = [sys.executable, "-m", "bench.peers.export_data", str(recipe), str(ONMT_DATA)]
        subprocess.run(command, check=True, cwd=ROOT)
    command = [sys.executable, "-m", "bench.peers.run_peer", "onmt", "--data", str(ONMT_DATA)]
    command += ["--device", "cpu", "--updates", str(args.onmt_updates), "--skip", "1"]
    command += ["--test-lines", str(args.lines), "--out", str(out)]
    env = os.environ | {"OMP_NUM_THREADS": str(args.threads)}
    subprocess.run(command, check=True, cwd=ROOT, env=env)
    return json.loads(out.read_text(encoding="utf-8"))["rows"]


def fastest(rows: list[dict], field: str) -> dict | None:
    measured = [row for row in rows if row.get(field)]
    return max(measured, key=lambda row: row[field]) if measured else None


def targets(small: list[dict], quick: list[dict], bench: list[dict], onmt: list[dict]) -> str:
    """Issue 24's targets as measured ratio, required ratio, met or missed."""
    lines = ["| target | fastest | measured | required | |", "|---|---|---:|---|---|"]

    def check(what: str, best: dict | None, ratio: float | None, bound: float) -> None:
        if best is None or ratio is None:
            lines.append(f"| {what} | | | >= {bound} | not measured |")
            return
        met = "met" if ratio >= bound else "missed"
        lines.append(f"| {what} | {best['precision']} | {ratio:.2f}x | >= {bound} | {met} |")

    beam, fixed = "decode_beam5_sent_per_s", "decode_beam5_fixed30_sent_per_s"
    base = next((row for row in small if row["precision"] == "fp32"), None)
    best = fastest(small, beam)
    check("beam 5 / our fp32", best, best and base and best[beam] / base[beam], 3.0)
    if best and base:
        delta = best["bleu_beam5"] - base["bleu_beam5"]
        within = "met" if abs(delta) <= 0.5 else "missed"
        lines.append(
            f"| BLEU of the fastest - fp32 | {best['precision']} | {delta:+.2f} | "
            f"within 0.5 | {within} |"
        )
    peer = next((row for row in onmt if row.get(fixed)), None)
    best = fastest(bench, fixed)
    check(
        "bench model beam 5 fixed-30 / OpenNMT-py",
        best,
        best and peer and best[fixed] / peer[fixed],
        3.0,
    )
    greedy = "decode_greedy_sent_per_s"
    base = next((row for row in quick if row["precision"] == "fp32"), None)
    best = fastest(quick, greedy)
    check("quick model greedy / its fp32", best, best and base and best[greedy] / base[greedy], 2.0)
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    columns = {
        "system": "system",
        "arch": "model",
        "precision": "setting",
        "decode_beam5_sent_per_s": "beam-5 sent/s",
        "bleu_beam5": "BLEU beam 5",
        "decode_beam5_fixed30_sent_per_s": "beam-5 fixed-30 sent/s",
        "decode_greedy_sent_per_s": "greedy sent/s",
    }
    lines = ["| " + " | ".join(columns.values()) + " | notes |", "|" + "---|" * (len(columns) + 1)]
    for row in rows:
        cells = ["" if row.get(key) is None else str(row[key]) for key in columns]
        notes = row.get("notes", "")
        if "mean_shortlist_pieces" in row.get("details", {}):
            details = row["details"]
            size, vocab = details["mean_shortlist_pieces"], details["target_vocabulary"]
            notes = f"lists of {size} of {vocab} pieces on average"
        lines.append("| " + " | ".join(cells) + f" | {notes} |")
    return "\n".join(lines)


def parse_decoding_args(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, dict]:
    """The options every CPU decoding benchmark shares, parsed; then the threads set and the
    CPU described (printed, and returned for the results file)."""
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lines", type=int, default=1000, help="test sentences decoded")
    parser.add_argument("--batch-tokens", type=int, default=1024, help="~64 sentences a batch")
    parser.add_argument("--out", type=Path, help="append the rows to this results file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = cpu_description()
    print(json.dumps({"cpu": cpu, "torch": torch.__version__, "threads": args.threads}))
    return args, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="the trained small attention run")
    parser.add_argument("--quick", type=Path, help="the quick-start run, for greedy decoding")
    parser.add_argument("--bench", action="store_true", help="the bench model, fixed-30 rows")
    parser.add_argument("--onmt", action="store_true", help="OpenNMT-py's rows (run_peer.py)")
    parser.add_argument("--onmt-updates", type=int, default=12, help="its training updates")
    args, cpu = parse_decoding_args(parser)
    small = measure(args.run, "small attention", list(MODES), args)
    quick = measure(args.quick, "quick", ["decode_greedy_sent_per_s"], args) if args.quick else []
    bench: list[dict] = []
    if args.bench:
        with tempfile.TemporaryDirectory() as scratch:
            folder = bench_run(Path(scratch) / "bench")
            bench = measure(folder, "bench", ["decode_beam5_fixed30_sent_per_s"], args)
    onmt = onmt_rows(args) if args.onmt else []
    rows = small + quick + bench + onmt
    bf16 = "yes" if cpu["bf16"] else "no"
    print(f"\nCPU: {cpu['model']}, {args.threads} threads, bf16 instructions: {bf16}")
    print(f"SIMD flags: {' '.join(cpu['simd_flags'])}; torch {torch.__version__}\n")
    print(table(rows))
    print()
    print(targets(small, quick, bench, onmt))
    if args.out is not None:
        append_rows(args.out, rows, f"cpu: {cpu['model']}", torch.__version__)


if __name__ == "__main__":
    main()
