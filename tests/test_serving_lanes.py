"""The queue's background lane: work nobody waits on at a keyboard never crowds out a user.

Real redis-server, a real Worker (thread) and the queue client; the engine is the instant
fake, slowed down so that batches can be watched.
"""

import asyncio
import contextlib
import subprocess
import sys
import time

from redis.exceptions import ResponseError
from serving_fakes import FakeEngine

from yinshi import cache, keys
from yinshi.client import PoetClient
from yinshi.connection import connect
from yinshi.errors import Busy
from yinshi.protocol import PoemRequest


class RecordingEngine(FakeEngine):
    """The fake engine, remembering the topics of every call."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(delay_s=delay_s)
        self.topics: list[list[str]] = []

    def __call__(self, requests):
        self.topics.append([request.topic for request in requests])
        return super().__call__(requests)


async def test_a_user_passes_a_background_backlog(redis_server, start_worker):
    """Twenty background jobs wait; a user's request that arrives during the first background
    batch is the next thing the worker writes, alone, and is answered within two batches."""
    redis = connect(redis_server.url)
    client = PoetClient(redis, timeout_s=30)
    engine = RecordingEngine(delay_s=0.3)
    for i in range(20):
        await client.ask_ahead(PoemRequest(topic=f"背景{i}", form="五绝"), within_s=60)
    start_worker(engine, background_batch=4)
    calls = len(engine.topics)
    while len(engine.topics) == calls:  # a background batch has just begun
        await asyncio.sleep(0.005)
    running = len(engine.topics)
    started = time.monotonic()
    result = await client.generate(PoemRequest(topic="用户", form="七绝"))
    waited = time.monotonic() - started
    assert result.poems[0].title == "用户"
    batch = engine.topics[running - 1]
    assert len(batch) == 4 and all(t.startswith("背景") for t in batch)
    assert engine.topics[running] == ["用户"], engine.topics  # next, and alone
    assert waited < 2 * 0.3 + 0.5, waited
    # The background still gets done, a few at a time, and fills the cache.
    deadline = time.monotonic() + 20
    while await redis.xlen(keys.BACKGROUND) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sum(len(call) for call in engine.topics) == 21
    assert max(len(call) for call in engine.topics) == 4
    assert await redis.xlen(keys.BACKGROUND) == 0
    assert await cache.pool(redis, "fake-1", PoemRequest(topic="背景7", form="五绝"))
    await redis.aclose()


async def test_a_full_background_lane_leaves_users_room(redis_server, start_worker):
    """Each lane has its own backlog limit: a background flood makes only the background
    Busy, and the user still gets a poem."""
    redis = connect(redis_server.url)
    client = PoetClient(redis, timeout_s=10, max_queue=5)
    for i in range(5):
        await client.ask_ahead(PoemRequest(topic=f"背景{i}", form="五绝"), within_s=60)
    try:
        await client.ask_ahead(PoemRequest(topic="多一个", form="五绝"), within_s=60)
        raise AssertionError("the sixth background job was accepted")
    except Busy:
        pass
    start_worker(FakeEngine())
    result = await client.generate(PoemRequest(topic="用户", form="七绝"))
    assert result.poems[0].title == "用户"
    await redis.aclose()


async def test_a_killed_workers_background_jobs_are_taken_over(redis_server, start_worker):
    """A worker killed (SIGKILL) while it holds background jobs: another worker takes them
    over, as it does users' jobs, and every one is written once."""
    redis = connect(redis_server.url)
    client = PoetClient(redis, timeout_s=30)
    for i in range(6):
        await client.ask_ahead(PoemRequest(topic=f"背景{i}", form="五绝"), within_s=60)
    doomed = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WORKER, redis_server.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        held = 0
        while not held and time.monotonic() < deadline:  # the doomed worker holds some
            await asyncio.sleep(0.05)
            with contextlib.suppress(ResponseError):  # no group before it starts
                held = (await redis.xpending(keys.BACKGROUND, keys.WORKERS_GROUP))["pending"]
        assert held, "the first worker never took a job"
        doomed.kill()
        doomed.wait()
    finally:
        doomed.kill()
    engine = RecordingEngine(delay_s=0.0)
    start_worker(engine, heartbeat_ttl_ms=1000, claim_every_ms=200)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        written = sorted(t for call in engine.topics for t in call)
        if len(written) >= 6 and await redis.xlen(keys.BACKGROUND) == 0:
            break
        await asyncio.sleep(0.05)
    assert sorted(t for call in engine.topics for t in call) == [f"背景{i}" for i in range(6)]
    await redis.aclose()


_SLOW_WORKER = """
import asyncio, sys, time
sys.path.insert(0, "tests")
from redis.exceptions import ResponseError
from serving_fakes import FakeEngine
from model.worker import Worker
from yinshi.connection import connect
from yinshi.settings import WorkerSettings

settings = WorkerSettings(worker_name="doomed", heartbeat_ttl_ms=1000, block_ms=50)
asyncio.run(Worker(connect(sys.argv[1]), FakeEngine(delay_s=60), "fake-1", settings).run())
"""
