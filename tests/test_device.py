"""Precision: training in fp32 unless bf16 is asked for; decoding in bf16 by default only on a
CPU with bf16 instructions (read from its flags, monkeypatched here so that no test depends on
the machine); bf16 refused on a CPU that cannot run it, int8 off the CPU."""

import pytest
import torch

from nmt import device as dev
from nmt.errors import NmtError


@pytest.mark.parametrize("name", ["cpu", "cuda"])
def test_auto_and_fp32_mean_fp32_on_every_device(name):
    for precision in ("auto", "fp32"):
        assert dev.amp_dtype(precision, torch.device(name)) is None
    assert dev.autocast(torch.device(name), None).__class__.__name__ == "nullcontext"


def test_bf16_on_a_cpu_without_bf16_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    with pytest.raises(NmtError, match=r"train\.precision: bf16 needs a CPU with bf16"):
        dev.amp_dtype("bf16", torch.device("cpu"))
    assert dev.amp_dtype("bf16", torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: True)
    assert dev.amp_dtype("bf16", torch.device("cpu")) == torch.bfloat16


CPUINFO = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma {extra}\n\n"


@pytest.mark.parametrize(
    ("extra", "has"),
    [("", False), ("avx512f avx512bw", False), ("avx512_bf16", True), ("amx_bf16", True)],
)
def test_bf16_is_read_from_the_cpu_flags(tmp_path, extra, has):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra) * 2)
    assert dev.cpu_has_bf16(cpuinfo) is has
    assert dev.cpu_has_bf16(tmp_path / "missing") is False  # not Linux: fp32


@pytest.mark.parametrize(
    ("requested", "device", "bf16_cpu", "chosen"),
    [
        ("auto", "cpu", True, "bf16"),
        ("auto", "cpu", False, "fp32"),
        ("auto", "cuda", True, "fp32"),  # slower than fp32 at these sizes on an H100
        ("fp32", "cpu", True, "fp32"),
        ("bf16", "cpu", True, "bf16"),
        ("bf16", "cuda", False, "bf16"),
        ("int8", "cpu", False, "int8"),
        ("int8", "cpu", True, "int8"),
    ],
)
def test_the_decoding_precision_by_the_machine(monkeypatch, requested, device, bf16_cpu, chosen):
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: bf16_cpu)
    assert dev.decode_precision(requested, torch.device(device)) == chosen


@pytest.mark.parametrize(
    ("requested", "device", "message"),
    [
        ("bf16", "cpu", r"^--precision bf16: needs a CPU with bf16 instructions"),
        ("int8", "cuda", r"^--precision int8: runs on the CPU"),
        ("fp16", "cpu", r"^--precision 'fp16': use one of auto, fp32, bf16, int8"),
    ],
)
def test_a_precision_the_machine_cannot_run_is_one_line(monkeypatch, requested, device, message):
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    with pytest.raises(NmtError, match=message):
        dev.decode_precision(requested, torch.device(device))
