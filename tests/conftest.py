"""Shared fixtures: the local corpus mirror, found beside the repository."""

import os
from pathlib import Path

import pytest
import torch

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
