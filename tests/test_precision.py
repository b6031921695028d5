"""nmt/inference/precision.py: a model decoding in bf16, and what bf16 keeps of decoding's promises
(docs/how-to/decoding.md#precision-and-what-it-promises), on a CPU with bf16 instructions
or on the stand-in for one (NMT_CPU_BF16=1: autocast computes the same without them, only
slower). The exact promises of fp32 are held where they live: test_translations,
test_translator, test_shortlist, test_scoring, the export tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_translations import make_run, sentences
from typer.testing import CliRunner

from nmt import Translator
from nmt.errors import NmtError
from nmt_cli.app import app

LINES = sentences(24, seed=70)


@pytest.fixture(scope="module", params=["rnn", "transformer"])
def run(tmp_path_factory, request) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / request.param, arch=request.param)


@pytest.fixture
def bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NMT_CPU_BF16", "1")


def test_bf16_decodes_each_line_the_same_every_time(run, bf16_cpu):
    tr = Translator.load(run, device="cpu", precision="bf16")
    assert tr.setting == "bf16"
    first = tr.translate(LINES, beam=3)
    assert len(first) == len(LINES) and all(isinstance(text, str) for text in first)
    assert tr.translate(LINES, beam=3) == first


def test_bf16_scores_stay_near_fp32(run, bf16_cpu):
    """A random tiny model's log-probabilities, scored in bf16 and in fp32: bf16 rounds
    the products' inputs (1 part in 256), not the state or the softmax."""
    references = sentences(len(LINES), seed=71)
    exact = Translator.load(run, device="cpu", precision="fp32").score(LINES, references)
    rounded = Translator.load(run, device="cpu", precision="bf16").score(LINES, references)
    for fp32, bf16 in zip(exact, rounded, strict=True):
        assert bf16.tokens == pytest.approx(fp32.tokens, abs=0.05)
    assert any(bf16.total != fp32.total for fp32, bf16 in zip(exact, rounded, strict=True))


def test_the_command_line_decodes_in_bf16_where_the_cpu_has_it(tmp_path, run, cpu_kind):
    source = tmp_path / "in.de"
    source.write_text("".join(f"{line}\n" for line in ["", *LINES[:5], ""]), encoding="utf-8")
    target = tmp_path / "out.en"
    command = ["translate", str(run), "-i", str(source), "-o", str(target), "--precision", "bf16"]
    result = CliRunner().invoke(app, command)
    if cpu_kind == "avx2":
        assert result.exit_code == 2
        assert "error: --precision bf16: needs a CPU with bf16 instructions" in result.output
        assert not target.exists()
        return
    assert result.exit_code == 0, result.output
    written = target.read_text(encoding="utf-8").split("\n")
    assert len(written) == 8 and written[0] == written[6] == "" and all(written[1:6])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("precision", "x", "precision 'x': use one of auto, fp32, bf16, int8"),
        ("device", "gpu0", "device 'gpu0': not a device (auto, cpu, cuda, cuda:1)"),
    ],
)
def test_a_refusal_names_the_argument_in_python_and_the_flag_on_the_command_line(
    tmp_path, run, option, value, message
):
    with pytest.raises(NmtError) as error:
        Translator.load(run, **{option: value})
    assert str(error.value) == message
    source = tmp_path / "in.de"
    source.write_text("ein Haus\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["translate", str(run), "-i", str(source), f"--{option}", value]
    )
    assert result.exit_code == 2 and f"error: --{message}" in result.output


def test_a_python_caller_gets_the_refusal_in_one_line(run, monkeypatch):
    monkeypatch.setenv("NMT_CPU_BF16", "0")
    with pytest.raises(NmtError, match="^precision bf16: needs a CPU") as error:
        Translator.load(run, device="cpu", precision="bf16")
    assert "\n" not in str(error.value)
