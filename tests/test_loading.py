"""Loading a run for translation (nmt/run/loading.py): which checkpoint a run offers."""

import os

import pytest
from test_checkpoint import payload

from nmt.errors import NmtError
from nmt.run.checkpoint import save_checkpoint
from nmt.run.loading import resolve_checkpoint
from nmt.run.rundir import RunDir


def test_resolve_prefers_best_then_last(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(NmtError, match="neither a checkpoint file nor a run directory"):
        resolve_checkpoint(tmp_path)
    save_checkpoint(run.last, payload(1.0))
    assert resolve_checkpoint(tmp_path) == run.last
    save_checkpoint(run.best, payload(1.0))
    assert resolve_checkpoint(tmp_path) == run.best
    assert resolve_checkpoint(run.last) == run.last
    assert os.path.isfile(run.best) and not os.path.islink(run.best)
