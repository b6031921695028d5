"""The Transformer: stepping equals teacher forcing, no position sees a later one, padding
and batch size change nothing, a step costs one position, caches follow beam search, the
cross-attention keys stay one row per sentence under beam search and sampling."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from test_model import SRC, SRC_LENGTHS, TGT_IN
from test_search import random_sources, tiny_transformer
from test_train import TRANSFORMER, fit, make_trainer
from torch.utils.flop_counter import FlopCounterMode

from nmt.config.recipe import ModelConfig, load_recipe
from nmt.data.batching import collate
from nmt.errors import NmtError
from nmt.generation.decoding import DecodingOptions, Sampling
from nmt.generation.search import search
from nmt.models.architectures import build_model
from nmt.models.interface import repeated_rows
from nmt.models.model import count_parameters
from nmt.models.transformer import MultiHeadAttention, TransformerEncoded, sinusoids
from nmt.run.averaging import average_checkpoints
from nmt.run.rundir import RunDir

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TINY = dict(arch="transformer", d_model=16, heads=2, ffn_dim=24, encoder_layers=2, decoder_layers=2)
CASES = {
    "sinusoidal": TINY,
    "learned": dict(TINY, positions="learned", max_positions=8),
    "tied": dict(TINY, tie_embeddings=True),
    "shared": dict(TINY, tie_embeddings=True, share_embeddings=True),
    "1-3 layers": dict(TINY, encoder_layers=1, decoder_layers=3, heads=4),
}


def make(fields: dict, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(**fields), src_vocab=13, tgt_vocab=13).eval()


def steps(model, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor):
    """Logits [B, T, V] and attention [B, T, S] of stepping through tgt_in."""
    enc = model.encode(src, src_lengths)
    state = model.initial_state(enc)
    logits, attention = [], []
    for prev in tgt_in.unbind(1):
        step_logits, state, weights = model.step(prev, state, enc)
        logits.append(step_logits)
        attention.append(weights)
    return torch.stack(logits, dim=1), torch.stack(attention, dim=1)


@pytest.mark.parametrize("name", CASES)
def test_stepping_equals_teacher_forcing(name):
    model = make(CASES[name])
    with torch.no_grad():
        forced = model(SRC, SRC_LENGTHS, TGT_IN)
        stepped, attention = steps(model, SRC, SRC_LENGTHS, TGT_IN)
    torch.testing.assert_close(stepped, forced, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 5))
    padding = torch.arange(SRC.size(1)) >= SRC_LENGTHS[:, None]  # [B, S]
    assert torch.all(attention.masked_select(padding[:, None, :]) == 0)


@pytest.mark.parametrize("name", CASES)
def test_a_later_target_token_never_changes_an_earlier_position(name):
    model = make(CASES[name])
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        forced = model(SRC, SRC_LENGTHS, TGT_IN)
        for k in range(1, TGT_IN.size(1)):
            changed = TGT_IN.clone()
            changed[:, k:] = torch.randint(4, 13, changed[:, k:].shape, generator=generator)
            again = model(SRC, SRC_LENGTHS, changed)
            assert torch.equal(again[:, :k], forced[:, :k]), k
            assert not torch.allclose(again[:, k], forced[:, k]), k  # position k reads token k


@pytest.mark.parametrize("name", CASES)
def test_padding_and_batch_size_never_change_a_result(name):
    model = make(CASES[name])
    wide_src = torch.cat([SRC, torch.zeros(3, 2, dtype=torch.long)], dim=1)  # more padding
    with torch.no_grad():
        batch = model(SRC, SRC_LENGTHS, TGT_IN)
        padded = model(wide_src, SRC_LENGTHS, TGT_IN)
        for row, (src_len, tgt_len) in enumerate(zip([6, 3, 2], [5, 3, 2], strict=True)):
            one = SRC[row : row + 1, :src_len], SRC_LENGTHS[row : row + 1]
            target = TGT_IN[row : row + 1, :tgt_len]
            alone = model(*one, target)
            torch.testing.assert_close(batch[row, :tgt_len], alone[0], atol=1e-5, rtol=1e-5)
            stepped, _ = steps(model, *one, target)
            torch.testing.assert_close(stepped[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded, batch, atol=1e-5, rtol=1e-5)


def test_select_reorders_every_cache():
    """Beam search selects rows after steps: stepping on must continue each chosen row."""
    model = make(CASES["1-3 layers"])
    index = torch.tensor([2, 2, 0, 1])
    with torch.no_grad():
        enc = model.encode(SRC, SRC_LENGTHS)
        state = model.initial_state(enc)
        for t in range(3):
            _, state, _ = model.step(TGT_IN[:, t], state, enc)
        logits, _, weights = model.step(TGT_IN[:, 3], state, enc)
        picked = enc.select(index)
        sel_logits, sel_state, sel_weights = model.step(
            TGT_IN[index, 3], state.select(index), picked
        )
    assert state.length == 3 and sel_state.length == 4
    torch.testing.assert_close(sel_logits, logits[index])
    torch.testing.assert_close(sel_weights, weights[index])


def test_a_reorder_copies_no_cache_and_composes_with_the_next():
    """select only records rows; two selects before a step read the rows of both, and the
    step's cache holds exactly the gathered rows then its own position."""
    model = make(CASES["1-3 layers"])
    first, then = torch.tensor([2, 2, 0, 1]), torch.tensor([3, 0])
    with torch.no_grad():
        enc = model.encode(SRC, SRC_LENGTHS)
        _, state, _ = model.step(TGT_IN[:, 0], model.initial_state(enc), enc)
        chosen = state.select(first).select(then)
        _, stepped, _ = model.step(TGT_IN[first[then], 1], chosen, enc.select(first[then]))
    assert all(kept.k is cache.k for kept, cache in zip(chosen.layers, state.layers, strict=True))
    assert torch.equal(stepped.layers[0].k[:, :, :1], state.layers[0].k[first[then]])


@dataclass
class CopiedPerRow(TransformerEncoded):
    """The encoding as it was: `repeat` copies the cross keys and values for every row."""

    def repeat(self, copies: int) -> TransformerEncoded:
        return self.select(repeated_rows(self.mask.size(0), copies, self.mask.device))


def test_a_repeated_encoding_holds_the_cross_keys_once_per_sentence():
    """Beams share their sentence's keys and values; dropping sentences keeps whole ones,
    and a step over them computes what a step over per-row copies computes."""
    model = make(CASES["1-3 layers"])
    kept = torch.tensor([8, 9, 10, 11, 0, 1, 2, 3])  # sentences 2 and 0, all 4 beams each
    with torch.no_grad():
        enc = model.encode(SRC, SRC_LENGTHS)
        shared, copied = enc.repeat(4), CopiedPerRow(enc.mask, enc.cross).repeat(4)
        assert all(kv.k.shape[0] == kv.v.shape[0] == 3 for kv in shared.cross)
        assert shared.cross[0].k is enc.cross[0].k
        shared, copied = shared.select(kept), copied.select(kept)
        assert torch.equal(shared.cross[-1].v, enc.cross[-1].v[[2, 0]])
        assert torch.equal(shared.mask, enc.mask[[2, 0]])
        state = model.initial_state(enc).select(kept // 4)
        assert model.initial_state(shared).length == 0
        assert model.initial_state(shared).layers[0].k.shape[0] == 8
        logits, _, weights = model.step(TGT_IN[kept // 4, 1], state, shared)
        expected_logits, _, expected_weights = model.step(TGT_IN[kept // 4, 1], state, copied)
    torch.testing.assert_close(logits, expected_logits)
    torch.testing.assert_close(weights, expected_weights)


@pytest.mark.parametrize(
    "options",
    [
        DecodingOptions(beam=4, nbest=4, length_penalty=0.8),
        DecodingOptions(sampling=Sampling(temperature=1.5, nsamples=3, seed=7), nbest=3),
    ],
    ids=["beam-nbest", "sampling"],
)
def test_search_over_shared_cross_keys_finds_what_per_row_copies_find(options, monkeypatch):
    """Every step reads one row of keys per sentence, never one per beam or sample; the
    sentences that leave the beam search early (select on a repeated encoding) leave whole,
    and the hypotheses, scores and attention stay those of per-row copies."""
    model = tiny_transformer()
    batch = collate(random_sources(8, 15, seed=9), None, list(range(8)))
    lines, rows_read, step = list(range(8)), [], model.step

    def counting_step(prev, state, enc):
        rows_read.append(enc.cross[0].k.size(0))
        return step(prev, state, enc)

    monkeypatch.setattr(model, "step", counting_step)
    with torch.no_grad():
        shared = search(model, batch.src, batch.src_lengths, options, lines, True)
        assert max(rows_read) == 8
        encode = model.encode
        monkeypatch.setattr(model, "encode", lambda *a: CopiedPerRow(**vars(encode(*a))))
        copied = search(model, batch.src, batch.src_lengths, options, lines, True)
    assert shared.tokens == copied.tokens
    for ours, theirs in zip(shared.scores, copied.scores, strict=True):
        assert ours == pytest.approx(theirs, abs=1e-5)
    for ours, theirs in zip(shared.attentions, copied.attentions, strict=True):
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b)


def test_a_step_costs_one_position():
    """The prefix is never computed again: the 24th step does about the work of the 1st
    (its attention reads 24 cached keys), where recomputing the prefix would do 24 times
    as much."""
    model = make(dict(TINY, d_model=32, ffn_dim=64))
    with torch.no_grad():
        enc = model.encode(SRC, SRC_LENGTHS)
        state = model.initial_state(enc)
        prev = torch.full((3,), 5)
        flops = []
        for _ in range(24):
            with FlopCounterMode(display=False) as counter:
                _, state, _ = model.step(prev, state, enc)
            flops.append(counter.get_total_flops())
    assert state.length == 24
    assert state.layers[0].k.shape == (3, 2, 24, 16)
    assert flops[-1] < 1.2 * flops[0]


def test_a_steps_attention_is_the_last_layers_cross_attention_averaged_over_heads():
    model = make(CASES["1-3 layers"])  # 3 decoder layers of 4 heads
    last = model.decoder[-1].cross_attention
    seen = {}
    last.register_forward_hook(lambda module, args, output: seen.update(x=args[0]))
    with torch.no_grad():
        enc = model.encode(SRC, SRC_LENGTHS)
        _, state, _ = model.step(TGT_IN[:, 0], model.initial_state(enc), enc)
        _, _, weights = model.step(TGT_IN[:, 1], state, enc)
        q = last.query(seen["x"]).view(3, 1, 4, 4).transpose(1, 2)  # [N, heads, 1, 4]
        scores = q @ enc.cross[-1].k.transpose(-2, -1) / 2.0  # sqrt(16 / 4 heads)
        scores = scores.masked_fill(~enc.mask[:, None, None, :], float("-inf"))
        expected = torch.softmax(scores, dim=-1).mean(dim=1)[:, 0]
    torch.testing.assert_close(weights, expected)


def test_the_spelled_out_attention_equals_sdpa():
    """A step's attention weights come from spelling out the last layer's cross-attention;
    it must compute what F.scaled_dot_product_attention computes."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(16, 4)
    x, memory = torch.randn(3, 2, 16), torch.randn(3, 6, 16)
    mask = (torch.arange(6) < SRC_LENGTHS[:, None])[:, None, None, :]
    kv = attention.keys_values(memory)
    fast, none = attention(x, kv, mask)
    spelled, weights = attention(x, kv, mask, weights=True)
    torch.testing.assert_close(spelled, fast, atol=1e-6, rtol=1e-5)
    assert none is None and weights.shape == (3, 2, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2))


def test_shared_embeddings_are_one_tensor():
    shared, separate = make(CASES["shared"]), make(TINY)
    weight = shared.src_embed.embedding.weight
    assert shared.tgt_embed.embedding.weight is weight and shared.output.weight is weight
    assert separate.output.weight is not separate.tgt_embed.embedding.weight
    assert count_parameters(separate) - count_parameters(shared) == 2 * 13 * 16


def test_training_mode_runs_backward_into_every_parameter():
    model = make(CASES["learned"]).train()
    logits = model(SRC, SRC_LENGTHS, TGT_IN)
    torch.nn.functional.cross_entropy(logits.reshape(-1, 13), TGT_IN.reshape(-1)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_initialisation_gives_unit_variance_scaled_embeddings():
    model = make(dict(TINY, d_model=64, tie_embeddings=True))
    big = build_model(ModelConfig(**dict(TINY, d_model=64)), 4000, 4000)
    for embedding in (big.src_embed.embedding, big.tgt_embed.embedding):
        scaled = embedding.weight[1:] * math.sqrt(64)
        assert 0.95 < scaled.std().item() < 1.05 and torch.all(embedding.weight[0] == 0)
    layer = model.decoder[0]
    assert layer.self_attention.key.bias is None  # softmax ignores it; see MultiHeadAttention
    assert torch.all(layer.ffn[0].bias == 0) and torch.all(layer.ffn_norm.weight == 1)


def test_sinusoids_are_the_papers():
    table = sinusoids(torch.arange(50), 16)
    p, i = 37, 3
    assert table[p, 2 * i].item() == pytest.approx(math.sin(p / 10000 ** (2 * i / 16)), abs=1e-5)
    assert table[p, 2 * i + 1].item() == pytest.approx(
        math.cos(p / 10000 ** (2 * i / 16)), abs=1e-5
    )
    torch.testing.assert_close(sinusoids(torch.tensor([37]), 16)[0], table[37])


def test_more_positions_than_learned_is_a_clear_error():
    model = make(CASES["learned"])  # 8 positions
    with pytest.raises(NmtError, match=r"model\.max_positions: a sequence of 9 pieces"):
        model(SRC, SRC_LENGTHS, torch.full((3, 9), 5))


def test_averaged_checkpoints_keep_shared_weights_shared(tmp_path):
    fit(make_trainer(tmp_path, TRANSFORMER, max_updates=4, validate_every=2, keep_last=2))
    steps_saved = RunDir(tmp_path).step_checkpoints()
    averaged = average_checkpoints(steps_saved)["model"]
    model = build_model(ModelConfig(**TRANSFORMER), 14, 14)
    model.load_state_dict(averaged)
    assert model.output.weight is model.src_embed.embedding.weight
    torch.testing.assert_close(model.output.weight, averaged["src_embed.embedding.weight"])


@pytest.mark.parametrize("pair", ["de-en", "en-de"])
def test_small_recipes_hold_parameters_within_20_percent_of_the_recurrent_ones(pair):
    family = RECIPES / f"multi30k-{pair}-small"
    transformer = load_recipe(family / "transformer.yaml")
    assert transformer.model.arch == "transformer" and transformer.model.share_embeddings
    vocab = transformer.data.vocab_size
    count = count_parameters(build_model(transformer.model, vocab, vocab))
    for name in ("seq2seq", "bilstm", "attention"):
        recurrent = load_recipe(family / f"{name}.yaml")
        assert recurrent.data == transformer.data, name
        other = count_parameters(build_model(recurrent.model, vocab, vocab))
        assert abs(count - other) <= 0.2 * other, (name, count, other)


def test_gpu_recipe_loads():
    recipe = load_recipe(RECIPES / "multi30k-de-en/transformer.yaml")
    assert recipe.model.arch == "transformer" and recipe.train.schedule == "inverse_sqrt"
