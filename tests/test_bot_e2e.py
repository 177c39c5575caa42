"""The bot end to end: real PTB over HTTP to the fake Bot API, a real Redis, a real worker.

One Redis and one worker (in a thread of its own, with the tiny model) serve the module; each
test gets a fresh fake Bot API and its own bots, and its own user and chat ids, so limits and
subscriptions of one test never meet another's.
"""

import asyncio
import itertools
import logging
import os
import re
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from serving_fakes import WorkerThread

from bot import texts
from bot.app import RedactSecret, start_health, stop_polling
from bot.daily import POSTER
from bot.parsing import ANALYZE_MAX, TOPIC_MAX
from bot.ratelimit import AlreadyWriting, RateLimiter
from bot.services import Services
from bot.store import Subscription
from yinshi.connection import connect
from yinshi.prosody import analyze
from yinshi.settings import BotSettings

_ids = itertools.count(1000)


def new_id() -> int:
    return next(_ids)


async def listening(port: int, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_generator(tiny_poet):
    """The real generation engine on the random-weight tiny model: nonsense words, but every
    poem keeps its form by construction. One torch thread: on 2 busy cores, more only spin."""
    import torch

    from model.generation import load_generator

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_generator(tiny_poet)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def worker_url(module_redis_server, tiny_generator):
    """The module's Redis, with one worker (a thread of its own) serving the tiny model."""
    thread = WorkerThread(
        module_redis_server.url, tiny_generator.generate, tiny_generator.model_version
    ).start()
    yield module_redis_server.url
    thread.stop()


def poems_in(fake, chat_id: int) -> list[dict]:
    """The bot's finished poem messages in a chat (they carry the 换一首 button)."""
    return [m for m in fake.bot_messages(chat_id) if "again:" in str(m.get("reply_markup", ""))]


def body_of(message: dict) -> str:
    """The poem rows of a poem message (between the title and the footer)."""
    return message["text"].split("\n\n")[1]


async def wait_poems(fake, chat_id: int, count: int = 1, timeout: float = 20) -> list[dict]:
    """Wait for `count` poems in the chat; fail at once if a placeholder became an error."""

    def done():
        poems = poems_in(fake, chat_id)
        errors = [m["text"] for m in fake.bot_messages(chat_id) if m.get("edit_date")]
        errors = [text for text in errors if all(text != poem["text"] for poem in poems)]
        return errors or (len(poems) >= count and poems)

    found = await fake.wait_for(done, timeout)
    assert all(isinstance(m, dict) for m in found), f"no poem but: {found}"
    return found


async def wait_reply(fake, chat_id: int, containing: str, timeout: float = 10) -> dict:
    def found():
        return next((m for m in fake.bot_messages(chat_id) if containing in m["text"]), None)

    return await fake.wait_for(found, timeout)


async def test_poem_arrives_in_one_edit_and_conforms(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    await start_bot(worker_url)
    asked = fake.send("/poem 春江", user_id=user)
    [poem] = await wait_poems(fake, user)
    assert poem["text"].startswith("春江")
    assert "七绝" in poem["text"]
    assert analyze(body_of(poem), form="七绝").conforms
    assert poem["reply_to_message"]["message_id"] == asked["message_id"]
    edits = [
        c for c in fake.calls_to("editMessageText") if c.params["message_id"] == poem["message_id"]
    ]
    assert len(edits) == 1  # the placeholder became the poem in one edit
    actions = fake.calls_to("sendChatAction")
    assert actions and actions[0].params["action"] == "typing"


async def test_acrostic(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    await start_bot(worker_url)
    fake.send("/acrostic 春江花月", user_id=user)
    [poem] = await wait_poems(fake, user)
    lines = [line for line in re.split("[，。\n]", body_of(poem)) if line]
    assert [line[0] for line in lines] == list("春江花月")


async def test_regenerate_button_gives_another_poem(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    await start_bot(worker_url)
    fake.send("秋夜", user_id=user)  # plain text in a private chat is a topic
    [first] = await wait_poems(fake, user)
    again = first["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.press(user, first["message_id"], again, user_id=user)
    first_again, second = await wait_poems(fake, user, count=2)
    assert first_again["message_id"] == first["message_id"]
    assert body_of(second) != body_of(first)
    assert second["text"].startswith("秋夜")


async def test_analysis_button_and_analyze_as_a_reply(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    await start_bot(worker_url)
    fake.send("/poem 明月", user_id=user)
    [poem] = await wait_poems(fake, user)
    analyze_button = poem["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    fake.press(user, poem["message_id"], analyze_button, user_id=user)
    report = await wait_reply(fake, user, "格律分析")
    assert body_of(poem)[:5] in report["text"]

    someone = fake.send(
        "白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。",
        user_id=new_id(),
        chat_id=-new_id(),
        chat_type="group",
    )
    chat = someone["chat"]["id"]
    fake.send(
        "/analyze", user_id=user, chat_id=chat, chat_type="group", reply_to=someone["message_id"]
    )
    report = await wait_reply(fake, chat, "格律分析")
    assert "五绝" in report["text"] and "仄起首句不入韵" in report["text"]
    assert "合律" in report["text"]


async def test_inline_query_offers_poems(fake_telegram, start_bot, worker_url):
    fake = fake_telegram
    await start_bot(worker_url, inline_timeout_s=10)
    fake.inline_query("春江", user_id=new_id())
    answer = await fake.wait_for(lambda: fake.calls_to("answerInlineQuery"))
    results = answer[0].params["results"]
    assert 1 <= len(results) <= 3
    assert all("春江" in r["title"] for r in results)


async def test_group_settings_need_an_admin(fake_telegram, start_bot, worker_url):
    fake, chat = fake_telegram, -new_id()
    member, admin, configured = new_id(), new_id(), new_id()
    fake.admins[chat] = {admin}
    await start_bot(worker_url, admin_ids=frozenset({configured}))
    fake.send("/daily on", user_id=member, chat_id=chat, chat_type="group")
    await wait_reply(fake, chat, texts.ADMINS_ONLY)
    fake.send("/daily on 07:30", user_id=admin, chat_id=chat, chat_type="group")
    await wait_reply(fake, chat, "07:30")
    fake.send("/daily off", user_id=configured, chat_id=chat, chat_type="group")
    await wait_reply(fake, chat, texts.DAILY_OFF)
    fake.send("/daily", user_id=member, chat_id=chat, chat_type="group")  # anyone may look
    await wait_reply(fake, chat, "尚未订阅")


async def test_daily_posts_once_with_two_replicas(fake_telegram, start_bot, worker_url):
    """Both replicas tick on the shared schedule (no per-chat jobs): one post, on the minute."""
    fake, chat = fake_telegram, -new_id()
    fake.chat(chat, "group")
    first = await start_bot(worker_url, daily_lead_s=1)
    second = await start_bot(worker_url, daily_lead_s=1, poll=False)
    zone = ZoneInfo("Asia/Shanghai")
    post_at = (datetime.now(zone) + timedelta(seconds=3)).replace(microsecond=0)
    subscription = Subscription(
        chat_id=chat,
        at=post_at.timetz().replace(tzinfo=None),
        timezone="Asia/Shanghai",
        form="五绝",
    )
    await first.bot_data["services"].subscriptions.put(subscription, post_at)
    [post] = await wait_poems(fake, chat, timeout=15)
    assert post["text"].startswith(f"🌅 每日一诗 · {post_at.date().isoformat()}")
    assert post["date"] >= int(post_at.timestamp())  # written ahead, sent on the minute
    await asyncio.sleep(1.5)
    assert len(poems_in(fake, chat)) == 1
    # Both replicas looking for due posts at once: tomorrow's is not due, nothing new.
    again = await asyncio.gather(
        first.bot_data[POSTER].run_due(), second.bot_data[POSTER].run_due()
    )
    assert again == [0, 0]
    assert len(poems_in(fake, chat)) == 1


async def test_subscriptions_survive_a_restart(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    bot = await start_bot(worker_url)
    fake.send("/daily on 21:15 Europe/Berlin 五律", user_id=user)
    await wait_reply(fake, user, "21:15")
    await stop_polling(bot)
    restarted = await start_bot(worker_url)
    store = restarted.bot_data["services"].subscriptions
    assert (await store.get(user)).form == "五律"
    due = datetime.fromtimestamp(await store.due_at(user), ZoneInfo("Europe/Berlin"))
    assert due.strftime("%H:%M") == "21:15"
    fake.send("/daily", user_id=user)
    status = await wait_reply(fake, user, "每日一诗：每天 21:15")
    assert "Europe/Berlin" in status["text"]
    assert f"下一首：{due.date().isoformat()} 21:15" in status["text"]  # in the chat's zone


async def test_removed_bot_unsubscribes(fake_telegram, start_bot, worker_url):
    fake, chat, admin = fake_telegram, -new_id(), new_id()
    fake.admins[chat] = {admin}
    bot = await start_bot(worker_url)
    fake.send("/daily on", user_id=admin, chat_id=chat, chat_type="group")
    await wait_reply(fake, chat, "已订阅")
    subscriptions = bot.bot_data["services"].subscriptions
    assert await subscriptions.due_at(chat) is not None
    fake.remove_bot(chat, by_user=admin)
    for _ in range(100):
        if await subscriptions.get(chat) is None:
            break
        await asyncio.sleep(0.05)
    assert await subscriptions.get(chat) is None
    assert await subscriptions.due_at(chat) is None

    # A chat that blocked the bot without it noticing: the daily post meets Forbidden.
    blocked = new_id()
    subscription = Subscription(
        chat_id=blocked, at=datetime.now().time(), timezone="UTC", form="七绝"
    )
    await subscriptions.put(subscription, datetime.now(ZoneInfo("UTC")) - timedelta(seconds=1))
    fake.blocked.add(blocked)
    for _ in range(100):  # the tick finds it due, meets Forbidden, unsubscribes
        if await subscriptions.get(blocked) is None:
            break
        await asyncio.sleep(0.05)
    assert await subscriptions.get(blocked) is None
    assert not poems_in(fake, blocked)


async def test_rate_limit(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    await start_bot(worker_url, rate_per_minute=2)
    for count, topic in enumerate(("春", "夏"), start=1):
        fake.send(f"/poem {topic}", user_id=user)
        await wait_poems(fake, user, count=count)
    fake.send("/poem 秋", user_id=user)
    await wait_reply(fake, user, "每分钟最多 2 首")
    fake.send("/help", user_id=user)  # not a poem: never limited
    await wait_reply(fake, user, "吟诗")
    assert len(poems_in(fake, user)) == 2


async def test_one_poem_in_flight_per_user(redis_server):
    redis = connect(redis_server.url)
    limiter = RateLimiter(redis, per_minute=6, busy_ttl_s=5)
    await limiter.heartbeat()  # a running bot's claims hold
    async with limiter.one_at_a_time(1):
        with pytest.raises(AlreadyWriting):
            async with limiter.one_at_a_time(1):
                pass
        async with limiter.one_at_a_time(2):  # another user is not held up
            pass
    async with limiter.one_at_a_time(1):  # released when the first poem is done
        pass
    await redis.aclose()


async def test_worker_down_means_a_timeout_reply(fake_telegram, start_bot, redis_server):
    fake, user = fake_telegram, new_id()
    await start_bot(redis_server.url, timeout_s=1.0, inline_timeout_s=0.5)
    fake.send("/poem 春江", user_id=user)
    await wait_reply(fake, user, texts.TIMEOUT)
    fake.inline_query("春江", user_id=user)
    [answer] = await fake.wait_for(lambda: fake.calls_to("answerInlineQuery"))
    assert answer.params["results"] == []
    assert answer.params["button"]["start_parameter"] == texts.INLINE_START_PARAMETER


async def test_over_long_input_gets_a_clear_reply(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    await start_bot(worker_url)
    fake.send("/poem " + "长" * (TOPIC_MAX + 1), user_id=user)
    await wait_reply(fake, user, f"最多 {TOPIC_MAX} 个字")
    fake.send("/analyze " + "长" * (ANALYZE_MAX + 1), user_id=user)
    await wait_reply(fake, user, f"最多 {ANALYZE_MAX} 个字")
    fake.send("/acrostic 春江花月夜色正好啊", user_id=user)
    await wait_reply(fake, user, "藏头须是")
    assert not poems_in(fake, user)


async def test_html_in_a_topic_is_escaped(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    await start_bot(worker_url)
    topic = "<b>春</b>&<i"
    fake.send(f"/poem {topic}", user_id=user)
    [poem] = await wait_poems(fake, user)
    assert topic in poem["text"]  # shown literally: the fake parsed the HTML as Telegram does
    assert "&lt;b&gt;" in poem["html"]
    assert all(call.ok for call in fake.calls if call.method != "getUpdates")


async def test_survives_failing_best_effort_calls(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    fake.fail("sendChatAction")
    fake.fail("setMyCommands", 400, "Bad Request: commands are broken")
    await start_bot(worker_url)
    fake.send("/poem 春江", user_id=user)
    await wait_poems(fake, user)
    assert not fake.calls_to("sendChatAction")[0].ok


async def test_an_unexpected_error_gets_a_plain_reply(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    await start_bot(worker_url)
    fake.fail("editMessageText", 500, "Internal Server Error")
    fake.send("/poem 春江", user_id=user)
    reply = await wait_reply(fake, user, texts.UNEXPECTED)
    assert "Traceback" not in reply["text"] and fake.token not in reply["text"]


def test_the_log_never_shows_the_token():
    token = "123456:SECRET"
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "POST %s/getMe", ("bot" + token,), None
    )
    try:
        raise RuntimeError(f"https://api.telegram.org/bot{token}/getMe failed")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    RedactSecret(token).filter(record)
    assert token not in record.getMessage() and token not in record.exc_text


def test_missing_token_is_one_line():
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    done = subprocess.run(
        [sys.executable, "-m", "yinshi.cli", "bot"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "BotFather" in done.stderr


async def test_healthz(redis_server):
    settings = BotSettings(TELEGRAM_BOT_TOKEN="1:x", REDIS_URL=redis_server.url, health_port=0)
    redis = connect(redis_server.url)
    service = Services.create(settings, redis)
    runner = await start_health(service)
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
        redis_server.kill()
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 503
    await runner.cleanup()
    await redis.aclose()


async def test_webhook_mode(fake_telegram, redis_server, tmp_path):
    """`yinshi bot` in webhook mode: registers its URL with the secret, takes only updates that
    carry the secret, answers them, and serves /healthz."""
    fake, user = fake_telegram, new_id()
    port, health = free_port(), free_port()
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "REDIS_URL": redis_server.url,
        "YINSHI_BOT_MODE": "webhook",
        "YINSHI_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        "YINSHI_WEBHOOK_LISTEN": "127.0.0.1",
        "YINSHI_WEBHOOK_PORT": str(port),
        "YINSHI_WEBHOOK_SECRET": "s3cret",
        "YINSHI_HEALTH_PORT": str(health),
    }
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "yinshi.cli", "bot", "--base-url", fake.base_url,
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await fake.wait_for(lambda: fake.webhook_url.endswith("/telegram"), timeout=30)
        [registered] = fake.calls_to("setWebhook")
        assert registered.params["secret_token"] == "s3cret"
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": user, "type": "private"},
                "from": fake.user(user),
                "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
        url = f"http://127.0.0.1:{port}/telegram"
        await listening(port)  # PTB registers the webhook a moment before it listens
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=update) as refused:  # no secret
                assert refused.status == 403
            secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
            async with session.post(url, json=update, headers=secret) as accepted:
                assert accepted.status == 200
            await wait_reply(fake, user, "吟诗")
            async with session.get(f"http://127.0.0.1:{health}/healthz") as response:
                assert response.status == 200
    finally:
        bot.terminate()
        await bot.wait()
