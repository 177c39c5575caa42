"""Outgoing flood control: Telegram's limits, kept per chat so one busy group stalls no one else.

Telegram allows about 30 messages a second overall and 20 a minute into one group, and answers
429 with a `retry_after` for the chat that went over. PTB's `AIORateLimiter` keeps the first
two limits but waits out a 429 for *every* chat: a flooded group held a private `/poem` back
52 s. Here a 429 delays only the chat it names (later requests to that chat wait for the same
moment, so they do not hit it again), while other chats go on within the shared 30/s.

Telegram's 30 a second are the bot's, not a process's: with several replicas, each keeping 30/s
alone let them send 60 together. So the overall rate is one budget in Redis (`SharedBudget`),
taken by every replica before each message. Bulk messages — the daily posts, 10,000 due in one
minute — are marked (`rate_limit_args=BULK`) and take a slot only while the budget is at most
`BULK_HEADROOM_S` ahead of the clock, while a person's reply may run up to `USER_HEADROOM_S`
ahead: people's messages jump the bulk queue, and the bulk gets everything they leave, at the
full rate. (Without a priority the bulk filled the budget and a person's /poem waited behind
it: user p50 2.4 s under bench/daily.py.) Redis away, each process falls back to its own 30/s
and gives bulk at most `bulk_per_second` of it.

A typing action goes straight out: `AIORateLimiter` counted it as a message, so under load
(bench/bot_load.py, 20 users) placeholders and poems queued behind the dots. It is best
effort: not retried, and its failure is ignored by the caller.
"""

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiolimiter import AsyncLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError
from telegram.constants import FloodLimit
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger("yinshi.bot")

Result = bool | dict[str, Any] | list[dict[str, Any]]


@dataclass(frozen=True)
class Bulk:
    """`rate_limit_args` of a message that may wait for people's replies (a daily post).

    `ready`, if given, runs once the message has its slot, right before the request goes
    out; False withdraws it (the send raises `Withdrawn`). A daily post marks itself as being
    sent there, not before a wait for the slot that may last minutes in a burst."""

    ready: Callable[[], Awaitable[bool]] | None = None


BULK = Bulk()


class Withdrawn(Exception):
    """A bulk message whose `ready` said no when its slot came: it was not sent."""


USER_HEADROOM_S = 1.0
"""How far ahead of the shared budget a person's message may go (one second of messages)."""
BULK_HEADROOM_S = 0.2
"""How far ahead a bulk message may go. Not 0: a sender that may only take a slot once it
has come loses its wake-up delay every time (20 posts/s instead of 30 in bench/daily.py)."""

# GCRA on one key: it holds the moment (Redis's clock, the same for every replica) from which
# the budget is free again. A message may go if that moment is at most ARGV[2] seconds ahead
# of now, and moves it on by 1/rate; else the caller is told how long to wait.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local free_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if free_at < now then free_at = now end
local wait = free_at - now - tonumber(ARGV[2])
if wait > 0 then return tostring(wait) end
local after = free_at + tonumber(ARGV[1])
redis.call('SET', KEYS[1], tostring(after), 'PX', math.ceil((after - now) * 1000) + 1000)
return '0'
"""


class SharedBudget:
    """A message rate shared by every process that uses the same Redis key."""

    def __init__(self, redis: Redis, key: str, per_second: float) -> None:
        self.redis = redis
        self.key = key
        self.interval = 1 / per_second
        self._queue = asyncio.Lock()
        """Bulk messages of this process wait in line, one asking Redis at a time: a burst's
        hundreds of waiters each polling the key cost more CPU than the sending."""

    async def take(self, bulk: bool) -> None:
        """Wait for a slot (`bulk`: in this process's line); raises RedisError if Redis cannot
        be asked."""
        if not bulk:
            await self._take(USER_HEADROOM_S)
            return
        async with self._queue:
            await self._take(BULK_HEADROOM_S)

    async def _take(self, headroom_s: float) -> None:
        while True:
            answer = await self.redis.eval(_TAKE, 1, self.key, self.interval, headroom_s)
            wait = float(answer)
            if wait <= 0:
                return
            await asyncio.sleep(wait)


class ChatRateLimiter(BaseRateLimiter[Bulk]):
    """`ApplicationBuilder.rate_limiter(ChatRateLimiter(max_retries=2))`."""

    def __init__(
        self,
        overall_per_second: float = FloodLimit.MESSAGES_PER_SECOND,
        group_per_minute: float = FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP,
        max_retries: int = 2,
        bulk_per_second: float = 25,
        shared: SharedBudget | None = None,
    ) -> None:
        self.shared = shared
        self._shared_failing = False
        self.overall = AsyncLimiter(overall_per_second, 1)
        self.bulk = AsyncLimiter(bulk_per_second, 1)
        self.group_per_minute = group_per_minute
        self.groups: dict[int | str, AsyncLimiter] = {}
        self.max_retries = max_retries
        self.blocked_until: dict[int | str, float] = {}
        """Chat → the loop time its last 429 said to wait for."""

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Bulk | None,
    ) -> Result:
        chat = data.get("chat_id")
        if endpoint == "sendChatAction" or chat is None:  # not messages: no message budget
            return await callback(*args, **kwargs)
        with contextlib.suppress(TypeError, ValueError):
            chat = int(chat)
        retries = self.max_retries
        bulk = isinstance(rate_limit_args, Bulk)
        attempt = 0
        while True:
            await self._wait_out(chat)
            try:
                async with self._group(chat):
                    await self._take_budget(bulk)
                    async with self.overall:
                        ready = rate_limit_args.ready if isinstance(rate_limit_args, Bulk) else None
                        if ready is not None and not await ready():
                            raise Withdrawn(f"chat {chat}")
                        return await callback(*args, **kwargs)
            except RetryAfter as error:
                attempt += 1
                if attempt > retries:
                    raise
                with warnings.catch_warnings():  # PTB warns that it will be a timedelta
                    warnings.simplefilter("ignore", PTBDeprecationWarning)
                    delay = error.retry_after
                seconds = delay if isinstance(delay, int | float) else delay.total_seconds()
                log.info("event=flood_wait chat=%s seconds=%.1f", chat, seconds)
                loop_now = asyncio.get_running_loop().time()
                self.blocked_until[chat] = max(
                    self.blocked_until.get(chat, 0.0), loop_now + seconds + 0.1
                )

    async def _take_budget(self, bulk: bool) -> None:
        """A slot of the bot's shared rate; Redis away, of this process's bulk share."""
        if self.shared is not None:
            try:
                await self.shared.take(bulk)
                if self._shared_failing:
                    log.info("event=shared_send_budget_back")
                    self._shared_failing = False
                return
            except RedisError as error:
                if not self._shared_failing:
                    log.warning("event=shared_send_budget_away error=%s", type(error).__name__)
                    self._shared_failing = True
        if bulk:
            await self.bulk.acquire()

    async def _wait_out(self, chat: int | str) -> None:
        until = self.blocked_until.get(chat)
        if until is None:
            return
        delay = until - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif self.blocked_until.get(chat) == until:
            del self.blocked_until[chat]

    def _group(self, chat: int | str) -> contextlib.AbstractAsyncContextManager[Any]:
        """A group's (or channel's) 20 a minute; private chats have no such limit."""
        if not (isinstance(chat, str) or chat < 0):
            return contextlib.nullcontext()
        if chat not in self.groups:
            if len(self.groups) > 1024:  # forget groups with their whole minute unused
                for name, limiter in list(self.groups.items()):
                    if limiter.has_capacity(limiter.max_rate):
                        del self.groups[name]
            self.groups[chat] = AsyncLimiter(self.group_per_minute, 60)
        return self.groups[chat]
