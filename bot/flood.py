"""Outgoing flood control: Telegram's limits, kept per chat so one busy group stalls no one else.

Telegram allows about 30 messages a second overall and 20 a minute into one group, and answers
429 with a `retry_after` for the chat that went over. PTB's `AIORateLimiter` keeps the first
two limits but waits out a 429 for *every* chat: a flooded group held a private `/poem` back
52 s. Here a 429 delays only the chat it names (later requests to that chat wait for the same
moment, so they do not hit it again), while other chats go on within the shared 30/s.

Bulk messages — the daily posts, 10,000 due in one minute — are marked (`rate_limit_args=
BULK`) and take at most `bulk_per_second` of the 30: without that they filled the shared
budget and a person's /poem waited behind them (user p50 2.4 s under bench/daily.py).

A typing action goes straight out: `AIORateLimiter` counted it as a message, so under load
(bench/bot_load.py, 20 users) placeholders and poems queued behind the dots. It is best
effort: not retried, and its failure is ignored by the caller.
"""

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.constants import FloodLimit
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger("yinshi.bot")

Result = bool | dict[str, Any] | list[dict[str, Any]]


BULK = "bulk"
"""`rate_limit_args` of a message that may wait for people's replies (a daily post)."""


class ChatRateLimiter(BaseRateLimiter[str]):
    """`ApplicationBuilder.rate_limiter(ChatRateLimiter(max_retries=2))`."""

    def __init__(
        self,
        overall_per_second: float = FloodLimit.MESSAGES_PER_SECOND,
        group_per_minute: float = FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP,
        max_retries: int = 2,
        bulk_per_second: float = 25,
    ) -> None:
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
        rate_limit_args: str | None,
    ) -> Result:
        chat = data.get("chat_id")
        if endpoint == "sendChatAction" or chat is None:  # not messages: no message budget
            return await callback(*args, **kwargs)
        with contextlib.suppress(TypeError, ValueError):
            chat = int(chat)
        retries = self.max_retries
        bulk = self.bulk if rate_limit_args == BULK else contextlib.nullcontext()
        attempt = 0
        while True:
            await self._wait_out(chat)
            try:
                async with bulk, self._group(chat), self.overall:
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
