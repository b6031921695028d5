"""One-off measurements the README cites (a minimal Bi-LSTM, the decoder state's precision)."""
