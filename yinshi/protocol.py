"""The poem request and result: the one schema the bot, the queue and the generator share.

Torch-free and telegram-free, so the bot depends on this module and the worker does too —
never on each other. `PROTOCOL_VERSION` changes whenever a field changes meaning.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PROTOCOL_VERSION = 1

Scheme = Literal["pingshui", "xinyun"]


class PoemRequest(BaseModel):
    """What a user asks for. Validation here is the first line of defence against bad input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(min_length=1, max_length=20, description="title / theme, e.g. 春江")
    form: str = Field(default="七绝", description="五绝 七绝 五律 七律, a supported 词牌, or free")
    acrostic: str | None = Field(default=None, min_length=2, max_length=8, description="藏头")
    first_line: str | None = Field(default=None, max_length=12, description="续写 from this line")
    n: int = Field(default=1, ge=1, le=8, description="poems wanted")
    temperature: float = Field(
        default=1.0,
        gt=0.0,
        le=2.0,
        description="1.0: cooler poems read likelier than real verse and a judge tells them "
        "from real ones more easily (held-out AUC 0.84 at 0.8, 0.78 at 1.0; model card)",
    )
    top_p: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="1.0: no nucleus cut; the 格律 mask and the critic prune instead, and the "
        "poems are harder to tell from real ones than at 0.9 (model card)",
    )
    seed: int | None = None
    scheme: Scheme = "pingshui"
    strict: bool = Field(default=True, description="full 格律; False = form only")


class Poem(BaseModel):
    """One generated poem with the evidence that it is right."""

    title: str
    lines: list[str]
    form: str
    tune: str | None = None
    template: str | None = Field(default=None, description="tone template, e.g. 平起首句入韵")
    rhyme_group: str | None = None
    conforms: bool
    analysis: dict = Field(description="yinshi.prosody Analysis.to_dict() of the poem")
    score: float = Field(
        description="ranking score: mean log-probability per generated token under the poet "
        "as steered (its taste weights included), plus "
        "alpha·log P(real) when discriminator reranking is on"
    )
    mask_nll: float | None = Field(
        default=None,
        description="mean over sampled characters of -log P(allowed set): how much of the "
        "model's probability the 格律 mask took away (0: the model wrote what it wanted)",
    )


class PoemResult(BaseModel):
    """The answer to one PoemRequest."""

    poems: list[Poem]
    model_version: str
    timing_ms: float
    stats: dict[str, int] = Field(default_factory=dict, description="resamples, rejections …")


class Job(BaseModel):
    """The queue envelope around one request: what a worker needs to serve it or drop it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = PROTOCOL_VERSION
    id: str = Field(min_length=1, max_length=64, description="the reply key is named after it")
    request: PoemRequest
    deadline: float = Field(description="epoch seconds; after it the requester has given up")
    fresh: bool = Field(default=False, description="the requester bypassed the cache")
    created: float = Field(description="epoch seconds, for the queue-wait metric")


ErrorKind = Literal["invalid_request", "worker_error"]


class ReplyError(BaseModel):
    kind: ErrorKind
    message: str


class Reply(BaseModel):
    """The worker's answer to one Job: a result or an error, never both."""

    model_config = ConfigDict(extra="forbid")

    version: int = PROTOCOL_VERSION
    id: str
    ok: bool
    result: PoemResult | None = None
    error: ReplyError | None = None

    @model_validator(mode="after")
    def _result_xor_error(self) -> "Reply":
        if self.ok != (self.result is not None) or self.ok == (self.error is not None):
            raise ValueError("a reply carries a result when ok, an error otherwise")
        return self
