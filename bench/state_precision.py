"""What a bf16 recurrent state costs a trained model, measured on any CPU.

bf16 autocast used to carry the decoder's (h, c) in bf16 from one target step to the next.
A trained cell state is large (|c| of tens), where bf16 has a step of 0.125-0.25. This
script keeps every computation in fp32 and only rounds the state to bf16 after each step,
which isolates that effect: dev perplexity (teacher forcing, stepped) and greedy dev BLEU,
fp32 state against bf16-rounded state, plus the largest |c| seen.

    python bench/state_precision.py runs/multi30k-de-en-small-attention
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import sacrebleu
import torch

from nmt.batching import ParallelData
from nmt.checkpoint import load_for_inference
from nmt.decoder import DecoderState
from nmt.loss import loss_sums
from nmt.prepare import prepare
from nmt.search import greedy, length_limits


def to_bf16(state: DecoderState) -> DecoderState:
    def rounded(x):
        return None if x is None else x.to(torch.bfloat16).float()

    return DecoderState(rounded(state.h), rounded(state.c), state.feed)


class RoundedState(torch.nn.Module):
    """The model with its decoder state rounded to bf16 after every step."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def encode(self, src, src_lengths):
        return self.model.encode(src, src_lengths)

    def initial_state(self, enc):
        return to_bf16(self.model.initial_state(enc))

    def step(self, prev, state, enc):
        logits, state, attention = self.model.step(prev, state, enc)
        return logits, to_bf16(state), attention


@torch.inference_mode()
def score(model, data: ParallelData, decode_fn, limits) -> tuple[float, float, float]:
    """(dev perplexity by stepping, greedy dev BLEU, largest |c|) of model."""
    nll, tokens, largest = 0.0, 0, 0.0
    hypotheses = [""] * len(data)
    for indices in data.batches(4000, shuffle=False):
        batch = data.collate(indices)
        enc = model.encode(batch.src, batch.src_lengths)
        state, logits = model.initial_state(enc), []
        for t in range(batch.tgt_in.size(1)):
            step_logits, state, _ = model.step(batch.tgt_in[:, t], state, enc)
            logits.append(step_logits)
            if state.c is not None:
                largest = max(largest, state.c.abs().max().item())
        nll += loss_sums(torch.stack(logits, dim=1), batch.tgt_out, 0.0)[1].item()
        tokens += batch.n_tokens
        found = greedy(model, batch.src, batch.src_lengths, limits(batch.src_lengths))
        for i, text in zip(indices, decode_fn([r[0] for r in found.tokens]), strict=True):
            hypotheses[i] = text
    bleu = sacrebleu.corpus_bleu(hypotheses, [data.refs]).score
    return math.exp(nll / tokens), bleu, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run directory or checkpoint")
    args = parser.parse_args()
    model, recipe, tokenizer = load_for_inference(args.run, "cpu")
    data = ParallelData.from_dataset(prepare(recipe.data, progress=False).splits["valid"])
    decode = recipe.decode

    def limits(lengths):
        return length_limits(lengths, decode.max_len_a, decode.max_len_b)

    for name, variant in (("fp32 state", model), ("bf16 state", RoundedState(model))):
        ppl, bleu, largest = score(variant, data, tokenizer.decode_tgt, limits)
        print(f"{args.run} {name}: dev ppl {ppl:.3f}, greedy BLEU {bleu:.2f}, max|c| {largest:.1f}")


if __name__ == "__main__":
    main()
