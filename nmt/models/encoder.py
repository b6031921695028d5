"""The source encoder: embeddings and a (bi)directional stacked LSTM / GRU / tanh RNN.

The recurrent layers run as one cuDNN call over a packed batch, so padding never
changes a result: each sentence is read exactly as if it were alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.data.tokenizer import PAD

RNNS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse the first lengths[b] positions of each row of x [B, S, ...]; padding stays right.

    Reversing twice gives x back, so the same function undoes it.
    """
    positions = torch.arange(x.size(1), device=x.device)
    last = lengths.to(x.device)[:, None] - 1
    index = torch.where(positions <= last, last - positions, positions)  # [B, S]
    if x.dim() > 2:
        index = index.view(*index.shape, *(1,) * (x.dim() - 2)).expand_as(x)
    return x.gather(1, index)


class Encoder(nn.Module):
    """Embed the source, optionally reverse it (Sutskever et al. 2014), run the RNN stack.

    Returns the memory [B, S, dirs * hidden] (zero on padding) and the final states of
    every layer and direction: a tuple (h, c) for lstm, (h,) otherwise, each
    [layers * dirs, B, hidden] in PyTorch's layout (layer 0 fwd, layer 0 bwd, ...).
    """

    def __init__(
        self,
        *,
        cell: str,
        vocab: int,
        embed_dim: int,
        hidden: int,
        layers: int,
        bidirectional: bool,
        reverse_source: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        self.reverse_source = reverse_source
        self.directions = 2 if bidirectional else 1
        self.output_dim = self.directions * hidden
        self.embedding = nn.Embedding(vocab, embed_dim, padding_idx=PAD)
        self.dropout = nn.Dropout(dropout)
        self.rnn = RNNS[cell](
            embed_dim,
            hidden,
            num_layers=layers,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
            batch_first=True,
        )

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        """src [B, S] right-padded ids, lengths [B] real lengths (incl. EOS)."""
        if self.reverse_source:
            src = reverse_padded(src, lengths)
        embedded = self.dropout(self.embedding(src))
        packed = pack_padded_sequence(
            embedded, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, final = self.rnn(packed)
        memory, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.size(1))
        if self.reverse_source:  # memory[:, j] always belongs to source token j
            memory = reverse_padded(memory, lengths)
        return memory, final if isinstance(final, tuple) else (final,)
