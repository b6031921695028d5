"""bench/studies/final_states.py: the probe's regression and score, the ablation's
replaced direction, the quarters and thirds, on planted data and a tiny model."""

import pytest
import torch

from bench.studies.final_states import (
    average_precision,
    by_quarter,
    direction_at_mean,
    encoder_finals,
    recurrent_without_attention,
    ridge,
    third_bags,
)
from nmt.config.recipe import ModelConfig
from nmt.errors import NmtError
from nmt.models.architectures import build_model

BILSTM = {"bidirectional": True, "encoder_hidden": 3, "decoder_hidden": 6, "attention": "none"}


def model(**fields):
    torch.manual_seed(0)
    config = ModelConfig(embed_dim=4, encoder_layers=1, decoder_layers=1, **fields)
    return build_model(config, src_vocab=13, tgt_vocab=11).eval()


def test_ridge_recovers_a_planted_linear_map():
    torch.manual_seed(0)
    x = torch.randn(500, 6, dtype=torch.float64)
    weight, bias = torch.randn(6, 4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    found_weight, found_bias = ridge(x, x @ weight + bias, penalty=1e-6)
    torch.testing.assert_close(found_weight, weight)
    torch.testing.assert_close(found_bias, bias)


def test_ridge_penalty_shrinks_the_map_towards_zero():
    torch.manual_seed(0)
    x = torch.randn(200, 3, dtype=torch.float64)
    y = x @ torch.ones(3, 1, dtype=torch.float64)
    assert ridge(x, y, 1e4)[0].abs().max() < 0.1 < ridge(x, y, 1.0)[0].abs().min()


def test_average_precision_ranks_each_row_and_skips_rows_without_relevant_columns():
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 0.0, 0.0]])
    relevant = torch.tensor([[1, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]]).bool()
    found = average_precision(scores, relevant)
    torch.testing.assert_close(found[:2], torch.tensor([(1 + 2 / 3) / 2, 1 / 4]))
    assert found[2].isnan()


def test_third_bags_put_each_piece_in_its_third_of_the_source():
    bags = third_bags([[5, 6, 7, 8, 9, 5], [4]], vocab=10)
    assert [bags[0, third].nonzero().flatten().tolist() for third in range(3)] == [
        [5, 6],
        [7, 8],
        [5, 9],
    ]
    assert bags[1].nonzero().tolist() == [[0, 4]]


def test_by_quarter_averages_pieces_by_their_place_in_the_reference():
    # 8 pieces: two per quarter; 4 pieces: one per quarter
    found = by_quarter([[1, 1, 2, 2, 3, 3, 4, 4], [5, 6, 7, 8]])
    assert found == pytest.approx([7 / 3, 10 / 3, 13 / 3, 16 / 3, 46 / 12])


def test_encoder_finals_are_each_sentences_read_alone_in_input_order():
    bilstm = model(**BILSTM)
    sources = [[5, 6, 7], [8], [9, 10, 11, 12]]
    h, c = encoder_finals(bilstm, sources)
    for row, ids in enumerate(sources):
        alone_h, alone_c = bilstm.encoder(torch.tensor([ids + [3]]), torch.tensor([len(ids) + 1]))[
            1
        ]
        torch.testing.assert_close(h[:, row], alone_h[:, 0])
        torch.testing.assert_close(c[:, row], alone_c[:, 0])


@pytest.mark.parametrize(
    ("direction", "replaced", "kept"),
    [(0, slice(0, 3), slice(3, 6)), (1, slice(3, 6), slice(0, 3))],
)
def test_a_direction_at_its_mean_starts_the_decoder_with_the_mean_and_the_other_half_kept(
    direction, replaced, kept
):
    bilstm = model(**BILSTM)  # identity bridge: decoder h_0 = [h_fwd; h_bwd], c_0 likewise
    src, lengths = torch.tensor([[5, 6, 7, 3], [8, 3, 0, 0]]), torch.tensor([4, 2])
    means = [torch.full((2, 3), 0.5), torch.full((2, 3), -2.0)]  # h, c: [layers * dirs, H]
    full = bilstm.encode(src, lengths).init
    with direction_at_mean(bilstm, means, direction):
        ablated = bilstm.encode(src, lengths).init
    assert (ablated.h[..., replaced] == 0.5).all()
    assert (ablated.c[..., replaced] == -2.0).all()
    torch.testing.assert_close(ablated.h[..., kept], full.h[..., kept])
    torch.testing.assert_close(ablated.c[..., kept], full.c[..., kept])
    torch.testing.assert_close(bilstm.encode(src, lengths).init.h, full.h)  # bridge restored


def test_a_model_with_attention_is_refused_by_name():
    attention = model(encoder_hidden=3, decoder_hidden=6, attention="bahdanau", attention_dim=5)
    with pytest.raises(NmtError, match="runs/att: not a recurrent model without attention"):
        recurrent_without_attention(attention, "runs/att")
