"""User-facing errors: the command line prints their message as one line and exits."""

from collections.abc import Callable


class NmtError(Exception):
    """Bad input a user can fix (file, field, corpus); the message names what and where."""


class OptionError(NmtError):
    """A decoding option a call may not take. Each front end names options its own way
    (`--no-repeat-ngram` on the command line, `no_repeat_ngram` in Python and JSON), so the
    error keeps the option's name apart, and `reason` writes the other options it mentions
    as `{name}` fields."""

    def __init__(self, option: str, reason: str) -> None:
        self.option, self.reason = option, reason
        super().__init__(self.spelled(str))

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with every option named by `spell` (the Python name -> the front
        end's name)."""
        return f"{spell(self.option)}: {self.reason.format_map(_Spelling(spell))}"


class _Spelling(dict):
    def __init__(self, spell: Callable[[str], str]) -> None:
        super().__init__()
        self.spell = spell

    def __missing__(self, name: str) -> str:
        return self.spell(name)
