"""Alignments from attention, in forms other tools read.

Hard alignments are Pharaoh lines, `i-j` pairs: output piece j attended most to source
piece i. Both indices count sentencepiece pieces from 0 (source pieces as the run's source
model splits the line, after any truncation; output pieces as the model produced them), and
the end-of-sentence marker is left out on both sides. Soft alignments are the attention
weights themselves, one JSON object per output: a row per output piece and a column per
source piece, each with its "</s>".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from torch import Tensor

END = "</s>"


@dataclass
class Alignment:
    """One output's attention over its source (empty for a blank input line)."""

    source: list[str]  # source pieces, END last
    target: list[str]  # output pieces, END last
    weights: Tensor  # [len(target), len(source)]

    @classmethod
    def empty(cls) -> Alignment:
        return cls([], [], torch.zeros(0, 0))

    def pairs(self) -> list[tuple[int, int]]:
        """(source piece, output piece) for every output piece, END left out on both sides."""
        if len(self.target) < 2:
            return []
        best = self.weights[:-1, :-1].argmax(dim=1).tolist()
        return [(i, j) for j, i in enumerate(best)]

    def pharaoh(self) -> str:
        return " ".join(f"{i}-{j}" for i, j in self.pairs())

    def json(self, line: int) -> str:
        """The soft alignment of an output of input line `line` (from 0), weights to 4
        decimals."""
        weights = [[round(w, 4) for w in row] for row in self.weights.tolist()]
        return json.dumps(
            {"line": line, "source": self.source, "target": self.target, "weights": weights},
            ensure_ascii=False,
        )
