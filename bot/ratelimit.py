"""Per-user limits, in Redis so that every bot replica counts the same requests.

Two limits: a number of poem requests per minute (checked for every costly update by a
TypeHandler in group -1, before any handler runs; inline queries have a budget of their own,
checked by the inline handler once a query survives its debounce), and one poem in flight
per user (claimed by the code that waits for the poem, since only it knows when the wait
ends).

A claim names the bot process that holds it, and every process keeps a short-lived "alive"
key (`heartbeat`). A claim whose process is gone — a bot restarted or killed mid-poem — no
longer holds its user back: the next request takes it over at once, instead of meeting
「上一首还在写」 until the claim's TTL (the poem timeout) ran out.
"""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

from redis.asyncio import Redis
from telegram import Update

from bot import keys
from bot.parsing import FormCatalog, InputError
from bot.understanding import FollowUp, Write, understand

COSTLY_COMMANDS = ("poem", "acrostic", "continue")
COSTLY_BUTTONS = ("again:", "example:")

# Claim unless held by a process that is still alive. ARGV: claim value "<process>:<token>",
# TTL in seconds, prefix of the alive keys.
_CLAIM = """
local held = redis.call('GET', KEYS[1])
if held then
  local process = string.match(held, '^([^:]*):')
  if process and redis.call('EXISTS', ARGV[3] .. process) == 1 then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

# Delete the claim only if it is still ours: after a TTL expiry it may belong to a newer request.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class AlreadyWriting(Exception):
    """This user's previous poem is still being written."""


class RateLimiter:
    def __init__(
        self, redis: Redis, per_minute: int, busy_ttl_s: float, inline_per_minute: int = 20
    ) -> None:
        self.redis = redis
        self.per_minute = per_minute
        self.inline_per_minute = inline_per_minute
        self.busy_ttl_s = busy_ttl_s
        self.process = uuid4().hex[:12]
        """This bot process, as named in its claims and its alive key."""
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    async def heartbeat(self) -> None:
        """Say this process is alive (call every `keys.ALIVE_EVERY_S`)."""
        await self.redis.set(keys.bot_alive(self.process), 1, ex=keys.ALIVE_TTL)

    async def gone(self) -> None:
        """This process stops: its claims no longer hold anyone back."""
        await self.redis.delete(keys.bot_alive(self.process))

    async def allow(self, user_id: int, inline: bool = False) -> bool:
        """Count one request; False once the user is over the limit for this minute (the
        inline budget with ``inline``: typing a topic must not use up /poem's)."""
        budget = "inline" if inline else "poem"
        key = keys.rate(user_id, int(time.time() // 60), budget)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, keys.RATE_TTL)
            count, _ = await pipe.execute()
        return count <= (self.inline_per_minute if inline else self.per_minute)

    @asynccontextmanager
    async def one_at_a_time(self, user_id: int) -> AsyncIterator[None]:
        """Hold the user's in-flight claim for the block; raise AlreadyWriting if taken."""
        key, token = keys.busy(user_id), f"{self.process}:{uuid4().hex}"
        ttl = max(1, round(self.busy_ttl_s))
        if not await self._claim(keys=[key], args=[token, ttl, keys.bot_alive("")]):
            raise AlreadyWriting
        try:
            yield
        finally:
            await self._release(keys=[key], args=[token])


def is_costly(update: Update, bot_id: int) -> bool:
    """Does this update ask for a poem? Only those count against the /poem budget (an inline
    query counts against its own, in `bot.inline`)."""
    if update.callback_query:
        return (update.callback_query.data or "").startswith(COSTLY_BUTTONS)
    message = update.message
    if not message or not message.text:
        return False
    if message.text.startswith("/"):
        command = message.text.split()[0][1:].split("@")[0].lower()
        return command in COSTLY_COMMANDS
    return is_topic_message(update, bot_id) and asks_for_poem(message.text)


def asks_for_poem(text: str) -> bool:
    """Does a plain message ask for a poem? 「你好」 and a pasted poem to analyse do not."""
    try:
        intent = understand(text, FormCatalog.load())
    except InputError:
        return False
    return isinstance(intent, Write) or (
        isinstance(intent, FollowUp) and intent.action != "analyze"
    )


def is_topic_message(update: Update, bot_id: int) -> bool:
    """Plain text the bot takes as a topic: in a private chat, or a reply to the bot."""
    message = update.message
    if not message or not message.text or message.text.startswith("/"):
        return False
    if message.chat.type == "private":
        return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)
