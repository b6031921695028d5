"""CTranslate2 against nmt on one trained Transformer run (issue 23): beam-5 speed and BLEU.

    python -m bench.speed.ct2_decoding RUN [--threads 2] [--lines 1000] [--out FILE]

RUN, a trained transformer run (model.arch: transformer), is exported by
nmt/export/export_ctranslate2.py in fp32 and int8 to a temporary folder. The first --lines of its
corpus's test2016 (raw text, as `nmt eval` reads it) are decoded in four settings, on
--threads threads, after a warm-up on 64 sentences, loading excluded:

  nmt fp32 and nmt int8 (nmt.Translator, ~64 sentences a batch: --batch-tokens 1024, as
  bench/PROTOCOL.md); ctranslate2 fp32 and int8 (ctranslate2.Translator.translate_batch,
  64 sentences a batch, sorted by length as it does by itself, one translation at a time).

Each row: beam 5 to EOS in sentences/s with its BLEU (sacrebleu against the references),
beam 5 at exactly 30 pieces (the protocol's cross-system row) and greedy. ctranslate2 gets
the run's length penalty, no PAD or BOS in an output (as nmt's search), and one length
limit for all: the largest of nmt's per-sentence limits (max_len_a * source + max_len_b),
which natural decodes seldom reach. Its beam search stops by its own rule (when `beam`
hypotheses have ended), nmt's by an exact bound, so the two do not do the same work at
beam 5 to EOS; at a fixed 30 pieces they do. Each ctranslate2 row also counts the greedy
outputs equal to nmt's of the same precision (details.greedy_equal). The fp32 rows
also carry limit_fraction_fixed30: the matrix-product FLOPs of beam 5 at exactly 30 pieces
(counted on nmt's search, bench/speed/limit.py; the same work in both engines) per second
over one large torch.mm's rate in this process. With --out the rows are appended to a
results file (bench/speed/results.py's format).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import ctranslate2
import sacrebleu
import sentencepiece as spm
import torch

from bench.speed.cpu_decoding import (
    MODES,
    TEST,
    nmt_translate,
    parse_decoding_args,
    table,
    timed,
)
from bench.speed.limit import Counted, limit_fraction, mm_rate, search_flops
from bench.speed.results import append_rows
from nmt import Translator
from nmt.data.prepare import raw_splits
from nmt.export.export_ctranslate2 import export_ctranslate2

BATCH = 64  # sentences a ctranslate2 batch
DEVICE = torch.device("cpu")


class Ct2:
    """An exported folder behind the two calls the benchmark makes."""

    def __init__(self, folder: Path, threads: int, length_penalty: float, max_len: int) -> None:
        self.translator = ctranslate2.Translator(
            str(folder), device="cpu", inter_threads=1, intra_threads=threads
        )
        self.src = spm.SentencePieceProcessor(model_file=str(folder / "src.model"))
        self.tgt = spm.SentencePieceProcessor(model_file=str(folder / "tgt.model"))
        self.length_penalty, self.max_len = length_penalty, max_len

    def translate(self, sources: list[str], options: dict) -> list[str]:
        """`options` as cpu_decoding.MODES gives them (nmt's names)."""
        fixed = options.get("min_len", 0)
        results = self.translator.translate_batch(
            self.src.encode(sources, out_type=str),
            max_batch_size=BATCH,
            beam_size=options["beam"],
            length_penalty=self.length_penalty,
            min_decoding_length=fixed,
            max_decoding_length=options["max_len_b"] if fixed else self.max_len,
            suppress_sequences=[["<pad>"], ["<s>"]],
        )
        return [self.tgt.decode(result.hypotheses[0]) for result in results]


def max_length(translator: Translator, sources: list[str]) -> int:
    """The largest per-sentence limit nmt's search would allow these sources."""
    decode = translator.decode
    longest = max(len(ids) for ids in translator.tokenizer.encode_src(sources))
    return int(decode.max_len_a * longest + decode.max_len_b)


GREEDY = "decode_greedy_sent_per_s"
FIXED = "decode_beam5_fixed30_sent_per_s"


def fixed30_flops(translator: Translator, batch_tokens: int, sources: list[str]) -> int:
    """Matrix-product FLOPs of beam 5 at exactly 30 pieces (bench/speed/limit.py), counted on
    nmt's search: the work both engines do in that mode, whatever their stopping rules
    (ctranslate2's 64-sentence batches pad the source a little otherwise)."""
    counted = Counted(translator.model)
    recorded = Translator(counted, translator.tokenizer, translator.recipe, translator.device)
    nmt_translate(recorded, batch_tokens, sources, MODES[FIXED])
    return search_flops(translator.model, counted.batches, counted.steps)


def rows_for(
    name: str,
    translate: Callable[[list[str], dict], list[str]],
    references: list[str],
    sources: list[str],
) -> tuple[dict, list[str]]:
    """One row: every mode of cpu_decoding.MODES, BLEU of beam 5 to EOS; and the greedy
    outputs."""
    system, precision = name.split(" ")
    row: dict = {"system": system, "arch": "transformer", "precision": precision}
    for field, options in MODES.items():
        rate, found = timed(partial(translate, options=options), sources)
        row[field] = rate
        if field == "decode_beam5_sent_per_s":
            row["bleu_beam5"] = round(sacrebleu.corpus_bleu(found, [references]).score, 2)
        if field == GREEDY:
            greedy = found
    print(json.dumps(row), flush=True)
    return row, greedy


def measure(run: Path, args: argparse.Namespace) -> list[dict]:
    ours = {p: Translator.load(run, device="cpu", precision=p) for p in ("fp32", "int8")}
    test = raw_splits(ours["fp32"].recipe.data, [TEST])[TEST]
    sources, references = test["src"][: args.lines], test["tgt"][: args.lines]
    limit = max_length(ours["fp32"], sources)
    rows, greedy = [], {}
    for precision, translator in ours.items():
        translate = partial(nmt_translate, translator, args.batch_tokens)
        row, greedy[precision] = rows_for(f"nmt {precision}", translate, references, sources)
        row["details"] = {}
        rows.append(row)
    with tempfile.TemporaryDirectory() as scratch:
        for precision in ("fp32", "int8"):
            folder = Path(scratch) / precision
            export_ctranslate2(run, folder, precision)
            ct2 = Ct2(folder, args.threads, ours["fp32"].decode.length_penalty, limit)
            row, found = rows_for(f"ctranslate2 {precision}", ct2.translate, references, sources)
            equal = sum(a == b for a, b in zip(found, greedy[precision], strict=True))
            row["details"] = {"ctranslate2": ctranslate2.__version__, "max_len": limit}
            row["details"]["greedy_equal"] = f"{equal} of {len(found)}"
            row["notes"] = f"greedy outputs equal to nmt {precision}'s: {equal} of {len(found)}"
            rows.append(row)
    flops, rate = fixed30_flops(ours["fp32"], args.batch_tokens, sources), mm_rate(DEVICE)
    for row in rows:
        row["details"] |= {"run": str(run), "sentences": len(sources), "threads": args.threads}
        if row["precision"] == "fp32":  # int8 products are other work than the fp32 limit's
            seconds = len(sources) / row[FIXED]
            row["limit_fraction_fixed30"] = limit_fraction(flops, seconds, rate)
    return rows


def ratios(rows: list[dict]) -> str:
    """ctranslate2 over nmt, precision by precision, for every speed field."""
    lines = ["| precision | field | ctranslate2 / nmt |", "|---|---|---:|"]
    for precision in ("fp32", "int8"):
        pair = {row["system"]: row for row in rows if row["precision"] == precision}
        for field in MODES:
            ratio = pair["ctranslate2"][field] / pair["nmt"][field]
            lines.append(f"| {precision} | {field} | {ratio:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a trained transformer run")
    args, cpu = parse_decoding_args(parser)
    rows = measure(args.run, args)
    print(f"\nCPU: {cpu['model']}, {args.threads} threads; torch {torch.__version__}, ", end="")
    print(f"ctranslate2 {ctranslate2.__version__}\n")
    print(table(rows))
    for row in rows:
        if "limit_fraction_fixed30" in row:
            share = row["limit_fraction_fixed30"]
            print(f"{row['system']} fp32, beam 5 at exactly 30 pieces: {share:.0%} of the limit")
    print()
    print(ratios(rows))
    if args.out is not None:
        append_rows(args.out, rows, f"cpu: {cpu['model']}", torch.__version__)


if __name__ == "__main__":
    main()
