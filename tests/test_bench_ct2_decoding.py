"""bench/speed/ct2_decoding.py: the fixed-30 limit column counts the work both engines do."""

import pytest
from test_translations import make_run, sentences

pytest.importorskip("ctranslate2")

from bench.speed.ct2_decoding import fixed30_flops  # noqa: E402
from bench.speed.limit import Counted  # noqa: E402
from nmt import Translator  # noqa: E402


def test_fixed30_flops_counts_five_rows_for_thirty_positions_of_every_sentence(
    tmp_path, monkeypatch
):
    translator = Translator.load(make_run(tmp_path / "run", arch="transformer"))
    lines = sentences(12, seed=3)
    steps = []
    record = Counted.step

    def recorded(self, *args):
        steps.append(args[0].size(0))  # rows stepped
        return record(self, *args)

    monkeypatch.setattr(Counted, "step", recorded)
    assert fixed30_flops(translator, 64, lines) > 0
    assert sum(steps) >= 5 * 30 * len(lines)
