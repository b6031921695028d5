"""Patch OpenNMT-py 3.5.1 for torch >= 2.6 and a lean install; run with the peer venv's python.

1. torch.load now defaults to weights_only=True, and OpenNMT-py checkpoints pickle the
   training options (an argparse.Namespace): translating fails with "Weights only load
   failed". Its own checkpoint loader gets weights_only=False (our own files, trusted).
2. onmt/transforms/__init__.py imports every transform module eagerly, so `import onmt`
   needs spacy, pyahocorasick, rapidfuzz and fasttext (spacy alone is a 35 MB wheel). A
   transform whose import fails is skipped with a warning; the benchmark uses none of them.
"""

from bench.peers.patching import MARK, apply

apply(
    "onmt",
    [
        (
            "models/model_saver.py",
            'checkpoint = torch.load(ckpt_path, map_location=torch.device("cpu"))',
            'checkpoint = torch.load(ckpt_path, map_location=torch.device("cpu"), '
            f"weights_only=False)  # {MARK}",
        ),
        (
            "transforms/__init__.py",
            '        module = importlib.import_module("onmt.transforms." + file_name)\n',
            f"        try:  # {MARK}: optional dependencies\n"
            '            module = importlib.import_module("onmt.transforms." + file_name)\n'
            "        except ImportError as error:\n"
            "            import warnings\n\n"
            '            warnings.warn(f"onmt transform {file_name} skipped: {error}")\n',
        ),
    ],
)
