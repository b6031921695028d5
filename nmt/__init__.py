"""nmt: recurrent sequence-to-sequence translation (Sutskever, Bi-LSTM, Bahdanau attention)."""

__version__ = "0.1.0"
