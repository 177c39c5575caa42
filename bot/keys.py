"""The Redis keys the bot owns: their names, types and lifetimes. Nothing else builds them.

yinshi:bot:poem:{id}              string, JSON PoemRecord, POEM_TTL — what a poem's buttons need
yinshi:bot:daily                  hash, chat id → JSON Subscription — survives restarts
yinshi:bot:daily:due              sorted set, chat id scored by its next post time (Unix s);
                                  while a replica holds the post, by the end of its lease
yinshi:bot:daily:lease            hash, chat id → token of the replica holding its post
yinshi:bot:daily:done             hash, chat id → the local date (ISO) last posted there
yinshi:bot:daily:sending          hash, chat id → the local date whose post is being sent
                                  (set right before the send, cleared by the done mark)
yinshi:bot:daily:ahead:{day}:{form}:{topic}
                                  string, AHEAD_S — poems for that day's posts were asked for
yinshi:bot:send-budget            string, the shared bulk send budget's next free moment
yinshi:bot:rate:{budget}:{user}:{minute}
                                  string counter, RATE_TTL — poem (or inline) requests then
yinshi:bot:inline:{user}          string, the user's latest inline query id, INLINE_TTL
yinshi:bot:busy:{user}            string "<process>:<token>", BUSY_TTL at most — a poem of
                                  this user is in flight, waited for by that bot process
yinshi:bot:alive:{process}        string, ALIVE_TTL — that bot process is running
yinshi:bot:chat:{chat}            hash, last → JSON PoemRecord, form → a form asked for;
                                  CONVERSATION_TTL — what 「再来一首」 refers to
yinshi:bot:card:{poem}:{variant}  hash, png → base64 PNG (until Telegram has it), file_id →
                                  Telegram's id of the sent photo; CARD_TTL — a poem's picture
                                  card ({poem}: its record id, or a hash of the poem)
"""

PREFIX = "yinshi:bot"

POEM_TTL = 2 * 24 * 3600
"""Buttons on a poem older than this answer that the record has expired."""
DAILY_LEASE_S = 120
"""A claimed daily post is another replica's to take once this long has passed without its
holder renewing it: longer than a generation (timeout_s) plus a send, short enough that a
crashed replica's posts go out a couple of minutes late, not never."""
DAILY_RETRY_S = 60
"""After a failed generation or send, the post is due again this much later."""
DAILY_AHEAD_S = 3600
"""Poems for the posts due within this long are asked for ahead, in the background lane."""
DAILY_AHEAD_EVERY_S = 60
"""How often each replica looks at the coming hour's posts (whichever is first asks)."""
DAILY_TICK_S = 2.0
"""How often each replica looks for due posts (one ZRANGEBYSCORE when nothing is due)."""
RATE_TTL = 120
INLINE_TTL = 30
ALIVE_EVERY_S = 3
ALIVE_TTL = 10
"""A killed bot's in-flight claims stop holding its users back within this many seconds."""
CONVERSATION_TTL = 7 * 24 * 3600
"""「再来一首」 a week later still means the last poem; a chat silent longer is forgotten."""
CARD_TTL = POEM_TTL
"""As long as the 🖼 button that asks for the card can work; the PNG itself is dropped as soon
as Telegram has it (its file_id is all a resend needs)."""


def poem(record_id: str) -> str:
    return f"{PREFIX}:poem:{record_id}"


def subscriptions() -> str:
    return f"{PREFIX}:daily"


def daily_due() -> str:
    return f"{PREFIX}:daily:due"


def daily_lease() -> str:
    return f"{PREFIX}:daily:lease"


def daily_done() -> str:
    return f"{PREFIX}:daily:done"


def daily_sending() -> str:
    return f"{PREFIX}:daily:sending"


def daily_ahead(day: str, form: str, topic: str) -> str:
    return f"{PREFIX}:daily:ahead:{day}:{form}:{topic}"


def send_budget() -> str:
    return f"{PREFIX}:send-budget"


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


def card(poem_id: str, variant: str) -> str:
    return f"{PREFIX}:card:{poem_id}:{variant}"
