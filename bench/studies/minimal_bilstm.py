"""A deliberately minimal Bi-LSTM encoder-decoder without attention: the control for `nmt`.

Plain PyTorch (nn.LSTM, F.cross_entropy, PyTorch's default initialisation), nothing from
`nmt` but the prepared cache it reads. Same model as `nmt`'s bilstm: the [fwd; bwd] final
states of each encoder layer start the decoder unchanged (--bridge identity, the default;
the decoder is then 2 x --hidden wide) or through h_0 = tanh(W h), c_0 = V c (--bridge
linear, any --dec-hidden). If this learns
faster than `nmt train` at the same sizes, batch, learning rate and number of updates,
the toolkit has a defect; if not, the recipe does.

    python -m bench.studies.minimal_bilstm prepared/multi30k-de-en-XXXX --updates 400
"""

import argparse
import math
import random
import time
from pathlib import Path

import datasets
import sacrebleu
import sentencepiece as spm
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

PAD, BOS, EOS = 0, 2, 3


class BiLstmSeq2Seq(nn.Module):
    def __init__(
        self, vocab: int, embed: int, hidden: int, dec_hidden: int, layers: int, drop, bridge: str
    ):
        super().__init__()
        if bridge == "identity" and dec_hidden != 2 * hidden:
            raise SystemExit(f"--bridge identity needs --dec-hidden {2 * hidden} (2 x --hidden)")
        self.identity = bridge == "identity"
        self.src_embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        dropout = drop if layers > 1 else 0.0
        self.encoder = nn.LSTM(
            embed, hidden, layers, batch_first=True, bidirectional=True, dropout=dropout
        )
        self.bridge_h = nn.Linear(2 * hidden, dec_hidden)
        self.bridge_c = nn.Linear(2 * hidden, dec_hidden)
        self.decoder = nn.LSTM(embed, dec_hidden, layers, batch_first=True, dropout=dropout)
        self.out = nn.Linear(dec_hidden, vocab)
        self.drop = nn.Dropout(drop)

    def encode(self, src, lengths):
        embedded = self.drop(self.src_embed(src))
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        _, (h, c) = self.encoder(packed)  # [layers * 2, B, H], layer 0 fwd, layer 0 bwd, ...

        def merge(state):  # -> [layers, B, 2H]
            return torch.cat([state[0::2], state[1::2]], dim=-1)

        if self.identity:
            return merge(h), merge(c)
        return torch.tanh(self.bridge_h(merge(h))), self.bridge_c(merge(c))

    def decode(self, tgt_in, state):
        outputs, state = self.decoder(self.drop(self.tgt_embed(tgt_in)), state)
        return self.out(self.drop(outputs)), state

    def forward(self, src, lengths, tgt_in):
        return self.decode(tgt_in, self.encode(src, lengths))[0]

    @torch.no_grad()
    def greedy(self, src, lengths, max_len):
        state = self.encode(src, lengths)
        token = torch.full((src.size(0), 1), BOS)
        out = []
        for _ in range(max_len):
            logits, state = self.decode(token, state)
            token = logits.argmax(-1)
            out.append(token)
        return torch.cat(out, dim=1).tolist()


def pad(rows):
    width = max(map(len, rows))
    return torch.tensor([row + [PAD] * (width - len(row)) for row in rows])


def batches(split, sentences, shuffle, rng):
    """Lists of example indices: shuffled, sorted by target length within pools of 50."""
    order = list(range(len(split)))
    if shuffle:
        rng.shuffle(order)
    pool = 50 * sentences
    out = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(split[i][1]))
        out += [chunk[i : i + sentences] for i in range(0, len(chunk), sentences)]
    if shuffle:
        rng.shuffle(out)
    return out


def tensors(split, indices):
    src = [split[i][0] + [EOS] for i in indices]
    tgt = [split[i][1] for i in indices]
    lengths = torch.tensor([len(s) for s in src])
    return pad(src), lengths, pad([[BOS] + t for t in tgt]), pad([t + [EOS] for t in tgt])


def evaluate(model, split, refs, sp):
    model.eval()
    nll, tokens, hyps = 0.0, 0, [""] * len(split)
    for indices in batches(split, 100, False, None):
        src, lengths, tgt_in, tgt_out = tensors(split, indices)
        with torch.no_grad():
            logits = model(src, lengths, tgt_in)
        nll += F.cross_entropy(
            logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD, reduction="sum"
        ).item()
        tokens += int((tgt_out != PAD).sum())
        found = model.greedy(src, lengths, int(1.5 * lengths.max()) + 10)
        for i, ids in zip(indices, found, strict=True):
            hyps[i] = sp.decode(ids[: ids.index(EOS)] if EOS in ids else ids)
    model.train()
    return math.exp(nll / tokens), sacrebleu.corpus_bleu(hyps, [refs]).score


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prepared", type=Path, help="an `nmt prepare` cache folder")
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--validate-every", type=int, default=200)
    parser.add_argument("--sentences", type=int, default=150, help="sentences per batch")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--embed", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=128, help="per direction")
    parser.add_argument("--dec-hidden", type=int, default=256)
    parser.add_argument("--bridge", choices=("identity", "linear"), default="identity")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    data = datasets.load_from_disk(str(args.prepared / "splits"))
    train = list(zip(data["train"]["src_ids"], data["train"]["tgt_ids"], strict=True))
    valid = list(zip(data["valid"]["src_ids"], data["valid"]["tgt_ids"], strict=True))
    sp = spm.SentencePieceProcessor(model_file=str(args.prepared / "joint.model"))
    vocab = sp.get_piece_size()
    model = BiLstmSeq2Seq(
        vocab, args.embed, args.hidden, args.dec_hidden, args.layers, args.dropout, args.bridge
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, started, seen = 0, time.perf_counter(), 0
    while step < args.updates:
        for indices in batches(train, args.sentences, True, rng):
            src, lengths, tgt_in, tgt_out = tensors(train, indices)
            logits = model(src, lengths, tgt_in)
            loss = F.cross_entropy(
                logits.flatten(0, 1),
                tgt_out.flatten(),
                ignore_index=PAD,
                label_smoothing=args.label_smoothing,
            )
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step, seen = step + 1, seen + int((tgt_out != PAD).sum())
            if step % args.validate_every == 0 or step == args.updates:
                ppl, bleu = evaluate(model, valid, data["valid"]["tgt"], sp)
                elapsed = time.perf_counter() - started
                print(
                    f"step {step} tokens {seen} dev ppl {ppl:.2f} dev BLEU {bleu:.2f} "
                    f"({elapsed:.0f} s)",
                    flush=True,
                )
            if step == args.updates:
                break


if __name__ == "__main__":
    main()
