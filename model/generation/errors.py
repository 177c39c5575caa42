"""Why a request got no poem: torch-free, so the serving side may name them too."""

from yinshi.errors import UserError


class FormError(UserError):
    """A request no poem of its form can satisfy (wrong head count, an impossible first line …).

    The message is Chinese first, one line, fit to show the person who asked.
    """


class GenerationError(RuntimeError):
    """No valid poem after every round: a fault of the engine, not of the request."""
