"""A run on disk: its directory, where it stands, its checkpoints."""
