"""Load on `nmt serve` against `nmt translate` of a file (the speed target of issue 15).

    OMP_NUM_THREADS=1 python -m bench.load.serve_load RUN [--clients 16] [--seconds 30]

Starts `nmt serve RUN` on 127.0.0.1 (a free port; nothing else is contacted), then
--clients threads each send 1-sentence POST /v1/translate requests, one after the other,
for --seconds (and --max-requests at most in all), taking the sentences of Multi30k
test2016 (de, from the mirror in $NMT_DATA) in turn. Reports the sentences/s answered,
the p50 and p99 latency of a request and the mean number of requests per model call (from
the server's access log). Then `nmt translate RUN -i FILE` of the same sentences as one
file, with the sentences/s it reports itself (model loading excluded), and the server's
share of that (target: at least 0.70). Last, the same sentences through nmt.Translator
alone in calls of --clients sentences: with every client waiting for its answer, no call
can hold more, so its share of the file's speed bounds the server's. All decode at the
run's beam unless --beam, and all see this process's OMP_NUM_THREADS. The clients run in
this process, on the same CPU as the server: on a small machine they take some of its time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench import ROOT
from nmt.inference.translator import Translator
from nmt.textio import read_lines

MIRROR = Path(os.environ.get("NMT_DATA", ROOT.parent / "shared/data"))
TEST = MIRROR / "multi30k" / "test_2016_flickr.de.gz"
TARGET = 0.70  # the server's sentences/s over the file's
START_WAIT = 300  # seconds for the server to load the run and listen


def start_server(args: argparse.Namespace, log: Path) -> tuple[subprocess.Popen, str]:
    """`nmt serve RUN` on a free loopback port, logging to `log` (read, never a pipe that
    could fill and block it); its process and URL once it listens."""
    command = [sys.executable, "-m", "nmt", "serve", str(args.run), "--port", "0"]
    command += ["--device", args.device, "--batch-wait-ms", str(args.batch_wait_ms)]
    process = subprocess.Popen(command, stderr=log.open("wb"))
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"serving on (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            return process, found[1]
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"nmt serve did not start:\n{log.read_text()}")


def load(url: str, sentences: list[str], args: argparse.Namespace) -> dict:
    """Every client in a loop of 1-sentence requests until the time or the count is up."""
    latencies: list[float] = []
    failures: list[str] = []
    sent = iter(range(args.max_requests))
    lock = threading.Lock()
    deadline = time.perf_counter() + args.seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while time.perf_counter() < deadline:
                with lock:
                    number = next(sent, None)
                if number is None:
                    return
                body = {"text": [sentences[number % len(sentences)]], "beam": args.beam}
                start = time.perf_counter()
                reply = http.post("/v1/translate", json=body)
                took = time.perf_counter() - start
                with lock:
                    if reply.status_code == 200:
                        latencies.append(took)
                    else:
                        failures.append(reply.text)

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, the first: {failures[0]}")
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "seconds": round(seconds, 1),
        "serve_sent_per_s": round(len(latencies) / seconds, 1),
        "latency_p50_ms": round(cuts[49] * 1000, 1),
        "latency_p99_ms": round(cuts[98] * 1000, 1),
    }


def requests_per_call(log: Path, start: int) -> float:
    """The mean number of requests that shared a model call, from the access log's lines
    after byte `start` (each request logs how many shared its call)."""
    text = log.read_bytes()[start:].decode()
    pattern = r'"POST /v1/translate" 200 .* batch (\d+) requests'
    rides = [int(found[1]) for found in re.finditer(pattern, text)]
    return round(len(rides) / sum(1 / ride for ride in rides), 2)


def translate_file(
    run: Path, sentences: list[str], args: argparse.Namespace, folder: Path
) -> float:
    """`nmt translate RUN -i FILE`'s own sentences/s on the sentences as one file."""
    source, output = folder / "test.de", folder / "test.en"
    source.write_text("".join(line + "\n" for line in sentences), encoding="utf-8")
    command = [sys.executable, "-m", "nmt", "translate", str(run), "-i", str(source)]
    command += ["-o", str(output), "--device", args.device]
    if args.beam is not None:
        command += ["--beam", str(args.beam)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(re.search(r"\(([\d.]+) sentences/s\)", done.stderr)[1])


def calls_alone(run: Path, sentences: list[str], args: argparse.Namespace) -> float:
    """Sentences/s of the Translator alone (no server, no clients) in calls of --clients
    sentences: the most a call can hold when every client waits for its answer before
    sending again, so the best the server could do under this load."""
    translator = Translator.load(run, device=args.device)
    options = {} if args.beam is None else {"beam": args.beam}
    translator.translate(sentences[: args.clients], **options)  # warm-up
    chunks = [sentences[i : i + args.clients] for i in range(0, len(sentences), args.clients)]
    start = time.perf_counter()
    for chunk in chunks:
        translator.translate(chunk, **options)
    return round(len(sentences) / (time.perf_counter() - start), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--beam", type=int, help="default: the run's")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0, help="nmt serve's option")
    args = parser.parse_args()
    sentences = read_lines(TEST)[: args.lines]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        log = folder / "serve.log"
        server, url = start_server(args, log)
        try:
            for sentence in sentences[: args.clients]:  # warm-up
                httpx.post(f"{url}/v1/translate", json={"text": [sentence]}, timeout=60)
            logged = log.stat().st_size
            row = load(url, sentences, args)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        row["requests_per_call"] = requests_per_call(log, logged)
        row["file_sent_per_s"] = translate_file(args.run, sentences, args, folder)
    row["calls_of_clients_alone_sent_per_s"] = calls_alone(args.run, sentences, args)
    row["serve_vs_file"] = round(row["serve_sent_per_s"] / row["file_sent_per_s"], 2)
    ceiling = row["calls_of_clients_alone_sent_per_s"] / row["file_sent_per_s"]
    row["calls_of_clients_alone_vs_file"] = round(ceiling, 2)
    row["target"] = f">= {TARGET}: {'met' if row['serve_vs_file'] >= TARGET else 'missed'}"
    row = {"system": "nmt serve", "arch": str(args.run), "clients": args.clients, **row}
    row["batch_wait_ms"] = args.batch_wait_ms
    row["threads"] = os.environ.get("OMP_NUM_THREADS", "all")
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
