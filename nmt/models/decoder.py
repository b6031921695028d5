"""Target-side decoders: a plain RNN stack (seq2seq, bilstm) and an attention decoder.

`forward` is teacher forcing over a whole target; `step` is one position for search.
Both run the same code per position, so stepping reproduces `forward` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.data.tokenizer import PAD
from nmt.models.attention import Attention
from nmt.models.encoder import RNNS
from nmt.models.interface import repeated_rows

Layer = tuple[Tensor, ...]  # one layer's state: (h, c) for lstm, (h,) for gru / rnn


@dataclass
class DecoderState:
    """What the decoder carries from one target position to the next."""

    h: Tensor  # [layers, N, hidden]
    c: Tensor | None = None  # [layers, N, hidden], lstm only
    feed: Tensor | None = None  # [N, out_dim] attentional vector h~_{i-1} (luong order only)

    def select(self, index: Tensor) -> DecoderState:
        """Rows `index` of every tensor (beam search reorders and expands rows)."""
        return DecoderState(
            self.h.index_select(1, index),
            None if self.c is None else self.c.index_select(1, index),
            None if self.feed is None else self.feed.index_select(0, index),
        )

    def layers(self) -> list[Layer]:
        if self.c is None:
            return [(h,) for h in self.h]
        return list(zip(self.h, self.c, strict=True))

    @staticmethod
    def from_layers(layers: list[Layer], feed: Tensor | None) -> DecoderState:
        h = torch.stack([layer[0] for layer in layers])
        c = torch.stack([layer[1] for layer in layers]) if len(layers[0]) == 2 else None
        return DecoderState(h, c, feed)

    def rnn_hx(self) -> Tensor | tuple[Tensor, Tensor]:
        """The state as nn.LSTM / nn.GRU / nn.RNN take it."""
        return self.h if self.c is None else (self.h, self.c)


@dataclass
class Encoded:
    """Everything the decoder needs from the source, computed once per batch.

    Additive keys are added to each row's query, so the rows of one sentence share them:
    `repeat` leaves them one row per sentence ([B, S, A] for N = B * copies rows), which
    neither copies them per beam nor reads them per beam at every step. The memory stays
    per row: a [copies, S] x [S, M] product is not bitwise `copies` [1, S] x [S, M] ones,
    and search's outputs must not change.
    """

    memory: Tensor  # [N, S, M] encoder outputs, zero on padding; position j = source token j
    keys: Tensor | None  # [N or B, S, A] source side of the attention score; None without
    mask: Tensor  # [N, S] bool, True on real source tokens
    init: DecoderState  # the decoder's initial state (bridged encoder final states)
    additive: bool = False  # keys are added to the query: a sentence's rows may share them

    def select(self, index: Tensor) -> Encoded:
        """Rows `index`; where the keys are shared, whole sentences' rows (Sources.repeat)."""
        memory = self.memory.index_select(0, index)
        if self.keys is None or self.keys is self.memory:  # dot attention: keys are the memory
            keys = None if self.keys is None else memory
        else:
            copies = self.memory.size(0) // self.keys.size(0)
            keys = self.keys.index_select(0, index[::copies] // copies)
        mask = self.mask.index_select(0, index)
        return Encoded(memory, keys, mask, self.init.select(index), self.additive)

    def repeat(self, copies: int) -> Encoded:
        """Each row `copies` times; additive keys stay one row per sentence."""
        rows = repeated_rows(self.memory.size(0), copies, self.memory.device)
        if not self.additive:
            return self.select(rows)
        mask = self.mask.index_select(0, rows)
        memory = self.memory.index_select(0, rows)
        return Encoded(memory, self.keys, mask, self.init.select(rows), self.additive)


def output_layer(embedding: nn.Embedding, in_dim: int, tie: bool) -> nn.Linear:
    """W_out: [in_dim] -> vocabulary logits, sharing the embedding matrix when tied."""
    vocab, embed_dim = embedding.weight.shape
    output = nn.Linear(in_dim, vocab)
    if tie:
        assert in_dim == embed_dim, "a tied output layer reads embed_dim features"
        output.weight = embedding.weight
    return output


class RnnDecoder(nn.Module):
    """No attention (Sutskever et al. 2014): teacher forcing is ONE cuDNN call over the target."""

    def __init__(
        self,
        *,
        cell: str,
        vocab: int,
        embed_dim: int,
        hidden: int,
        layers: int,
        dropout: float,
        tie: bool,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed_dim, padding_idx=PAD)
        self.dropout = nn.Dropout(dropout)
        self.rnn = RNNS[cell](
            embed_dim,
            hidden,
            num_layers=layers,
            dropout=dropout if layers > 1 else 0.0,
            batch_first=True,
        )
        # tying needs embed_dim features: a linear projection when the RNN is wider
        self.project = (
            nn.Linear(hidden, embed_dim) if tie and hidden != embed_dim else nn.Identity()
        )
        self.output = output_layer(self.embedding, embed_dim if tie else hidden, tie)

    def initial_state(self, states: tuple[Tensor, ...]) -> DecoderState:
        return DecoderState(*states)

    def features(self, tgt_in: Tensor, state: DecoderState, enc: Encoded) -> Tensor:
        """tgt_in [B, T] -> what the output layer reads [B, T, out_dim]."""
        outputs, _ = self.rnn(self.dropout(self.embedding(tgt_in)), state.rnn_hx())
        return self.project(self.dropout(outputs))

    def forward(self, tgt_in: Tensor, state: DecoderState, enc: Encoded) -> Tensor:
        """tgt_in [B, T] -> logits [B, T, V]."""
        return self.output(self.features(tgt_in, state, enc))

    def step_features(
        self, prev: Tensor, state: DecoderState, enc: Encoded
    ) -> tuple[Tensor, DecoderState, None]:
        """step() before the output layer: features [N, out_dim], the next state, None."""
        outputs, hx = self.rnn(self.dropout(self.embedding(prev[:, None])), state.rnn_hx())
        features = self.project(self.dropout(outputs[:, 0]))
        return features, DecoderState(*(hx if isinstance(hx, tuple) else (hx,))), None

    def step(
        self, prev: Tensor, state: DecoderState, enc: Encoded
    ) -> tuple[Tensor, DecoderState, None]:
        features, state, _ = self.step_features(prev, state, enc)
        return self.output(features), state, None


class RecurrentCell(nn.Module):
    """One layer of a decoder step: new state from x_part (the layer's input, already
    multiplied into gate space) and the previous state."""

    gates: int  # gate blocks of the hidden size in x_part
    weight_hh: nn.Parameter
    bias: nn.Parameter

    def __init__(self) -> None:
        super().__init__()
        # W_hh h + b as nmt/inference/quantize.py packs it for int8 decoding; None: F.linear in fp32
        self.int8_product: nn.Module | None = None

    def init_gate_biases(self) -> None:
        """Set the biases a cell wants at the start (after init_parameters zeroed them)."""

    def recurrent(self, h: Tensor) -> Tensor:
        """W_hh h + b, the recurrent product of every cell: one of the large matrices of a
        decoder step, so int8 decoding must reach it too (it is no nn.Linear)."""
        if self.int8_product is not None:
            return self.int8_product(h)
        return F.linear(h, self.weight_hh, self.bias)


class LstmCell(RecurrentCell):
    """gates = x_part + W_hh h + b; the caller computes x_part (for all steps at once if it can).

    Like the other cells it carries its state in fp32 under bf16 autocast: the GEMMs run in
    bf16, the gate arithmetic and the state do not (a trained cell state reaches |c| = 40,
    where one bf16 step is 0.25, and the error would compound over the target).
    """

    gates = 4

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden, hidden))
        self.bias = nn.Parameter(torch.empty(4 * hidden))  # gate order i, f, g, o as nn.LSTM

    def init_gate_biases(self) -> None:
        """Forget gate open (bias 1), so that early gradients flow through the cell state
        (Jozefowicz et al. 2015)."""
        hidden = self.weight_hh.size(1)
        with torch.no_grad():
            self.bias[hidden : 2 * hidden] = 1.0

    def forward(self, x_part: Tensor, state: Layer) -> Layer:
        h, c = state
        i, f, g, o = (x_part + self.recurrent(h)).float().chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class GruCell(RecurrentCell):
    """nn.GRU's update from a caller-computed x_part: n = tanh(x_n + b_in + r * (W_hn h + b_hn))."""

    gates = 3

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden, hidden))
        self.bias = nn.Parameter(torch.empty(3 * hidden))  # hidden side: b_r, b_z, b_hn
        self.bias_in = nn.Parameter(torch.empty(hidden))  # input side of the candidate

    def forward(self, x_part: Tensor, state: Layer) -> Layer:
        (h,) = state
        xr, xz, xn = x_part.float().chunk(3, dim=-1)
        hr, hz, hn = self.recurrent(h).float().chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + self.bias_in + r * hn)
        return ((1 - z) * n + z * h,)


class RnnCell(RecurrentCell):
    """The plain tanh RNN: h' = tanh(x_part + W_hh h + b)."""

    gates = 1

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.weight_hh = nn.Parameter(torch.empty(hidden, hidden))
        self.bias = nn.Parameter(torch.empty(hidden))

    def forward(self, x_part: Tensor, state: Layer) -> Layer:
        return (torch.tanh((x_part + self.recurrent(state[0])).float()),)


CELLS: dict[str, type[RecurrentCell]] = {
    "lstm": LstmCell,
    "gru": GruCell,
    "rnn": RnnCell,
}


class AttentionDecoder(nn.Module):
    """A stacked RNN decoder that attends over the encoder memory at every step.

    order "bahdanau" (Bahdanau et al. 2015): attend with s_{i-1}, step on [E y_{i-1}; c_i],
    t_i = tanh(W_o [s_i; c_i; E y_{i-1}]) (tanh instead of the paper's maxout).
    order "luong" (Luong et al. 2015, input feeding): step on [E y_{i-1}; h~_{i-1}], attend
    with s_i, h~_i = tanh(W_c [c_i; s_i]). Both: logits = W_out dropout(t_i or h~_i).

    The first layer's gate input is split: W_e E y for all target positions is one GEMM
    before the loop; only the context (or feed) part and W_hh h are computed per step.
    """

    def __init__(
        self,
        *,
        cell: str,
        vocab: int,
        embed_dim: int,
        hidden: int,
        layers: int,
        memory_dim: int,
        attention: str,
        order: str,
        attention_dim: int,
        dropout: float,
        tie: bool,
    ) -> None:
        super().__init__()
        self.order = order
        self.out_dim = embed_dim if tie else hidden  # t_i / h~_i size; tying needs embed_dim
        gates = CELLS[cell].gates * hidden
        self.embedding = nn.Embedding(vocab, embed_dim, padding_idx=PAD)
        self.dropout = nn.Dropout(dropout)
        self.attention = Attention(attention, hidden, memory_dim, attention_dim)
        self.embed_to_gates = nn.Linear(embed_dim, gates, bias=False)
        side_dim = memory_dim if order == "bahdanau" else self.out_dim  # c_i, or h~_{i-1}
        self.side_to_gates = nn.Linear(side_dim, gates, bias=False)
        self.cells = nn.ModuleList(CELLS[cell](hidden) for _ in range(layers))
        self.layer_inputs = nn.ModuleList(
            nn.Linear(hidden, gates, bias=False) for _ in range(layers - 1)
        )
        readout_in = hidden + memory_dim + (embed_dim if order == "bahdanau" else 0)
        self.readout = nn.Linear(readout_in, self.out_dim)  # W_o (bahdanau) or W_c (luong)
        self.output = output_layer(self.embedding, self.out_dim, tie)

    def initial_state(self, states: tuple[Tensor, ...]) -> DecoderState:
        feed = None
        if self.order == "luong":  # h~_0 = 0
            feed = states[0].new_zeros(states[0].size(1), self.out_dim)
        return DecoderState(*states, feed=feed)

    def _stack(self, x_part: Tensor, layers: list[Layer]) -> list[Layer]:
        """Step every layer; x_part is the first layer's whole input contribution."""
        new = [self.cells[0](x_part, layers[0])]
        for cell, layer_input, state in zip(
            self.cells[1:], self.layer_inputs, layers[1:], strict=True
        ):
            new.append(cell(layer_input(self.dropout(new[-1][0])), state))
        return new

    def _step(
        self, emb_gates: Tensor, layers: list[Layer], feed: Tensor | None, enc: Encoded
    ) -> tuple[list[Layer], Tensor | None, Tensor, Tensor]:
        """One target position. Returns (layers, feed, readout input, attention weights)."""
        if self.order == "bahdanau":
            # a_ij = softmax_j(score(s_{i-1}, h_j)), c_i = sum_j a_ij h_j
            context, weights = self.attention(layers[-1][0], enc.keys, enc.memory, enc.mask)
            # s_i = cell([E y_{i-1}; c_i], s_{i-1}); t_i is computed after the loop
            layers = self._stack(emb_gates + self.side_to_gates(context), layers)
            return layers, None, torch.cat([layers[-1][0], context], dim=-1), weights
        # s_i = cell([E y_{i-1}; h~_{i-1}], s_{i-1})
        layers = self._stack(emb_gates + self.side_to_gates(feed), layers)
        # a_ij = softmax_j(score(s_i, h_j)), c_i = sum_j a_ij h_j, h~_i = tanh(W_c [c_i; s_i])
        context, weights = self.attention(layers[-1][0], enc.keys, enc.memory, enc.mask)
        feed = torch.tanh(self.readout(torch.cat([context, layers[-1][0]], dim=-1)))
        return layers, feed, feed, weights

    def _readout(self, readout_in: Tensor, emb: Tensor) -> Tensor:
        """What the output layer reads. Bahdanau: t = tanh(W_o [s; c; E y]) for all
        positions at once; luong: h~ given."""
        if self.order == "bahdanau":
            readout_in = torch.tanh(self.readout(torch.cat([readout_in, emb], dim=-1)))
        return self.dropout(readout_in)

    def features(self, tgt_in: Tensor, state: DecoderState, enc: Encoded) -> Tensor:
        """tgt_in [B, T] -> what the output layer reads [B, T, out_dim]."""
        emb = self.dropout(self.embedding(tgt_in))
        emb_gates = self.embed_to_gates(emb)  # [B, T, gates]: every position in one GEMM
        layers, feed = state.layers(), state.feed
        readout_in = []
        # unbind, not emb_gates[:, i]: the backward of T slices would write T full-size zeros
        for emb_gates_i in emb_gates.unbind(1):
            layers, feed, out, _ = self._step(emb_gates_i, layers, feed, enc)
            readout_in.append(out)
        return self._readout(torch.stack(readout_in, dim=1), emb)

    def forward(self, tgt_in: Tensor, state: DecoderState, enc: Encoded) -> Tensor:
        """tgt_in [B, T] -> logits [B, T, V]."""
        return self.output(self.features(tgt_in, state, enc))

    def step_features(
        self, prev: Tensor, state: DecoderState, enc: Encoded
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """step() before the output layer: features [N, out_dim], the next state, attention."""
        emb = self.dropout(self.embedding(prev))
        layers, feed, out, weights = self._step(
            self.embed_to_gates(emb), state.layers(), state.feed, enc
        )
        return self._readout(out, emb), DecoderState.from_layers(layers, feed), weights

    def step(
        self, prev: Tensor, state: DecoderState, enc: Encoded
    ) -> tuple[Tensor, DecoderState, Tensor]:
        features, state, weights = self.step_features(prev, state, enc)
        return self.output(features), state, weights
