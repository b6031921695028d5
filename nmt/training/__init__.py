"""The training loop: loss, schedules, averaging, fine-tuning, resuming, validation."""
