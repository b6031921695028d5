"""Patch Joey NMT 2.3.0 for the benchmark; run with the peer venv's python.

Joey parses `testing.min_output_length` but never passes it to search() (prediction.py),
so the fixed-length decode (min = max = 30 pieces) would stop at the first EOS. We pass it.
Nothing else is needed on torch 2.11-2.13 with the benchmark config (its scheduler is
"exponential"; the "plateau" one would hit torch's removed `verbose` argument).
"""

from bench.peers.patching import MARK, apply

apply(
    "joeynmt",
    [
        (
            "prediction.py",
            "                    max_output_length=args.max_output_length,\n"
            "                    n_best=args.n_best,\n",
            "                    max_output_length=args.max_output_length,\n"
            f"                    min_output_length=args.min_output_length,  # {MARK}\n"
            "                    n_best=args.n_best,\n",
        )
    ],
)
