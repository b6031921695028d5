"""User-facing errors: the command line prints their message as one line and exits."""


class NmtError(Exception):
    """Bad input a user can fix (file, field, corpus); the message names what and where."""
