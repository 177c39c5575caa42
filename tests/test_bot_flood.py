"""Outgoing flood control: messages share Telegram's budget, typing actions do not."""

import asyncio

import pytest

from bot.app import MessageRateLimiter


async def test_typing_actions_skip_the_message_budget():
    limiter = MessageRateLimiter(overall_max_rate=1, overall_time_period=60, group_max_rate=1)
    await limiter.initialize()
    sent: list[str] = []

    async def call(endpoint: str) -> bool:
        async def callback() -> bool:
            sent.append(endpoint)
            return True

        return await limiter.process_request(callback, (), {}, endpoint, {"chat_id": 7}, None)

    await asyncio.wait_for(call("sendMessage"), 5)  # the one message this minute allows
    for _ in range(5):
        await asyncio.wait_for(call("sendChatAction"), 5)
    with pytest.raises(TimeoutError):  # the next message waits out the minute
        await asyncio.wait_for(call("editMessageText"), 0.5)
    assert sent == ["sendMessage"] + ["sendChatAction"] * 5
    await limiter.shutdown()
