"""Search over a model: decoding options, greedy, beam, sampling, constraints, scoring."""
