"""The loss: NLL over real targets only; label smoothing never puts mass on PAD or BOS."""

import math

import pytest
import torch

from nmt.data.tokenizer import BOS, EOS, PAD
from nmt.training.loss import loss_sums, perplexity


def test_nll_ignores_padding():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    target = torch.tensor([[4, 5, EOS], [6, EOS, PAD]])
    loss, nll = loss_sums(logits, target, 0.0)
    log_probs = torch.log_softmax(logits, dim=-1)
    expected = -sum(
        log_probs[b, t, target[b, t]] for b, t in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    )
    assert loss == nll and nll.item() == pytest.approx(expected.item(), rel=1e-6)


def test_smoothing_targets_only_ids_search_can_emit():
    """The gradient of a smoothed loss is softmax - q: q must be 0 on PAD and BOS."""
    torch.manual_seed(0)
    vocab, smoothing = 9, 0.2
    logits = torch.randn(1, 1, vocab, requires_grad=True)
    loss, _ = loss_sums(logits, torch.tensor([[5]]), smoothing)
    loss.backward()
    q = torch.full((vocab,), smoothing / (vocab - 2))
    q[[PAD, BOS]] = 0.0
    q[5] += 1 - smoothing
    expected = torch.softmax(logits.detach()[0, 0], dim=-1) - q
    torch.testing.assert_close(logits.grad[0, 0], expected)


def test_perplexity_overflows_to_infinity():
    assert perplexity(math.log(20.0)) == pytest.approx(20.0)
    assert perplexity(1e4) == math.inf
