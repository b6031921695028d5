"""nmt: sequence-to-sequence translation (Sutskever, Bi-LSTM, Bahdanau attention, Transformer)."""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nmt.inference.translator import Translator

__all__ = ["Translator"]


def __getattr__(name: str) -> Any:
    """`nmt.Translator` imports torch only when used: the command line imports nmt too, and
    `nmt --help` must stay instant."""
    if name == "Translator":
        from nmt.inference.translator import Translator

        return Translator
    raise AttributeError(f"module 'nmt' has no attribute {name!r}")
