"""Shared fixtures: the local corpus mirror, found beside the repository, and a tiny recipe."""

import os
from pathlib import Path

import pytest
import torch
import yaml

# Tests never touch the network. Set here, before any test module imports datasets or
# huggingface_hub: both read these variables once, at import time.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

MIRROR = Path(
    os.environ.get("NMT_DATA", Path(__file__).resolve().parents[1].parent / "shared/data")
)


@pytest.fixture
def mirror() -> Path:
    """The local corpus mirror; tests that need it skip when it is absent."""
    if not (MIRROR / "multi30k").is_dir():
        pytest.skip(f"local corpus mirror not found at {MIRROR} (set NMT_DATA)")
    return MIRROR


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test offline, even one that changed the environment before it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest, and reproducibly, on one thread (the same in child processes)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["avx2", "bf16"])
def cpu_kind(request, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test as on a CPU without bf16 instructions and as on one with them, whichever
    runs it: NMT_CPU_BF16 stands in for the CPU's flags (nmt/device.py), here and in the
    commands a test starts. bf16 autocast computes the same on either kind, only slower
    without the instructions."""
    monkeypatch.setenv("NMT_CPU_BF16", "1" if request.param == "bf16" else "0")
    return request.param


@pytest.fixture(scope="module")
def tiny_recipe(tmp_path_factory) -> Path:
    """A recipe that trains in a second on a toy corpus (prepared once for the module)."""
    from test_prepare import CARD, toy_pairs, write_split

    root = tmp_path_factory.mktemp("gate")
    mirror = root / "mirror"
    for split, seed in (("train", 0), ("valid", 1), ("test", 2)):
        write_split(mirror, split, toy_pairs(60 if split == "train" else 8, seed))
    card = root / "toy.yaml"
    card.write_text(yaml.safe_dump(CARD), encoding="utf-8")
    tree = {
        "name": "gate",
        "data": {"corpus": str(card), "data_dir": str(mirror), "cache_dir": str(root / "cache")}
        | {"src": "de", "tgt": "en", "vocab_size": 60},
        "model": {"embed_dim": 8, "encoder_hidden": 4, "decoder_hidden": 8, "attention_dim": 8}
        | {"encoder_layers": 1, "decoder_layers": 1},
        "train": {"batch_tokens": 150, "max_epochs": 1, "max_updates": 3, "validate_every": 0}
        | {"device": "cpu", "log_every": 1},
        "decode": {"beam": 2, "max_len_b": 4},
    }
    path = root / "gate.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path
