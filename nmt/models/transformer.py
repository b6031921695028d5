"""The Transformer (Vaswani et al. 2017) behind the interface of the recurrent model
(forward for teacher forcing; encode, initial_state and step for search), so that search,
scoring, ensembles, alignments and serving treat it like the other three.

    source ids -> embeddings * sqrt(d_model) + positions -> encoder layers -> memory
    target ids -> embeddings * sqrt(d_model) + positions -> decoder layers -> logits

Layers are pre-norm, x + sublayer(LayerNorm(x)) with a LayerNorm after each stack, where
the paper normalises after the residual sum: pre-norm trains without a long warm-up (Xiong
et al. 2020) and is what the toolkits we compare with default to. Attention runs through
F.scaled_dot_product_attention.

Incremental decoding: `encode` projects the memory to every decoder layer's cross-attention
keys and values once per batch, and they stay one row per sentence when beam search or
sampling repeats the rows (TransformerEncoded.repeat); the decoder state carries each
layer's self-attention keys and values of the target positions so far, so `step` computes
one position; `select` records the rows beam search keeps and the next step gathers them as
it appends. `forward` runs the same layers over all positions at once under a causal mask.

The attention a step returns (alignments, heat maps, the serve page) is the cross-attention
of the LAST decoder layer averaged over its heads: one row over the source per output piece,
as the recurrent models give. It is a summary, not an alignment model: no single head or
layer of a Transformer is trained to align the way Bahdanau attention is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.config.recipe import ModelConfig
from nmt.data.tokenizer import PAD
from nmt.errors import NmtError
from nmt.models.decoder import output_layer


@dataclass
class KeysValues:
    """One attention layer's keys and values: [N, heads, positions, d_model / heads] each."""

    k: Tensor
    v: Tensor

    def select(self, index: Tensor) -> KeysValues:
        return KeysValues(self.k.index_select(0, index), self.v.index_select(0, index))

    def extend(self, new: KeysValues, rows: Tensor | None) -> KeysValues:
        """Rows `rows` of these positions (None: every row as it is) followed by `new`'s,
        written into the new cache in one pass: the reorder beam search asks for costs
        no copy of its own."""
        return KeysValues(_extend(self.k, new.k, rows), _extend(self.v, new.v, rows))


def _extend(past: Tensor, new: Tensor, rows: Tensor | None) -> Tensor:
    """[N, heads, T, d] of `past` (rows `rows`) then `new` [N, heads, 1, d] along T."""
    if rows is None:
        return torch.cat([past, new], dim=2)
    n, heads, positions, head_dim = new.shape
    out = new.new_empty(n, heads, past.size(2) + positions, head_dim)
    torch.index_select(past, 0, rows, out=out[:, :, : past.size(2)])
    out[:, :, past.size(2) :] = new
    return out


@dataclass
class TransformerEncoded:
    """What the decoder needs from the source, computed once per batch.

    The cross-attention keys and values are the same for every beam (or sample) of a
    sentence, so they stay one row per sentence: `repeat` only records how many decoder
    rows read each one (the N = B * copies rows of MultiHeadAttention.forward), so they are
    not copied per beam, and a sentence leaving the batch gathers one row, not `copies`.
    Its beams' queries then meet the keys in one [copies, d] x [d, S] product, which is not
    bitwise `copies` [1, d] x [d, S] ones: fp32 outputs stay equal unless a near tie
    turns on the last bit (docs/speed.md).
    """

    mask: Tensor  # [B, S] bool, True on real source tokens
    cross: list[KeysValues]  # per decoder layer: the memory as its cross-attention keys/values
    copies: int = 1  # decoder rows per sentence: rows b * copies .. (b + 1) * copies - 1

    @property
    def rows(self) -> int:
        """The decoder rows that read this encoding: B * copies."""
        return self.mask.size(0) * self.copies

    def select(self, index: Tensor) -> TransformerEncoded:
        """Rows `index`; of a repeated encoding, whole sentences' rows (Sources.repeat), so
        the sentences kept are those of every copies-th row."""
        sentences = index if self.copies == 1 else index[:: self.copies] // self.copies
        return TransformerEncoded(
            self.mask.index_select(0, sentences),
            [kv.select(sentences) for kv in self.cross],
            self.copies,
        )

    def repeat(self, copies: int) -> TransformerEncoded:
        """Each row `copies` times, one after the other; the tensors stay as they are."""
        return TransformerEncoded(self.mask, self.cross, self.copies * copies)


@dataclass
class TransformerState:
    """The decoder's cache: per layer, the self-attention keys and values of every target
    position so far (the positions themselves are never computed again).

    `select` copies nothing: it records which rows of the caches the next step reads
    (`rows`, None: all as they are), and that step gathers them as it appends its
    position (KeysValues.extend), so a beam's reorder and the cache's growth are one copy.
    """

    layers: list[KeysValues]
    rows: Tensor | None = None

    @property
    def length(self) -> int:
        """Target positions already decoded: the position of the next one."""
        return self.layers[0].k.size(2)

    def select(self, index: Tensor) -> TransformerState:
        """Rows `index` of every cache (beam search reorders and expands rows)."""
        return TransformerState(self.layers, index if self.rows is None else self.rows[index])


def sinusoids(positions: Tensor, dim: int) -> Tensor:
    """PE(p, 2i) = sin(p / 10000^(2i / dim)), PE(p, 2i + 1) = cos(...): [len(positions), dim].

    Computed for the positions asked, so any length works and a step costs one row.
    """
    rates = torch.exp(torch.arange(0, dim, 2, device=positions.device) * (-math.log(1e4) / dim))
    angles = positions[:, None].float() * rates
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)


class Embedder(nn.Module):
    """Token embeddings times sqrt(d_model) plus positions, then dropout (the paper's 3.4,
    3.5 and 5.4). The token embedding may be shared with the other side and the output."""

    def __init__(
        self, embedding: nn.Embedding, positions: str, max_positions: int, dropout: float
    ) -> None:
        super().__init__()
        self.embedding = embedding
        self.dim = embedding.embedding_dim
        self.learned = nn.Embedding(max_positions, self.dim) if positions == "learned" else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: Tensor, start: int = 0) -> Tensor:
        """ids [N, T] at positions start .. start + T - 1 -> [N, T, d_model]."""
        positions = torch.arange(start, start + ids.size(1), device=ids.device)
        if self.learned is None:
            where = sinusoids(positions, self.dim)
        elif start + ids.size(1) > self.learned.num_embeddings:
            raise NmtError(
                f"model.max_positions: a sequence of {start + ids.size(1)} pieces is longer "
                f"than the {self.learned.num_embeddings} learned positions"
            )
        else:
            where = self.learned(positions)
        return self.dropout(self.embedding(ids) * math.sqrt(self.dim) + where)


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention in `heads` heads of d_model / heads features each."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(d_model, d_model)  # W^Q
        # No bias: it would add q.b to every score of a query alike, which the softmax
        # ignores; its gradient is rounding noise that Adam would scale up to full steps.
        self.key = nn.Linear(d_model, d_model, bias=False)  # W^K
        self.value = nn.Linear(d_model, d_model)  # W^V
        self.out = nn.Linear(d_model, d_model)  # W^O

    def _split(self, x: Tensor) -> Tensor:
        """[N, T, d_model] -> [N, heads, T, d_model / heads]."""
        n, t, d = x.shape
        return x.view(n, t, self.heads, d // self.heads).transpose(1, 2)

    def keys_values(self, x: Tensor) -> KeysValues:
        """x [N, T, d_model] as the keys and values of T positions."""
        return KeysValues(self._split(self.key(x)), self._split(self.value(x)))

    def forward(
        self,
        x: Tensor,
        kv: KeysValues,
        mask: Tensor | None = None,
        causal: bool = False,
        weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x [N, T, d_model] attends to kv of N or B rows (B: each row's keys shared by the
        N / B consecutive rows of x, a sentence's beams, whose T queries each then attend
        as one sentence's N / B * T); mask [N or B, 1, 1, S] is True where a key may be
        seen; causal: query i sees keys 0..i. Returns [N, T, d_model] and, if `weights`,
        the attention weights averaged over heads [N, T, S] (SDPA does not return them,
        so that path spells the same attention out)."""
        rows, positions, _ = x.shape
        q = self._split(self.query(x).view(kv.k.size(0), -1, x.size(-1)))
        average = None
        if weights:
            scores = q @ kv.k.transpose(-2, -1) / math.sqrt(q.size(-1))
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            probs = torch.softmax(scores.float(), dim=-1)
            context = probs.to(kv.v.dtype) @ kv.v
            average = probs.mean(dim=1).view(rows, positions, -1)
        else:
            context = F.scaled_dot_product_attention(
                q, kv.k, kv.v, attn_mask=mask, is_causal=causal
            )
        return self.out(context.transpose(1, 2).reshape(rows, positions, -1)), average


def feed_forward(d_model: int, ffn_dim: int) -> nn.Sequential:
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2, the same at every position."""
    return nn.Sequential(nn.Linear(d_model, ffn_dim), nn.ReLU(), nn.Linear(ffn_dim, d_model))


class EncoderLayer(nn.Module):
    """Self-attention over the source, then the feed-forward block; both pre-norm."""

    def __init__(self, d_model: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, heads)
        self.ffn_norm = nn.LayerNorm(d_model)
        self.ffn = feed_forward(d_model, ffn_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.attention_norm(x)
        x = x + self.dropout(self.attention(h, self.attention.keys_values(h), mask)[0])
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class DecoderLayer(nn.Module):
    """Causal self-attention, attention over the memory, the feed-forward block; pre-norm."""

    def __init__(self, d_model: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_norm = nn.LayerNorm(d_model)
        self.self_attention = MultiHeadAttention(d_model, heads)
        self.cross_norm = nn.LayerNorm(d_model)
        self.cross_attention = MultiHeadAttention(d_model, heads)
        self.ffn_norm = nn.LayerNorm(d_model)
        self.ffn = feed_forward(d_model, ffn_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        past: KeysValues | None,
        cross: KeysValues,
        mask: Tensor,
        weights: bool,
        rows: Tensor | None = None,
    ) -> tuple[Tensor, KeysValues, Tensor | None]:
        """x [N, T, d_model]: every target position (past None: causal), or the one
        position after those whose keys and values are rows `rows` of `past`. Returns the
        output, the keys and values of all positions so far, and the cross-attention
        weights if asked."""
        h = self.self_norm(x)
        kv = self.self_attention.keys_values(h)
        if past is not None:
            kv = past.extend(kv, rows)
        x = x + self.dropout(self.self_attention(h, kv, causal=past is None)[0])
        attended, average = self.cross_attention(self.cross_norm(x), cross, mask, weights=weights)
        x = x + self.dropout(attended)
        return x + self.dropout(self.ffn(self.ffn_norm(x))), kv, average


class Transformer(nn.Module):
    """Encoder and decoder stacks with the recurrent model's interface (module docstring)."""

    has_attention = True

    def __init__(self, cfg: ModelConfig, src_vocab: int, tgt_vocab: int) -> None:
        super().__init__()
        if cfg.share_embeddings and src_vocab != tgt_vocab:
            raise NmtError(
                f"model.share_embeddings: the source vocabulary has {src_vocab} pieces and the "
                f"target {tgt_vocab}; sharing needs one (data.joint_vocab: true)"
            )
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        # learned positions: BOS or EOS takes one of them (nmt.generation.search.length_limits)
        self.max_sequence = cfg.max_positions if cfg.positions == "learned" else None
        d, sizes = cfg.d_model, (cfg.d_model, cfg.heads, cfg.ffn_dim, cfg.dropout)
        src_embedding = nn.Embedding(src_vocab, d, padding_idx=PAD)
        tgt_embedding = (
            src_embedding if cfg.share_embeddings else nn.Embedding(tgt_vocab, d, padding_idx=PAD)
        )
        embedder = (cfg.positions, cfg.max_positions, cfg.dropout)
        self.src_embed = Embedder(src_embedding, *embedder)
        self.tgt_embed = Embedder(tgt_embedding, *embedder)
        self.encoder = nn.ModuleList(EncoderLayer(*sizes) for _ in range(cfg.encoder_layers))
        self.encoder_norm = nn.LayerNorm(d)
        self.decoder = nn.ModuleList(DecoderLayer(*sizes) for _ in range(cfg.decoder_layers))
        self.decoder_norm = nn.LayerNorm(d)
        self.output = output_layer(tgt_embedding, d, cfg.tie_embeddings)

    def encode(self, src: Tensor, src_lengths: Tensor) -> TransformerEncoded:
        """src [B, S] right-padded ids (+ EOS), src_lengths [B] on src's device."""
        mask = torch.arange(src.size(1), device=src.device) < src_lengths[:, None]
        x = self.src_embed(src)
        for layer in self.encoder:
            x = layer(x, mask[:, None, None, :])
        memory = self.encoder_norm(x)
        return TransformerEncoded(
            mask, [layer.cross_attention.keys_values(memory) for layer in self.decoder]
        )

    def initial_state(self, enc: TransformerEncoded) -> TransformerState:
        """Empty caches: no target position yet, one row per decoder row."""
        _, heads, _, head_dim = enc.cross[0].k.shape
        empty = enc.cross[0].k.new_empty(enc.rows, heads, 0, head_dim)
        return TransformerState([KeysValues(empty, empty) for _ in self.decoder])

    def _decode(
        self, x: Tensor, state: TransformerState | None, enc: TransformerEncoded
    ) -> tuple[Tensor, TransformerState, Tensor | None]:
        """Embedded targets x [N, T, d_model] through the decoder stack: what the output
        layer reads [N, T, d_model], the caches after them and, when stepping, the last
        layer's cross-attention."""
        mask, layers, weights = enc.mask[:, None, None, :], [], None
        for index, layer in enumerate(self.decoder):
            past = None if state is None else state.layers[index]
            last = index == len(self.decoder) - 1
            x, kv, weights = layer(
                x,
                past,
                enc.cross[index],
                mask,
                weights=last and state is not None,
                rows=None if state is None else state.rows,
            )
            layers.append(kv)
        return self.decoder_norm(x), TransformerState(layers), weights

    @property
    def output_layer(self) -> nn.Module:
        """features -> logits over the whole target vocabulary (nmt/inference/shortlist.py computes
        some of its rows only)."""
        return self.output

    def forward_features(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """forward() before the output layer: [B, T, d_model]."""
        return self._decode(self.tgt_embed(tgt_in), None, self.encode(src, src_lengths))[0]

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits [B, T, V] for tgt_in [B, T] (BOS + ids, PAD-padded)."""
        return self.output(self.forward_features(src, src_lengths, tgt_in))

    def step_features(
        self, prev_tokens: Tensor, state: TransformerState, enc: TransformerEncoded
    ) -> tuple[Tensor, TransformerState, Tensor]:
        """step() before the output layer: features [N, d_model], the caches, attention."""
        x = self.tgt_embed(prev_tokens[:, None], start=state.length)
        features, state, weights = self._decode(x, state, enc)
        return features[:, 0], state, weights[:, 0]

    def step(
        self, prev_tokens: Tensor, state: TransformerState, enc: TransformerEncoded
    ) -> tuple[Tensor, TransformerState, Tensor]:
        """One position for N rows: logits [N, V], the caches one position longer, and the
        last layer's cross-attention averaged over heads [N, S]."""
        features, state, weights = self.step_features(prev_tokens, state, enc)
        return self.output(features), state, weights


def init_transformer(model: nn.Module, cfg: ModelConfig) -> None:
    """xavier_uniform weights and zero biases for every linear map; embeddings
    N(0, 1 / d_model), so that scaled by sqrt(d_model) they have unit variance and a tied
    output layer starts with logits of unit variance (fairseq's choice); PAD rows zero.
    LayerNorms keep PyTorch's ones and zeros. (cfg: every architecture's init takes it.)"""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for module in model.modules():  # after the linear maps: a tied output is an embedding
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=module.embedding_dim**-0.5)
                if module.padding_idx is not None:
                    module.weight[module.padding_idx] = 0.0
