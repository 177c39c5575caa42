"""The Redis keys the bot owns: their names, types and lifetimes. Nothing else builds them.

yinshi:bot:poem:{id}              string, JSON PoemRecord, POEM_TTL — what a poem's buttons need
yinshi:bot:daily                  hash, chat id → JSON Subscription — survives restarts
yinshi:bot:daily:sent:{chat}:{d}  string, the replica that claimed the post, CLAIM_TTL
yinshi:bot:rate:{budget}:{user}:{minute}
                                  string counter, RATE_TTL — poem (or inline) requests then
yinshi:bot:inline:{user}          string, the user's latest inline query id, INLINE_TTL
yinshi:bot:busy:{user}            string "<process>:<token>", BUSY_TTL at most — a poem of
                                  this user is in flight, waited for by that bot process
yinshi:bot:alive:{process}        string, ALIVE_TTL — that bot process is running
yinshi:bot:chat:{chat}            hash, last → JSON PoemRecord, form → a form asked for;
                                  CONVERSATION_TTL — what 「再来一首」 refers to
"""

PREFIX = "yinshi:bot"

POEM_TTL = 2 * 24 * 3600
"""Buttons on a poem older than this answer that the record has expired."""
CLAIM_TTL = 3 * 24 * 3600
"""Longer than any clock skew or restart between two replicas posting the same day."""
RATE_TTL = 120
INLINE_TTL = 30
ALIVE_EVERY_S = 3
ALIVE_TTL = 10
"""A killed bot's in-flight claims stop holding its users back within this many seconds."""
CONVERSATION_TTL = 7 * 24 * 3600
"""「再来一首」 a week later still means the last poem; a chat silent longer is forgotten."""


def poem(record_id: str) -> str:
    return f"{PREFIX}:poem:{record_id}"


def subscriptions() -> str:
    return f"{PREFIX}:daily"


def daily_claim(chat_id: int, day: str) -> str:
    return f"{PREFIX}:daily:sent:{chat_id}:{day}"


def rate(user_id: int, minute: int, budget: str = "poem") -> str:
    return f"{PREFIX}:rate:{budget}:{user_id}:{minute}"


def latest_inline(user_id: int) -> str:
    return f"{PREFIX}:inline:{user_id}"


def busy(user_id: int) -> str:
    return f"{PREFIX}:busy:{user_id}"


def bot_alive(process: str) -> str:
    return f"{PREFIX}:alive:{process}"


def conversation(chat_id: int) -> str:
    return f"{PREFIX}:chat:{chat_id}"
