"""Ensembles: several runs translating and scoring as one model.

At every step an ensemble averages its members' log-probabilities and renormalises. That
is the same as averaging their logits and normalising once, which is what `step` and
`forward` return: a member's normaliser (its log-sum-exp) is one number for the whole
vocabulary, so it cancels. The Ensemble has the model interface that search and scoring
use (encode, initial_state, step, forward), so neither has a case for it.

Its members must share one vocabulary: the same sentencepiece models, checked by their
sha256, or the same id would mean different pieces to different members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nmt.config.recipe import Recipe
from nmt.data.tokenizer import Tokenizer
from nmt.errors import NmtError
from nmt.run.checkpoint import tokenizer_fingerprint
from nmt.run.loading import load_for_inference, resolve_checkpoint
from nmt.run.rundir import RunDir


@dataclass
class PerMember:
    """One value per member (its Encoded, or its decoder state), selected together."""

    values: tuple[Any, ...]

    def select(self, index: Tensor) -> PerMember:
        return PerMember(tuple(value.select(index) for value in self.values))

    def repeat(self, copies: int) -> PerMember:
        return PerMember(tuple(value.repeat(copies) for value in self.values))


class Ensemble(nn.Module):
    """Several models as one: logits averaged (see the module docstring)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    @property
    def has_attention(self) -> bool:
        """Whether every member attends (alignments average their attention)."""
        return all(member.has_attention for member in self.members)

    def encode(self, src: Tensor, src_lengths: Tensor) -> PerMember:
        return PerMember(tuple(member.encode(src, src_lengths) for member in self.members))

    def initial_state(self, enc: PerMember) -> PerMember:
        pairs = zip(self.members, enc.values, strict=True)
        return PerMember(tuple(member.initial_state(encoded) for member, encoded in pairs))

    def step(
        self, prev_tokens: Tensor, state: PerMember, enc: PerMember
    ) -> tuple[Tensor, PerMember, Tensor | None]:
        """Mean logits [N, V], the members' next states, the mean attention or None."""
        outputs = [
            member.step(prev_tokens, member_state, encoded)
            for member, member_state, encoded in zip(
                self.members, state.values, enc.values, strict=True
            )
        ]
        logits = torch.stack([out[0].float() for out in outputs]).mean(dim=0)
        weights = [out[2] for out in outputs]
        attention = None
        if all(w is not None for w in weights):
            attention = torch.stack([w.float() for w in weights]).mean(dim=0)
        return logits, PerMember(tuple(out[1] for out in outputs)), attention

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: mean logits [B, T, V]."""
        return torch.stack(
            [member(src, src_lengths, tgt_in).float() for member in self.members]
        ).mean(dim=0)


def check_one_vocabulary(runs: Sequence[Path]) -> None:
    """Refuse runs whose sentencepiece models differ from the first run's, naming them."""
    prints = [tokenizer_fingerprint(RunDir(resolve_checkpoint(run).parent.parent)) for run in runs]
    differ = [str(run) for run, found in zip(runs, prints, strict=True) if found != prints[0]]
    if differ:
        raise NmtError(
            f"ensemble: {', '.join(differ)} use other sentencepiece models than {runs[0]}; "
            "the runs of an ensemble need one vocabulary"
        )


def load_runs(
    runs: Sequence[Path], device: str | torch.device
) -> tuple[nn.Module, Recipe, Tokenizer]:
    """One run as its model, several as an Ensemble; with the first run's recipe (its
    decode settings are the defaults) and tokenizer."""
    if not runs:
        raise NmtError("name at least one run directory or checkpoint")
    loaded = [load_for_inference(Path(run), device) for run in runs]
    model, recipe, tokenizer = loaded[0]
    if len(loaded) == 1:
        return model, recipe, tokenizer
    check_one_vocabulary([Path(run) for run in runs])
    return Ensemble([member for member, _, _ in loaded]), recipe, tokenizer
