"""A bot replica in its own process, for the daily poem's kill -9 tests.

The real application (handlers, jobs, the shared schedule) without polling: only one poller
per token may run, and these tests drive no chat. Three things are set up here, not in the
bot: the daily clock is read from a Redis key the test moves (`CLOCK_KEY`, Unix seconds), so
twenty days pass in a minute; the poster's fault hook kills this very process with SIGKILL
when the test has armed the step it reached (`die_key(step)`, taken by the first replica to
get there: a real kill -9 at a known point); and the tick runs every `TICK_S`, not every 2 s.

    python tests/daily_replica.py REDIS_URL BOT_API_BASE_URL TOKEN
"""

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import daily
from bot.app import build_application, stop_polling
from yinshi.connection import connect
from yinshi.settings import BotSettings

CLOCK_KEY = "test:clock"
DIED_KEY = "test:died"
"""List of "step chat pid", one per replica that killed itself."""
READY_KEY = "test:ready"
"""List of the pids of replicas that are ticking."""
TICK_S = 0.2


def die_key(step: str) -> str:
    return f"test:die:{step}"


async def main(redis_url: str, base_url: str, token: str) -> None:
    settings = BotSettings(
        TELEGRAM_BOT_TOKEN=token, REDIS_URL=redis_url, timeout_s=10.0, daily_lead_s=0
    )
    application = build_application(
        settings, connect(redis_url), base_url=base_url, owns_redis=True
    )
    await application.initialize()
    await application.post_init(application)
    clock_source = redis.Redis.from_url(redis_url, decode_responses=True)
    control = connect(redis_url)

    def clock() -> datetime:
        return datetime.fromtimestamp(float(clock_source.get(CLOCK_KEY)), UTC)

    async def fault(step: str, chat_id: int) -> None:
        if await control.getdel(die_key(step)):
            await control.rpush(DIED_KEY, f"{step} {chat_id} {os.getpid()}")
            os.kill(os.getpid(), signal.SIGKILL)

    poster = daily.poster(application)
    poster.clock, poster.fault = clock, fault  # before the jobs start: no tick on real time
    assert application.job_queue is not None
    for job in application.job_queue.get_jobs_by_name(daily.TICK_JOB):
        job.schedule_removal()
    application.job_queue.run_repeating(daily.daily_tick, TICK_S, first=0, name=daily.TICK_JOB)
    await application.start()
    await control.rpush(READY_KEY, os.getpid())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await stop_polling(application)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
