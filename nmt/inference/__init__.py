"""The Python API over translation: CPU speed, ensembles, translating lines."""
