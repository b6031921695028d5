"""Choosing the torch device and its precision: one rule for training, translation and
evaluation."""

import contextlib
import os
from pathlib import Path

import torch

from nmt.errors import NmtError, OptionError


def resolve_device(name: str, field: str | None = None) -> torch.device:
    """auto (CUDA when there is one) or any torch device name; errors name the recipe's
    `field`, or else the `device` argument."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise _device_error(name, "not a device (auto, cpu, cuda, cuda:1)", field) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise _device_error(name, "torch sees no CUDA device here", field)
    return device


def _device_error(name: str, reason: str, field: str | None) -> NmtError:
    if field is None:
        return OptionError("device", reason, repr(name))
    return NmtError(f"{field} {name!r}: {reason}")


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
BF16_OVERRIDE = "NMT_CPU_BF16"  # 1 or 0: stand in for a CPU with (or without) bf16


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX), read from the flags
    Linux lists. Not torch.backends.cpu.get_cpu_capability(), which says AVX512 alike for
    CPUs with and without them, nor oneDNN's own check, which also accepts AVX512 CPUs
    that only emulate bf16. Where there is no such file, False: fp32, which is always
    right.

    NMT_CPU_BF16=1 (or 0) overrides the flags: the test suite runs the bf16 path on CPUs
    without it (bf16 autocast computes the same there, only slowly) and the fp32-only path
    on CPUs with it, so that it passes alike on both kinds."""
    override = os.environ.get(BF16_OVERRIDE, "")
    if override in ("0", "1"):
        return override == "1"
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

    auto is fp32 on every machine: the promises decoding makes (a sentence's translation
    does not depend on its batch, --stream gives the batched lines, an export decodes as
    its run, `nmt score` gives the search's scores) hold exactly in fp32 only
    (docs/how-to/decoding.md#precision-and-what-it-promises). bf16 is asked for: on a CPU
    with bf16 instructions it may decode faster with the same BLEU (1.67x fp32 on one,
    0.85x on another), but it rounds every product's inputs to 8 bits of mantissa, so a
    last-bit difference between the kernels a batch of 1 and a batch of 64 use (oneDNN's
    LSTM, which encodes the source, differs so) can change a word. int8 changes the scores
    a little and quantizes each call's activations with one scale, so it depends on the
    batch too; it is asked for as well (CPU only: fbgemm's kernels, nmt/inference/quantize.py).
    """
    if requested not in DECODE_PRECISIONS:
        reason = f"use one of {', '.join(DECODE_PRECISIONS)}"
        raise OptionError("precision", reason, repr(requested))
    if requested == "auto":
        return "fp32"
    if requested == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        raise OptionError(
            "precision",
            "needs a CPU with bf16 instructions (AVX512-BF16 or AMX); this one has none "
            "(use int8, fp32 or auto)",
            "bf16",
        )
    if requested == "int8" and device.type != "cpu":
        raise OptionError(
            "precision", f"runs on the CPU (fbgemm's int8 kernels), not on {device.type}", "int8"
        )
    return requested


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision where asked for, a no-op otherwise."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
