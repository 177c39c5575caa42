"""The daily poem's shared schedule under faults, on a simulated clock.

Real pieces throughout: PTB applications (the replicas) talking HTTP to the fake Bot API, a
real redis-server, a worker thread (the tiny model for the long run, the instant fake engine
elsewhere). Only time is simulated: each replica's `DailyPoster.clock` reads a shared
`SimClock`, and its own repeating tick is removed so that the test decides who looks for due
posts when. A crash is a `Crash` raised from the poster's fault hook at a chosen step: it
unwinds the replica's pass without any cleanup (nothing in the poster catches it), leaving
Redis exactly as a kill -9 at that point would; the replica is then never used again, and a
fresh one is started in its place, as the supervisor would.
"""

import asyncio
import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from serving_fakes import FakeEngine, WorkerThread
from test_bot_e2e import tiny_generator

from bot import keys
from bot.daily import AHEAD_JOB, POSTER, STEPS, TICK_JOB, DailyPoster
from bot.occasions import occasion_for
from bot.store import Subscription
from yinshi import cache
from yinshi.cache import POOL_SIZE
from yinshi.protocol import PoemRequest

__all__ = ["tiny_generator"]  # the bot e2e tests' fixture: the engine on the tiny model

HEADER = re.compile(r"^🌅 每日一诗 · (\d{4}-\d{2}-\d{2}) · ([^·]+) · ")


class Crash(BaseException):
    """A replica dying at a step (BaseException: no `except Exception` on the way sees it)."""


class SimClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def replicas(start_bot, redis_server):
    """``await replicas.start(clock)``: a bot replica (no polling) on the simulated clock."""

    class Replicas:
        async def start(self, clock: SimClock, **settings) -> DailyPoster:
            application = await start_bot(redis_server.url, poll=False, **settings)
            for name in (TICK_JOB, AHEAD_JOB):
                for job in application.job_queue.get_jobs_by_name(name):
                    job.schedule_removal()
            poster: DailyPoster = application.bot_data[POSTER]
            poster.clock = clock
            return poster

    return Replicas()


def crash_at(step: str, times: int = 1):
    """A fault hook that kills the replica the first `times` times it reaches `step`."""
    left = [times]

    async def fault(reached: str, chat_id: int) -> None:
        if reached == step and left[0] > 0:
            left[0] -= 1
            raise Crash(f"{step} chat={chat_id}")

    return fault


def posts(fake, chat_id: int) -> list[tuple[str, str]]:
    """(date, occasion) of each daily post in a chat, from its header."""
    found = []
    for message in fake.bot_messages(chat_id):
        match = HEADER.match(message["text"])
        if match:
            found.append((match[1], match[2]))
    return found


async def subscribe(poster: DailyPoster, subscription: Subscription) -> None:
    from bot.daily import next_post_time

    await poster.service.subscriptions.put(
        subscription, next_post_time(subscription, poster.clock())
    )


CHATS = [
    Subscription(chat_id=-5001, at=time(8, 0), timezone="Asia/Shanghai", form="五绝"),
    Subscription(chat_id=-5002, at=time(8, 0), timezone="Asia/Shanghai", form="七绝"),
    Subscription(chat_id=-5003, at=time(21, 30), timezone="Europe/Berlin", form="五律"),
    Subscription(chat_id=-5004, at=time(0, 5), timezone="America/New_York", form="七绝"),
]


async def test_twenty_days_of_crashes_post_once_per_chat_and_day(
    fake_telegram, replicas, redis_server, tiny_generator
):
    """Two replicas take turns on the schedule every 10 simulated minutes for 20 days; each
    day one of them dies at the day's step (after claim, after generation, after send — i.e.
    before marking done —, after marking) and is restarted at once. Every chat gets exactly
    one poem every local day. (Before the sending mark, each crash between send and mark
    posted that day twice.)"""
    fake = fake_telegram
    worker = WorkerThread(
        redis_server.url, tiny_generator.generate, tiny_generator.model_version
    ).start()
    try:
        clock = SimClock(datetime(2026, 9, 19, 12, 0, tzinfo=UTC))
        live = [await replicas.start(clock), await replicas.start(clock)]
        for subscription in CHATS:
            await subscribe(live[0], subscription)
        crashes: list[tuple[str, int]] = []
        end = clock.now + timedelta(days=20)
        day_number = -1
        while clock.now < end:
            number = (clock.now - datetime(2026, 9, 19, 12, tzinfo=UTC)).days
            if number != day_number:  # a new simulated day: the other replica goes first,
                day_number = number  # and is armed to die at the day's step
                live.reverse()
                live[0].fault = crash_at(STEPS[number % len(STEPS)])
                live[1].fault = crash_at("none")
            for index in range(len(live)):
                try:
                    await live[index].run_due()
                except Crash as crash:
                    crashes.append((str(crash), number))
                    live[index] = await replicas.start(clock)  # restarted, a new process
            clock.advance(minutes=10)
        # One crash a day, each step on five of the days.
        assert len(crashes) == 20 and {text.split()[0] for text, _ in crashes} == set(STEPS)
        for subscription in CHATS:
            found = posts(fake, subscription.chat_id)
            days = Counter(day for day, _ in found)
            zone = ZoneInfo(subscription.timezone)
            first_day = datetime(2026, 9, 19, 12, tzinfo=UTC).astimezone(zone)
            first_post = datetime.combine(first_day.date(), subscription.at, zone)
            if first_post < first_day:
                first_post += timedelta(days=1)
            expected = set()
            day = first_post
            while day < end:
                expected.add(day.date().isoformat())
                day += timedelta(days=1)
            assert set(days) == expected, subscription.chat_id  # none lost
            assert max(days.values()) == 1, (days, crashes)  # none twice
        # The calendar on the way: 2026's 中秋 (25 Sept) and the 秋分 before it.
        shanghai = dict(posts(fake, -5001))
        assert shanghai["2026-09-25"] == "今日中秋"
        assert shanghai["2026-09-23"] == "今日秋分"
        assert shanghai["2026-10-01"] == "秋分时节"
    finally:
        worker.stop()


async def test_a_crash_after_claim_is_posted_by_the_other_replica(
    fake_telegram, replicas, start_worker
):
    """The lease: the crashed replica's post waits for its lease to end, then the other
    replica posts it — late, not never, and not twice."""
    fake, chat = fake_telegram, -6001
    start_worker(FakeEngine())
    clock = SimClock(datetime(2026, 9, 25, 7, 59, tzinfo=ZoneInfo("Asia/Shanghai")))
    first, second = await replicas.start(clock), await replicas.start(clock)
    await subscribe(
        first, Subscription(chat_id=chat, at=time(8), timezone="Asia/Shanghai", form="五律")
    )
    clock.advance(minutes=1)
    first.fault = crash_at("generated")
    with pytest.raises(Crash):
        await first.run_due()
    assert await second.run_due() == 0  # still leased to the dead replica
    clock.advance(seconds=keys.DAILY_LEASE_S + 1)
    assert await second.run_due() == 1
    assert posts(fake, chat) == [("2026-09-25", "今日中秋")]
    clock.advance(hours=1)
    assert await second.run_due() == 0
    assert len(posts(fake, chat)) == 1


async def test_a_failed_generation_is_retried(fake_telegram, replicas, redis_server):
    """Before: after a ServiceError the claim was released and nothing ever retried."""
    fake, chat = fake_telegram, -6101
    clock = SimClock(datetime(2027, 2, 6, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    poster = await replicas.start(clock, timeout_s=0.5)
    subscription = Subscription(chat_id=chat, at=time(8), timezone="Asia/Shanghai", form="七绝")
    await poster.service.subscriptions.put(subscription, clock.now)
    assert await poster.run_due() == 1  # no worker: the request times out
    assert posts(fake, chat) == []
    worker = WorkerThread(redis_server.url, FakeEngine()).start()
    try:
        assert await poster.run_due() == 0  # not due again yet
        clock.advance(seconds=keys.DAILY_RETRY_S + 1)
        assert await poster.run_due() == 1
    finally:
        worker.stop()
    assert posts(fake, chat) == [("2027-02-06", "今日春节")]


async def test_a_bot_down_at_post_time_posts_on_return(fake_telegram, replicas, start_worker):
    fake, chat = fake_telegram, -6201
    start_worker(FakeEngine())
    zone = ZoneInfo("Asia/Shanghai")
    clock = SimClock(datetime(2026, 10, 17, 7, 0, tzinfo=zone))
    poster = await replicas.start(clock)
    await subscribe(
        poster, Subscription(chat_id=chat, at=time(8), timezone="Asia/Shanghai", form="五绝")
    )
    # Down from 07:00 to 11:00: on return, the day's poem.
    clock.now = datetime(2026, 10, 17, 11, 0, tzinfo=zone)
    back = await replicas.start(clock)
    assert await back.run_due() == 1
    assert [day for day, _ in posts(fake, chat)] == ["2026-10-17"]
    # Down from 07:00 on the 18th (重阳) to 06:00 on the 19th: the 18th is over there, so no
    # late poem for it; the 19th's comes at 08:00, once.
    clock.now = datetime(2026, 10, 19, 6, 0, tzinfo=zone)
    again = await replicas.start(clock)
    await again.run_due()
    assert [day for day, _ in posts(fake, chat)] == ["2026-10-17"]
    clock.now = datetime(2026, 10, 19, 8, 0, tzinfo=zone)
    assert await again.run_due() == 1
    clock.advance(minutes=10)
    assert await again.run_due() == 0
    assert [day for day, _ in posts(fake, chat)] == ["2026-10-17", "2026-10-19"]


async def test_the_hours_poems_are_written_ahead_in_the_background(
    fake_telegram, replicas, start_worker, redis_server
):
    """An hour before the minute, one replica asks for one pool per (day, form) in the
    background lane; at the minute every post takes its poem from the pool, and the workers
    write nothing more. A post due later than the hour is not asked for yet."""
    fake = fake_telegram
    engine = FakeEngine()
    start_worker(engine)
    zone = ZoneInfo("Asia/Shanghai")
    clock = SimClock(datetime(2026, 9, 25, 7, 5, tzinfo=zone))  # 中秋
    first, second = await replicas.start(clock), await replicas.start(clock)
    forms = ["五绝", "五绝", "五绝", "七律", "七律", "七律"]
    for i, form in enumerate(forms):
        await subscribe(
            first, Subscription(chat_id=-6600 - i, at=time(8), timezone="Asia/Shanghai", form=form)
        )
    later = Subscription(chat_id=-6699, at=time(12), timezone="Asia/Shanghai", form="五律")
    await subscribe(first, later)
    assert await first.ask_ahead() == 2
    assert await second.ask_ahead() == 0  # asked already, by the first
    topic = occasion_for(date(2026, 9, 25)).topic
    redis = first.service.redis
    for form in ("五绝", "七律"):
        request = PoemRequest(topic=topic, form=form)
        for _ in range(200):
            if len(await cache.pool(redis, engine.version, request)) == POOL_SIZE:
                break
            await asyncio.sleep(0.02)
        assert len(await cache.pool(redis, engine.version, request)) == POOL_SIZE
    assert not await cache.pool(redis, engine.version, PoemRequest(topic=topic, form="五律"))
    written = len(engine.calls)
    clock.now = datetime(2026, 9, 25, 8, 0, tzinfo=zone)
    assert await first.run_due() + await second.run_due() == len(forms)
    assert len(engine.calls) == written  # every post from the pool
    for i in range(len(forms)):
        assert posts(fake, -6600 - i) == [("2026-09-25", "今日中秋")]


async def test_changes_are_seen_by_every_replica_at_once(fake_telegram, replicas, start_worker):
    fake, chat = fake_telegram, -6301
    start_worker(FakeEngine())
    zone = ZoneInfo("Europe/Berlin")
    clock = SimClock(datetime(2026, 6, 1, 9, 0, tzinfo=zone))
    first, second = await replicas.start(clock), await replicas.start(clock)
    early = Subscription(chat_id=chat, at=time(10), timezone="Europe/Berlin", form="七绝")
    await subscribe(first, early)
    # Moved to 09:05 on the first replica: the second posts at 09:05, not at 10:00.
    await subscribe(first, early.model_copy(update={"at": time(9, 5)}))
    clock.advance(minutes=5)
    assert await second.run_due() == 1
    assert [day for day, _ in posts(fake, chat)] == ["2026-06-01"]
    # Switched off on the second replica: the first posts nothing the next day.
    await second.service.subscriptions.remove(chat)
    clock.advance(days=1)
    assert await first.run_due() == 0
    assert len(posts(fake, chat)) == 1


async def test_a_migrated_group_keeps_its_subscription(
    fake_telegram, replicas, start_worker, start_bot, redis_server
):
    """`ChatMigrated` on the post moves the subscription to the supergroup and posts there;
    the service message Telegram sends on an upgrade moves it too."""
    fake, group, supergroup = fake_telegram, -6401, -1006401
    start_worker(FakeEngine())
    zone = ZoneInfo("Asia/Shanghai")
    clock = SimClock(datetime(2026, 6, 19, 7, 0, tzinfo=zone))
    poster = await replicas.start(clock)
    store = poster.service.subscriptions
    await subscribe(
        poster, Subscription(chat_id=group, at=time(8), timezone="Asia/Shanghai", form="五绝")
    )
    fake.chat(group, "group")
    fake.migrate(group, supergroup, by_user=1, announce=False)  # the bot missed the update
    clock.now = datetime(2026, 6, 19, 8, 0, tzinfo=zone)
    assert await poster.run_due() == 1
    assert posts(fake, supergroup) == [("2026-06-19", "今日端午")]
    assert await store.get(group) is None
    assert (await store.get(supergroup)).chat_id == supergroup
    clock.advance(days=1)
    assert await poster.run_due() == 1
    assert len(posts(fake, supergroup)) == 2

    # The usual way: the bot sees the upgrade's service message and moves the subscription.
    other, other_super = -6402, -1006402
    await subscribe(
        poster, Subscription(chat_id=other, at=time(8), timezone="Asia/Shanghai", form="七绝")
    )
    await start_bot(redis_server.url)  # a polling replica, to receive the service message
    fake.migrate(other, other_super, by_user=1)
    for _ in range(200):
        if await store.get(other_super):
            break
        await asyncio.sleep(0.05)
    assert await store.get(other) is None
    assert (await store.get(other_super)).form == "七绝"
    assert await store.due_at(other_super) is not None


def test_next_post_time_in_the_chat_zone():
    from bot.daily import next_post_time, slot_for

    subscription = Subscription(chat_id=1, at=time(8), timezone="Asia/Tokyo", form="七绝")
    now = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)  # 09:30 in Tokyo
    assert next_post_time(subscription, now) == datetime(
        2026, 3, 2, 8, tzinfo=ZoneInfo("Asia/Tokyo")
    )
    early = datetime(2026, 2, 28, 22, 0, tzinfo=UTC)  # 07:00 on 1 March in Tokyo
    assert next_post_time(subscription, early).date() == date(2026, 3, 1)
    assert next_post_time(subscription, early, done="2026-03-01").date() == date(2026, 3, 2)
    assert slot_for(subscription, now).date() == date(2026, 3, 1)
    assert slot_for(subscription, early).date() == date(2026, 2, 28)


async def test_a_card_subscription_posts_the_poem_as_a_picture(
    fake_telegram, replicas, start_worker
):
    """`/daily on 08:00 诗笺`: the day's poem goes out by sendPhoto, the header and the poem
    in its caption, with the poem's buttons."""
    from bot.card import NoFontError, find_faces

    try:
        find_faces()
    except NoFontError as error:
        pytest.skip(f"no CJK font ({error}): apt-get install fonts-lxgw-wenkai fonts-noto-cjk")
    start_worker(FakeEngine())
    clock = SimClock(datetime(2026, 9, 25, 0, 0, tzinfo=UTC))  # 08:00 in Shanghai: 中秋
    poster = await replicas.start(clock)
    chat = -6001
    card = Subscription(
        chat_id=chat, at=time(8, 0), timezone="Asia/Shanghai", form="五绝", card=True
    )
    await subscribe(poster, card)
    await poster.run_due()
    [photo] = [c for c in fake_telegram.calls_to("sendPhoto") if int(c.params["chat_id"]) == chat]
    assert photo.ok and photo.params["caption"].startswith(
        "🌅 <b>每日一诗</b> · 2026-09-25 · 今日中秋"
    )
    assert "again:" in str(photo.params["reply_markup"])


async def test_a_bad_stored_subscription_is_logged_and_skipped(
    fake_telegram, replicas, start_worker, caplog
):
    """One entry that no longer reads (here a timezone no system knows) is logged and left
    aside; every other chat still gets its post (at the session's start, such an entry kept
    the bot from starting at all)."""
    start_worker(FakeEngine())
    clock = SimClock(datetime(2026, 9, 25, 0, 0, tzinfo=UTC))
    poster = await replicas.start(clock)
    good = Subscription(chat_id=-7001, at=time(8, 0), timezone="Asia/Shanghai", form="五绝")
    await subscribe(poster, good)
    redis = poster.service.redis
    bad = good.model_dump_json().replace("-7001", "-7002").replace("Asia/Shanghai", "Mars/Base")
    await redis.hset(keys.subscriptions(), "-7002", bad)
    await redis.zadd(keys.daily_due(), {"-7002": clock.now.timestamp()})
    await poster.run_due()
    assert posts(fake_telegram, -7001) and not fake_telegram.bot_messages(-7002)
    assert "event=bad_subscription" in caplog.text and "Mars/Base" in caplog.text
    assert [s.chat_id for s in await poster.service.subscriptions.all()] == [-7001]
