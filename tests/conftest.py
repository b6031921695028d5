"""Shared fixtures: the local corpus mirror, found beside the repository."""

import os
from pathlib import Path

import pytest

MIRROR = Path(
    os.environ.get("NMT_DATA", Path(__file__).resolve().parents[1].parent / "shared/data")
)


@pytest.fixture
def mirror() -> Path:
    """The local corpus mirror; tests that need it skip when it is absent."""
    if not (MIRROR / "multi30k").is_dir():
        pytest.skip(f"local corpus mirror not found at {MIRROR} (set NMT_DATA)")
    return MIRROR
