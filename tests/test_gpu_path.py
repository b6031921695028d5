"""The accelerator path checked on a CPU-only torch: a training update and a search of each
architecture run with every tensor a FakeTensor (shapes, dtypes and devices, no data) on an
accelerator device.

What this catches: a tensor our code makes on the CPU and mixes with the model's
(FakeTensorDeviceMismatchError), and a read back to the host inside the search's step loop
(`.item()`, `.tolist()`, `bool(tensor)` raise DataDependentOutputException: fake tensors
hold no values). A search of at most SYNC_EVERY steps on an accelerator must read nothing
back until its loop ends; its deliberate reads (the length limits before the loop, the
results after it: `_unpack`) are left out by passing an int limit and capturing `_unpack`'s
arguments.

The device is torch's PrivateUse1 backend with a dummy device guard, not "cuda": on a
CPU-only build a fake "cuda" tensor passes through the dispatcher, but Python indexing
(`x[:, None]`, `x[i] = y`) and autograd open a CUDA device guard, which such a build lacks
("PyTorch is not linked with support for cuda devices"). So `device.type == "cuda"`
branches (fused Adam) are not taken here.

What it cannot check:
- backward: the autograd engine asks for an accelerator ("Cannot access accelerator device
  when none is available"), so the update's gradients are set to zeros on the device;
- the recurrent encoders: aten._pack_padded_sequence has no fake kernel (its output shape
  depends on the lengths' values: DynamicOutputShapeException), so the RNN models' encoder
  is replaced by one giving memory and final states of the right shapes on the device; the
  bridge, the attention and both decoders run as they are (the Transformer runs whole);
- the vocabulary shortlist: its nonzero() (once per batch) has a data-dependent shape;
- search under inference_mode: torch.tensor(..., device=) does not reach the fake mode
  there, so the tests call the searches' undecorated functions under no_grad; and every
  search gets constraints: without, it uploads an empty [N, 0] prefix, which the fake
  mode holds as a constant and copies for real, to a device that has no kernels;
- speed, cuDNN and numerics: only a GPU can.
"""

import re
from pathlib import Path

import pytest
import torch
from test_model import ARCHITECTURES
from test_translations import TINY_TRANSFORMER
from torch import nn
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    FakeTensorDeviceMismatchError,
    FakeTensorMode,
)

from nmt import search
from nmt.constraints import Constraints
from nmt.ema import EMA
from nmt.loss import loss_sums
from nmt.model import build_model
from nmt.optim import build_optimizer
from nmt.recipe import ModelConfig, TrainConfig

CASES = ARCHITECTURES | {
    "gru": dict(ARCHITECTURES["bahdanau"], cell="gru"),
    "luong-bahdanau": dict(ARCHITECTURES["bahdanau"], attention_order="luong"),
    "transformer": TINY_TRANSFORMER,
}
SRC = [[4, 5, 6, 7, 8, 3], [9, 10, 3, 0, 0, 0]]
SRC_LENGTHS = [6, 3]
TGT_IN = [[2, 4, 5, 6], [2, 8, 0, 0]]
MAX_LEN = search.SYNC_EVERY - 1  # steps = MAX_LEN + 1: no read of the finished flags


@pytest.fixture(scope="module")
def device() -> torch.device:
    """PrivateUse1 registered as a Python backend (once per process; it stays registered)."""
    from torch.utils import backend_registration

    if not hasattr(backend_registration, "_setup_privateuseone_for_python_backend"):
        pytest.skip("this torch cannot register a Python backend")
    if not hasattr(torch, "privateuseone"):
        backend_registration._setup_privateuseone_for_python_backend()
    return torch.device("privateuseone", 0)


def on_device(model: nn.Module, mode: FakeTensorMode, device: torch.device) -> None:
    """Every parameter and buffer of `model` becomes a fake tensor on `device`."""
    model.to("meta")
    converter = mode.fake_tensor_converter
    model._apply(lambda meta: converter.from_meta_and_device(mode, meta, device))


def shaped_encoder(model: nn.Module) -> None:
    """Stand in for the packed RNN encoder: its outputs' shapes, on the source's device."""
    encoder = getattr(model, "encoder", None)
    rnn = getattr(encoder, "rnn", None)
    if rnn is None:  # the Transformer's encoder runs as it is
        return

    def forward(src, lengths):
        batch, length = src.shape
        h = torch.zeros(rnn.num_layers * encoder.directions, batch, rnn.hidden_size)
        memory = torch.zeros(batch, length, encoder.output_dim, device=src.device)
        h = h.to(src.device)
        return memory, (h, h) if isinstance(rnn, nn.LSTM) else (h,)

    encoder.forward = forward


def fake_models(name: str, device: torch.device) -> tuple[FakeTensorMode, nn.Module, EMA]:
    torch.manual_seed(0)
    model = build_model(ModelConfig(**CASES[name]), src_vocab=13, tgt_vocab=11)
    ema = EMA(model, 0.999)
    mode = FakeTensorMode()
    for each in (model, ema.model):
        on_device(each, mode, device)
        shaped_encoder(each)
    return mode, model, ema


def test_the_fake_device_catches_cpu_tensors_and_host_reads(device):
    """What the tests below rely on: mixing devices and reading values both raise."""
    with FakeTensorMode():
        x = torch.zeros(3, device=device)
        with pytest.raises(FakeTensorDeviceMismatchError):
            x + torch.ones(3)
        with pytest.raises(DataDependentOutputException):
            bool(x.eq(0).all())


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_training_update_stays_on_the_device(device, name, optimizer):
    mode, model, ema = fake_models(name, device)
    with mode:
        src, tgt_in = torch.tensor(SRC).to(device), torch.tensor(TGT_IN).to(device)
        lengths = torch.tensor(SRC_LENGTHS).to(device)
        logits = model.train()(src, lengths, tgt_in)
        loss, nll = loss_sums(logits, tgt_in, smoothing=0.1)
        for param in model.parameters():  # backward needs a real accelerator
            param.grad = torch.zeros_like(param)
        norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        build_optimizer(model.parameters(), TrainConfig(optimizer=optimizer), device).step()
        ema.update(model, step=1)
    assert logits.shape == (2, 4, 11)
    assert {t.device for t in (logits, loss, nll, norm)} == {device}
    assert {p.device for p in [*model.parameters(), *ema.model.parameters()]} == {device}


@pytest.fixture
def results(monkeypatch) -> list[tuple]:
    """The device tensors each search hands to _unpack, which reads them back once."""
    found = []
    monkeypatch.setattr(search, "_unpack", lambda *tensors: found.append(tensors))
    return found


@pytest.mark.parametrize("name", CASES)
def test_search_stays_on_the_device_and_reads_nothing_back_in_its_loop(device, name, results):
    mode, model, ema = fake_models(name, device)
    attention = model.has_attention if name != "transformer" else True
    with mode, torch.no_grad():
        src, lengths = torch.tensor(SRC).to(device), torch.tensor(SRC_LENGTHS).to(device)
        constraints = Constraints.build([[5], []], 2, len(SRC), device)
        search.greedy.__wrapped__(model.eval(), src, lengths, MAX_LEN, constraints=constraints)
        search.beam_search.__wrapped__(
            ema.model, src, lengths, 3, MAX_LEN, 1.0, 2, 0, attention, constraints
        )
        search.beam_search.__wrapped__(model, src, lengths, 2, MAX_LEN, constraints=constraints)
    assert len(results) == 3
    tensors = [t for found in results for t in found if t is not None]
    assert {t.device for t in tensors} == {device}
    assert results[1][0].shape == (2, 2, MAX_LEN + 1)  # tokens [B, nbest, steps]


def test_numpy_only_after_a_copy_to_the_host():
    """A .numpy() on a device tensor fails: in nmt/ each follows .cpu()."""
    root = Path(__file__).resolve().parents[1] / "nmt"
    uses = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"(?<!\.cpu\(\))\.numpy\(\)", line)
    ]
    assert uses == []
