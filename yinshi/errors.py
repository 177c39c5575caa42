"""Errors a user can cause and read: the CLI prints them as one line, never a traceback."""


class UserError(Exception):
    """Bad input or a missing prerequisite, explained in the message."""
