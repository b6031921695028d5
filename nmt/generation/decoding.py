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
from dataclasses import dataclass
from typing import Any

from nmt.config.recipe import DecodeConfig
from nmt.config.schema import Section, check_type, ranged
from nmt.errors import NmtError, OptionError, literal


class _Options(Section):
    """A section of call options: an error names the option alone."""

    @classmethod
    def refuse(cls, name: str, reason: str) -> NmtError:
        return OptionError(name, reason)


@dataclass(frozen=True)
class Sampling(_Options):
    """Draw every piece instead of searching (nmt/generation/sampling.py)."""

    temperature: float = ranged(1.0, "(0, 1e6]")  # divides the log-probabilities; -> 0: greedy
    topk: int = ranged(0, "[0, 1e6]")  # draw among the k most probable pieces; 0: among all
    topp: float = ranged(1.0, "(0, 1]")  # ... among the fewest whose probabilities reach p
    nsamples: int = ranged(1, "[1, 1024]")  # samples per input
    seed: int = ranged(1, "[0, 4294967295]")  # with the line number, seeds each line's draws


SAMPLING_OPTIONS = tuple(item.name for item in dataclasses.fields(Sampling))


@dataclass(frozen=True)
class DecodingOptions(_Options, DecodeConfig):
    """The run's decode settings with a call's options (see the module docstring)."""

    nbest: int = ranged(1, "[1, 1024]")  # hypotheses kept per input, best first
    min_len: int = ranged(0, "[0, 1e6]")  # no output shorter (benchmarks)
    no_repeat_ngram: int = ranged(0, "[0, 1e6]")  # no n-gram of pieces twice; 0: off
    sampling: Sampling | None = None  # None: search (greedy for beam 1, else beam search)

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
        hints = typing.get_type_hints(cls) | typing.get_type_hints(Sampling)
        known = (set(hints) - {"NAME", "sampling"}) | {"sample"}
        for name, value in given.items():
            if name not in known:
                listed = ", ".join(sorted(known))
                raise OptionError(name, f"not a decoding option (known: {listed})")
            try:
                given[name] = check_type(value, bool if name == "sample" else hints[name])
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
