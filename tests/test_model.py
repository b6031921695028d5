import pytest
import torch
from torch import nn

from nmt.config.recipe import ModelConfig
from nmt.errors import NmtError
from nmt.models.architectures import build_model
from nmt.models.model import Bridge, count_parameters

SMALL = dict(
    embed_dim=6, encoder_hidden=5, decoder_hidden=7, bridge="linear", attention_dim=4, dropout=0.3
)
ARCHITECTURES = {
    "seq2seq": dict(
        SMALL,
        bidirectional=False,
        reverse_source=True,
        encoder_hidden=7,
        bridge="identity",
        attention="none",
    ),
    "bilstm": dict(SMALL, attention="none"),
    "bahdanau": dict(SMALL),
    "luong-general": dict(SMALL, attention="general", attention_order="luong"),
    "dot": dict(SMALL, encoder_hidden=4, decoder_hidden=8, attention="dot"),
}
ATTENTION_CASES = [
    dict(SMALL, attention=kind, attention_order=order, cell=cell, tie_embeddings=tie)
    | ({"encoder_hidden": 4, "decoder_hidden": 8} if kind == "dot" else {})
    for kind in ("bahdanau", "dot", "general")
    for order in ("bahdanau", "luong")
    for cell in ("lstm", "gru", "rnn")
    for tie in (False, True)
    if not tie or (cell == "lstm" and kind == "bahdanau")
]
PLAIN_CASES = [
    dict(ARCHITECTURES[name], cell=cell)
    for name in ("seq2seq", "bilstm")
    for cell in ("lstm", "gru", "rnn")
]


def make(fields: dict, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(**fields), src_vocab=13, tgt_vocab=11).eval()


def case_id(fields: dict) -> str:
    cfg = ModelConfig(**fields)
    parts = [cfg.attention, cfg.attention_order if cfg.attention != "none" else "", cfg.cell]
    parts += ["bi" if cfg.bidirectional else "uni", "tied" if cfg.tie_embeddings else ""]
    return "-".join(part for part in parts if part)


SRC = torch.tensor([[4, 5, 6, 7, 8, 3], [9, 10, 3, 0, 0, 0], [4, 3, 0, 0, 0, 0]])
SRC_LENGTHS = torch.tensor([6, 3, 2])
TGT_IN = torch.tensor([[2, 4, 5, 6, 7], [2, 8, 9, 0, 0], [2, 10, 0, 0, 0]])


@pytest.mark.parametrize("fields", ATTENTION_CASES + PLAIN_CASES, ids=case_id)
def test_step_reproduces_teacher_forcing(fields):
    model = make(fields)
    with torch.no_grad():
        logits = model(SRC, SRC_LENGTHS, TGT_IN)
        enc = model.encode(SRC, SRC_LENGTHS)
        state = model.initial_state(enc)
        for i in range(TGT_IN.size(1)):
            step_logits, state, attn = model.step(TGT_IN[:, i], state, enc)
            torch.testing.assert_close(step_logits, logits[:, i], atol=1e-5, rtol=1e-5)
            if model.has_attention:
                torch.testing.assert_close(attn.sum(-1), torch.ones(3))
                assert torch.all(attn[~enc.mask] == 0)
            else:
                assert attn is None
    assert logits.shape == (3, 5, 11)


@pytest.mark.parametrize("fields", ATTENTION_CASES + PLAIN_CASES, ids=case_id)
def test_padding_never_changes_a_result(fields):
    model = make(fields)
    with torch.no_grad():
        batch = model(SRC, SRC_LENGTHS, TGT_IN)
        alone = model(SRC[1:2, :3], SRC_LENGTHS[1:2], TGT_IN[1:2, :3])
    torch.testing.assert_close(batch[1, :3], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_selected_rows_step_like_the_batch(name):
    model = make(ARCHITECTURES[name])
    index = torch.tensor([2, 2, 0, 1])
    with torch.no_grad():
        enc = model.encode(SRC, SRC_LENGTHS)
        logits, state, _ = model.step(TGT_IN[:, 0], model.initial_state(enc), enc)
        enc_sel = enc.select(index)
        sel_logits, sel_state, _ = model.step(TGT_IN[index, 0], enc_sel.init, enc_sel)
        again, _, _ = model.step(TGT_IN[:, 1], state, enc)
        sel_again, _, _ = model.step(TGT_IN[index, 1], sel_state, enc_sel)
    torch.testing.assert_close(sel_logits, logits[index])
    torch.testing.assert_close(sel_again, again[index])


def test_training_mode_runs_backward_into_every_parameter():
    model = make(ARCHITECTURES["bahdanau"]).train()
    logits = model(SRC, SRC_LENGTHS, TGT_IN)
    nn.functional.cross_entropy(logits.reshape(-1, 11), TGT_IN.reshape(-1)).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_seq2seq_bridge_is_identity():
    model = make(ARCHITECTURES["seq2seq"])
    assert count_parameters(model.bridge) == 0 and not model.has_attention
    with torch.no_grad():
        enc = model.encode(SRC, SRC_LENGTHS)
        _, (h, c) = model.encoder(SRC, SRC_LENGTHS)
    assert torch.equal(enc.init.h, h) and torch.equal(enc.init.c, c)
    assert enc.keys is None


def test_identity_bridge_hands_both_directions_over_unchanged():
    model = make(dict(ARCHITECTURES["bilstm"], decoder_hidden=10, bridge="identity"))
    assert count_parameters(model.bridge) == 0
    with torch.no_grad():
        enc = model.encode(SRC, SRC_LENGTHS)
        _, (h, c) = model.encoder(SRC, SRC_LENGTHS)
    # [layers * dirs, B, H] with layer l's directions at 2l, 2l + 1 -> [layers, B, fwd; bwd]
    assert torch.equal(enc.init.h, torch.cat([h[0::2], h[1::2]], dim=-1))
    assert torch.equal(enc.init.c, torch.cat([c[0::2], c[1::2]], dim=-1))
    with pytest.raises(NmtError, match=r"model.bridge: identity .*\(10 units .* is 7;"):
        ModelConfig(**dict(ARCHITECTURES["bilstm"], bridge="identity"))


def test_the_default_bridge_is_identity():
    assert ModelConfig().bridge == "identity"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bidirectional_bridge_shapes(cell):
    model = make(dict(ARCHITECTURES["bilstm"], cell=cell, encoder_layers=3, decoder_layers=3))
    enc = model.encode(SRC, SRC_LENGTHS)
    assert enc.init.h.shape == (3, 3, 7)
    assert (enc.init.c is None) == (cell == "gru")
    assert len(model.bridge.maps) == (2 if cell == "lstm" else 1)
    assert model.bridge.maps[0][0].weight.shape == (7, 10)  # [fwd; bwd] -> decoder_hidden
    assert enc.memory.shape == (3, 6, 10) and enc.mask.tolist()[1] == [1, 1, 1, 0, 0, 0]


def test_bridge_bounds_h_but_keeps_large_cell_states_trainable():
    """|c| of a trained encoder reaches tens: through a tanh c_0 would saturate and stop
    every gradient. c_0 is affine in c, so its gradient does not depend on c's size."""
    torch.manual_seed(0)
    bridge = Bridge(kind="linear", n_states=2, layers=2, directions=2, enc_hidden=5, dec_hidden=7)
    h = torch.rand(4, 3, 5) * 2 - 1  # [layers * dirs, B, H]
    grads = []
    for scale in (40.0, 0.1):
        c = (torch.randn(4, 3, 5) * scale).requires_grad_()
        h0, c0 = bridge((h, c))
        c0.sum().backward()
        grads.append(c.grad)
    assert h0.abs().max() < 1 and h0.shape == c0.shape == (2, 3, 7)
    assert torch.allclose(grads[0], grads[1]) and grads[0].abs().min() > 0


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_tie_embeddings_shares_the_parameter(attention):
    tied = make(dict(SMALL, attention=attention, tie_embeddings=True))
    untied = make(dict(SMALL, attention=attention))
    assert tied.decoder.output.weight is tied.decoder.embedding.weight
    assert count_parameters(tied) < count_parameters(untied)


def test_impossible_sizes_are_clear_errors():
    with pytest.raises(NmtError, match=r"model\.decoder_layers \(2\) must equal"):
        build_model(ModelConfig(encoder_layers=4), 10, 10)
    with pytest.raises(NmtError, match=r"model\.attention: dot"):
        build_model(ModelConfig(attention="dot", encoder_hidden=100, bridge="linear"), 10, 10)
    with pytest.raises(NmtError, match=r"model\.dropout"):
        build_model(ModelConfig(dropout=1.0), 10, 10)


def test_count_parameters_counts_each_tensor_once():
    model = make(dict(SMALL, attention="none", tie_embeddings=True))
    unique = {id(p): p.numel() for p in model.parameters()}
    assert count_parameters(model) == sum(unique.values())
    embedding = model.decoder.embedding.weight.numel()
    named = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
    assert named - count_parameters(model) == embedding


def test_initialisation():
    model = make(dict(SMALL, init="uniform", init_range=0.05))
    cell = model.decoder.cells[0]
    for block in cell.weight_hh.detach().split(7):
        torch.testing.assert_close(block @ block.T, torch.eye(7), atol=1e-5, rtol=0)
    assert torch.all(cell.bias[7:14] == 1) and torch.all(cell.bias[:7] == 0)
    assert torch.all(model.encoder.rnn.bias_ih_l0[5:10] == 1)
    assert torch.all(model.decoder.embedding.weight[0] == 0)
    assert model.decoder.readout.weight.abs().max() <= 0.05


def test_xavier_embeddings_have_unit_variance_unless_tied_to_the_output():
    torch.manual_seed(0)
    model = build_model(ModelConfig(embed_dim=64, attention="none"), 4000, 4000)
    for embedding in (model.encoder.embedding, model.decoder.embedding):
        assert 0.95 < embedding.weight[1:].std().item() < 1.05
        assert torch.all(embedding.weight[0] == 0)
    tied = build_model(ModelConfig(embed_dim=64, tie_embeddings=True), 4000, 4000)
    assert tied.decoder.embedding.weight.std().item() < 0.1  # xavier, as an output layer
    assert 0.95 < tied.encoder.embedding.weight[1:].std().item() < 1.05


@pytest.mark.parametrize("order", ["bahdanau", "luong"])
def test_attention_order_picks_the_query_state(order):
    model = make(dict(SMALL, attention_order=order))
    attention = model.decoder.attention
    with torch.no_grad():
        enc = model.encode(SRC, SRC_LENGTHS)
        _, state, weights = model.step(TGT_IN[:, 0], enc.init, enc)
        previous = attention(enc.init.h[-1], enc.keys, enc.memory, enc.mask)[1]
        new = attention(state.h[-1], enc.keys, enc.memory, enc.mask)[1]
    # bahdanau: e_ij uses s_{i-1}; luong: the state after stepping, s_i
    torch.testing.assert_close(weights, previous if order == "bahdanau" else new)
    assert not torch.allclose(previous, new)
