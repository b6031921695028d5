"""The benchmark's ceiling: a bare stack of torch.nn.LSTM at the bench sizes, trained.

    python -m bench.speed.bare_lstm --device cuda                     # fp32 and bf16 rows
    python -m bench.speed.bare_lstm --device cpu --updates 5 --skip 2 --batch-tokens 512

Encoder: embeddings 256 -> 2-layer bidirectional LSTM, 256 per direction, over packed
sequences. Decoder: 2-layer LSTM 512 fed the target embeddings only (no attention, no input
feeding); its initial (h, c) per layer is the encoder's final [forward; backward] state, which
costs nothing and puts the encoder in the backward pass. Then the output projection to the
vocabulary and cross-entropy over real tokens; dropout 0.2; clipping; Adam. An attention
decoder does strictly more work per token, so its tokens/s cannot beat this.

Batches hold ~--batch-tokens real target tokens (EOS included), length-bucketed as our own
batching does. Lengths are synthetic unless --lengths names an export_data.py folder: target
lengths log-normal with Multi30k de-en's train statistics (sentencepiece unigram 8000:
log-length mean 2.633, sd 0.320, i.e. 14.7 pieces on average) and source lengths the target
length times a log-normal ratio (mean 0.024, sd 0.198). Token ids are uniform at random.

Timing follows bench/PROTOCOL.md: --skip warm-up updates, then --updates timed ones between
two device synchronisations. Rows in its results schema are printed as JSON lines and,
with --out, appended to a results file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from bench.speed.memory import measure_row
from bench.speed.results import append_rows, repeat_summary
from nmt.device import cpu_has_bf16

PAD, BOS, EOS = 0, 2, 3
EMBED, ENC_HIDDEN, DEC_HIDDEN, LAYERS, DROPOUT, CLIP = 256, 256, 512, 2, 0.2, 1.0
# Multi30k de-en train, our joint unigram 8000 pieces: log(target pieces) and log(src/tgt)
TGT_LOG_MEAN, TGT_LOG_SD, RATIO_LOG_MEAN, RATIO_LOG_SD = 2.633, 0.320, 0.024, 0.198
POOL = 29_000  # sentence pairs drawn: one Multi30k epoch
NO_CPU_BF16 = "not measured: this CPU has no bf16 instructions (AVX512-BF16 or AMX)"


class BareLSTM(nn.Module):
    """Encoder + attention-free decoder + projection: the least work at the bench sizes."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.src_embed = nn.Embedding(vocab, EMBED, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(vocab, EMBED, padding_idx=PAD)
        self.encoder = nn.LSTM(
            EMBED, ENC_HIDDEN, LAYERS, batch_first=True, bidirectional=True, dropout=DROPOUT
        )
        self.decoder = nn.LSTM(EMBED, DEC_HIDDEN, LAYERS, batch_first=True, dropout=DROPOUT)
        self.dropout = nn.Dropout(DROPOUT)
        self.project = nn.Linear(DEC_HIDDEN, vocab)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor):
        packed = pack_padded_sequence(
            self.dropout(self.src_embed(src)), src_lengths, batch_first=True, enforce_sorted=False
        )
        _, (h, c) = self.encoder(packed)  # [layers * 2, B, 256]
        batch = src.size(0)

        def per_layer(state: torch.Tensor) -> torch.Tensor:  # -> [layers, B, 512]
            return (
                state.view(LAYERS, 2, batch, ENC_HIDDEN)
                .transpose(1, 2)
                .reshape(LAYERS, batch, 2 * ENC_HIDDEN)
            )

        out, _ = self.decoder(self.dropout(self.tgt_embed(tgt_in)), (per_layer(h), per_layer(c)))
        return self.project(self.dropout(out))


def draw_lengths(rng: random.Random, n: int) -> list[tuple[int, int]]:
    """Synthetic (source, target) piece counts shaped like Multi30k de-en."""
    pairs = []
    for _ in range(n):
        tgt = min(100, max(1, round(math.exp(rng.gauss(TGT_LOG_MEAN, TGT_LOG_SD)))))
        src = min(100, max(1, round(tgt * math.exp(rng.gauss(RATIO_LOG_MEAN, RATIO_LOG_SD)))))
        pairs.append((src, tgt))
    return pairs


def read_lengths(folder: Path) -> list[tuple[int, int]]:
    """Real (source, target) piece counts of an export_data.py folder's train split."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    sides = [
        (folder / "tok" / f"train.{meta[key]}").read_text(encoding="utf-8").splitlines()
        for key in ("src_lang", "tgt_lang")
    ]
    return [(len(s.split()), len(t.split())) for s, t in zip(*sides, strict=True)]


def make_batches(pairs: list[tuple[int, int]], batch_tokens: int, vocab: int, seed: int):
    """Length-bucketed batches of ~batch_tokens real target tokens (ids + EOS), shuffled."""
    rng = random.Random(seed)
    order = sorted(range(len(pairs)), key=lambda i: (pairs[i][1], pairs[i][0], rng.random()))
    groups, group, tokens = [], [], 0
    for i in order:
        if group and tokens + pairs[i][1] + 1 > batch_tokens:
            groups.append(group)
            group, tokens = [], 0
        group.append(i)
        tokens += pairs[i][1] + 1
    groups.append(group)
    rng.shuffle(groups)
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for group in groups:
        src_len = torch.tensor([pairs[i][0] + 1 for i in group])  # + EOS
        tgt_len = torch.tensor([pairs[i][1] + 1 for i in group])  # BOS + ids / ids + EOS
        src = torch.randint(4, vocab, (len(group), int(src_len.max())), generator=generator)
        tgt = torch.randint(4, vocab, (len(group), int(tgt_len.max()) + 1), generator=generator)
        src[torch.arange(src.size(1)) >= src_len[:, None]] = PAD
        tgt[torch.arange(tgt.size(1)) >= tgt_len[:, None] + 1] = PAD
        tgt[:, 0] = BOS
        tgt_out = tgt[:, 1:].clone()
        batches.append((src, src_len, tgt[:, :-1].clone(), tgt_out, int((tgt_out != PAD).sum())))
    return batches


def measure(args: argparse.Namespace, precision: str, batches: list) -> dict:
    """Train the bare model on the batches; tokens/s over the timed updates, peak memory."""
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    model = BareLSTM(args.vocab).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    # lengths stay on the host (packing wants them there); token counts are host ints, so an
    # update never waits for the device
    on_device = [(s.to(device), n, i.to(device), o.to(device), k) for s, n, i, o, k in batches]
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )

    def update(step: int) -> int:
        src, src_len, tgt_in, tgt_out, n_tokens = on_device[step % len(on_device)]
        with autocast:
            logits = model(src, src_len, tgt_in)
        loss = nn.functional.cross_entropy(
            logits.float().flatten(0, 1), tgt_out.flatten(), ignore_index=PAD, reduction="sum"
        )
        (loss / n_tokens).backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return n_tokens

    for step in range(args.skip):
        update(step)
    rates = []
    for _ in range(args.repeats):  # the same updates each time
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        tokens = sum(update(args.skip + step) for step in range(args.updates))
        if cuda:
            torch.cuda.synchronize(device)
        rates.append(tokens / (time.perf_counter() - start))
    rate, spread = repeat_summary(rates)
    real = sum(batch[4] for batch in batches)
    padded = sum(batch[3].numel() for batch in batches)
    return {
        "system": "bare-lstm",
        "arch": "bare",
        "precision": precision,
        "train_tok_per_s": rate,
        "peak_mem_mb": round(torch.cuda.max_memory_allocated(device) / 2**20) if cuda else None,
        "decode_beam5_fixed30_sent_per_s": None,
        "decode_beam5_sent_per_s": None,
        "decode_greedy_sent_per_s": None,
        "bleu_beam5": None,
        "notes": "ceiling: no decoder search and no BLEU (nothing to translate with); "
        + ("real Multi30k lengths" if args.lengths else "synthetic Multi30k-shaped lengths")
        + ", random token ids",
        "details": {
            "timed_updates": args.updates,
            "skipped_updates": args.skip,
            "tgt_tokens_per_update": round(tokens / args.updates, 1),
            "repeats_tok_per_s": [round(r, 1) for r in rates],
            "repeat_spread": spread,
            "real_target_fraction": round(real / padded, 3),
            "batches": len(batches),
            "vocab": args.vocab,
            "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
            "command": " ".join(sys.argv),
            "cudnn_tf32": torch.backends.cudnn.allow_tf32,
        },
    }


def measure_or_explain(args: argparse.Namespace, precision: str, batches: list) -> dict:
    """measure(), or a row of nulls naming the error when the backend lacks a kernel (oneDNN
    on CPU has no bf16 LSTM for padded input, for instance)."""
    try:
        return measure(args, precision, batches)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[0]
        return not_measured(precision, f"failed on {args.device}: {reason}")


def not_measured(precision: str, reason: str) -> dict:
    """A row of nulls that says why."""
    fields = ["train_tok_per_s", "peak_mem_mb", "decode_beam5_fixed30_sent_per_s"]
    fields += ["decode_beam5_sent_per_s", "decode_greedy_sent_per_s", "bleu_beam5"]
    row = {"system": "bare-lstm", "arch": "bare", "precision": precision}
    return row | dict.fromkeys(fields) | {"notes": reason}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:1, cpu")
    parser.add_argument(
        "--precision", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"]
    )
    parser.add_argument("--updates", type=int, default=120, help="timed updates (after --skip)")
    parser.add_argument("--skip", type=int, default=20, help="warm-up updates, not timed")
    parser.add_argument("--repeats", type=int, default=2, help="timings of the same updates")
    parser.add_argument("--batch-tokens", type=int, default=4096, help="real target tokens")
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--lengths", type=Path, help="export_data.py folder: real lengths")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="results file to append the rows to")
    args = parser.parse_args()
    if args.updates < 1:
        parser.error("--updates must be at least 1")
    pairs = (
        read_lengths(args.lengths) if args.lengths else draw_lengths(random.Random(args.seed), POOL)
    )
    batches = make_batches(pairs, args.batch_tokens, args.vocab, args.seed)
    rows = []
    for precision in args.precision:
        if args.device == "cpu" and precision == "bf16" and not cpu_has_bf16():
            rows.append(not_measured(precision, NO_CPU_BF16))
        else:
            rows.append(measure_row(args.device, measure_or_explain, args, precision, batches))
    for row in rows:
        print(json.dumps(row))
    if args.out:
        device = torch.device(args.device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        append_rows(args.out, rows, name, torch.__version__)


if __name__ == "__main__":
    main()
