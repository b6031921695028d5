"""How close decoding runs to the machine's limit (issue 36): the matrix-product FLOPs a
search performed, counted from the model's sizes and the rows it stepped, against the rate
one large torch.mm reaches in the same process, threads and precision.

`Counted` wraps a model between the Translator and the search and records what the search
asked of it: per encoded batch its sentences, padded source length and real source tokens;
per step the rows stepped (every beam row, finished or not: they are computed) and the
target position. `search_flops` turns that record into FLOPs; `mm_rate` measures the
limit; the fraction is (FLOPs / seconds) / rate. Only the products count (a multiply-add is
two FLOPs): embedding look-ups, softmax, top-k and the element-wise work are the overhead
the fraction leaves out. fp32, full output layer: a shortlist or int8 weights do other work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from bench.speed.ours import sync
from nmt.models.decoder import AttentionDecoder, RnnDecoder
from nmt.models.model import Seq2Seq
from nmt.models.transformer import Transformer


@dataclass
class Batch:
    """One encoded batch: sentences, padded source length, real source tokens ([B] lengths)."""

    sentences: int
    source: int
    lengths: Tensor  # summed after the search: no read-back inside the timed work

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())


@dataclass
class Step:
    """One decoder step: rows stepped, the padded source they attend to, target position."""

    rows: int
    source: int
    position: int


@dataclass
class Counted:
    """A model that records the batches it encodes and the steps it takes (module docstring);
    everything else is the model's."""

    model: Any
    batches: list[Batch] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    _position: int = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def clear(self) -> None:
        self.batches, self.steps = [], []

    def encode(self, src: Tensor, src_lengths: Tensor) -> Any:
        self.batches.append(Batch(src.size(0), src.size(1), src_lengths))
        self._position = 0
        return self.model.encode(src, src_lengths)

    def initial_state(self, enc: Any) -> Any:
        return self.model.initial_state(enc)

    def step(self, prev_tokens: Tensor, state: Any, enc: Any) -> tuple[Tensor, Any, Any]:
        self.steps.append(Step(prev_tokens.size(0), self.batches[-1].source, self._position))
        self._position += 1
        return self.model.step(prev_tokens, state, enc)


def _linear(*layers: nn.Module) -> int:
    """FLOPs of one row through each linear map (an Identity is free)."""
    return sum(2 * layer.weight.numel() for layer in layers if isinstance(layer, nn.Linear))


def _rnn(rnn: nn.RNNBase) -> int:
    """FLOPs of one token through every layer and direction of a cuDNN-style RNN."""
    return sum(2 * p.numel() for name, p in rnn.named_parameters() if name.startswith("weight"))


def _attention_step(decoder: AttentionDecoder, memory_dim: int, source: int) -> int:
    """One row's attention over `source` positions: its score and the context."""
    attention = decoder.attention
    if attention.kind == "bahdanau":
        score = _linear(attention.query_proj) + source * _linear(attention.v)
    else:
        keys_dim = memory_dim if attention.kind == "dot" else attention.key_proj.weight.size(0)
        score = 2 * source * keys_dim
    return score + 2 * source * memory_dim


def _seq2seq_step(model: Seq2Seq, source: int) -> int:
    decoder = model.decoder
    if isinstance(decoder, RnnDecoder):
        return _rnn(decoder.rnn) + _linear(decoder.project, decoder.output)
    cells = sum(2 * cell.weight_hh.numel() for cell in decoder.cells)
    linears = _linear(
        decoder.embed_to_gates,
        decoder.side_to_gates,
        *decoder.layer_inputs,
        decoder.readout,
        decoder.output,
    )
    return cells + linears + _attention_step(decoder, model.encoder.output_dim, source)


def _transformer_step(model: Transformer, source: int, position: int) -> int:
    """One row at `position`: its self-attention reads position + 1 cached positions."""
    per_layer = 0
    for layer in model.decoder:
        own, cross = layer.self_attention, layer.cross_attention
        d_model = own.query.weight.size(0)
        per_layer += _linear(own.query, own.key, own.value, own.out, cross.query, cross.out)
        per_layer += _linear(*layer.ffn) + 2 * 2 * d_model * (position + 1 + source)
    return per_layer + _linear(model.output)


def _encode(model: Any, batch: Batch) -> int:
    """The encoder's FLOPs for one batch, with the memory's projections for the decoder."""
    if isinstance(model, Transformer):
        positions = batch.sentences * batch.source  # self-attention runs over the padding
        total = 0
        for layer in model.encoder:
            own = layer.attention
            d_model = own.query.weight.size(0)
            total += _linear(own.query, own.key, own.value, own.out, *layer.ffn)
            total += 2 * 2 * d_model * batch.source
        cross = sum(
            _linear(layer.cross_attention.key, layer.cross_attention.value)
            for layer in model.decoder
        )
        return positions * (total + cross)
    total = batch.tokens * _rnn(model.encoder.rnn)  # packed: real tokens only
    if isinstance(model.decoder, AttentionDecoder) and model.decoder.attention.kind != "dot":
        total += batch.sentences * batch.source * _linear(model.decoder.attention.key_proj)
    return total


def search_flops(model: Any, batches: list[Batch], steps: list[Step]) -> int:
    """Matrix-product FLOPs of encoding `batches` and taking `steps` with a Seq2Seq or a
    Transformer (what a Counted wrapper around it recorded)."""
    if not isinstance(model, Seq2Seq | Transformer):
        raise TypeError(f"cannot count the products of a {type(model).__name__}")
    total = sum(_encode(model, batch) for batch in batches)
    for step in steps:
        if isinstance(model, Transformer):
            per_row = _transformer_step(model, step.source, step.position)
        else:
            per_row = _seq2seq_step(model, step.source)
        total += step.rows * per_row
    return total


def mm_rate(
    device: torch.device, size: int = 2048, dtype: torch.dtype = torch.float32, rounds: int = 3
) -> float:
    """FLOP/s of one large [size x size] @ [size x size] product on `device`, best of
    `rounds` after a warm-up, on this process's threads."""
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(rounds):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def limit_fraction(flops: int, seconds: float, rate: float) -> float:
    """The share of the one-large-mm rate that `flops` in `seconds` reached."""
    return round(flops / seconds / rate, 4)
