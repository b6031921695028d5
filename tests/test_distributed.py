"""Data-parallel training: two gloo ranks on CPU make the updates one process makes.

The ranks are plain subprocesses given torchrun's environment (WORLD_SIZE, RANK,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so they go through the same start-up as under
`torchrun --nproc-per-node 2 -m nmt train`.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train import ARCHS, TESTS, fit, make_trainer, rows

from nmt.run.checkpoint import load_checkpoint
from nmt.run.rundir import RunDir
from nmt.training import distributed
from nmt.training.train import Trainer

CHILD = """
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from test_distributed import make_run
from test_train import fit
from nmt.training import distributed
fit(make_run(sys.argv[1], {updates}, {arch!r}))
distributed.shutdown()
"""


def make_run(run_dir: Path, updates: int, arch: str = "rnn") -> Trainer:
    """No dropout (its masks differ per rank) and two micro-batches per update (no_sync)."""
    return make_trainer(
        run_dir,
        sizes={**ARCHS[arch], "dropout": 0.0},
        max_updates=updates,
        update_freq=2,
        validate_every=3,
        keep_last=10,
        ddp_timeout_minutes=1.0,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_two_ranks(run_dir: Path, updates: int, arch: str) -> None:
    port = free_port()
    script = CHILD.format(tests=str(TESTS), updates=updates, arch=arch)
    children = []
    for rank in range(2):
        env = {
            **os.environ,
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
            "CUDA_VISIBLE_DEVICES": "",
        }
        command = [sys.executable, "-c", script, str(run_dir)]
        children.append(subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True))
    outcomes = [(child.communicate(timeout=180)[1], child.returncode) for child in children]
    for rank, (errors, returncode) in enumerate(outcomes):  # every rank's, not the first's
        assert returncode == 0, f"rank {rank}: {errors}"


def assert_close(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.allclose(first[name], second[name], rtol=0, atol=1e-5), name


@pytest.mark.parametrize("arch", ARCHS)
def test_two_ranks_equal_one_and_resume_on_one_rank(tmp_path, arch):
    single = make_run(tmp_path / "one", 12, arch)
    fit(single)
    train_two_ranks(tmp_path / "two", 6, arch)
    one, two = RunDir(tmp_path / "one"), RunDir(tmp_path / "two")
    assert [p.name for p in two.step_checkpoints()] == [
        "step-00000003.pt",
        "step-00000006.pt",
    ]
    assert load_checkpoint(two.last)["step"] == 6
    assert_close(
        load_checkpoint(two.step_checkpoint(6))["model"],
        load_checkpoint(one.step_checkpoint(6))["model"],
    )
    logged = [(row["step"], "loss" in row) for row in rows(two.root)]
    assert logged == [(2, True), (3, False), (4, True), (6, True), (6, False)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]
    assert sorted(p.name for p in two.root.iterdir()) == sorted(p.name for p in one.root.iterdir())
    resumed = make_run(two.root, 12, arch)
    assert fit(resumed, resume=True).step == 12
    assert_close(resumed.model.state_dict(), single.model.state_dict())


def test_shards_split_a_batch_and_an_empty_share_weighs_nothing():
    batch = list(range(7))
    shares = [distributed.shard(batch, distributed.Context(rank, 3)) for rank in range(3)]
    assert sorted(i for part, _ in shares for i in part) == batch
    assert [weight for _, weight in shares] == [1.0, 1.0, 1.0]
    assert distributed.shard([5], distributed.Context(1, 2)) == ([5], 0.0)
    assert distributed.shard([5], distributed.Context(0, 2)) == ([5], 1.0)


def test_outside_torchrun_nothing_is_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.init_from_env(1.0)
    assert (ctx.rank, ctx.world, ctx.main, ctx.active) == (0, 1, True, False)
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model, ctx, torch.device("cpu")) is model
    assert distributed.sum_over_ranks([1.5, 2.0], ctx, torch.device("cpu")) == [1.5, 2.0]
