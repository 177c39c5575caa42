"""Load on the whole bot path: N simulated users → fake Bot API → bot → Redis → one CPU worker.

Each user sends `/poem <topic>` and waits for the bot's final reply (the placeholder edited
into a poem or an error) before the next; topics repeat across users, so part of the answers
come from the cache. Prints one JSON object: sustained requests/s, p50/p95 from the user's
message to the poem, the time to the bot's first message (the placeholder), the cache-hit
share, error replies (Busy, Timeout …), and requests that got no final reply at all (`lost`,
must be 0).

    python bench/bot_load.py --users 20 --requests 5

The worker is `yinshi worker` in its own process with one torch thread (on 2 cores: one for
the model, one for the bot and this harness; `--worker-threads 2` measured slower here), on the
shipped model (model/weights/small) unless --model says otherwise.
"""

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import (  # noqa: E402
    TOPICS,
    percentile,
    run_with_worker,
    shipped_model,
    start_bot,
    worker_serving,
)

from bot.app import stop_polling  # noqa: E402
from fake_telegram.bot_api import FakeBotAPI  # noqa: E402
from yinshi import keys  # noqa: E402
from yinshi.connection import connect  # noqa: E402


def replies_to(fake: FakeBotAPI, chat_id: int, asked: int) -> list[dict]:
    return [
        message
        for message in fake.bot_messages(chat_id)
        if (message.get("reply_to_message") or {}).get("message_id") == asked
    ]


def final_reply(fake: FakeBotAPI, chat_id: int, asked: int) -> dict | None:
    """The bot's last word on the user's message: a placeholder that was edited, or a
    direct answer (a limit or input error)."""
    for message in replies_to(fake, chat_id, asked):
        if message.get("edit_date") or not message["text"].startswith("✍️"):
            return message
    return None


async def user(
    fake: FakeBotAPI, user_id: int, requests: int, rng: random.Random, timeout: float
) -> list[tuple[float, float, bool] | None]:
    """Per request: (seconds to the bot's first message, seconds to its final reply, whether
    that was a poem); None when the bot never gave a final reply (a lost update)."""
    timings: list[tuple[float, float, bool] | None] = []
    for _ in range(requests):
        started = time.perf_counter()
        asked = fake.send(f"/poem {rng.choice(TOPICS)}", user_id=user_id)["message_id"]
        try:
            await fake.wait_for(lambda a=asked: replies_to(fake, user_id, a), timeout)
            first = time.perf_counter() - started
            reply = await fake.wait_for(lambda a=asked: final_reply(fake, user_id, a), timeout)
        except TimeoutError:
            timings.append(None)
            continue
        poem = "again:" in str(reply.get("reply_markup", ""))
        timings.append((first, time.perf_counter() - started, poem))
    return timings


async def run(args: argparse.Namespace, redis_url: str, worker: subprocess.Popen) -> dict:
    await worker_serving(redis_url, worker, args.worker_start_s)
    redis = connect(redis_url)
    fake = FakeBotAPI()
    await fake.start()
    application = await start_bot(fake, redis_url, args.timeout)
    rng = random.Random(args.seed)
    try:
        started = time.perf_counter()
        per_user = await asyncio.gather(
            *(
                user(fake, 10_000 + i, args.requests, random.Random(rng.random()), args.timeout + 5)
                for i in range(args.users)
            )
        )
        elapsed = time.perf_counter() - started
    finally:
        await stop_polling(application)
        await fake.stop()
    stats = await redis.hgetall(keys.STATS)
    version = await redis.get(keys.MODEL_VERSION)
    await redis.aclose()
    timings = [t for user_timings in per_user for t in user_timings]
    answered = sorted(t[1] for t in timings if t is not None and t[2])
    first = sorted(t[0] for t in timings if t is not None)
    hits, misses = int(stats.get("cache_hit", 0)), int(stats.get("cache_miss", 0))
    return {
        "bench": "bot_load",
        "model_version": version,
        "users": args.users,
        "requests": len(timings),
        "answered": len(answered),
        "error_replies": sum(1 for t in timings if t is not None and not t[2]),
        "lost": timings.count(None),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(answered) / elapsed, 2),
        "p50_s": round(percentile(answered, 50), 3) if answered else None,
        "p95_s": round(percentile(answered, 95), 3) if answered else None,
        "first_reply_p50_s": round(percentile(first, 50), 3) if first else None,
        "cache_hit_share": round(hits / (hits + misses), 3) if hits + misses else None,
        "updates_left_unread": fake.pending_updates,
        "cpus": os.cpu_count(),
        "worker_threads": args.worker_threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="checkpoint dir (default: the shipped one)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=5, help="per user, one after another")
    parser.add_argument("--timeout", type=float, default=60.0, help="the bot's wait per poem")
    parser.add_argument("--worker-start-s", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--worker-threads", type=int, default=1, help="torch threads of the worker (default 1)"
    )
    args = parser.parse_args()
    checkpoint = shipped_model(args.model)
    result = run_with_worker(checkpoint, args.worker_threads, partial(run, args))
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
