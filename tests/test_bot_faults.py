"""The bot when things around it fail: Redis away, odd updates. Real processes throughout —
a redis-server that is killed and restarted, a worker, PTB against the fake Bot API — and
each test names what the user got before the fix."""

import asyncio

import aiohttp
import pytest
from serving_fakes import FakeEngine
from test_bot_e2e import new_id, poems_in, wait_poems, wait_reply

from bot import keys, texts
from bot.ratelimit import AlreadyWriting, RateLimiter
from yinshi.connection import connect


async def test_redis_down_means_one_clear_reply_and_analysis_still_works(
    fake_telegram, start_bot, start_worker, redis_server
):
    """Before: two 「出了点问题」 replies and a placeholder that was never edited."""
    fake, user = fake_telegram, new_id()
    start_worker(FakeEngine())
    await start_bot(redis_server.url)
    fake.send("/poem 春江", user_id=user)
    await wait_poems(fake, user)

    redis_server.kill()
    fake.send("/poem 秋夜", user_id=user)
    away = await wait_reply(fake, user, texts.POET_AWAY.split("。")[0])
    await asyncio.sleep(0.5)  # room for a second reply, if there were one
    replies = fake.bot_messages(user)[1:]
    assert [m["message_id"] for m in replies] == [away["message_id"]]  # the placeholder, edited
    assert not any(texts.UNEXPECTED in m["text"] for m in replies)

    fake.send("/analyze 白日依山尽，黄河入海流。欲穷千里目，更上一层楼。", user_id=user)
    await wait_reply(fake, user, "格律分析")
    fake.send("你好", user_id=user)
    await wait_reply(fake, user, texts.CHAT_GREETING[:6])

    redis_server.start()  # back: poems flow again without restarting anything
    fake.send("/poem 冬雪", user_id=user)
    await fake.wait_for(lambda: len(poems_in(fake, user)) == 2, timeout=20)


async def test_a_button_without_data_is_answered_quietly(fake_telegram, start_bot, redis_server):
    """Before: an assert tripped and the chat got 「出了点问题」."""
    fake, user = fake_telegram, new_id()
    await start_bot(redis_server.url)
    fake.send("你好", user_id=user)
    [greeting] = await fake.wait_for(lambda: fake.bot_messages(user))
    fake.press(user, greeting["message_id"], None, user_id=user)
    await fake.wait_for(lambda: fake.calls_to("answerCallbackQuery"))
    await asyncio.sleep(0.3)
    assert len(fake.bot_messages(user)) == 1


async def test_a_dead_bots_claim_does_not_hold_its_user_back(redis_server):
    """Before: the user's in-flight claim outlived the bot process that held it, and for 65 s
    every request met 「上一首还在写」."""
    redis = connect(redis_server.url)
    killed = RateLimiter(redis, per_minute=6, busy_ttl_s=65)
    restarted = RateLimiter(redis, per_minute=6, busy_ttl_s=65)
    for limiter in (killed, restarted):
        await limiter.heartbeat()
    async with killed.one_at_a_time(1):
        with pytest.raises(AlreadyWriting):  # its process is alive: the claim holds
            async with restarted.one_at_a_time(1):
                pass
        await redis.delete(keys.bot_alive(killed.process))  # killed: its alive key ran out
        async with restarted.one_at_a_time(1):  # taken over at once
            pass
        await restarted.gone()  # a clean stop says goodbye at once
        async with killed.one_at_a_time(1):
            pass
    await redis.aclose()


async def test_the_sandbox_refuses_other_sites(fake_telegram):
    """Before: a cross-site `text/plain` POST (what any web page can send without asking)
    made the sandbox user say whatever that page wanted."""
    from fake_telegram.sandbox.server import Sandbox

    sandbox = Sandbox(fake_telegram)
    await sandbox.start(port=0)
    url = sandbox.url + "api/chats/private/send"
    body = '{"text": "/poem 春江"}'
    try:
        async with aiohttp.ClientSession() as session:
            plain = {"Content-Type": "text/plain"}
            async with session.post(url, data=body, headers=plain) as response:
                assert response.status == 415
            evil = {"Content-Type": "application/json", "Origin": "http://evil.example"}
            async with session.post(url, data=body, headers=evil) as response:
                assert response.status == 403
            rebound = {"Content-Type": "application/json", "Host": f"evil.example:{sandbox.port}"}
            async with session.post(url, data=body, headers=rebound) as response:
                assert response.status == 403
            assert not fake_telegram.chat_log(1)
            own = {"Origin": sandbox.url.rstrip("/")}
            async with session.post(url, json={"text": "/poem 春江"}, headers=own) as response:
                assert response.status == 200
            assert [m["text"] for m in fake_telegram.chat_log(1)] == ["/poem 春江"]
    finally:
        await sandbox.stop()


async def test_the_bot_starts_while_redis_is_away(
    fake_telegram, start_bot, start_worker, redis_server
):
    """Before: the start-up read of the daily subscriptions raised, and the bot never
    started."""
    fake, user = fake_telegram, new_id()
    start_worker(FakeEngine())
    redis_server.kill()
    await start_bot(redis_server.url)
    fake.send("/analyze 白日依山尽，黄河入海流。欲穷千里目，更上一层楼。", user_id=user)
    await wait_reply(fake, user, "格律分析")
    fake.send("/poem 春江", user_id=user)
    await wait_reply(fake, user, texts.POET_AWAY.split("。")[0])
    redis_server.start()
    fake.send("/poem 秋夜", user_id=user)
    await fake.wait_for(lambda: poems_in(fake, user), timeout=20)


async def test_redis_away_at_the_queue_is_the_poet_away_reply(redis_server):
    """The client's own Redis error (not only the bot's guard) says the poet is away."""
    from bot.services import failure_text
    from yinshi.client import PoetClient
    from yinshi.errors import QueueUnreachable
    from yinshi.protocol import PoemRequest

    redis = connect(redis_server.url)
    redis_server.kill()
    with pytest.raises(QueueUnreachable) as error:
        await PoetClient(redis, timeout_s=2).generate(PoemRequest(topic="春江"))
    assert failure_text(error.value) == texts.POET_AWAY
    await redis.aclose()


async def test_an_anonymous_admin_may_change_the_daily_poem(fake_telegram, start_bot, redis_server):
    """Before: a message sent as the group failed the admin check (「只有管理员能更改设置」)."""
    fake, chat = fake_telegram, -new_id()
    await start_bot(redis_server.url)
    fake.send("/daily on 07:30", user_id=new_id(), chat_id=chat, chat_type="group", anonymous=True)
    await wait_reply(fake, chat, "07:30")
    fake.send("/daily off", user_id=new_id(), chat_id=chat, chat_type="group")  # a member
    await wait_reply(fake, chat, texts.ADMINS_ONLY)
