"""The daily poem at scale: N subscriptions due in the same minute, two bot replicas, one killed
midway, users asking for poems through the burst.

Real pieces: a redis-server, `yinshi worker` on the shipped model in its own process, the fake
Bot API, two PTB applications (the first polls and answers users; both tick on the shared
schedule, and send within one Telegram budget shared through Redis). The subscriptions exist
before the replicas start, so the poems are asked for ahead, in the queue's background lane.
The second replica is "killed" once half the posts are out: its pass is cancelled where it
stands (an HTTP send in flight may or may not have reached the fake server, as with kill -9)
and it never runs again; what it held comes back when its lease ends (`--lease-s`). Prints one
JSON object:

- posts sent / lost / duplicated (per chat: none, or more than one);
- seconds from the minute to the last post, against the Telegram floor N / 30 msg/s, and
  against the floor of everything the bot sent meanwhile (the users' replies share the
  bot's 30/s, and go first); the most posts both replicas sent in one second;
- users' `/poem` p50 / p95 during the burst.

    python bench/daily.py --subscriptions 10000      # the issue's scale (≈ 6 min floor)
    python bench/daily.py --subscriptions 600 --lease-s 20

Every chat of one day asks the same (topic, form): the pool written ahead serves them all, so
the burst is bound by sending, not by generation. The fake Bot API enforces no overall 30/s;
the replicas' shared budget does.
"""

import argparse
import asyncio
import json
import os
import random
import re
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bot_load import final_reply, replies_to  # noqa: E402
from harness import (  # noqa: E402
    TOPICS,
    percentile,
    run_with_worker,
    shipped_model,
    start_bot,
    worker_serving,
)

from bot import keys as bot_keys  # noqa: E402
from bot.app import stop_polling  # noqa: E402
from bot.daily import POSTER, TICK_JOB, DailyPoster  # noqa: E402
from bot.store import Subscription  # noqa: E402
from fake_telegram.bot_api import FakeBotAPI  # noqa: E402
from yinshi.connection import connect  # noqa: E402

HEADER = re.compile(r"^🌅 每日一诗 · ")
TELEGRAM_PER_S = 30


async def subscribe_all(redis_url: str, count: int, at: datetime) -> list[int]:
    """`count` group subscriptions, all due at `at` (written straight to Redis, in bulk)."""
    redis = connect(redis_url)
    chats = [-(10**9) - i for i in range(count)]
    local = at.astimezone(UTC)
    for start in range(0, count, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for chat in chats[start : start + 1000]:
                subscription = Subscription(
                    chat_id=chat, at=local.time().replace(tzinfo=None), timezone="UTC", form="七绝"
                )
                pipe.hset(bot_keys.subscriptions(), str(chat), subscription.model_dump_json())
                pipe.zadd(bot_keys.daily_due(), {str(chat): at.timestamp()})
            await pipe.execute()
    await redis.aclose()
    return chats


async def users(fake: FakeBotAPI, stop: asyncio.Event, count: int, timeout: float) -> list:
    """`count` users, each asking for a poem, waiting for it, asking again, until `stop`."""
    rng = random.Random(0)

    async def one(user_id: int) -> list[float | None]:
        timings: list[float | None] = []
        while not stop.is_set():
            started = time.perf_counter()
            asked = fake.send(f"/poem {rng.choice(TOPICS)}", user_id=user_id)["message_id"]
            try:
                await fake.wait_for(lambda a=asked: replies_to(fake, user_id, a), timeout)
                await fake.wait_for(lambda a=asked: final_reply(fake, user_id, a), timeout)
                timings.append(time.perf_counter() - started)
            except TimeoutError:
                timings.append(None)
            await asyncio.sleep(1.0)
        return timings

    per_user = await asyncio.gather(*(one(20_000 + i) for i in range(count)))
    return [t for timings in per_user for t in timings]


async def run(args: argparse.Namespace, redis_url: str, worker) -> dict:
    await worker_serving(redis_url, worker, args.worker_start_s)
    fake = FakeBotAPI()
    await fake.start()
    minute = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=args.start_in_s)
    chats = await subscribe_all(redis_url, args.subscriptions, minute)
    for chat in chats:
        fake.chat(chat, "group")
    replicas = []
    for poll in (True, False):
        application = await start_bot(fake, redis_url, args.timeout, poll=poll, daily_lead_s=0)
        poster: DailyPoster = application.bot_data[POSTER]
        poster.lease_s = args.lease_s
        replicas.append(application)
    stop = asyncio.Event()
    users_task = asyncio.create_task(users(fake, stop, args.users, args.timeout + 5))

    wanted = set(chats)

    def posted() -> int:
        """Chats that got their post so far."""
        calls = fake.calls_to("sendMessage")
        return len({int(c.params["chat_id"]) for c in calls if c.ok} & wanted)

    killed_at = None
    try:
        async with asyncio.timeout(args.max_s):
            while posted() < args.subscriptions:
                if killed_at is None and posted() >= args.subscriptions // 2:
                    victim = replicas[1]
                    for job in victim.job_queue.get_jobs_by_name(TICK_JOB):
                        job.schedule_removal()
                    task = victim.bot_data[POSTER]._running
                    if task is not None:
                        task.cancel()
                    killed_at = time.time() - minute.timestamp()
                await asyncio.sleep(0.2)
    except TimeoutError:
        pass
    await asyncio.sleep(2)  # late duplicates, if any
    stop.set()
    user_timings = await users_task
    counts = {chat: 0 for chat in chats}
    last = 0.0
    per_second: Counter[int] = Counter()
    for message in fake.calls_to("sendMessage"):
        chat = int(message.params["chat_id"])
        if message.ok and chat in counts and HEADER.match(message.result["text"]):
            counts[chat] += 1
            last = max(last, message.result["date"])
            per_second[message.result["date"]] += 1
    user_ids = {20_000 + i for i in range(args.users)}
    to_users = 0  # messages the users got (replies, edits) from the minute to the last post
    for method in ("sendMessage", "editMessageText", "sendPhoto"):
        for call in fake.calls_to(method):
            if call.ok and int(call.params["chat_id"]) in user_ids:
                at = call.result.get("edit_date") or call.result["date"]
                to_users += minute.timestamp() <= at <= last
    for application in replicas:
        await stop_polling(application)
    await fake.stop()
    answered = sorted(t for t in user_timings if t is not None)
    floor = args.subscriptions / TELEGRAM_PER_S
    shared_floor = (args.subscriptions + to_users) / TELEGRAM_PER_S
    last_s = last - minute.timestamp() if last else None
    return {
        "bench": "daily",
        "subscriptions": args.subscriptions,
        "replicas": 2,
        "killed_replica_at_s": round(killed_at, 1) if killed_at is not None else None,
        "lease_s": args.lease_s,
        "sent": sum(1 for c in counts.values() if c),
        "lost": sum(1 for c in counts.values() if c == 0),
        "duplicated": sum(1 for c in counts.values() if c > 1),
        "last_post_s": round(last_s, 1) if last_s is not None else None,
        "floor_s": round(floor, 1),
        "last_over_floor": round(last_s / floor, 2) if last_s else None,
        "user_messages_in_burst": to_users,
        "floor_with_users_s": round(shared_floor, 1),
        "last_over_floor_with_users": round(last_s / shared_floor, 2) if last_s else None,
        "user_requests": len(user_timings),
        "user_lost": user_timings.count(None),
        "user_p50_s": round(percentile(answered, 50), 3) if answered else None,
        "user_p95_s": round(percentile(answered, 95), 3) if answered else None,
        "most_posts_in_a_second": max(per_second.values(), default=0),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="checkpoint dir (default: the shipped one)")
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=5, help="asking /poem through the burst")
    parser.add_argument("--lease-s", type=float, default=bot_keys.DAILY_LEASE_S)
    parser.add_argument("--start-in-s", type=float, default=5.0, help="the minute, from now")
    parser.add_argument("--timeout", type=float, default=60.0, help="the bot's wait per poem")
    parser.add_argument("--max-s", type=float, default=1800.0, help="give up after")
    parser.add_argument("--worker-start-s", type=float, default=300.0)
    args = parser.parse_args()
    checkpoint = shipped_model(args.model)
    result = run_with_worker(checkpoint, 1, partial(run, args))
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
