"""What the handlers call: one object per application, kept in `bot_data`.

Handlers stay thin — parse, call a service, format a reply — and every request for a poem goes
through `Poet.write`, so the in-flight guard, the timing log line and the failure-to-reply
mapping exist once.
"""

import html
import logging
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError
from telegram.ext import CallbackContext

from bot import texts
from bot.memory import Conversations
from bot.parsing import FormCatalog
from bot.ratelimit import AlreadyWriting, RateLimiter
from bot.store import PoemRecords, Subscriptions
from yinshi.client import PoetClient
from yinshi.errors import (
    Busy,
    InvalidRequest,
    QueueUnreachable,
    ServiceError,
    Timeout,
    WorkerError,
)
from yinshi.protocol import PoemRequest, PoemResult
from yinshi.settings import BotSettings

log = logging.getLogger("yinshi.bot")


class Poet:
    """The queue client, behind the per-user in-flight guard, with one log line per request."""

    def __init__(self, client: PoetClient, limiter: RateLimiter) -> None:
        self.client = client
        self.limiter = limiter

    async def write(
        self,
        request: PoemRequest,
        *,
        user_id: int | None,
        fresh: bool = False,
        timeout: float | None = None,
        background: bool = False,
    ) -> PoemResult:
        """A poem (or n) for the request; one in flight per user when `user_id` is given;
        in the queue's background lane with `background` (posts nobody waits on at once).

        Raises AlreadyWriting, QueueUnreachable (Redis is away: the guard and the queue live
        there), or the client's Busy, Timeout, InvalidRequest, WorkerError.
        """
        guard: AbstractAsyncContextManager[None] = (
            self.limiter.one_at_a_time(user_id) if user_id is not None else nullcontext()
        )
        started = time.monotonic()
        outcome = "error"  # until we know better: Redis down, a bug …
        try:
            async with guard:
                result = await self.client.generate(
                    request, timeout=timeout, fresh=fresh, background=background
                )
            outcome = "cache" if result.stats.get("cache_hit") else "ok"
            return result
        except (ServiceError, AlreadyWriting) as error:
            outcome = type(error).__name__
            raise
        except RedisError as error:
            outcome = QueueUnreachable.__name__
            raise QueueUnreachable(f"Redis unreachable: {type(error).__name__}") from error
        finally:
            log.info(
                "poem user=%s form=%s fresh=%s outcome=%s ms=%.0f",
                user_id,
                request.form,
                fresh,
                outcome,
                (time.monotonic() - started) * 1000,
            )


def failure_text(error: Exception) -> str:
    """The one reply for each way a poem request can fail (HTML)."""
    if isinstance(error, AlreadyWriting):
        return texts.ALREADY_WRITING
    if isinstance(error, Busy):
        return texts.BUSY
    if isinstance(error, Timeout):
        return texts.TIMEOUT
    if isinstance(error, InvalidRequest):
        return texts.INVALID_REQUEST.format(reason=html.escape(str(error)))
    if isinstance(error, QueueUnreachable):
        return texts.POET_AWAY
    if isinstance(error, WorkerError):
        return texts.WORKER_ERROR
    return texts.UNEXPECTED


@dataclass
class Services:
    settings: BotSettings
    redis: Redis
    poet: Poet
    limiter: RateLimiter
    records: PoemRecords
    subscriptions: Subscriptions
    catalog: FormCatalog
    conversations: Conversations

    @classmethod
    def create(cls, settings: BotSettings, redis: Redis) -> "Services":
        limiter = RateLimiter(
            redis,
            settings.rate_per_minute,
            busy_ttl_s=settings.timeout_s + 5,
            inline_per_minute=settings.inline_per_minute,
        )
        client = PoetClient(redis, timeout_s=settings.timeout_s, max_queue=settings.max_queue)
        return cls(
            settings=settings,
            redis=redis,
            poet=Poet(client, limiter),
            limiter=limiter,
            records=PoemRecords(redis),
            subscriptions=Subscriptions(redis),
            catalog=FormCatalog.load(),
            conversations=Conversations(redis),
        )


def services(context: CallbackContext) -> Services:
    return context.bot_data["services"]
