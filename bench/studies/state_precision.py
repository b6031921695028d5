"""What a bf16 recurrent state costs a trained model, measured on any CPU.

bf16 autocast used to carry the decoder's (h, c) in bf16 from one target step to the next.
A trained cell state is large (|c| of tens), where bf16 has a step of 0.125-0.25. This
script keeps every computation in fp32 and only rounds the state to bf16 after each step,
which isolates that effect: dev perplexity (teacher forcing, stepped) and greedy dev BLEU,
fp32 state against bf16-rounded state, plus the largest |c| seen.

    python -m bench.studies.state_precision runs/multi30k-de-en-small-attention
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from nmt.data.batching import ParallelData
from nmt.data.prepare import prepare
from nmt.models.decoder import DecoderState
from nmt.run.loading import load_for_inference
from nmt.training.validate import validate

CPU = torch.device("cpu")


def to_bf16(state: DecoderState) -> DecoderState:
    def rounded(x):
        return None if x is None else x.to(torch.bfloat16).float()

    return DecoderState(rounded(state.h), rounded(state.c), state.feed)


class SteppedModel(torch.nn.Module):
    """The model run one target step at a time, as search runs it, with its decoder state
    optionally rounded to bf16 after every step; teacher forcing notes the largest |c|."""

    def __init__(self, model: torch.nn.Module, bf16_state: bool) -> None:
        super().__init__()
        self.model, self.bf16_state, self.largest = model, bf16_state, 0.0

    def _kept(self, state: DecoderState) -> DecoderState:
        return to_bf16(state) if self.bf16_state else state

    def encode(self, src, src_lengths):
        return self.model.encode(src, src_lengths)

    def initial_state(self, enc):
        return self._kept(self.model.initial_state(enc))

    def step(self, prev, state, enc):
        logits, state, attention = self.model.step(prev, state, enc)
        return logits, self._kept(state), attention

    def forward(self, src, src_lengths, tgt_in):
        """Teacher-forced logits [B, T, V], stepped (what nmt.training.validate scores)."""
        enc = self.encode(src, src_lengths)
        state, logits = self.initial_state(enc), []
        for t in range(tgt_in.size(1)):
            step_logits, state, _ = self.step(tgt_in[:, t], state, enc)
            logits.append(step_logits)
            if state.c is not None:
                self.largest = max(self.largest, state.c.abs().max().item())
        return torch.stack(logits, dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run directory or checkpoint")
    args = parser.parse_args()
    model, recipe, tokenizer = load_for_inference(args.run, "cpu")
    data = ParallelData.from_dataset(prepare(recipe.data, progress=False).splits["valid"])
    for name, bf16_state in (("fp32 state", False), ("bf16 state", True)):
        stepped = SteppedModel(model, bf16_state)
        dev = validate(stepped, data, tokenizer.decode_tgt, 4000, recipe.decode, CPU)
        print(
            f"{args.run} {name}: dev ppl {dev.ppl:.3f}, greedy BLEU {dev.bleu:.2f}, "
            f"max|c| {stepped.largest:.1f}"
        )


if __name__ == "__main__":
    main()
