"""Throughput of our rows, the bare-LSTM ceiling and decoding, into one results file."""
