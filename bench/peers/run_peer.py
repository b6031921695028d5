"""Train and decode one peer toolkit on a bench model and print its results row.

    python -m bench.peers.run_peer joey --data bench/scratch/data --device cuda
    python -m bench.peers.run_peer onmt --arch transformer --data bench/scratch/data --device cpu

--arch attention is the bench model of joey.yaml / onmt.yaml; --arch transformer puts the
model of joey_transformer.yaml / onmt_transformer.yaml in place of theirs (same data,
batches and optimisation).

Trains --updates updates from scratch through probe.py (exact per-update clock and real
target tokens, peak device memory), then decodes the test set three ways at --decode-batch
sentences a batch: beam 5 stopping at EOS (BLEU), beam 5 at a fixed length (min = max =
--fixed-len pieces: the same search work in every system) and greedy. Sentences per second
use the toolkit's own search time, which excludes loading the model: Joey's "Generation
took", OpenNMT-py's output pieces over its "Tokens per second" (its total time is printed
to 0.1 s only). BLEU is sacrebleu on the hypotheses detokenised by our sentencepiece model.

The row (schema in bench/PROTOCOL.md, extra figures under "details") is printed last, written to
RUN/row.json and, with --out, appended to a results file.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import sacrebleu
import sentencepiece as spm
import yaml

from bench import ROOT
from bench.speed.results import append_rows

HERE = Path(__file__).resolve().parent

SCRATCH = ROOT / "bench" / "scratch"
PACKAGES = {"joey": "joeynmt", "onmt": "OpenNMT-py"}
UNK = 1  # our sentencepiece models' unknown id (nmt.data.tokenizer.UNK)


def fill(template: Path, values: dict[str, str]) -> str:
    text = template.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def run_logged(cmd: list[str], log: Path) -> float:
    """Run cmd with its output in log; exit with the log's tail if it fails. Returns wall s."""
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if code != 0:
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-30:])
        sys.exit(f"{tail}\nerror: exit status {code}: {' '.join(cmd)} (log: {log})")
    return wall


class Peer:
    """What differs between the toolkits: config, commands, checkpoint and log lines."""

    def __init__(self, args: argparse.Namespace, meta: dict) -> None:
        self.args = args
        self.run = args.run_dir
        self.python = str(args.venv / "bin" / "python")
        self.values = {
            "DATA": str(args.data.resolve()),
            "SRC": meta["src_lang"],
            "TGT": meta["tgt_lang"],
            "RUN": str(self.run.resolve()),
        }
        self.cuda = args.device == "cuda"
        self.fp16 = args.precision == "fp16"

    def probe(self, out: Path, module: str, *argv: str) -> list[str]:
        return [self.python, str(HERE / "probe.py"), str(out), "-m", module, *argv]

    def template(self, peer: str) -> dict:
        """The peer's config with the placeholders filled; --arch transformer's model over it."""
        cfg = yaml.safe_load(fill(HERE / f"{peer}.yaml", self.values))
        if self.args.arch == "transformer":
            model = yaml.safe_load((HERE / f"{peer}_transformer.yaml").read_text("utf-8"))
            cfg.update(model)
        return cfg


class Joey(Peer):
    def config(self, mode: str, beam: int = 5, min_len: int = 1, max_len: int = 100) -> Path:
        cfg = self.template("joey")
        cfg["use_cuda"] = self.cuda
        cfg["fp16"] = self.fp16
        if mode == "train":
            cfg["data"].pop("test")
            cfg["training"]["updates"] = self.args.updates
            if self.args.batch_size:
                cfg["training"]["batch_size"] = self.args.batch_size
        else:  # `joeynmt test` decodes every split in the config: keep test only
            cfg["data"].pop("dev")
            cfg["data"]["test"] = str(self.args.test_prefix)
            cfg["testing"].update(
                beam_size=beam,
                batch_size=self.args.decode_batch,
                min_output_length=min_len,
                max_output_length=max_len,
                load_model=str(self.run / "model" / "latest.ckpt"),
            )
        path = self.run / f"{mode}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), "utf-8")
        return path

    def train_cmd(self, probe_out: Path) -> list[str]:
        return self.probe(probe_out, "joeynmt", "train", str(self.config("train")), "--skip-test")

    def decode(self, tag: str, beam: int, min_len: int, max_len: int) -> tuple[Path, float]:
        cfg = self.config(tag, beam, min_len, max_len)
        prefix = self.run / f"hyp_{tag}"
        log = self.run / f"{tag}.log"
        run_logged([self.python, "-m", "joeynmt", "test", str(cfg), "-o", str(prefix)], log)
        times = re.findall(r"Generation took ([\d.]+)\[sec\]", log.read_text(encoding="utf-8"))
        return prefix.with_suffix(".test"), float(times[-1])


class Onmt(Peer):
    def train_cmd(self, probe_out: Path) -> list[str]:
        cfg = self.run / "train.yaml"
        text = yaml.safe_dump(self.template("onmt"), sort_keys=False, allow_unicode=True)
        cfg.write_text(text, encoding="utf-8")
        argv = ["-config", str(cfg), "-train_steps", str(self.args.updates)]
        argv += ["-save_model", str(self.run / "model" / "model")]
        if self.cuda:
            argv += ["-world_size", "1", "-gpu_ranks", "0"]
        if self.fp16:
            argv += ["-model_dtype", "fp16"]
        if self.args.batch_size:
            argv += ["-batch_size", str(self.args.batch_size)]
        return self.probe(probe_out, "onmt.bin.train", *argv)

    def decode(self, tag: str, beam: int, min_len: int, max_len: int) -> tuple[Path, float]:
        checkpoints = sorted((self.run / "model").glob("model_step_*.pt"))
        if not checkpoints:
            sys.exit(f"error: no checkpoint in {self.run / 'model'} (train first)")
        checkpoint = max(checkpoints, key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        hyp = self.run / f"hyp_{tag}.pieces"
        log = self.run / f"{tag}.log"
        cmd = [self.python, "-m", "onmt.bin.translate", "-model", str(checkpoint)]
        cmd += ["-src", f"{self.args.test_prefix}.{self.values['SRC']}", "-output", str(hyp)]
        cmd += ["-beam_size", str(beam), "-n_best", "1", "-length_penalty", "none"]
        cmd += ["-batch_size", str(self.args.decode_batch), "-batch_type", "sents"]
        cmd += ["-min_length", str(min_len), "-max_length", str(max_len)]
        cmd += ["-max_length_ratio", "0", "-report_time"]
        cmd += ["-gpu", "0" if self.cuda else "-1", "-precision", self.args.precision]
        run_logged(cmd, log)
        text = log.read_text(encoding="utf-8")
        pieces = sum(len(line.split()) for line in read_lines(hyp))
        rate = re.findall(r"Tokens per second: ([\d.]+)", text)
        if pieces and rate and float(rate[-1]) > 0:
            return hyp, pieces / float(rate[-1])
        return hyp, float(re.findall(r"Total translation time \(s\): ([\d.]+)", text)[-1])


def steady_state(steps: list[list[float]], skip: int) -> dict:
    """Real target tokens per second over the updates after the first `skip` (>= 1).

    Each step is (clock after the update, its real target tokens): the timed span runs from
    the end of update `skip` to the end of the last one.
    """
    if len(steps) <= skip:
        sys.exit(f"error: only {len(steps)} updates recorded, need more than --skip {skip}")
    timed = steps[skip:]
    seconds = timed[-1][0] - steps[skip - 1][0]
    tokens = sum(tokens for _, tokens in timed)
    half = skip + len(timed) // 2  # a peer is trained once: its two halves stand in for repeats
    halves = [
        sum(t for _, t in steps[a + 1 : b + 1]) / (steps[b][0] - steps[a][0])
        for a, b in ((skip - 1, half - 1), (half - 1, len(steps) - 1))
    ]
    return {
        "train_tok_per_s": round(tokens / seconds, 1),
        "halves_tok_per_s": [round(rate, 1) for rate in halves],
        "halves_spread": round(abs(halves[0] - halves[1]) / (tokens / seconds), 4),
        "timed_updates": len(timed),
        "tgt_tokens_per_update": round(tokens / len(timed), 1),
        "s_per_update": round(seconds / len(timed), 4),
    }


def read_lines(path: Path) -> list[str]:
    """Lines split at "\\n" only: str.splitlines also breaks at \\x85, \\u2028 and the like."""
    text = path.read_text(encoding="utf-8")
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def bleu(hyp: Path, ref: Path, data: Path) -> tuple[float, float, int]:
    """sacrebleu of the detokenised hypotheses; also their mean length in pieces.

    Tokens map back to ids through joey.vocab (line n holds id n + 4; export_data.py escapes
    whitespace inside pieces), then our sentencepiece model detokenises the ids.
    """
    ids = {token: n + 4 for n, token in enumerate(read_lines(data / "joey.vocab"))}
    processor = spm.SentencePieceProcessor(model_file=str(data / "spm.model"))
    hyps = [line.split() for line in read_lines(hyp)]
    refs = read_lines(ref)
    if len(hyps) != len(refs):
        sys.exit(f"error: {hyp} has {len(hyps)} lines, {ref} has {len(refs)}")
    text = [processor.decode([ids.get(token, UNK) for token in tokens]) for tokens in hyps]
    score = sacrebleu.corpus_bleu(text, [refs]).score
    return round(score, 2), round(sum(map(len, hyps)) / max(len(hyps), 1), 2), len(hyps)


def test_set(args: argparse.Namespace, meta: dict) -> Path:
    """Prefix of the test files to decode: the exported ones, or their first --test-lines."""
    if not args.test_lines:
        return args.data / "tok" / "test"
    folder = args.run_dir / "test"
    for kind in ("tok", "raw"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for lang in (meta["src_lang"], meta["tgt_lang"]):
            head = read_lines(args.data / kind / f"test.{lang}")[: args.test_lines]
            text = "".join(line + "\n" for line in head)
            (folder / kind / f"test.{lang}").write_text(text, encoding="utf-8")
    return folder / "tok" / "test"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("peer", choices=sorted(PACKAGES))
    parser.add_argument("--arch", choices=["attention", "transformer"], default="attention")
    parser.add_argument("--data", type=Path, required=True, help="export_data.py's folder")
    parser.add_argument("--venv", type=Path, help="peer venv (bench/scratch/venvs/PEER)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    parser.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    parser.add_argument("--updates", type=int, default=140, help="training updates")
    parser.add_argument("--skip", type=int, default=20, help="warm-up updates left untimed")
    parser.add_argument("--batch-size", type=int, help="override the config's token batch")
    parser.add_argument("--decode-batch", type=int, default=64, help="sentences a batch")
    parser.add_argument("--max-len", type=int, default=100, help="output cap, natural decodes")
    parser.add_argument("--fixed-len", type=int, default=30, help="pieces, fixed-length decode")
    parser.add_argument("--test-lines", type=int, default=0, help="decode only the first N")
    parser.add_argument("--run-dir", type=Path, help="default bench/scratch/runs/PEER-...")
    parser.add_argument("--decode-only", action="store_true", help="reuse the trained model")
    parser.add_argument("--out", type=Path, help="results file to append the row to")
    args = parser.parse_args()
    if args.skip < 1:
        parser.error("--skip must be at least 1: the clock starts at the end of an update")
    args.venv = args.venv or SCRATCH / "venvs" / args.peer
    name = f"{args.peer}-{args.arch}-{args.device}-{args.precision}"
    args.run_dir = args.run_dir or SCRATCH / "runs" / name
    return args


def main() -> None:
    args = parse_args()
    meta = json.loads((args.data / "meta.json").read_text(encoding="utf-8"))
    if not args.decode_only:
        shutil.rmtree(args.run_dir, ignore_errors=True)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    args.test_prefix = test_set(args, meta)
    peer = {"joey": Joey, "onmt": Onmt}[args.peer](args, meta)
    probe_out = args.run_dir / "train_probe.json"
    details: dict = {
        "updates": args.updates,
        "decode_batch": args.decode_batch,
        "fixed_len": args.fixed_len,
        "command": " ".join(sys.argv),
    }
    if not args.decode_only:
        details["train_wall_s"] = round(
            run_logged(peer.train_cmd(probe_out), args.run_dir / "train.log"), 1
        )
    probe = json.loads(probe_out.read_text(encoding="utf-8"))
    details.update(steady_state(probe["steps"], args.skip))
    details["peak_rss_mb"] = round(probe["peak_rss_mb"], 1)
    details["peak_cuda_reserved_mb"] = probe["peak_cuda_reserved_mb"]

    ref = args.test_prefix.parent.parent / "raw" / f"test.{meta['tgt_lang']}"
    natural_min = 1 if args.peer == "joey" else 0  # each toolkit's default
    decodes = {
        "beam5": (5, natural_min, args.max_len),
        "beam5_fixed": (5, args.fixed_len, args.fixed_len),
        "greedy": (1, natural_min, args.max_len),
    }
    speed = {}
    for tag, (beam, min_len, max_len) in decodes.items():
        hyp, seconds = peer.decode(tag, beam, min_len, max_len)
        score, length, sentences = bleu(hyp, ref, args.data)
        speed[tag] = round(sentences / seconds, 2)
        details[f"{tag}_search_s"] = round(seconds, 3)
        details[f"{tag}_bleu"] = score
        details[f"{tag}_mean_pieces"] = length
    details["test_sentences"] = sentences

    notes = [f"{PACKAGES[args.peer]}; real target tokens incl. EOS, timed by probe.py"]
    if details["timed_updates"] < 100:
        notes.append(f"only {details['timed_updates']} timed updates (protocol: >= 100)")
    if args.precision == "fp16":
        notes.append("fp16 autocast + GradScaler: the toolkit has no bf16 option")
        if args.peer == "onmt":
            notes.append("its fp16 decode casts the model to half (no autocast)")
    if args.test_lines:
        notes.append(f"decoded the first {sentences} test sentences only")
    peak = probe["peak_cuda_allocated_mb"]
    if args.device == "cpu":
        notes.append("peak_mem_mb: peak RSS of the training process")
        peak = probe["peak_rss_mb"]
    row = {
        "system": args.peer,
        "arch": args.arch,
        "precision": args.precision,
        "train_tok_per_s": details.pop("train_tok_per_s"),
        "peak_mem_mb": peak if peak is None else round(peak),
        "decode_beam5_fixed30_sent_per_s": speed["beam5_fixed"],
        "decode_beam5_sent_per_s": speed["beam5"],
        "decode_greedy_sent_per_s": speed["greedy"],
        "bleu_beam5": details["beam5_bleu"],
        "notes": "; ".join(notes),
        "details": details,
    }
    (args.run_dir / "row.json").write_text(json.dumps(row, indent=1) + "\n", encoding="utf-8")
    if args.out:
        append_rows(args.out, [row], probe["device_name"], probe["torch"])
    print(json.dumps(row))


if __name__ == "__main__":
    main()
