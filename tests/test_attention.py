import pytest
import torch

from nmt.models.attention import Attention

KINDS = ["bahdanau", "dot", "general"]


def inputs(memory_dim: int = 6):
    torch.manual_seed(0)
    memory = torch.randn(3, 5, memory_dim)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    memory = memory * mask[..., None]
    return memory, mask, torch.randn(3, 6)


@pytest.mark.parametrize("kind", KINDS)
def test_weights_sum_to_one_over_real_positions_and_are_zero_on_padding(kind):
    attention = Attention(kind, query_dim=6, memory_dim=6, attention_dim=4)
    memory, mask, query = inputs()
    context, weights = attention(query, attention.keys(memory), memory, mask)
    assert weights.shape == (3, 5) and context.shape == (3, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert torch.all(weights[~mask] == 0)
    assert torch.all(weights[mask] > 0)
    torch.testing.assert_close(context, torch.einsum("ns,nsm->nm", weights, memory))


@pytest.mark.parametrize("kind", KINDS)
def test_values_under_padding_are_ignored(kind):
    attention = Attention(kind, query_dim=6, memory_dim=6, attention_dim=4)
    memory, mask, query = inputs()
    context, weights = attention(query, attention.keys(memory), memory, mask)
    noisy = memory + 100 * torch.randn_like(memory) * ~mask[..., None]
    noisy_context, noisy_weights = attention(query, attention.keys(noisy), noisy, mask)
    torch.testing.assert_close(noisy_context, context)
    torch.testing.assert_close(noisy_weights, weights)


def test_bahdanau_score_is_additive_mlp():
    attention = Attention("bahdanau", query_dim=6, memory_dim=8, attention_dim=4)
    memory, mask, query = inputs(memory_dim=8)
    keys = attention.keys(memory)
    assert keys.shape == (3, 5, 4)
    _, weights = attention(query, keys, memory, mask)
    u_h = memory @ attention.key_proj.weight.T + attention.key_proj.bias
    w_s = query @ attention.query_proj.weight.T
    scores = torch.tanh(u_h + w_s[:, None]) @ attention.v.weight[0]
    expected = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
    torch.testing.assert_close(weights, expected)


def test_dot_and_general_scores():
    memory, mask, query = inputs()
    dot = Attention("dot", 6, 6, 4)
    assert dot.keys(memory) is memory
    _, weights = dot(query, memory, memory, mask)
    expected = torch.softmax(torch.einsum("nm,nsm->ns", query, memory).masked_fill(~mask, -1e9), -1)
    torch.testing.assert_close(weights, expected)
    general = Attention("general", 6, 8, 4)
    memory8, _, _ = inputs(memory_dim=8)
    keys = general.keys(memory8)
    assert keys.shape == (3, 5, 6)
    scores = torch.einsum("nq,nsq->ns", query, memory8 @ general.key_proj.weight.T)
    _, weights = general(query, keys, memory8, mask)
    torch.testing.assert_close(weights, torch.softmax(scores.masked_fill(~mask, -1e9), -1))
