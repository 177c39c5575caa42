"""What a chat remembers between messages: its last poem and a form it asked to write in.

「再来一首」, 「改成五律」 and 「这首的格律」 refer to the chat's last poem; 「照此体写一首」 under
a pasted poem asks for that form for the next topic. Both live in Redis, one hash per chat
with a TTL renewed at each poem, so a restarted bot (or another replica) still knows them
and a chat that went quiet leaves nothing behind.
"""

from redis.asyncio import Redis

from bot import keys
from bot.store import PoemRecord
from yinshi.protocol import Poem, PoemRequest

LAST = "last"
FORM = "form"


class Conversations:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def remember(self, chat_id: int, request: PoemRequest, poem: Poem) -> None:
        """The chat's last poem is this one; a form asked for by a button is used up."""
        key = keys.conversation(chat_id)
        record = PoemRecord(request=request, poem=poem).model_dump_json()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, LAST, record)
            pipe.hdel(key, FORM)
            pipe.expire(key, keys.CONVERSATION_TTL)
            await pipe.execute()

    async def last(self, chat_id: int) -> PoemRecord | None:
        found = await self.redis.hget(keys.conversation(chat_id), LAST)
        return PoemRecord.model_validate_json(found) if found else None

    async def want_form(self, chat_id: int, form: str) -> None:
        """Write the chat's next topic in this form (unless the message names another)."""
        key = keys.conversation(chat_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, FORM, form)
            pipe.expire(key, keys.CONVERSATION_TTL)
            await pipe.execute()

    async def wanted_form(self, chat_id: int) -> str | None:
        return await self.redis.hget(keys.conversation(chat_id), FORM)
