"""The bot's own state in Redis: poem records behind buttons, daily subscriptions and claims.

Callback data is limited to 64 bytes, too small for a topic, a form and a poem; so each poem
message gets a short random id, and its buttons carry only that id. Subscriptions live in one
hash so that a restarted bot (or a second replica) finds every one of them.
"""

import secrets
from datetime import time

from pydantic import BaseModel
from redis.asyncio import Redis

from bot import keys
from yinshi.protocol import Poem, PoemRequest


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


class Subscriptions:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def put(self, subscription: Subscription) -> None:
        field = str(subscription.chat_id)
        await self.redis.hset(keys.subscriptions(), field, subscription.model_dump_json())

    async def get(self, chat_id: int) -> Subscription | None:
        found = await self.redis.hget(keys.subscriptions(), str(chat_id))
        return Subscription.model_validate_json(found) if found else None

    async def remove(self, chat_id: int) -> bool:
        return bool(await self.redis.hdel(keys.subscriptions(), str(chat_id)))

    async def all(self) -> list[Subscription]:
        found = await self.redis.hgetall(keys.subscriptions())
        return [Subscription.model_validate_json(value) for value in found.values()]

    async def claim(self, chat_id: int, day: str, owner: str) -> bool:
        """True for exactly one caller per chat and day, across replicas and restarts."""
        claimed = await self.redis.set(
            keys.daily_claim(chat_id, day), owner, nx=True, ex=keys.CLAIM_TTL
        )
        return bool(claimed)

    async def unclaim(self, chat_id: int, day: str) -> None:
        """Give the day back after a failed post, so a retry (or the other replica) may post."""
        await self.redis.delete(keys.daily_claim(chat_id, day))
