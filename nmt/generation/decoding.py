"""Decoding options: the one typed object every translation and scoring call decodes with.

It is the run's decode section (nmt/config/recipe.py) with the options given applied, plus what
only a call chooses (n-best, a minimum length, n-gram blocking, sampling). Built once, by
`DecodingOptions.build`, where a command, a request or an API call arrives; checked there
(ranges, types, what goes together, what the run's settings allow); then passed down
whole. Errors are OptionErrors naming the option, which each front end spells its way.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from nmt.config.recipe import DecodeConfig
from nmt.config.schema import Section, check_type, policy, ranged, section_of, setting
from nmt.errors import NmtError, OptionError, literal


class _Options(Section):
    """A section of call options: an error names the option alone."""

    @classmethod
    def refuse(cls, name: str, reason: str) -> NmtError:
        return OptionError(name, reason)


@dataclass(frozen=True)
class Sampling(_Options):
    """Draw every piece instead of searching (nmt/generation/sampling.py)."""

    temperature: float = ranged(
        1.0, "(0, 1e6]", help="Divides the log-probabilities: below 1 sharper, above 1 flatter."
    )
    topk: int = ranged(
        0, "[0, 1e6]", help="Draw among the K most probable pieces.", shown_default="all"
    )
    topp: float = ranged(
        1.0,
        "(0, 1]",
        help="Draw among the fewest most probable pieces whose probability reaches P.",
    )
    nsamples: int = ranged(
        1, "[1, 1024]", help="Samples per input, kept as its n-best list, best first."
    )
    seed: int = ranged(
        1,
        "[0, 4294967295]",
        help="With each input's number (from 0), seeds its draws: an input gets the same "
        "samples whatever the batch.",
    )


SAMPLING_OPTIONS = tuple(item.name for item in dataclasses.fields(Sampling))


@dataclass(frozen=True)
class DecodingOptions(_Options, DecodeConfig):
    """The run's decode settings with a call's options (see the module docstring)."""

    nbest: int = ranged(
        1,
        "[1, 1024]",
        evaluated=False,
        help="Keep the N best hypotheses of every input, best first, each with its score "
        "(log-probability / length**alpha). Needs N <= {beam}; with {sample}, N <= {nsamples}.",
        shown_default="1; with {sample}, every sample",
    )
    min_len: int = ranged(
        0, "[0, 1e6]", request=False, help="No output shorter than this many pieces (benchmarks)."
    )
    no_repeat_ngram: int = ranged(
        0,
        "[0, 1e6]",
        metavar="N",
        help="No n-gram of N pieces occurs twice in an output (1: no piece twice).",
        shown_default="off",
    )
    sampling: Sampling | None = setting(
        None,
        switch="sample",
        panel="Sampling",
        help="Draw each piece from the model's distribution instead of searching.",
    )

    def check_together(self) -> None:
        if self.sampling is not None and self.nbest > self.sampling.nsamples:
            raise OptionError(
                "nbest", f"{self.nbest} is more than {{nsamples}} ({self.sampling.nsamples})"
            )
        if self.sampling is None and self.nbest > self.beam:
            raise OptionError("nbest", f"{self.nbest} is more than {{beam}} ({self.beam})")
        if self.coverage_penalty and (self.sampling is not None or self.beam == 1):
            raise OptionError(
                "coverage_penalty", "ranks the hypotheses of beam search: needs {beam} > 1"
            )
        if self.min_len > self.max_len_b:
            raise OptionError(
                "min_len",
                f"{self.min_len} is more than {{max_len_b}} ({self.max_len_b}), the shortest "
                "output limit",
            )

    @classmethod
    def build(cls, defaults: DecodeConfig, **given: Any) -> DecodingOptions:
        """`defaults` (a run's decode section) with the options `given` by name; None is an
        option not given. `sample=True` turns sampling on, with the sampling options; the
        n-best default is 1, or every sample."""
        given = {name: value for name, value in given.items() if value is not None}
        hints = typing.get_type_hints(cls) | typing.get_type_hints(Sampling) | {"sample": bool}
        known = {option.name for option in CALL_OPTIONS}
        for name, value in given.items():
            if name not in known:
                listed = ", ".join(sorted(known))
                raise OptionError(name, f"not a decoding option (known: {listed})")
            try:
                given[name] = check_type(value, hints[name])
            except ValueError as error:
                raise OptionError(name, literal(str(error))) from None
        sample = given.pop("sample", False)
        drawn = {name: given.pop(name) for name in SAMPLING_OPTIONS if name in given}
        if sample and given.get("beam", 1) != 1:
            raise OptionError(
                "beam",
                "{sample} draws {nsamples} samples instead of searching a beam; leave {beam} out",
            )
        if drawn and not sample:
            raise OptionError(next(iter(drawn)), "applies to {sample} only")
        sampling = Sampling(**drawn) if sample else None
        nbest = 1 if sampling is None else sampling.nsamples
        run = {item.name: getattr(defaults, item.name) for item in dataclasses.fields(DecodeConfig)}
        return cls(**{**run, "nbest": nbest, **given, "sampling": sampling})


RUN_DEFAULT = "the run's recipe"  # what help shows as the default of a decode section field


@dataclass(frozen=True)
class CallOption:
    """A decoding option as every front end offers it (a command-line flag, a field of a
    server's request, a keyword of nmt.Translator), read from its field's declaration: its
    help and policies (nmt/config/schema.py, POLICIES)."""

    name: str
    type: type  # bool (a switch, off by default), int, float, or str (build checks the word)
    field: dataclasses.Field
    panel: str | None  # the help section it is listed in
    shown_default: str | None  # None: a switch

    def policy(self, name: str) -> Any:
        return policy(self.field, name)

    def help(self, spell: Callable[[str], str], scoring: bool = False) -> str:
        """What it does (scoring: when scoring given translations), every option it names
        spelled by `spell`."""
        return _spelled(self.policy("scoring" if scoring else "help"), spell)

    def default_shown(self, spell: Callable[[str], str]) -> str | None:
        return None if self.shown_default is None else _spelled(self.shown_default, spell)


def _spelled(text: str, spell: Callable[[str], str]) -> str:
    return text.format_map({option.name: spell(option.name) for option in CALL_OPTIONS})


def _call_options(cls: type, panel: str | None = None) -> list[CallOption]:
    """The options of section `cls` in the order of its fields; a switch's section's
    options follow it, in its panel."""
    hints = typing.get_type_hints(cls)
    run = {item.name for item in dataclasses.fields(DecodeConfig)}
    found = []
    for item in dataclasses.fields(cls):
        section = section_of(hints[item.name])
        if section is not None:
            switch = CallOption(item.metadata["switch"], bool, item, item.metadata["panel"], None)
            found += [switch, *_call_options(section, switch.panel)]
            continue
        kind = hints[item.name]
        kind = str if typing.get_origin(kind) is Literal else kind
        shown = policy(item, "shown_default")
        if shown is None:
            shown = RUN_DEFAULT if item.name in run else f"{item.default:g}"
        found.append(CallOption(item.name, kind, item, panel or policy(item, "panel"), shown))
    return found


CALL_OPTIONS = tuple(_call_options(DecodingOptions))
SCORING_OPTIONS = tuple(option.name for option in CALL_OPTIONS if option.policy("scoring"))
