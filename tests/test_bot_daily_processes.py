"""The daily poem through real kill -9s: two bot replicas, each its own process
(tests/daily_replica.py), a real redis-server, a worker, the fake Bot API, a simulated clock.

Twenty simulated days. Each day one replica is killed with SIGKILL at that day's step of a
post (after the claim, after the poem is written, after the send, after the done mark) and a
new process takes its place; one day both are down across the post time; one group becomes a
supergroup. Every chat gets exactly one poem per local day.
"""

import asyncio
import subprocess
import sys
import time as clock_time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from daily_replica import CLOCK_KEY, DIED_KEY, READY_KEY, die_key
from processes import alive
from serving_fakes import FakeEngine
from test_bot_daily_schedule import CHATS, posts

from bot import keys
from bot.daily import STEPS, next_post_time, post_time
from bot.store import Subscriptions
from yinshi.connection import connect

REPLICA = Path(__file__).with_name("daily_replica.py")
ROOT = REPLICA.parents[1]
START = datetime(2026, 9, 19, 12, 0, tzinfo=UTC)
DAYS = 20
MIGRATED_ON = 7
"""On this day's first post the group -5002 has become the supergroup -1005002."""
DOWN_ON = 12
"""On this day both replicas are down across the first post time, back two hours later."""
SETTLE_S = 15.0


class Replicas:
    """The bot replica processes; a killed one is replaced at once, as a supervisor would."""

    def __init__(self, redis_url: str, fake) -> None:
        self.args = [sys.executable, str(REPLICA), redis_url, fake.base_url, fake.token]
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        process = subprocess.Popen(self.args, cwd=ROOT, stdin=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def live(self) -> list[subprocess.Popen]:
        return [p for p in self.processes if p.poll() is None]

    def kill_all(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()


async def set_clock(redis, moment: datetime) -> None:
    await redis.set(CLOCK_KEY, moment.timestamp())


async def wait_ready(redis, count: int) -> None:
    deadline = clock_time.monotonic() + 30
    while await redis.llen(READY_KEY) < count:
        assert clock_time.monotonic() < deadline, "replicas did not start"
        await asyncio.sleep(0.05)


async def settle(redis, now: datetime) -> None:
    """Until nothing is due by `now` and no live replica holds a post: all that could be
    posted by now has been; what a dead replica held waits for its lease."""
    deadline = clock_time.monotonic() + SETTLE_S
    while True:
        due = await redis.zcount(keys.daily_due(), "-inf", now.timestamp())
        leases = await redis.hvals(keys.daily_lease())
        held_by_live = [t for t in leases if alive(int(t.split(":")[1]))]
        if not due and not held_by_live:
            return
        assert clock_time.monotonic() < deadline, (due, leases)
        await asyncio.sleep(0.05)


def post_moments() -> list[datetime]:
    """Every chat's post time over the days, in order."""
    moments = set()
    for subscription in CHATS:
        zone = ZoneInfo(subscription.timezone)
        day = START.astimezone(zone).date()
        while (moment := post_time(subscription, day)) < START + timedelta(days=DAYS):
            if moment >= START:
                moments.add(moment.astimezone(UTC))
            day += timedelta(days=1)
    return sorted(moments)


async def test_twenty_days_of_kill_9_post_once_per_chat_and_day(
    fake_telegram, redis_server, start_worker
):
    fake = fake_telegram
    start_worker(FakeEngine())
    redis = connect(redis_server.url)
    replicas = Replicas(redis_server.url, fake)
    old_group, supergroup = -5002, -1005002
    try:
        await set_clock(redis, START)
        store = Subscriptions(redis)
        for subscription in CHATS:
            await store.put(subscription, next_post_time(subscription, START))
        replicas.start(), replicas.start()
        await wait_ready(redis, 2)
        deaths = 0
        armed_day = -1
        down_done = False
        for moment in post_moments():
            day = (moment - START).days
            if day != armed_day:
                armed_day = day
                await redis.set(die_key(STEPS[day % len(STEPS)]), 1)
            if day == MIGRATED_ON and old_group not in fake.migrated:
                fake.migrate(old_group, supergroup, by_user=1, announce=False)
            now = moment
            if day == DOWN_ON and not down_done:
                down_done = True
                for process in replicas.live():  # both down across the post time …
                    process.kill()
                    process.wait()
                now = moment + timedelta(hours=2)  # … and back two hours later
                await set_clock(redis, now)
                ready = await redis.llen(READY_KEY)
                replicas.start(), replicas.start()
                await wait_ready(redis, ready + 2)
            await set_clock(redis, now)
            await settle(redis, now)
            while (died := await redis.llen(DIED_KEY)) > deaths:
                deaths = died
                while len(replicas.live()) < 2:
                    replicas.start()  # in its place; the other one goes on meanwhile
                now += timedelta(seconds=keys.DAILY_LEASE_S + 1)
                await set_clock(redis, now)  # the dead one's lease runs out
                await settle(redis, now)
        died = [line.split()[0] for line in await redis.lrange(DIED_KEY, 0, -1)]
        assert Counter(died) == dict.fromkeys(STEPS, 5), died  # each step on five days

        for subscription in CHATS:
            found = posts(fake, subscription.chat_id)
            if subscription.chat_id == old_group:
                found += posts(fake, supergroup)
            days = Counter(day for day, _ in found)
            zone = ZoneInfo(subscription.timezone)
            expected = {
                m.astimezone(zone).date().isoformat()
                for m in post_moments()
                if m.astimezone(zone).time() == subscription.at
            }
            assert set(days) == expected, subscription.chat_id  # none lost …
            assert max(days.values()) == 1, (subscription.chat_id, days)  # … none twice
        # The migration: posts went to the supergroup from that day on, and the
        # subscription lives there now.
        before = [day for day, _ in posts(fake, old_group)]
        after = [day for day, _ in posts(fake, supergroup)]
        assert before and after and max(before) < min(after)
        assert await store.get(old_group) is None
        assert (await store.get(supergroup)).form == "七绝"
    finally:
        replicas.kill_all()
        await redis.aclose()
