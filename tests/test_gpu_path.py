"""The accelerator path checked on a CPU-only torch: a training update and the searches of
each architecture run with every tensor a FakeTensor (shapes, dtypes and devices, no data)
on an accelerator device.

What this catches: a tensor our code makes on the CPU and mixes with the model's
(FakeTensorDeviceMismatchError), and a read back to the host inside the search's step loop
(`.item()`, `.tolist()`, `bool(tensor)` raise DataDependentOutputException: fake tensors
hold no values). A search of at most SYNC_EVERY steps on an accelerator reads nothing back
until its loop ends; its deliberate reads (the length limits before the loop, which an int
limit skips, and the results after it, which `_unpack` reads: captured here) are left out.

The device is torch's PrivateUse1 backend with a dummy device guard, not "cuda": on a
CPU-only build a fake "cuda" tensor passes through the dispatcher, but Python indexing
(`x[:, None]`, `x[i] = y`) and autograd open a CUDA device guard, which such a build lacks
("PyTorch is not linked with support for cuda devices"). So `device.type == "cuda"`
branches (fused Adam) are not taken here. Backward needs torch to see an accelerator
("Cannot access accelerator device when none is available" otherwise), which takes naming
the backend for the life of the process: the training updates run in a child process.

What it cannot check:
- the recurrent encoders: aten._pack_padded_sequence has no fake kernel without a ShapeEnv
  (its output shape depends on the lengths' values: DynamicOutputShapeException), and with
  one it puts batch_sizes on the data's device, which PackedSequence refuses ("batch_sizes
  should always be on CPU"). The RNN models' encoder is replaced by one giving memory and
  final states of the right shapes on the device; the bridge, the attention and both
  decoders run as they are (the Transformer runs whole);
- a search without constraints: it uploads an empty [N, 0] prefix, which the fake mode
  holds as a constant and copies for real, to a device that has no kernels (so every
  search here gets a forced prefix and n-gram blocking);
- cuDNN, numerics and speed: only a GPU can.
"""

import re
import subprocess
import sys
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
from torch.fx.experimental.symbolic_shapes import ShapeEnv
from torch.utils import backend_registration

from nmt.config.recipe import ModelConfig, TrainConfig
from nmt.generation import search
from nmt.generation.constraints import Constraints
from nmt.generation.decoding import DecodingOptions, Sampling
from nmt.inference.shortlist import Shortlist, Shortlisted
from nmt.models.architectures import build_model
from nmt.training.ema import EMA
from nmt.training.loss import loss_sums
from nmt.training.optim import build_optimizer

CASES = ARCHITECTURES | {
    "gru": dict(ARCHITECTURES["bahdanau"], cell="gru"),
    "luong-bahdanau": dict(ARCHITECTURES["bahdanau"], attention_order="luong"),
    "transformer": TINY_TRANSFORMER,
}
SRC = [[4, 5, 6, 7, 8, 3], [9, 10, 3, 0, 0, 0]]
SRC_LENGTHS = [6, 3]
TGT_IN = [[2, 4, 5, 6], [2, 8, 0, 0]]
OPTIMIZERS = ("adam", "sgd")
MAX_LEN = search.SYNC_EVERY - 1  # steps = MAX_LEN + 1: no read of the finished flags


pytestmark = pytest.mark.skipif(
    not hasattr(backend_registration, "_setup_privateuseone_for_python_backend"),
    reason="this torch cannot register a Python backend",
)


@pytest.fixture(scope="module")
def device() -> torch.device:
    """PrivateUse1 registered as a Python backend (once per process; it stays registered)."""
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
        layers = rnn.num_layers * encoder.directions
        h = torch.zeros(layers, batch, rnn.hidden_size, device=src.device)
        memory = torch.zeros(batch, length, encoder.output_dim, device=src.device)
        return memory, (h, h) if isinstance(rnn, nn.LSTM) else (h,)

    encoder.forward = forward


def fake_models(
    name: str, device: torch.device, mode: FakeTensorMode | None = None
) -> tuple[FakeTensorMode, nn.Module, EMA]:
    """The model of CASES[name] and its moving average, fake on `device` under `mode`."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(**CASES[name]), src_vocab=13, tgt_vocab=11)
    ema = EMA(model, 0.999)
    mode = mode or FakeTensorMode()
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


def training_update(name: str, optimizer: str, device: torch.device) -> None:
    """Forward, label-smoothed loss, backward, clipping, an optimizer step and the EMA."""
    mode, model, ema = fake_models(name, device)
    with mode:
        src, tgt_in = torch.tensor(SRC).to(device), torch.tensor(TGT_IN).to(device)
        lengths = torch.tensor(SRC_LENGTHS).to(device)
        logits = model.train()(src, lengths, tgt_in)
        loss, nll = loss_sums(logits, tgt_in, smoothing=0.1)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        build_optimizer(model.parameters(), TrainConfig(optimizer=optimizer), device).step()
        ema.update(model, step=1)
    assert logits.shape == (2, 4, 11)
    assert {t.device for t in (logits, loss, nll, norm)} == {device}
    grads = [p.grad for p in model.parameters() if p.grad is not None]  # not the stand-in's
    assert len(grads) > len(list(model.parameters())) / 2
    tensors = [*model.parameters(), *ema.model.parameters(), *grads]
    assert {t.device for t in tensors} == {device}


def test_a_training_update_stays_on_the_device():
    """In a child process: backward needs torch to see an accelerator, which takes naming
    the backend, and a named one stays for the life of the process (torch.distributed would
    then look for its communication backend)."""
    child = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, timeout=600, check=False
    )
    assert child.returncode == 0, child.stdout + child.stderr
    expected = [f"{name} {optimizer}" for name in CASES for optimizer in OPTIMIZERS]
    assert child.stdout.split("\n")[:-1] == expected


@pytest.fixture
def results(monkeypatch) -> list[tuple]:
    """The device tensors each search hands to _unpack, which reads them back once."""
    found = []
    monkeypatch.setattr(search, "_unpack", lambda *tensors: found.append(tensors))
    return found


@pytest.mark.parametrize("name", CASES)
def test_search_stays_on_the_device_and_reads_nothing_back_in_its_loop(device, name, results):
    """Greedy, beam (n-best with attention, on the moving average) and sampling."""
    mode, model, ema = fake_models(name, device)
    with mode:
        src, lengths = torch.tensor(SRC).to(device), torch.tensor(SRC_LENGTHS).to(device)
        constraints = Constraints.build([[5], []], 2, len(SRC), device)
        search.greedy(model.eval(), src, lengths, MAX_LEN, constraints=constraints)
        search.beam_search(
            ema.model,
            src,
            lengths,
            MAX_LEN,
            DecodingOptions(beam=3, nbest=2),
            return_attention=model.has_attention,
            constraints=constraints,
        )
        sampling = DecodingOptions(sampling=Sampling(topk=3, topp=0.9, nsamples=2))
        search.sample(model, src, lengths, MAX_LEN, sampling, [1, 2], constraints=constraints)
    assert len(results) == 3
    tensors = [t for found in results for t in found if t is not None]
    assert {t.device for t in tensors} == {device}
    assert results[1][0].shape == (2, 2, MAX_LEN + 1)  # tokens [B, nbest, steps]


@pytest.mark.parametrize("name", ["bahdanau", "transformer"])
def test_a_shortlisted_search_stays_on_the_device(device, name, results):
    """The shortlist's union of lists (nonzero, once per batch) has a size known only from
    the values: a ShapeEnv gives it a symbolic one. Not for the tests above: with a
    ShapeEnv a `.tolist()` gives symbols instead of failing."""
    mode = FakeTensorMode(shape_env=ShapeEnv(allow_dynamic_output_shape_ops=True))
    mode, model, _ = fake_models(name, device, mode)
    per_source = torch.randint(4, 11, (13, 3), generator=torch.Generator().manual_seed(0))
    lists = Shortlist(mode.from_tensor(torch.tensor([4, 5])), mode.from_tensor(per_source), 11, 1)
    with mode:
        src, lengths = torch.tensor(SRC).to(device), torch.tensor(SRC_LENGTHS).to(device)
        constraints = Constraints.build([[5], []], 2, len(SRC), device)
        shortlisted = Shortlisted(model.eval(), lists)
        search.greedy(shortlisted, src, lengths, MAX_LEN, constraints=constraints)
        beam = DecodingOptions(beam=3)
        search.beam_search(shortlisted, src, lengths, MAX_LEN, beam, constraints=constraints)
    assert len(results) == 2
    assert {t.device for found in results for t in found if t is not None} == {device}


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


if __name__ == "__main__":  # the training updates, for test_a_training_update_stays_on_the_device
    backend_registration._setup_privateuseone_for_python_backend(rename="fakegpu")
    for name in CASES:
        for optimizer in OPTIMIZERS:
            training_update(name, optimizer, torch.device("fakegpu", 0))
            print(name, optimizer)
