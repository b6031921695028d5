"""The systems `nmt eval` compares."""
