"""A loaded model made ready to decode in the precision chosen for it (nmt/device.py,
decode_precision): int8 weights (nmt/inference/quantize.py), or bf16 products under autocast, with
the vocabulary shortlist (nmt/inference/shortlist.py) between them when asked for."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from nmt.device import autocast
from nmt.inference.quantize import quantize_int8
from nmt.inference.shortlist import Shortlist, Shortlisted


class Autocast(nn.Module):
    """A model whose every call runs under bf16 autocast: the matrix products in bf16; the
    decoder cells' state, the attention softmax and search's log-softmax stay fp32, as in
    bf16 training (nmt/device.py, autocast)."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.model, self.device = model, device

    @property
    def has_attention(self) -> bool:
        return self.model.has_attention

    def encode(self, src: Tensor, src_lengths: Tensor) -> Any:
        with autocast(self.device, torch.bfloat16):
            return self.model.encode(src, src_lengths)

    def initial_state(self, enc: Any) -> Any:
        return self.model.initial_state(enc)

    def step(self, prev_tokens: Tensor, state: Any, enc: Any) -> tuple[Tensor, Any, Any]:
        with autocast(self.device, torch.bfloat16):
            return self.model.step(prev_tokens, state, enc)

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        with autocast(self.device, torch.bfloat16):
            return self.model(src, src_lengths, tgt_in)


def for_decoding(
    model: nn.Module, precision: str, device: torch.device, shortlist: Shortlist | None
) -> nn.Module:
    """One loaded model (an ensemble's member) in `precision` (fp32, bf16 or int8, as
    decode_precision chose), its output layer restricted to `shortlist` if given."""
    if precision == "int8":
        model = quantize_int8(model)
    if shortlist is not None:
        model = Shortlisted(model, shortlist)
    if precision == "bf16":
        model = Autocast(model, device)
    return model
