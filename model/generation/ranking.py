"""What a ranking sees of a decoded poem, and the ranking every other one builds on.

Its own module so that the scores beside the engine (`model.critic`, `model.discriminator`)
can add to `steered_logprob` without importing the engine that loads them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yinshi.protocol import PoemRequest

from .plan import Layout


@dataclass(frozen=True)
class Candidate:
    """One decoded poem, as a score function sees it."""

    request: PoemRequest
    layout: Layout
    lines: list[str]
    logprob: float
    sampled: int
    masked: float = 0.0
    """Sum of -log P(allowed set) over the sampled tokens: what the mask took from the model."""
    taste: float = 0.0
    """Sum of the log taste weights of the sampled tokens (`constraints.Taste`)."""
    pooled: Any = None
    """[hidden] the poet's states at the critic's block, pooled over the body (or None)."""
    family: int | None = None
    """Its siblings that went on from one another while written share this (`decode.Regroup`);
    None: written on its own."""


Score = Callable[[Candidate], float]


def steered_logprob(candidate: Candidate) -> float:
    """Mean log-probability per sampled token under the poet as steered: the model's own plus
    the log weights its characters got from taste (a 重字 costs log `Taste.repeat`, a word of
    the topic gains β·score). The model's own alone would rank first the candidate that
    repeated itself or strayed from the title, which it finds likelier."""
    return steered(candidate.logprob, candidate.taste, candidate.sampled)


def steered(logprob: float, taste: float, sampled: int) -> float:
    """`steered_logprob` of a poem or of the part of it written so far."""
    return (logprob + taste) / max(sampled, 1)
