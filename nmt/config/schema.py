"""The one checking mechanism of recipes and decoding options: typed fields with ranges.

A section is a dataclass whose numeric fields carry the range they may take (`ranged`).
Building one checks every range and then the rules between fields (`check_together`), so
a section made in code (`dataclasses.replace`) is held to the same rules as one read from
a file or a request; `build` first checks the types of a tree read from YAML. Every error
is one line naming the field; each kind of section says how (`Section.refuse`).

Why dataclasses and not pydantic, which the serve extra brings: the core installs without
it; an error stays one line naming the file, the field and the range as written ("[1,
64]", "0 or [1, 1e6]"), where pydantic writes its own wording over several lines; and
`dataclasses.replace` goes through the same checks as loading. The server keeps pydantic
for the JSON shape of a request and its OpenAPI description; a request's decoding
options are checked here, as the command line's are (nmt/generation/decoding.py).
"""

from __future__ import annotations

import dataclasses
import math
import re
import reprlib
import types
import typing
from dataclasses import field
from typing import Any, ClassVar, Literal

from nmt.errors import NmtError, OptionError, literal


class RecipeError(NmtError):
    """A recipe field is unknown, mistyped or out of range."""


_RANGE = re.compile(
    r"(?:(?P<extra>-?[\d.e+-]+) or )?"
    r"(?P<open>[\[(])(?P<low>[^,]+), (?P<high>[^\])]+)(?P<close>[\])])"
)


class Range:
    """The values a number may take, written as in mathematics: "[1, 64]", "(0, 1]",
    "[0, 1)"; "0 or [1, 1000]" admits one value outside the interval (0 turning a rule
    off). NaN and infinities are in no range."""

    def __init__(self, text: str) -> None:
        match = _RANGE.fullmatch(text)
        if match is None:
            raise ValueError(f"not a range: {text!r}")
        self.text = text
        self.extra = None if match["extra"] is None else float(match["extra"])
        self.low, self.high = float(match["low"]), float(match["high"])
        self.low_closed, self.high_closed = match["open"] == "[", match["close"] == "]"

    def __contains__(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if value == self.extra:
            return True
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def __str__(self) -> str:
        return self.text


# A field's policies and their defaults, so that a new field says them where it is
# declared: arch, the model.arch that alone reads it (the others refuse it set to anything
# but its default); resumable, `--resume` may change it (nmt/training/resume.py);
# free_on_fine_tune, a model field a run started from another's weights may change
# (nmt/training/finetune.py); vocabulary, a data field the sentencepiece models were made
# with, which such a run shares; fingerprinted, the prepared cache depends on the data
# field (nmt/data/prepare.py). A decoding option (nmt/generation/decoding.py) says how every
# front end offers it: help, what it does (`{name}` spells another option the front end's
# way: --sample, sample); metavar, the help's name for its value; shown_default, the default
# help shows (None: the default itself); panel, the help section it is listed in; scoring,
# what it means to forced-decoding scoring (None: scoring does not take it); request, a
# server's request may set it (False: the server's resources); evaluated, `nmt eval`, which
# scores the best translation, takes it; switch, for a field holding a section: the on/off
# option that makes one (the section's fields are its options).
POLICIES: dict[str, Any] = {
    "arch": None,
    "resumable": False,
    "free_on_fine_tune": False,
    "vocabulary": False,
    "fingerprinted": True,
    "help": None,
    "metavar": None,
    "shown_default": None,
    "panel": None,
    "scoring": None,
    "request": True,
    "evaluated": True,
    "switch": None,
}


def setting(default: Any, *, allowed: str | None = None, **policies: Any) -> Any:
    """A field: its default, the range a number may be set to, its policies (POLICIES)."""
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown:
        raise TypeError(f"no field policy {unknown[0]!r} (there are {', '.join(POLICIES)})")
    metadata: dict[str, Any] = {**POLICIES, **policies}
    if allowed is not None:
        metadata["range"] = Range(allowed)
    return field(default=default, metadata=metadata)


def ranged(default: float, allowed: str, **policies: Any) -> Any:
    """A numeric field: its default, the range it may be set to, its policies."""
    return setting(default, allowed=allowed, **policies)


def policy(item: dataclasses.Field, name: str) -> Any:
    """A field's policy `name`, the default where the field was declared without setting."""
    return item.metadata.get(name, POLICIES[name])


def shown(value: Any) -> str:
    """repr(value), cut short: an error quotes a value, never a whole file."""
    return _SHOWN.repr(value)


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 60


def check_number(value: Any, allowed: Range, option: str) -> None:
    """An OptionError naming `option`, the value and the range, unless value is in range."""
    if value not in allowed:
        raise OptionError(option, literal(f"{value!r} is not in {allowed}"))


class Section:
    """A checked dataclass (see the module docstring); a recipe section by default."""

    NAME: ClassVar[str]

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            allowed = item.metadata.get("range")
            value = getattr(self, item.name)
            if allowed is not None and value not in allowed:
                raise self.refuse(item.name, f"{value!r} is not in {allowed}")
        self.check_together()

    @classmethod
    def refuse(cls, name: str, reason: str) -> NmtError:
        """The error for field `name`: a recipe's names its section (`train.lr: ...`)."""
        return RecipeError(f"{cls.NAME}.{name}: {reason}")

    def check_together(self) -> None:
        """Rules between fields of the section; each field alone is already in range."""


def check_type(value: Any, annotation: Any, from_yaml: bool = False) -> Any:
    """value converted to `annotation`; a ValueError says why it cannot be. A number
    written as a string is taken `from_yaml` only (YAML 1.1 reads 1e-3 as a string); a
    call's option "5" is a mistake, not a beam of 5."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ValueError(f"{shown(value)} is not one of {', '.join(map(str, allowed))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return check_type(value, inner[0], from_yaml)
    if from_yaml and annotation in (int, float) and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-3 and 1e12 (no dot) as strings
            value = float(value)
        except ValueError:
            pass
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, float) and value.is_integer():
        return int(value)  # a whole number written as 1e12
    if annotation in (int, float, str, bool) and not (
        isinstance(value, annotation) and not (annotation is int and isinstance(value, bool))
    ):
        raise ValueError(f"expected {annotation.__name__}, got {shown(value)}")
    return value


def section_of(annotation: Any) -> type | None:
    """The dataclass of a field typed as one (`Data`) or as an optional one (`Hub | None`)."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]):
            return inner[0]
    return None


def build(cls: type, values: Any, where: str) -> Any:
    """cls from a YAML mapping, every value type-checked; `where` is the dotted name errors
    start with."""
    if not isinstance(values, dict):
        raise RecipeError(f"{where}: expected a mapping, got {shown(values)}")
    hints = typing.get_type_hints(cls)
    names = {item.name for item in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            known = ", ".join(sorted(names))
            raise RecipeError(f"{where}.{key!s:.60}: unknown field (known: {known})")
        hint = hints[key]
        section = section_of(hint)
        if section is not None and not (value is None and section is not hint):  # X | None
            kwargs[key] = build(section, value, f"{where}.{key}")
        else:
            try:
                kwargs[key] = check_type(value, hint, from_yaml=True)
            except ValueError as error:
                raise RecipeError(f"{where}.{key}: {error}") from None
    try:
        return cls(**kwargs)
    except RecipeError as error:  # a section's own check names "train.lr"
        raise RecipeError(f"{where.split('.')[0]}.{error}") from None
