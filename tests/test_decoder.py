import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nmt.models.decoder import (
    AttentionDecoder,
    DecoderState,
    Encoded,
    GruCell,
    LstmCell,
    RnnCell,
    RnnDecoder,
)


def randomise(module: nn.Module) -> None:
    with torch.no_grad():
        for param in module.parameters():
            param.uniform_(-0.5, 0.5)


def test_lstm_cell_matches_torch():
    torch.manual_seed(0)
    reference, cell = nn.LSTMCell(5, 4), LstmCell(4)
    with torch.no_grad():
        cell.weight_hh.copy_(reference.weight_hh)
        cell.bias.copy_(reference.bias_ih + reference.bias_hh)
    x, h, c = torch.randn(3, 5), torch.randn(3, 4), torch.randn(3, 4)
    h_new, c_new = cell(x @ reference.weight_ih.T, (h, c))
    h_ref, c_ref = reference(x, (h, c))
    torch.testing.assert_close(h_new, h_ref)
    torch.testing.assert_close(c_new, c_ref)


def test_gru_cell_matches_torch():
    torch.manual_seed(0)
    reference, cell = nn.GRUCell(5, 4), GruCell(4)
    with torch.no_grad():
        cell.weight_hh.copy_(reference.weight_hh)
        cell.bias.copy_(reference.bias_hh)
        cell.bias_in.copy_(reference.bias_ih[8:])
    x, h = torch.randn(3, 5), torch.randn(3, 4)
    rz_bias = torch.cat([reference.bias_ih[:8], torch.zeros(4)])
    (h_new,) = cell(x @ reference.weight_ih.T + rz_bias, (h,))
    torch.testing.assert_close(h_new, reference(x, h))


def test_rnn_cell_matches_torch():
    torch.manual_seed(0)
    reference, cell = nn.RNNCell(5, 4), RnnCell(4)
    with torch.no_grad():
        cell.weight_hh.copy_(reference.weight_hh)
        cell.bias.copy_(reference.bias_ih + reference.bias_hh)
    x, h = torch.randn(3, 5), torch.randn(3, 4)
    (h_new,) = cell(x @ reference.weight_ih.T, (h,))
    torch.testing.assert_close(h_new, reference(x, h))


def test_state_select_and_layers_round_trip():
    h, c, feed = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(3, 5)
    state = DecoderState(h, c, feed)
    again = DecoderState.from_layers(state.layers(), feed)
    assert torch.equal(again.h, h) and torch.equal(again.c, c)
    picked = state.select(torch.tensor([2, 2, 0]))
    assert torch.equal(picked.h[:, 1], h[:, 2]) and torch.equal(picked.c[:, 2], c[:, 0])
    assert torch.equal(picked.feed[0], feed[2])
    assert DecoderState(h).select(torch.tensor([1])).c is None


def test_tied_rnn_decoder_projects_to_embedding_width():
    decoder = RnnDecoder(
        cell="lstm", vocab=11, embed_dim=6, hidden=8, layers=1, dropout=0.0, tie=True
    )
    assert decoder.output.weight is decoder.embedding.weight
    assert isinstance(decoder.project, nn.Linear)
    state = DecoderState(torch.zeros(1, 2, 8), torch.zeros(1, 2, 8))
    assert decoder(torch.tensor([[2, 5], [2, 6]]), state, None).shape == (2, 2, 11)


def additive_decoder(order: str, layers: int) -> AttentionDecoder:
    """A small decoder with additive attention, in `order`, random weights (seed 0)."""
    torch.manual_seed(0)
    decoder = AttentionDecoder(
        cell="lstm",
        vocab=11,
        embed_dim=6,
        hidden=8,
        layers=layers,
        memory_dim=10,
        attention="bahdanau",
        order=order,
        attention_dim=7,
        dropout=0.0,
        tie=False,
    )
    randomise(decoder)
    return decoder


@pytest.mark.parametrize("order", ["bahdanau", "luong"])
def test_attention_decoder_never_looks_ahead(order):
    decoder = additive_decoder(order, layers=2)
    memory = torch.randn(2, 4, 10)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    state = decoder.initial_state((torch.randn(2, 2, 8), torch.randn(2, 2, 8)))
    enc = Encoded(memory, decoder.attention.keys(memory), mask, state)
    tgt = torch.tensor([[2, 5, 6, 7], [2, 8, 0, 0]])
    full = decoder(tgt, state, enc)
    prefix = decoder(tgt[:, :2], state, enc)
    assert full.shape == (2, 4, 11)
    torch.testing.assert_close(full[:, :2], prefix)


@pytest.mark.parametrize("cell_type", [LstmCell, GruCell, RnnCell])
def test_cells_keep_their_state_in_fp32_under_bf16_autocast(cell_type):
    torch.manual_seed(0)
    cell = cell_type(8)
    randomise(cell)
    # the bridge's output under autocast is bf16: the first step must lift it to fp32
    parts = 2 if cell_type is LstmCell else 1
    state = tuple((torch.randn(3, 8) * 40).bfloat16() for _ in range(parts))
    x_part = torch.randn(3, cell.gates * 8).bfloat16()  # as Linear layers give it
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert F.linear(x_part, torch.randn(4, cell.gates * 8)).dtype == torch.bfloat16
        new = cell(x_part, state)
    assert all(part.dtype == torch.float32 for part in new)
    exact = cell(x_part.float(), tuple(part.float() for part in state))
    assert (new[-1] - exact[-1]).abs().max() < 0.1  # only the bf16 GEMMs differ


@pytest.mark.parametrize("order", ["bahdanau", "luong"])
def test_repeated_rows_share_additive_keys_and_step_bitwise_as_copies(order):
    decoder = additive_decoder(order, layers=1)
    memory = torch.randn(3, 5, 10)
    mask = torch.tensor([[1] * 5, [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], dtype=torch.bool)
    state = decoder.initial_state((torch.randn(1, 3, 8), torch.randn(1, 3, 8)))
    keys = decoder.attention.keys(memory)
    shared = Encoded(memory, keys, mask, state, additive=True).repeat(4)
    copied = Encoded(memory, keys, mask, state).repeat(4)
    assert shared.keys.shape == (3, 5, 7) and copied.keys.shape == (12, 5, 7)
    prev = torch.randint(3, 11, (12,))
    rows = torch.randperm(12)  # beams reordered within the batch: the state moves, keys do not
    step_state = state.select(torch.arange(3).repeat_interleave(4)).select(rows)
    kept = torch.tensor([2, 0])  # sentences dropped as beam search drops them: whole groups
    kept_rows = (kept[:, None] * 4 + torch.arange(4)).view(-1)
    for a, b in [(shared, copied), (shared.select(kept_rows), copied.select(kept_rows))]:
        n = a.memory.size(0)
        logits_a, state_a, weights_a = decoder.step(prev[:n], step_state.select(rows[:n]), a)
        logits_b, state_b, weights_b = decoder.step(prev[:n], step_state.select(rows[:n]), b)
        assert torch.equal(logits_a, logits_b) and torch.equal(weights_a, weights_b)
        assert torch.equal(state_a.h, state_b.h)
    assert torch.equal(shared.select(kept_rows).keys, keys[kept])
