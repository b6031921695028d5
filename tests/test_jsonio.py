"""Damaged JSON files are one error naming the file (and line), never a traceback."""

import pytest
from test_translations import make_run

from nmt.config.recipe import DecodeConfig
from nmt.data.prepare import META, open_prepared
from nmt.errors import NmtError
from nmt.evaluation.evaluate import _Cache
from nmt.jsonio import parse_json, read_json
from nmt.models.export_card import CARD
from nmt.models.onnx_model import load_export
from nmt.run.rundir import parse_metrics

NESTED = "[" * 100_000


def test_nesting_and_damage_name_the_file(tmp_path):
    path = tmp_path / "card.json"
    for text, why in ((NESTED, "nested too deeply"), ("{oops", "Expecting property name")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(NmtError, match=rf"card\.json is not JSON \({why}"):
            read_json(path)
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(NmtError, match=r"card\.json is not JSON \(byte 7 is not UTF-8\)"):
        read_json(path)
    with pytest.raises(NmtError, match=r"x: line 3 is not JSON \(nested too deeply\)"):
        parse_json(NESTED, "x: line 3")


def test_every_json_file_nmt_reads_refuses_deep_nesting(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 1}\n' + NESTED + "\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"metrics\.jsonl: line 2 is not JSON \(nested too deeply"):
        parse_metrics(metrics)
    (tmp_path / CARD).write_text(NESTED, encoding="utf-8")
    with pytest.raises(NmtError, match=rf"{CARD} is not JSON \(nested too deeply"):
        load_export(tmp_path)
    (tmp_path / META).write_text(NESTED, encoding="utf-8")
    with pytest.raises(NmtError, match=rf"{META} is not JSON \(nested too deeply"):
        open_prepared(tmp_path)


def test_a_cache_key_nested_too_deeply_is_a_cache_miss(tmp_path):
    run = make_run(tmp_path / "run")
    cache = _Cache(tmp_path, "test", [run / "checkpoints" / "best.pt"], DecodeConfig(), ["a"])
    cache.write(["b"], 1.0)
    assert cache.read() == (["b"], 1.0)
    cache.meta.write_text(NESTED, encoding="utf-8")
    assert cache.read() == (None, None)
