"""From corpus cards to batches: splits, cleaning, sentencepiece, the cache, batching."""
