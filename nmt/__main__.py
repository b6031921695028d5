"""`python -m nmt ...` runs the command line (what torchrun launches for multi-GPU training)."""

from nmt_cli.app import main

main()
