"""Decoding options: built once, checked there, each error naming the option in the
spelling of the front end that shows it."""

import dataclasses
import math

import pytest
from typer.testing import CliRunner

from nmt.config.recipe import DecodeConfig
from nmt.errors import OptionError
from nmt.generation.decoding import CALL_OPTIONS, SCORING_OPTIONS, DecodingOptions, Sampling
from nmt_cli.app import app
from nmt_cli.common import flag

RUN = DecodeConfig(beam=2, max_len_b=10)


def test_options_not_given_keep_the_runs_settings():
    options = DecodingOptions.build(RUN, beam=None, length_penalty=0.6)
    assert (options.beam, options.length_penalty, options.max_len_b) == (2, 0.6, 10)
    assert (options.nbest, options.min_len, options.sampling) == (1, 0, None)
    sampled = DecodingOptions.build(RUN, sample=True, nsamples=3, seed=4)
    assert sampled.sampling == Sampling(nsamples=3, seed=4) and sampled.nbest == 3


def test_options_are_checked_against_the_runs_settings():
    assert DecodingOptions.build(RUN, nbest=2, min_len=10).nbest == 2
    with pytest.raises(OptionError, match=r"^nbest: 3 is more than beam \(2\)$"):
        DecodingOptions.build(RUN, nbest=3)
    with pytest.raises(OptionError, match=r"^min_len: 11 is more than max_len_b \(10\)"):
        DecodingOptions.build(RUN, min_len=11)
    with pytest.raises(OptionError, match=r"^length_penalty: nan is not in \[0, 100\]$"):
        DecodingOptions.build(RUN, length_penalty=math.nan)
    with pytest.raises(OptionError, match=r"^beam: expected int, got 'x'$"):
        DecodingOptions.build(RUN, beam="x")
    with pytest.raises(OptionError, match=r"^beam: expected int, got '\{x'$"):
        DecodingOptions.build(RUN, beam="{x")  # the value's brace is text, not a field


@pytest.mark.parametrize(
    ("given", "python", "command_line"),
    [
        ({"beam": 0}, "beam: 0 is not in [1, 1024]", "--beam: 0 is not in [1, 1024]"),
        ({"topk": 5}, "topk: applies to sample only", "--topk: applies to --sample only"),
        (
            {"sample": True, "beam": 3},
            "beam: sample draws nsamples samples instead of searching a beam; leave beam out",
            "--beam: --sample draws --nsamples samples instead of searching a beam; leave "
            "--beam out",
        ),
        (
            {"no_repeat_ngram": -1},
            "no_repeat_ngram: -1 is not in [0, 1e6]",
            "--no-repeat-ngram: -1 is not in [0, 1e6]",
        ),
        (
            {"min_len": 11},
            "min_len: 11 is more than max_len_b (10), the shortest output limit",
            "--min-len: 11 is more than --max-len-b (10), the shortest output limit",
        ),
    ],
)
def test_each_front_end_spells_the_options_its_way(given, python, command_line):
    with pytest.raises(OptionError) as error:
        DecodingOptions.build(RUN, **given)
    assert str(error.value) == python
    assert error.value.spelled(flag) == command_line


def test_options_are_one_frozen_value_that_a_batch_can_share():
    options = DecodingOptions.build(RUN, sample=True, nsamples=2)
    assert hash(options) == hash(DecodingOptions.build(RUN, sample=True, nsamples=2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.beam = 3  # type: ignore[misc]
    with pytest.raises(OptionError, match="^beam: 0"):
        dataclasses.replace(options, beam=0)


def test_the_gnmt_penalties_are_options_with_unchanged_defaults():
    assert (
        DecodingOptions.build(RUN).length_norm,
        DecodingOptions.build(RUN).coverage_penalty,
    ) == (
        "power",
        0.0,
    )
    options = DecodingOptions.build(RUN, length_norm="gnmt", coverage_penalty=0.2)
    assert (options.length_norm, options.coverage_penalty) == ("gnmt", 0.2)
    with pytest.raises(OptionError, match=r"^length_norm: "):
        DecodingOptions.build(RUN, length_norm="wu")
    with pytest.raises(OptionError, match=r"^coverage_penalty: ranks the hypotheses of beam"):
        DecodingOptions.build(RUN, beam=1, coverage_penalty=0.2)
    with pytest.raises(OptionError, match=r"^coverage_penalty: ranks the hypotheses of beam"):
        DecodingOptions.build(RUN, beam=None, sample=True, coverage_penalty=0.2)


def test_every_option_is_declared_once_with_its_help_and_policies():
    """The front ends read the options off the fields: each field an option, with its help."""
    names = [option.name for option in CALL_OPTIONS]
    fields = [item.name for item in dataclasses.fields(DecodingOptions) if item.name != "sampling"]
    assert names == fields + ["sample"] + [item.name for item in dataclasses.fields(Sampling)]
    assert all(option.help(flag) for option in CALL_OPTIONS)
    assert SCORING_OPTIONS == ("length_penalty", "batch_tokens", "max_source_len")
    nbest = next(option for option in CALL_OPTIONS if option.name == "nbest")
    assert "with --sample, N <= --nsamples" in nbest.help(flag)
    assert nbest.default_shown(str) == "1; with sample, every sample"


def test_option_help_reads_right_in_every_front_end():
    """The help is also the server's API description and the Python reference: no flag, no
    output line; what only the command line has is in its command's help."""
    for option in CALL_OPTIONS:
        for scoring in (False, True) if option.policy("scoring") else (False,):
            described = option.help(str, scoring)
            assert "--" not in described and "line" not in described, option.name
    help_text = " ".join(CliRunner().invoke(app, ["translate", "--help"]).output.split())
    assert "With --nbest N, every input gives N lines `i ||| hypothesis ||| score`" in help_text
