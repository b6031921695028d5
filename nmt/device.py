"""Choosing the torch device and its precision: one rule for training, translation and
evaluation."""

import contextlib

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


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for train.precision on device; None is plain fp32.

    auto is fp32 everywhere: bf16 autocast was slower than fp32 at these model sizes on an
    H100 (bench/results/2026-11-23-h100.json). bf16 is used where a recipe asks for it.
    """
    return torch.bfloat16 if precision == "bf16" else None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision where asked for, a no-op otherwise."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
