"""Choosing the torch device: one rule for training, translation and evaluation."""

import torch

from nmt.errors import NmtError


def resolve_device(name: str, option: str = "--device") -> torch.device:
    """auto (CUDA when there is one) or any torch device name; errors name `option`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise NmtError(f"{option} {name!r}: not a device (auto, cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NmtError(f"{option} {name!r}: torch sees no CUDA device here")
    return device
