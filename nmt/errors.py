"""User-facing errors: the command line prints their message as one line and exits."""

from collections.abc import Callable
from pathlib import Path


class NmtError(Exception):
    """Bad input a user can fix (file, field, corpus); the message names what and where."""


class SpelledError(NmtError):
    """An error that names arguments, which each front end names its own way
    (`--no-repeat-ngram` on the command line, `no_repeat_ngram` in Python and JSON): the
    message is a template that writes each as a `{name}` field (its Python name), and the
    user's text in it goes through `literal`. str() is the Python spelling."""

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(self.spelled(str))

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with every argument named by `spell` (the Python name -> the front
        end's name)."""
        return self.template.format_map(_Spelling(spell))


class OptionError(SpelledError):
    """An argument, or the `value` it was given, that a call may not take: `option 'x':
    reason`. `reason` writes the other arguments it mentions as `{name}` fields."""

    def __init__(self, option: str, reason: str, value: str | None = None) -> None:
        self.option, self.reason = option, reason
        shown = "" if value is None else f" {literal(value)}"
        super().__init__(f"{{{option}}}{shown}: {reason}")


def shown_path(path: Path) -> Path:
    """`path` as a message names a file the user did not spell out (a recipe's base):
    resolved, so that no `..` is left to read relative to something, and relative to the
    current directory when it lies under it."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd())
    except ValueError:
        return resolved


def literal(text: str) -> str:
    """`text` as it reads in a SpelledError's template (its braces are no fields)."""
    return text.replace("{", "{{").replace("}", "}}")


class _Spelling(dict):
    def __init__(self, spell: Callable[[str], str]) -> None:
        super().__init__()
        self.spell = spell

    def __missing__(self, name: str) -> str:
        return self.spell(name)
