"""Attention scores over the encoder memory: additive (Bahdanau) or dot / general (Luong).

The part of the score that depends only on the source (U h_j for additive, W_a h_j for
general) is computed once per batch by `keys`; a decoder step then costs one small
projection of the query plus a few fused element-wise kernels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Attention(nn.Module):
    """score(s, h_j): bahdanau v^T tanh(W s + U h_j), dot s^T h_j, general s^T W_a h_j.

    Padded source positions get a score of -inf, so their weight is exactly zero and the
    weights of each row sum to one over its real positions.
    """

    def __init__(self, kind: str, query_dim: int, memory_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "bahdanau":
            self.key_proj = nn.Linear(memory_dim, attention_dim)  # U (and the score's bias)
            self.query_proj = nn.Linear(query_dim, attention_dim, bias=False)  # W
            self.v = nn.Linear(attention_dim, 1, bias=False)
        elif kind == "general":
            self.key_proj = nn.Linear(memory_dim, query_dim, bias=False)  # W_a
        elif kind != "dot":
            raise ValueError(f"unknown attention {kind!r}")

    def keys(self, memory: Tensor) -> Tensor:
        """The source side of the score, once per batch: [B, S, A] (dot: the memory itself)."""
        return memory if self.kind == "dot" else self.key_proj(memory)

    def forward(
        self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """query [N, Q], keys [N, S, A] (additive: or [B, S, A], shared by each sentence's
        N / B consecutive rows), memory [N, S, M], mask [N, S] (True = real).

        Returns the context sum_j a_j h_j [N, M] and the weights a [N, S].
        """
        if self.kind == "bahdanau":
            sentences, length, dim = keys.shape
            query = self.query_proj(query).view(sentences, -1, 1, dim)
            # [B, N / B, S, A], the largest tensor of a decoder step: tanh in place, one buffer
            energy = (keys[:, None] + query).tanh_()
            scores = self.v(energy).view(-1, length)
        else:
            scores = torch.bmm(keys, query[:, :, None]).squeeze(-1)
        # the softmax in fp32 also under bf16 autocast (the weights of long sources are small)
        weights = torch.softmax(torch.where(mask, scores.float(), float("-inf")), dim=-1)
        context = torch.bmm(weights[:, None], memory).squeeze(1)
        return context, weights
