"""Constrained generation: poems that keep their form's 格律 by construction.

`load_generator()` loads a checkpoint once; `Generator.generate(requests)` answers a batch of
`PoemRequest`s, mixed forms in one call, with a `PoemResult` per request — or, in its place,
the `FormError` that says why it cannot be met (or a `GenerationError`, a fault of ours).
"""

from .engine import Generator, generate, load_generator
from .errors import FormError, GenerationError

__all__ = ["FormError", "GenerationError", "Generator", "generate", "load_generator"]
