"""Choosing the torch device and its precision: one rule for training, translation and
evaluation."""

import contextlib
from pathlib import Path

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


BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names for native bf16 products


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX), read from the flags
    Linux lists. Not torch.backends.cpu.get_cpu_capability(), which says AVX512 alike for
    CPUs with and without them, nor oneDNN's own check, which also accepts AVX512 CPUs
    that only emulate bf16. Where there is no such file, False: fp32, which is always
    right."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    lines = [line for line in text.splitlines() if line.startswith("flags")]
    flags = {flag for line in lines for flag in line.split()}
    return any(flag in flags for flag in BF16_FLAGS)


DECODE_PRECISIONS = ("auto", "fp32", "bf16", "int8")


def decode_precision(requested: str, device: torch.device) -> str:
    """The precision translation runs in (fp32, bf16 or int8) for `requested` on `device`.

    auto: bf16 on a CPU with bf16 instructions, where the trained small attention model
    decoded 1.67x faster at beam 5 with BLEU 34.47 against fp32's 34.28 (2-core EPYC with
    AVX512-BF16, issue 24); fp32 everywhere else: bf16 autocast was slower than fp32 at
    these sizes on an H100, and a CPU without bf16 instructions runs it 10x slower. int8
    changes the scores a little, so auto never picks it; it is asked for (CPU only:
    fbgemm's kernels, nmt/quantize.py).
    """
    if requested not in DECODE_PRECISIONS:
        raise NmtError(f"--precision {requested!r}: use one of {', '.join(DECODE_PRECISIONS)}")
    if requested == "auto":
        return "bf16" if device.type == "cpu" and cpu_has_bf16() else "fp32"
    if requested == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        raise NmtError(
            "--precision bf16: needs a CPU with bf16 instructions (AVX512-BF16 or AMX); this "
            "one has none (use int8, fp32 or auto)"
        )
    if requested == "int8" and device.type != "cpu":
        raise NmtError(
            f"--precision int8: runs on the CPU (fbgemm's int8 kernels), not on {device.type}"
        )
    return requested


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision where asked for, a no-op otherwise."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
