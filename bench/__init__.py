"""The benchmark behind the README's speed figures, and the studies behind its findings.

speed/ times our rows, the bare-LSTM ceiling and decoding against the targets of
speed/targets.json; peers/ sets up and times Joey NMT and OpenNMT-py on the same data;
studies/ holds the one-off measurements the README cites; load/ puts load on `nmt serve`.
Run each script as a module from the repository root: `python -m bench.speed.ours --help`.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
