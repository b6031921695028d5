"""Our rows of the speed benchmark (bench/PROTOCOL.md): training and decoding throughput.

    python -m bench.speed.ours --device cuda --out bench/results/DATE-DEVICE.json
    python -m bench.speed.ours --device cpu --updates 3 --skip 1 --test-lines 16   # smoke test

Training: each architecture at the bench sizes (embeddings 256, 2 layers, encoder 256 per
direction, decoder 512, attention 512, dropout 0.2, Adam, no label smoothing; the transformer
at the sizes of recipes/multi30k-de-en/transformer.yaml, 6 + 6 layers of d_model 256 with
4 heads and 1024-wide feed-forward blocks, dropout 0.2, no label smoothing) on the real
Multi30k de-en batches of about 4,096 target tokens, through `Trainer.update`, the very code
`nmt train` runs (forward, backward, clipping, optimizer step). Steady state: --skip updates,
then --updates timed between two device synchronisations, --repeats times over the same
updates (the row has the median; details the spread). On a CPU each training row runs in a
fresh process and its memory figure is that process's peak RSS (bench/speed/memory.py).

Decoding: test2016 (1,000 sentences) through nmt.Translator, the code of `nmt translate`:
greedy, beam 5 to EOS (with its BLEU) and beam 5 at exactly 30 pieces (the cross-system
comparison), always in fp32, so its figures stand on the fp32 row of each architecture.
Models come from --run DIRS (trained; BLEU means something) or are the freshly initialised
bench models (BLEU meaningless, said in the notes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import sacrebleu
import torch

from bench import ROOT
from bench.speed.memory import measure_row
from bench.speed.results import append_rows, repeat_summary
from nmt.config.recipe import Recipe, load_recipe
from nmt.data.batching import ParallelData
from nmt.data.prepare import prepare
from nmt.inference.translator import Translator
from nmt.models.architectures import build_model
from nmt.run.loading import load_for_inference
from nmt.training.train import Trainer

RECIPES = ROOT / "recipes/multi30k-de-en"
RECIPE = RECIPES / "attention.yaml"
BENCH_TRAIN = [
    "model.dropout=0.2",
    "train.label_smoothing=0",
    "train.schedule=constant",
    "train.log_every=0",
    "train.validate_every=0",
]
BENCH_MODEL = [
    "model.embed_dim=256",
    "model.encoder_layers=2",
    "model.decoder_layers=2",
    "model.encoder_hidden=256",
    "model.decoder_hidden=512",
    "model.attention_dim=512",
    *BENCH_TRAIN,
]
ARCHS = {
    "seq2seq": [
        "model.attention=none",
        "model.bidirectional=false",
        "model.reverse_source=true",
        "model.encoder_hidden=512",
    ],
    "bilstm": ["model.attention=none"],
    "attention": [],  # Bahdanau order, as the recipe
    "attention-luong": ["model.attention_order=luong"],  # the peers' order
    "transformer": [],  # its recipe's sizes (bench_recipe)
}


def bench_recipe(arch: str, overrides: list[str] | None = None) -> Recipe:
    """The bench model of `arch` with `overrides`; the RNN sizes do not apply to the
    transformer, which keeps those of its recipe (same data section as RECIPE)."""
    if arch == "transformer":
        return load_recipe(RECIPES / "transformer.yaml", [*BENCH_TRAIN, *(overrides or [])])
    return load_recipe(RECIPE, [*BENCH_MODEL, *ARCHS[arch], *(overrides or [])])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def bench_trainer(
    arch: str, precision: str, device: str, batch_tokens: int
) -> Iterator[tuple[Trainer, list]]:
    """A Trainer of the bench model for `arch` on Multi30k de-en, with its first epoch's
    update groups (also used by bench/speed/profile_update.py)."""
    overrides = [
        f"train.precision={precision}",
        f"train.device={device}",
        f"train.batch_tokens={batch_tokens}",
    ]
    recipe = bench_recipe(arch, overrides)
    prepared = prepare(recipe.data, progress=False)
    tokenizer = prepared.tokenizer()
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(
            recipe,
            ParallelData.from_dataset(prepared.splits["train"]),
            ParallelData.from_dataset(prepared.splits["valid"]),
            tokenizer.decode_tgt,
            Path(scratch),
            (tokenizer.src_vocab_size, tokenizer.tgt_vocab_size),
            progress=False,
        )
        yield trainer, trainer.epoch_updates(1)


def train_row(arch: str, precision: str, args: argparse.Namespace) -> dict:
    """Tokens/s (median of --repeats timings of the same updates) and peak device memory."""
    device = torch.device(args.device)
    with bench_trainer(arch, precision, args.device, args.batch_tokens) as (trainer, updates):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for group in updates[: args.skip]:
            trainer.update(group)
        timed = updates[args.skip : args.skip + args.updates]
        tokens = sum(trainer.train_data.collate(i).n_tokens for g in timed for i in g)
        rates = []
        for _ in range(args.repeats):
            sync(device)
            start = time.perf_counter()
            for group in timed:
                trainer.update(group)
            sync(device)
            rates.append(tokens / (time.perf_counter() - start))
        params = sum(p.numel() for p in trainer.model.parameters())
    rate, spread = repeat_summary(rates)
    return {
        "system": "nmt",
        "arch": arch,
        "precision": precision,
        "train_tok_per_s": rate,
        "peak_mem_mb": round(torch.cuda.max_memory_allocated(device) / 2**20)
        if device.type == "cuda"
        else None,
        "details": {
            "timed_updates": len(timed),
            "repeats_tok_per_s": [round(r, 1) for r in rates],
            "repeat_spread": spread,
            "tgt_tokens_per_update": tokens / len(timed),
            "parameters": params,
        },
    }


def decode_rows(run: Path | None, arch: str, args: argparse.Namespace) -> dict:
    """Sentences/s of greedy, beam 5 and fixed-length beam 5 on test2016, with BLEU."""
    device = torch.device(args.device)
    if run is not None:
        model, recipe, tokenizer = load_for_inference(run, device)
        prepared = prepare(recipe.data, progress=False)
    else:
        recipe = bench_recipe(arch)
        prepared = prepare(recipe.data, progress=False)
        tokenizer = prepared.tokenizer()
        torch.manual_seed(1)
        model = build_model(recipe.model, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
        model = model.to(device).eval()
    test = prepared.splits["test2016"]
    sources, refs = test["src"][: args.test_lines], test["tgt"][: args.test_lines]
    row: dict = {}
    modes = {
        "decode_greedy_sent_per_s": (dict(beam=1), 0),
        "decode_beam5_sent_per_s": (dict(beam=5), 0),
        "decode_beam5_fixed30_sent_per_s": (dict(beam=5, max_len_a=0.0, max_len_b=30), 30),
    }
    translator = Translator(model, tokenizer, recipe, device)
    for key, (settings, min_len) in modes.items():
        options = translator.options(batch_tokens=args.decode_tokens, min_len=min_len, **settings)
        translator.translations(sources[:64], options)  # warm-up
        sync(device)
        start = time.perf_counter()
        out = translator.translations(sources, options)
        sync(device)
        row[key] = round(len(sources) / (time.perf_counter() - start), 1)
        if key == "decode_beam5_sent_per_s":
            row["bleu_beam5"] = round(sacrebleu.corpus_bleu(out.best(), [refs]).score, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    parser.add_argument("--precisions", nargs="+", default=None, help="default: fp32 bf16 on CUDA")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--skip", type=int, default=20)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2, help="timings of the same updates")
    parser.add_argument("--run", nargs="*", default=[], help="trained run dirs ARCH=DIR to decode")
    parser.add_argument("--test-lines", type=int, default=1000)
    parser.add_argument("--decode-tokens", type=int, default=1024, help="~64 sentences a batch")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    precisions = args.precisions or (
        ["fp32", "bf16"] if args.device.startswith("cuda") else ["fp32"]
    )
    runs = dict(item.split("=", 1) for item in args.run)
    rows = []
    for arch in args.archs:
        decode = decode_rows(Path(runs[arch]) if arch in runs else None, arch, args)
        source = (
            f"decoded with the trained run {runs[arch]}"
            if arch in runs
            else "decoded with an untrained model: BLEU meaningless"
        )
        for precision in precisions:
            row = measure_row(args.device, train_row, arch, precision, args)
            if precision == "fp32":  # decoding always runs in fp32: its figures go on that row
                row |= decode | {"notes": source}
            else:
                row |= dict.fromkeys(decode) | {"notes": "decoding runs in fp32: see that row"}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
        append_rows(args.out, rows, device, torch.__version__)


if __name__ == "__main__":
    main()
