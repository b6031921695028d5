"""int8 decoding on CPUs: the weights of the large matrix products in int8 (one scale per
output row), activations quantized per call (dynamic quantization), products in fbgemm's
int8 kernels.

What is quantized: every nn.Linear with more than one output (the output layer over
the vocabulary, about 40% of a decoder step's work, the attention and readout maps, the
gate inputs of every layer, the Transformer's projections and feed-forward blocks) and the
recurrent product W_hh h + b of our decoder cells, which is F.linear on raw weights
(nmt/models/decoder.py, RecurrentCell.recurrent). Not quantized: nn.LSTM (the encoder and the
decoders without attention): fbgemm's dynamic int8 LSTM ran no faster than fp32 here
(2-layer bidirectional 256 encoder over 64 sentences: 79 against 82 ms; one step of the
2 x 512 decoder for 320 rows: 56 against 52 ms), so it is left alone; embeddings (a
lookup); the attention's score vector v (one output: int8 took 10x the time of fp32 there).

Why these kernels (torch's `quantized::linear_dynamic`, what the deprecated
`torch.ao.quantization.quantize_dynamic` uses) and not torchao, the supported path:
torchao 0.18 with torch 2.13 on this AVX2 CPU runs `Int8DynamicActivationInt8WeightConfig`
22x slower than fp32 (527 against 23 ms for a 320 x 512 by 512 x 4000 product, one
thread; 512 ms under torch.compile), `Int8WeightOnlyConfig` no faster than fp32 (21 ms),
and `torch._int_mm` on the CPU 38x slower: none has a fast CPU int8 kernel here, where
fbgemm's took 27 ms (1.3-1.8x fp32 over the decoder's shapes). torch marks quantized
tensors deprecated (pytorch issue 184982) and warns once per call that makes one; the
warning is silenced here, at the one place that makes them, so that it is not printed on
every translation. When torch removes them, torchao's CPU kernels are the road.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from nmt.models.decoder import RecurrentCell

MIN_ROWS = 2  # the attention's score vector v (one output) stays fp32: int8 is slower there


def _quantized_rows(weight: Tensor) -> Tensor:
    """weight [out, in] as a qint8 tensor with one symmetric scale per output row."""
    scale = (weight.detach().abs().amax(dim=1).double() / 127).clamp(min=1e-12)
    zero = torch.zeros(weight.size(0), dtype=torch.long)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        return torch.quantize_per_channel(weight.detach().float(), scale, zero, 0, torch.qint8)


class Int8Linear(nn.Module):
    """y = x W^T + b with W in int8 (per-row scales) and x quantized per call; x and y
    fp32. It keeps the fp32 weight it was made from (the same Parameter, so parameter
    counts and tied weights stay as they were) to make a layer of some rows (rows())."""

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        self.weight, self.bias = weight, bias
        packed_bias = None if bias is None else bias.detach().float()
        self.packed = torch.ops.quantized.linear_prepack(_quantized_rows(weight), packed_bias)
        self.out_features = weight.size(0)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        # reduce_range: fbgemm's AVX2 kernels saturate 16-bit sums with full-range activations
        y = torch.ops.quantized.linear_dynamic(x.reshape(-1, shape[-1]).float(), self.packed, True)
        return y.view(*shape[:-1], self.out_features)

    def rows(self, index: Tensor) -> Int8Linear:
        """The layer of output rows `index` only, quantized as the whole layer is."""
        bias = None if self.bias is None else self.bias.index_select(0, index)
        return Int8Linear(self.weight.index_select(0, index), bias)


def quantize_int8(model: nn.Module) -> nn.Module:
    """`model` (in place, and returned) with its large linear maps and recurrent products
    in int8 (see the module docstring). For decoding on a CPU only: nothing trains it."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and child.out_features >= MIN_ROWS:
                setattr(parent, name, Int8Linear(child.weight, child.bias))
        if isinstance(parent, RecurrentCell):
            parent.int8_product = Int8Linear(parent.weight_hh, parent.bias)
    return model
