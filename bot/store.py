"""The bot's own state in Redis: poem records behind buttons, daily subscriptions and their
schedule.

Callback data is limited to 64 bytes, too small for a topic, a form and a poem; so each poem
message gets a short random id, and its buttons carry only that id. Subscriptions live in one
hash so that a restarted bot (or a second replica) finds every one of them.
"""

import logging
import secrets
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError, field_validator
from redis.asyncio import Redis

from bot import keys
from yinshi.protocol import Poem, PoemRequest

log = logging.getLogger("yinshi.bot")


class PoemRecord(BaseModel):
    request: PoemRequest
    poem: Poem


class PoemRecords:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def save(self, request: PoemRequest, poem: Poem) -> str:
        record_id = secrets.token_urlsafe(6)
        record = PoemRecord(request=request, poem=poem)
        await self.redis.set(keys.poem(record_id), record.model_dump_json(), ex=keys.POEM_TTL)
        return record_id

    async def load(self, record_id: str) -> PoemRecord | None:
        found = await self.redis.get(keys.poem(record_id))
        return PoemRecord.model_validate_json(found) if found else None


class Subscription(BaseModel):
    chat_id: int
    at: time
    """Local wall-clock time of the post, in `timezone`."""
    timezone: str
    form: str
    card: bool = False
    """Post the poem as a picture card, its text the caption (`/daily on … 诗笺`)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {name!r}") from None
        return name


def _subscription(stored: str) -> Subscription | None:
    """A stored subscription, or None (logged) for one that no longer reads — a timezone the
    system dropped, a hand-edited entry: it must not stop every other chat's post."""
    try:
        return Subscription.model_validate_json(stored)
    except ValidationError as error:
        log.error("event=bad_subscription stored=%.200s error=%s", stored, error.errors()[0]["msg"])
        return None


class Claim(BaseModel):
    """A due post this replica holds: its subscription, the lease token, the last date posted,
    and the date whose post an earlier holder was sending when it stopped (if any)."""

    subscription: Subscription
    token: str
    done: str | None
    sending: str | None = None


# KEYS: due, lease, subscriptions, done, sending. ARGV: now, lease_until, limit, token.
# The due set is also the lease: a claimed chat's score moves to the end of its lease, so a
# crashed holder's post is due again — for any replica — when that passes.
_CLAIM = """
local chats = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, chat in ipairs(chats) do
  local sub = redis.call('HGET', KEYS[3], chat)
  if sub then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], chat)
    redis.call('HSET', KEYS[2], chat, ARGV[4])
    table.insert(out, chat)
    table.insert(out, sub)
    table.insert(out, redis.call('HGET', KEYS[4], chat) or '')
    table.insert(out, redis.call('HGET', KEYS[5], chat) or '')
  else
    redis.call('ZREM', KEYS[1], chat)
    redis.call('HDEL', KEYS[2], chat)
  end
end
return out
"""

# KEYS: due, lease, subscriptions, done, sending. ARGV: chat, token, lease_until, day.
# Right before sending: still ours, still subscribed, not yet posted that day → renew, and
# say the day's post is being sent.
_HOLD = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[4], ARGV[1]) == ARGV[4] then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[4])
return 1
"""

# KEYS: due, lease, done, sending. ARGV: chat, token, day, next. Right after the send, one
# call: the day is done (whoever held the lease by now: the message is out), the next post
# is due.
_DONE = """
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('HDEL', KEYS[4], ARGV[1])
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[1], 'XX', ARGV[4], ARGV[1])
end
return 1
"""

# KEYS: due, lease, sending. ARGV: chat, token, due_at. Give a held post back, due again at
# due_at; a send that failed is not being sent any more.
_RELEASE = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return 1
"""


class Subscriptions:
    """Subscriptions and the schedule of their posts, shared by every replica.

    A hash of subscriptions, a sorted set of when each chat's post is next due, a hash of
    leases, one of the date each chat was last posted and one of the post being sent. Every
    change is one Redis call (or one MULTI), so a replica that dies between two calls leaves a
    state another can finish.
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._hold = redis.register_script(_HOLD)
        self._done = redis.register_script(_DONE)
        self._release = redis.register_script(_RELEASE)
        self._post_keys = [
            keys.daily_due(),
            keys.daily_lease(),
            keys.subscriptions(),
            keys.daily_done(),
            keys.daily_sending(),
        ]
        """What claiming and holding a post read and write (`_CLAIM`, `_HOLD`)."""

    async def put(self, subscription: Subscription, next_at: datetime) -> None:
        """Subscribe (or change): every replica sees it at its next tick."""
        field = str(subscription.chat_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.subscriptions(), field, subscription.model_dump_json())
            pipe.zadd(keys.daily_due(), {field: next_at.timestamp()})
            await pipe.execute()

    async def get(self, chat_id: int) -> Subscription | None:
        found = await self.redis.hget(keys.subscriptions(), str(chat_id))
        return Subscription.model_validate_json(found) if found else None

    async def remove(self, chat_id: int) -> bool:
        field = str(chat_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.subscriptions(), field)
            pipe.zrem(keys.daily_due(), field)
            pipe.hdel(keys.daily_lease(), field)
            pipe.hdel(keys.daily_done(), field)
            pipe.hdel(keys.daily_sending(), field)
            removed, *_ = await pipe.execute()
        return bool(removed)

    async def all(self) -> list[Subscription]:
        found = await self.redis.hgetall(keys.subscriptions())
        return [s for s in map(_subscription, found.values()) if s is not None]

    async def done_on(self, chat_id: int) -> str | None:
        """The local date (ISO) of the chat's last post."""
        return await self.redis.hget(keys.daily_done(), str(chat_id))

    async def due_at(self, chat_id: int) -> float | None:
        """When the chat's post is next due (Unix seconds), or its lease ends."""
        return await self.redis.zscore(keys.daily_due(), str(chat_id))

    async def unscheduled(self) -> list[Subscription]:
        """Subscriptions with no due time (made before the schedule existed)."""
        found = await self.redis.hgetall(keys.subscriptions())
        if not found:
            return []
        fields = list(found)
        scores = await self.redis.zmscore(keys.daily_due(), fields)
        unscheduled = (found[f] for f, score in zip(fields, scores, strict=True) if score is None)
        return [s for s in map(_subscription, unscheduled) if s is not None]

    async def due_within(self, start: datetime, end: datetime) -> list[tuple[Subscription, float]]:
        """The subscriptions whose post is due between `start` and `end`, each with its due
        time (Unix seconds) — a post time, or while it is held, the lease's end."""
        due = await self.redis.zrangebyscore(
            keys.daily_due(), start.timestamp(), end.timestamp(), withscores=True
        )
        if not due:
            return []
        stored = await self.redis.hmget(keys.subscriptions(), [chat for chat, _ in due])
        found = []
        for (_, at), sub in zip(due, stored, strict=True):
            subscription = _subscription(sub) if sub else None
            if subscription is not None:
                found.append((subscription, at))
        return found

    async def schedule_missing(self, due: dict[int, datetime]) -> None:
        """Due times for chats that have none; an existing one is kept (ZADD NX)."""
        if due:
            mapping = {str(chat): at.timestamp() for chat, at in due.items()}
            await self.redis.zadd(keys.daily_due(), mapping, nx=True)

    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int, owner: str
    ) -> list[Claim]:
        """Up to `limit` posts due by `now`, each held by this caller until `lease_until`."""
        token = f"{owner}:{secrets.token_hex(4)}"
        found = await self._claim(
            keys=self._post_keys,
            args=[now.timestamp(), lease_until.timestamp(), limit, token],
        )
        claims = []
        for index in range(0, len(found), 4):
            _, sub, done, sending = found[index : index + 4]
            subscription = _subscription(sub)
            if subscription is not None:  # a bad one stays leased, and is logged at each try
                claims.append(
                    Claim(
                        subscription=subscription,
                        token=token,
                        done=_text(done) or None,
                        sending=_text(sending) or None,
                    )
                )
        return claims

    async def hold(self, claim: Claim, day: str, lease_until: datetime) -> bool:
        """Right before sending: True if the post is still ours to send for `day` — and from
        then on it counts as being sent (`Claim.sending`) until marked done or released."""
        held = await self._hold(
            keys=self._post_keys,
            args=[claim.subscription.chat_id, claim.token, lease_until.timestamp(), day],
        )
        return bool(held)

    async def mark_done(self, claim: Claim, day: str, next_at: datetime) -> None:
        """Right after sending, in one call: posted for `day`, next due at `next_at`."""
        await self._done(
            keys=[keys.daily_due(), keys.daily_lease(), keys.daily_done(), keys.daily_sending()],
            args=[claim.subscription.chat_id, claim.token, day, next_at.timestamp()],
        )

    async def release(self, claim: Claim, due_at: datetime) -> bool:
        """Give a held post back, due again at `due_at` (a retry, or the next day's)."""
        released = await self._release(
            keys=[keys.daily_due(), keys.daily_lease(), keys.daily_sending()],
            args=[claim.subscription.chat_id, claim.token, due_at.timestamp()],
        )
        return bool(released)

    async def move(self, old_chat_id: int, new_chat_id: int) -> Subscription | None:
        """A group became a supergroup: its subscription, schedule, lease and last post date
        follow it to the new chat id. None if the old chat had no subscription."""
        old, new = str(old_chat_id), str(new_chat_id)
        subscription = await self.get(old_chat_id)
        if subscription is None:
            return None
        moved = subscription.model_copy(update={"chat_id": new_chat_id})
        due = await self.redis.zscore(keys.daily_due(), old)
        lease = await self.redis.hget(keys.daily_lease(), old)
        done = await self.redis.hget(keys.daily_done(), old)
        sending = await self.redis.hget(keys.daily_sending(), old)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.subscriptions(), new, moved.model_dump_json())
            pipe.hdel(keys.subscriptions(), old)
            pipe.zrem(keys.daily_due(), old)
            pipe.hdel(keys.daily_lease(), old)
            pipe.hdel(keys.daily_done(), old)
            pipe.hdel(keys.daily_sending(), old)
            if due is not None:
                pipe.zadd(keys.daily_due(), {new: due})
            if lease is not None:
                pipe.hset(keys.daily_lease(), new, lease)
            if done is not None:
                pipe.hset(keys.daily_done(), new, done)
            if sending is not None:
                pipe.hset(keys.daily_sending(), new, sending)
            await pipe.execute()
        return moved


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
