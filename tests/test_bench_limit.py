"""bench/speed/limit.py: the matrix-product FLOPs of a search, against counts by hand."""

import torch

from bench.speed.limit import Batch, Counted, Step, limit_fraction, search_flops
from nmt.config.recipe import ModelConfig
from nmt.generation.decoding import DecodingOptions
from nmt.generation.search import beam_search
from nmt.models.architectures import build_model

ATTENTION = {  # bidirectional 3 + 3 = memory 6 = decoder hidden (identity bridge)
    "embed_dim": 4,
    "encoder_hidden": 3,
    "bidirectional": True,
    "decoder_hidden": 6,
    "attention": "bahdanau",
    "attention_dim": 5,
}
TRANSFORMER = {"arch": "transformer", "d_model": 8, "heads": 2, "ffn_dim": 16}
ONE_LAYER = {"encoder_layers": 1, "decoder_layers": 1}


def model(fields: dict) -> torch.nn.Module:
    return build_model(ModelConfig(**fields, **ONE_LAYER), src_vocab=13, tgt_vocab=11).eval()


def test_the_attention_models_products_are_counted_as_by_hand():
    # per row and step over S source positions: W_e E y 2*4*24, side 2*6*24, W_hh 2*24*6,
    # readout 2*(6+6+4)*6, output 2*6*11, query 2*6*5, then v 2*5 and the context 2*6 per
    # position: 1,152 + 22 S. Per real source token, both LSTM directions 2*2*12*(4+3)
    # = 336; per padded position the keys U h 2*6*5 = 60.
    batches = [Batch(sentences=2, source=4, lengths=torch.tensor([4, 2]))]
    steps = [Step(rows=4, source=4, position=0), Step(rows=2, source=4, position=1)]
    by_hand = 6 * 336 + 8 * 60 + (4 + 2) * (1152 + 22 * 4)
    assert search_flops(model(ATTENTION), batches, steps) == by_hand


def test_the_transformers_products_are_counted_as_by_hand():
    # per row at position p: W^Q,K,V,O 4*2*64, cross W^Q,O 2*2*64, FFN 2*2*8*16, output
    # 2*8*11 = 1,456, then q.k and a.v over p + 1 cached and S source positions 2*2*8 each.
    # Per padded source position: the encoder layer 512 + 512 + 32 S, the memory's cross
    # keys and values 2*2*64.
    batches = [Batch(sentences=2, source=3, lengths=torch.tensor([3, 1]))]
    steps = [Step(rows=4, source=3, position=0), Step(rows=4, source=3, position=1)]
    by_hand = 6 * (1280 + 32 * 3) + 4 * (1456 + 32 * 4) + 4 * (1456 + 32 * 5)
    assert search_flops(model(TRANSFORMER), batches, steps) == by_hand


def test_counted_records_every_row_a_beam_search_steps():
    torch.manual_seed(0)
    counted = Counted(model(ATTENTION))
    src = torch.tensor([[5, 6, 7, 2], [8, 2, 0, 0]])
    options = DecodingOptions(beam=3, length_penalty=0.0)
    beam_search(counted, src, torch.tensor([4, 2]), 4, options)
    assert [(b.sentences, b.source, b.tokens) for b in counted.batches] == [(2, 4, 6)]
    assert counted.steps[0] == Step(rows=6, source=4, position=0)
    assert [s.position for s in counted.steps] == list(range(len(counted.steps)))


def test_the_fraction_is_the_rate_reached_over_the_limit():
    assert limit_fraction(flops=3 * 10**9, seconds=2.0, rate=6e9) == 0.25
