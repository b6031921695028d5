"""Precision: training and decoding in fp32 unless bf16 or int8 is asked for, on every
machine; bf16 refused on a CPU without bf16 instructions (read from its flags, or stood in
for by NMT_CPU_BF16, so that no test depends on the machine), int8 off the CPU."""

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
def test_bf16_is_read_from_the_cpu_flags(tmp_path, monkeypatch, extra, has):
    monkeypatch.delenv(dev.BF16_OVERRIDE, raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra) * 2)
    assert dev.cpu_has_bf16(cpuinfo) is has
    assert dev.cpu_has_bf16(tmp_path / "missing") is False  # not Linux: fp32


@pytest.mark.parametrize(
    ("requested", "device", "bf16_cpu", "chosen"),
    [
        ("auto", "cpu", True, "fp32"),  # the promises hold in fp32 only: bf16 is asked for
        ("auto", "cpu", False, "fp32"),
        ("auto", "cuda", True, "fp32"),
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
        ("bf16", "cpu", r"^precision bf16: needs a CPU with bf16 instructions"),
        ("int8", "cuda", r"^precision int8: runs on the CPU"),
        ("fp16", "cpu", r"^precision 'fp16': use one of auto, fp32, bf16, int8"),
    ],
)
def test_a_precision_the_machine_cannot_run_is_one_line(monkeypatch, requested, device, message):
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    with pytest.raises(NmtError, match=message):
        dev.decode_precision(requested, torch.device(device))


@pytest.mark.parametrize(("value", "has"), [("1", True), ("0", False)])
def test_the_stand_in_overrides_the_cpu_flags(tmp_path, monkeypatch, value, has):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra="" if has else "avx512_bf16"))
    monkeypatch.setenv(dev.BF16_OVERRIDE, value)
    assert dev.cpu_has_bf16(cpuinfo) is has


def test_auto_decodes_in_fp32_on_both_kinds_of_cpu(cpu_kind):
    assert dev.cpu_has_bf16() is (cpu_kind == "bf16")
    assert dev.decode_precision("auto", torch.device("cpu")) == "fp32"
    if cpu_kind == "bf16":
        assert dev.decode_precision("bf16", torch.device("cpu")) == "bf16"
    else:
        with pytest.raises(NmtError, match="needs a CPU with bf16 instructions"):
            dev.decode_precision("bf16", torch.device("cpu"))
