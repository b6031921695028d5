"""Load on `nmt serve` against `nmt translate` of a file."""
