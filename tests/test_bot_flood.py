"""Outgoing flood control: messages share Telegram's budget, typing actions do not, and a 429
for one chat delays that chat only."""

import asyncio
import time

import pytest
from telegram.error import RetryAfter
from test_bot_e2e import new_id, tiny_generator, wait_poems, worker_url

from bot.flood import ChatRateLimiter

__all__ = ["tiny_generator", "worker_url"]  # fixtures of the bot's e2e tests

GROUP = -7


def caller(limiter: ChatRateLimiter, sent: list[str], failures: dict[int, int] | None = None):
    """`call(endpoint, chat)` through the limiter; `failures[chat]` 429s come first."""
    failures = failures or {}

    async def call(endpoint: str, chat: int = GROUP) -> bool:
        async def callback() -> bool:
            if failures.get(chat):
                failures[chat] -= 1
                raise RetryAfter(1)
            sent.append(f"{endpoint}:{chat}")
            return True

        return await limiter.process_request(callback, (), {}, endpoint, {"chat_id": chat}, None)

    return call


async def test_typing_actions_skip_the_message_budget():
    limiter, sent = ChatRateLimiter(group_per_minute=1), []
    call = caller(limiter, sent)
    await asyncio.wait_for(call("sendMessage"), 5)  # the one message this minute allows
    for _ in range(5):
        await asyncio.wait_for(call("sendChatAction"), 5)
    with pytest.raises(TimeoutError):  # the next message waits out the minute
        await asyncio.wait_for(call("editMessageText"), 0.5)
    assert sent == ["sendMessage:-7"] + ["sendChatAction:-7"] * 5


async def test_a_429_delays_only_its_chat():
    limiter, sent = ChatRateLimiter(), []
    call = caller(limiter, sent, failures={GROUP: 1})
    started = time.monotonic()
    group = asyncio.create_task(call("sendMessage", GROUP))  # 429: retry after 1 s
    await asyncio.sleep(0.2)
    later = asyncio.create_task(call("editMessageText", GROUP))  # waits for the same moment
    await asyncio.wait_for(call("sendMessage", 42), 0.5)  # a private chat goes on at once
    assert sent == ["sendMessage:42"]
    await asyncio.gather(group, later)
    assert time.monotonic() - started >= 1.0
    assert sorted(sent[1:]) == ["editMessageText:-7", "sendMessage:-7"]


async def test_a_429_past_the_retries_is_raised():
    limiter, sent = ChatRateLimiter(max_retries=1), []
    call = caller(limiter, sent, failures={GROUP: 2})
    with pytest.raises(RetryAfter):
        await call("sendMessage", GROUP)
    assert sent == []


async def test_a_flooded_group_does_not_hold_up_a_private_poem(
    fake_telegram, start_bot, worker_url
):
    """Before: a private /poem sent while a group's messages waited out a 429 waited as long."""
    fake, group, admin, user = fake_telegram, -new_id(), new_id(), new_id()
    await start_bot(worker_url)
    fake.flood(group, 10)
    fake.send("/poem 春江", user_id=admin, chat_id=group, chat_type="group")
    await fake.wait_for(lambda: any(not c.ok for c in fake.calls_to("sendMessage")))
    started = time.monotonic()
    fake.send("/poem 秋夜", user_id=user)
    await wait_poems(fake, user)
    assert time.monotonic() - started < 5
    assert not fake.bot_messages(group)  # the group's placeholder still waits its turn


async def test_bulk_messages_leave_room_for_people():
    """Daily posts (BULK) take at most their share of the overall rate: a person's reply sent
    behind a burst of them goes out at once instead of queueing behind the burst."""
    from bot.flood import BULK

    limiter = ChatRateLimiter(overall_per_second=10, bulk_per_second=5)
    sent: list[str] = []

    async def call(chat: int, marker: str | None) -> None:
        async def callback() -> bool:
            sent.append(f"{chat}")
            return True

        await limiter.process_request(callback, (), {}, "sendMessage", {"chat_id": chat}, marker)

    burst = [asyncio.create_task(call(1000 + i, BULK)) for i in range(20)]
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await asyncio.wait_for(call(42, None), 1)
    assert time.monotonic() - started < 0.5
    assert sent.index("42") < 10  # well before the burst is through
    await asyncio.gather(*burst)


async def test_replicas_share_one_send_budget(redis_server):
    """Two replicas' limiters, one Redis: together they send at the bot's rate, not twice it
    (each used to keep 30/s alone); and a person's reply goes ahead of both replicas' bulk."""
    from bot.flood import BULK, SharedBudget
    from yinshi.connection import connect

    redis = connect(redis_server.url)
    replicas = [
        ChatRateLimiter(shared=SharedBudget(redis, "test:budget", per_second=20)) for _ in range(2)
    ]
    sent: list[tuple[float, int]] = []

    async def call(limiter: ChatRateLimiter, chat: int, marker: str | None) -> float:
        started = time.monotonic()

        async def callback() -> bool:
            sent.append((time.monotonic(), chat))
            return True

        await limiter.process_request(callback, (), {}, "sendMessage", {"chat_id": chat}, marker)
        return time.monotonic() - started

    started = time.monotonic()
    bulk = [
        asyncio.create_task(call(replicas[i % 2], 1000 + i, BULK))  # private chats: no 20/min
        for i in range(60)
    ]
    await asyncio.sleep(1.0)
    waited = await call(replicas[1], 42, None)
    await asyncio.gather(*bulk)
    seconds = time.monotonic() - started
    assert waited < 0.2, waited  # ahead of 40 bulk messages still waiting
    assert 2.7 < seconds < 4.0, seconds  # 61 messages at 20/s, both replicas together
    in_any_second = max(sum(1 for t, _ in sent if s <= t < s + 1) for s, _ in sent)
    assert in_any_second <= 20 + 4 + 2, in_any_second  # + BULK_HEADROOM_S's 0.2 s of sends
    await redis.aclose()


async def test_a_bulk_message_is_made_ready_at_its_slot(redis_server):
    """`Bulk.ready` runs when the message's slot comes, not before its wait (a daily post
    marks itself as being sent there: a kill while it waits must not count it as sent); a
    message whose `ready` says no is withdrawn, not sent."""
    from bot.flood import Bulk, SharedBudget, Withdrawn
    from yinshi.connection import connect

    redis = connect(redis_server.url)
    limiter = ChatRateLimiter(shared=SharedBudget(redis, "test:budget", per_second=5))
    ready_at: dict[int, float] = {}
    sent_at: dict[int, float] = {}

    async def call(chat: int, answer: bool = True) -> None:
        async def ready() -> bool:
            ready_at[chat] = time.monotonic()
            return answer

        async def callback() -> bool:
            sent_at[chat] = time.monotonic()
            return True

        await limiter.process_request(
            callback, (), {}, "sendMessage", {"chat_id": chat}, Bulk(ready=ready)
        )

    started = time.monotonic()
    await asyncio.gather(*(call(1000 + i) for i in range(10)))
    with pytest.raises(Withdrawn):
        await call(2000, answer=False)
    assert 2000 in ready_at and 2000 not in sent_at
    assert max(ready_at[c] for c in sent_at) - started > 1.5  # ten at 5/s: the last waited
    assert all(0 <= sent_at[c] - ready_at[c] < 0.1 for c in sent_at)
    await redis.aclose()
