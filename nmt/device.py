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
    H100 (bench/results/2026-11-23-h100.json), and on an AVX2 CPU (no bf16 arithmetic) the
    quick recipe trained 13x slower in bf16 (140 against 1,800 tokens/s) and oneDNN's LSTM
    then failed to run in bf16 at all. bf16 is used where a recipe asks for it, on a CUDA
    device or a CPU with bf16 instructions (AVX512-BF16, AMX).
    """
    if precision != "bf16":
        return None
    if device.type == "cpu" and not cpu_has_bf16():
        raise NmtError(
            "train.precision: bf16 needs a CPU with bf16 instructions (AVX512-BF16 or AMX); "
            "this one has none, so use fp32 (or auto)"
        )
    return torch.bfloat16


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision where asked for, a no-op otherwise."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
