"""Precision: fp32 unless bf16 is asked for, and bf16 refused on a CPU that cannot run it."""

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
