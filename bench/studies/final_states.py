"""Issue 37 item 3: what each final state of the Bi-LSTM holds of a long source, measured.

    python -m bench.studies.final_states position RUN [RUN ...] [--test valid-long] [--lines N]
    python -m bench.studies.final_states ablate RUN [--test valid-long] [--lines N]
    python -m bench.studies.final_states probe RUN [RUN ...] [--test valid-long] [--lines N]
        [--train-lines 3000]

The bilstm hands the decoder two summaries side by side (the forward LSTM's final state,
which read the source up to its last word, and the backward LSTM's, which read it back to
its first); the seq2seq hands over one (its LSTM read the source reversed). Each table is
by source words (the buckets of long_inputs.py) over a `-long` split (nmt/data/joining.py).

`position`: the references forced through the model (teacher forcing, nmt score's
per-piece log-probabilities): the mean negative log-likelihood of a reference piece by
where it stands in its reference, in quarters (EOS left out). Loss that grows in
the last quarter of long references points at the source's end lost; in the middle
quarters, at both ends held and the middle lost. `ablate` (a recurrent run with a
bidirectional encoder and no attention): the same with one direction's final states (h and
c, every layer) replaced by their mean over the split's sentences before the bridge, so
the decoder starts from everything but what that direction read of this sentence: the
quarters whose loss rises are the ones that direction carried.

`probe`: a ridge regression (closed form, standardised features, the penalty picked on a
held-out fifth of its data) from a final state (bilstm: forward, backward, both; seq2seq:
its one) to the bag of source pieces in each third of the source. Fitted on the train
split's sources joined in groups of 1-4 as the `-long` splits are (the first
`--train-lines` of them), scored on the test split. The score is average precision: the
probe ranks the whole source vocabulary, and AP rewards the pieces of that third ranked
above the rest, however many there are. Recall@10 would cap below 1 once a third holds
more than 10 distinct pieces, which the long buckets' thirds do, and so would mix length
into what it measures. `prior` is the probe without a state (each piece's frequency in a
training third): what the frequent pieces alone score; a state that holds a third lifts
that third's AP above it.

The run's best checkpoint is loaded on the CPU (nmt/run/loading.py), in fp32.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor, nn

from bench.studies.long_inputs import EDGES, split_pairs
from nmt.data.batching import collate
from nmt.data.joining import LONG_GROUP_SIZES, group_bounds
from nmt.data.tokenizer import Tokenizer
from nmt.errors import NmtError
from nmt.generation.scoring import score_ids
from nmt.metrics.bleu_by_length import bucket_labels, partition
from nmt.models.model import Seq2Seq
from nmt.run.loading import load_for_inference

QUARTERS = 4
THIRDS = ("first", "middle", "last")
BATCH_TOKENS = 4000  # per forced-decoding batch
ENCODE_BATCH = 128  # sentences per encoder batch (packed: padding changes nothing)
PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # ridge penalties tried, times the fitted rows


def load(run: Path) -> tuple[nn.Module, Tokenizer]:
    """The run's best checkpoint (else its last) in eval mode on the CPU, and its tokenizer."""
    model, _, tokenizer = load_for_inference(run, "cpu")
    return model, tokenizer


def recurrent_without_attention(model: nn.Module, run: Path) -> Seq2Seq:
    """The model, if its decoder starts from the encoder's final states and reads nothing
    else of the source."""
    if not isinstance(model, Seq2Seq) or model.has_attention:
        raise NmtError(f"{run}: not a recurrent model without attention (seq2seq, bilstm)")
    return model


def split_ids(
    tokenizer: Tokenizer, test: str, lines: int | None
) -> tuple[list[str], list[list[int]], list[list[int]]]:
    """Sources, source ids and target ids of the first `lines` pairs of split `test`."""
    src, ref = (side[:lines] for side in split_pairs(test))
    return src, tokenizer.encode_src(src), tokenizer.encode_tgt(ref)


def piece_nll(
    model: nn.Module, src_ids: list[list[int]], tgt_ids: list[list[int]]
) -> list[list[float]]:
    """Each reference's per-piece negative log-likelihood under teacher forcing; EOS left
    out: it says where to stop, not what the source held."""
    scores = score_ids(model, src_ids, tgt_ids, BATCH_TOKENS, 1.0, torch.device("cpu"))
    return [[-value for value in score.tokens[:-1]] for score in scores]


def by_quarter(nlls: Sequence[Sequence[float]]) -> list[float]:
    """The mean over all pieces in each quarter of their reference, then over all pieces."""
    sums, counts = [0.0] * QUARTERS, [0] * QUARTERS
    for row in nlls:
        for position, value in enumerate(row):
            quarter = QUARTERS * position // len(row)
            sums[quarter] += value
            counts[quarter] += 1
    means = [
        total / count if count else float("nan") for total, count in zip(sums, counts, strict=True)
    ]
    return means + [sum(sums) / max(1, sum(counts))]


def quarter_rows(sources: list[str], measured: dict[str, list[list[float]]]) -> None:
    """One Markdown table: per word bucket and measure, the per-quarter NLL (the first
    measure's value, then each other's change from it)."""
    names = list(measured)
    print("| words | n | measure | Q1 | Q2 | Q3 | Q4 | all |")
    print("|---|---|---|---|---|---|---|---|")
    for label, rows in zip(bucket_labels(EDGES), partition(sources, EDGES), strict=True):
        if not rows:
            continue
        base = by_quarter([measured[names[0]][i] for i in rows])
        cells = " | ".join(f"{v:.3f}" for v in base)
        print(f"| {label} | {len(rows)} | {names[0]} | {cells} |")
        for name in names[1:]:
            means = by_quarter([measured[name][i] for i in rows])
            cells = " | ".join(f"{v:.3f} ({v - b:+.3f})" for v, b in zip(means, base, strict=True))
            print(f"| {label} | {len(rows)} | {name} | {cells} |")


def position(run: Path, test: str, lines: int | None) -> None:
    model, tokenizer = load(run)
    src, src_ids, tgt_ids = split_ids(tokenizer, test, lines)
    print(f"{run} on {test} ({len(src)} pairs): reference NLL per piece by quarter")
    quarter_rows(src, {"full": piece_nll(model, src_ids, tgt_ids)})


@torch.inference_mode()
def encoder_finals(model: Seq2Seq, src_ids: list[list[int]]) -> tuple[Tensor, ...]:
    """The encoder's final states of every source in order: each [layers * dirs, N, H]
    (PyTorch's layout: layer 0 forward, layer 0 backward, ...)."""
    parts = []
    for start in range(0, len(src_ids), ENCODE_BATCH):
        chunk = src_ids[start : start + ENCODE_BATCH]
        batch = collate(chunk, None, list(range(len(chunk))))
        parts.append(model.encoder(batch.src, batch.src_lengths)[1])
    return tuple(torch.cat(states, dim=1) for states in zip(*parts, strict=True))


class DirectionAtMean(nn.Module):
    """A bridge whose input has one direction's final states replaced by fixed means."""

    def __init__(self, bridge: nn.Module, means: Sequence[Tensor], direction: int) -> None:
        super().__init__()
        self.bridge, self.means, self.direction = bridge, list(means), direction

    def forward(self, states: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """states and means as Bridge takes them: [layers * dirs, B, H] and [layers * dirs, H]."""
        every = self.bridge.directions
        replaced = []
        for state, mean in zip(states, self.means, strict=True):
            state = state.clone()
            state[self.direction :: every] = mean[self.direction :: every, None]
            replaced.append(state)
        return self.bridge(tuple(replaced))


@contextmanager
def direction_at_mean(model: Seq2Seq, means: Sequence[Tensor], direction: int) -> Iterator[None]:
    """Within: the model's decoder starts with encoder direction `direction` at `means`."""
    bridge = model.bridge
    model.bridge = DirectionAtMean(bridge, means, direction)
    try:
        yield
    finally:
        model.bridge = bridge


def ablate(run: Path, test: str, lines: int | None) -> None:
    loaded, tokenizer = load(run)
    model = recurrent_without_attention(loaded, run)
    if model.encoder.directions != 2:
        raise NmtError(f"{run}: the encoder reads one direction: nothing to ablate")
    src, src_ids, tgt_ids = split_ids(tokenizer, test, lines)
    means = [state.mean(dim=1) for state in encoder_finals(model, src_ids)]
    measured = {"full": piece_nll(model, src_ids, tgt_ids)}
    for direction, name in enumerate(("forward at mean", "backward at mean")):
        with direction_at_mean(model, means, direction):
            measured[name] = piece_nll(model, src_ids, tgt_ids)
    print(
        f"{run} on {test} ({len(src)} pairs): reference NLL per piece by quarter, with one "
        "direction's final states (h, c) at their mean over the split"
    )
    quarter_rows(src, measured)


def state_sets(model: Seq2Seq) -> dict[str, slice]:
    """The rows of the final states ([layers * dirs, ...]) each probe reads."""
    if model.encoder.directions == 1:
        return {"state": slice(None)}
    return {"forward": slice(0, None, 2), "backward": slice(1, None, 2), "both": slice(None)}


def features(finals: tuple[Tensor, ...], rows: slice) -> Tensor:
    """[N, F]: h and c of the chosen rows, every layer, side by side."""
    return torch.cat([state[rows].transpose(0, 1).flatten(1) for state in finals], dim=1)


def third_bags(src_ids: list[list[int]], vocab: int) -> Tensor:
    """[N, 3, vocab]: 1 where a piece occurs in the source's first, middle, last third."""
    bags = torch.zeros(len(src_ids), len(THIRDS), vocab)
    for row, ids in enumerate(src_ids):
        for position, piece in enumerate(ids):
            bags[row, len(THIRDS) * position // len(ids), piece] = 1.0
    return bags


def ridge(x: Tensor, y: Tensor, penalty: float) -> tuple[Tensor, Tensor]:
    """(W, b) minimising |x W + b - y|^2 + penalty |W|^2, b unpenalised: closed form."""
    x_mean, y_mean = x.mean(0), y.mean(0)
    centred = x - x_mean
    gram = centred.T @ centred + penalty * torch.eye(x.size(1), dtype=x.dtype)
    weight = torch.linalg.solve(gram, centred.T @ (y - y_mean))
    return weight, y_mean - x_mean @ weight


def average_precision(scores: Tensor, relevant: Tensor) -> Tensor:
    """[M] AP of each row's ranking of its columns; NaN where a row has nothing relevant."""
    ranked = relevant.gather(1, scores.argsort(dim=1, descending=True)).float()
    hits = ranked.cumsum(1)
    precision = hits / torch.arange(1, ranked.size(1) + 1)
    return (precision * ranked).sum(1) / ranked.sum(1)


def thirds_ap(scores: Tensor, bags: Tensor) -> Tensor:
    """[N, 3] AP of flat scores [N, 3 * vocab] against bags [N, 3, vocab]."""
    count, thirds, vocab = bags.shape
    flat = average_precision(scores.reshape(-1, vocab), bags.reshape(-1, vocab) > 0)
    return flat.view(count, thirds)


class Probe:
    """Standardised features -> scores of every piece in every third (ridge regression)."""

    def __init__(self, x: Tensor, bags: Tensor) -> None:
        """Fit on x [N, F] and bags [N, 3, V], the penalty chosen on the last fifth."""
        self.mean, self.scale = x.mean(0), x.std(0).clamp_min(1e-6)
        x, y = self.standard(x), bags.flatten(1)
        cut = len(x) * 4 // 5

        def held_out(penalty: float) -> float:
            weight, bias = ridge(x[:cut], y[:cut], penalty * cut)
            return thirds_ap(x[cut:] @ weight + bias, bags[cut:]).nanmean().item()

        self.penalty = max(PENALTIES, key=held_out)
        self.weight, self.bias = ridge(x, y, self.penalty * len(x))

    def standard(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.scale

    def scores(self, x: Tensor) -> Tensor:
        return self.standard(x) @ self.weight + self.bias


def train_sources(tokenizer: Tokenizer, count: int) -> list[list[int]]:
    """The ids of the first `count` train sources joined in groups of 1-4 (as `-long`)."""
    src, _ = split_pairs("train")
    bounds = group_bounds(len(src), LONG_GROUP_SIZES)[:count]
    return tokenizer.encode_src([" ".join(src[start:end]) for start, end in bounds])


def probe(run: Path, test: str, lines: int | None, train_lines: int) -> None:
    loaded, tokenizer = load(run)
    model = recurrent_without_attention(loaded, run)
    vocab = tokenizer.src_vocab_size
    fit_ids = train_sources(tokenizer, train_lines)
    src, src_ids, _ = split_ids(tokenizer, test, lines)
    fit_finals, test_finals = encoder_finals(model, fit_ids), encoder_finals(model, src_ids)
    fit_bags, test_bags = third_bags(fit_ids, vocab), third_bags(src_ids, vocab)
    found, chosen = {}, []
    for name, rows in state_sets(model).items():
        fitted = Probe(features(fit_finals, rows), fit_bags)
        found[name] = thirds_ap(fitted.scores(features(test_finals, rows)), test_bags)
        chosen.append(f"{name} {fitted.penalty:g}")
    prior = fit_bags.flatten(1).mean(0).expand(len(src_ids), -1)
    found["prior"] = thirds_ap(prior, test_bags)
    print(
        f"{run}: ridge probes fitted on {len(fit_ids)} joined train sources (penalty per "
        f"fitted row: {', '.join(chosen)}), scored on {test} ({len(src)} sources): mean "
        "average precision of each third's source pieces"
    )
    print("| words | n | state | first | middle | last |")
    print("|---|---|---|---|---|---|")
    for label, rows in zip(bucket_labels(EDGES), partition(src, EDGES), strict=True):
        if not rows:
            continue
        for name, ap in found.items():
            cells = " | ".join(f"{v:.3f}" for v in ap[rows].nanmean(0).tolist())
            print(f"| {label} | {len(rows)} | {name} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("position", "ablate", "probe"):
        command = commands.add_parser(name)
        command.add_argument("runs", type=Path, nargs="+")
        command.add_argument("--test", default="valid-long")
        command.add_argument("--lines", type=int, help="the first N pairs of --test only")
        if name == "probe":
            command.add_argument("--train-lines", type=int, default=3000, help="joined sources")
    args = parser.parse_args()
    for run in args.runs:
        if args.command == "position":
            position(run, args.test, args.lines)
        elif args.command == "ablate":
            ablate(run, args.test, args.lines)
        else:
            probe(run, args.test, args.lines, args.train_lines)


if __name__ == "__main__":
    main()
