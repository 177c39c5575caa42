"""The one error the 格律 engine raises for input a person can fix."""

from yinshi.errors import UserError


class ProsodyInputError(UserError):
    """Text or an option the analyser cannot work with; the message says why, in Chinese first."""
