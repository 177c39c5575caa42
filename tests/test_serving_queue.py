"""The job queue against a real redis-server: delivery, recovery, dead letters, limits."""

import asyncio
import json
import multiprocessing
import os
import signal
import time

import pytest
import redis as sync_redis
from redis.exceptions import ResponseError
from serving_fakes import IMPOSSIBLE, POISON, FakeEngine, worker_process

from yinshi import keys
from yinshi.client import PoetClient
from yinshi.connection import connect
from yinshi.errors import Busy, InvalidRequest, Timeout, WorkerError
from yinshi.protocol import Job, PoemRequest, Reply


@pytest.fixture
async def redis(redis_server):
    client = connect(redis_server.url)
    yield client
    await client.aclose()


def ask(topic: str, **options) -> PoemRequest:
    return PoemRequest(topic=topic, **options)


async def consumer_count(redis) -> int:
    try:
        return len(await redis.xinfo_consumers(keys.REQUESTS, keys.WORKERS_GROUP))
    except ResponseError:  # no stream or group yet
        return 0


async def pending_at(redis, consumer: str) -> list:
    try:
        return await redis.xpending_range(
            keys.REQUESTS, keys.WORKERS_GROUP, "-", "+", 10, consumername=consumer
        )
    except ResponseError:  # no stream or group yet
        return []


async def test_round_trip_leaves_nothing_behind(redis, start_worker):
    start_worker(FakeEngine())
    client = PoetClient(redis, timeout_s=5)
    result = await client.generate(PoemRequest(topic="春江", n=2), fresh=True)
    assert len(result.poems) == 2
    assert result.poems[0].lines != result.poems[1].lines
    assert await redis.xlen(keys.REQUESTS) == 0  # acked entries are deleted: XLEN is the backlog
    pending = await redis.xpending(keys.REQUESTS, keys.WORKERS_GROUP)
    assert pending["pending"] == 0
    assert await redis.keys("yinshi:reply:*") == []
    assert len(await redis.keys("yinshi:answered:*")) == 1


async def test_batches_fill_up_to_max_batch(redis, start_worker):
    engine = FakeEngine(delay_s=0.2)
    start_worker(engine, max_batch=8, max_wait_ms=50)
    client = PoetClient(redis, timeout_s=10)
    topics = [f"题{i}" for i in range(24)]
    results = await asyncio.gather(*(client.generate(ask(t), fresh=True) for t in topics))
    assert [r.poems[0].title for r in results] == topics  # each requester got its own answer
    assert max(engine.calls) == 8
    assert sum(engine.calls) == 24
    assert len(engine.calls) <= 5  # batched, not one call per request


async def test_two_workers_share_load_and_survive_kill_9(redis, redis_server):
    settings = {
        "max_batch": 4,
        "max_wait_ms": 10,
        "block_ms": 50,
        "claim_idle_ms": 800,
        "claim_every_ms": 100,
    }
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(
            target=worker_process,
            args=(redis_server.url, 0.25, {**settings, "worker_name": name}),
            daemon=True,
        )
        for name in ("victim", "survivor")
    ]
    for process in workers:
        process.start()
    try:
        while await consumer_count(redis) < 2:
            await asyncio.sleep(0.05)  # both have started reading
        client = PoetClient(redis, timeout_s=30)
        topics = [f"诗{i}" for i in range(40)]
        tasks = [asyncio.create_task(client.generate(ask(t), fresh=True)) for t in topics]

        # Kill the victim in the middle of a batch, after it has answered at least one.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            answered_by = [await redis.get(k) for k in await redis.keys("yinshi:answered:*")]
            if "victim" in answered_by and await pending_at(redis, "victim"):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the victim never had a batch in hand")
        os.kill(workers[0].pid, signal.SIGKILL)

        results = await asyncio.gather(*tasks)
        assert [r.poems[0].title for r in results] == topics
        assert len({r.stats["pid"] for r in results}) == 2  # both workers served

        # Exactly once: after the survivor has claimed and re-examined the victim's batch,
        # no requester has a second answer waiting, and nothing is left pending.
        await asyncio.sleep(1.2)
        assert await redis.keys("yinshi:reply:*") == []
        assert len(await redis.keys("yinshi:answered:*")) == 40
        assert await redis.xlen(keys.REQUESTS) == 0
        assert (await redis.xpending(keys.REQUESTS, keys.WORKERS_GROUP))["pending"] == 0
        assert await redis.xlen(keys.DEAD) == 0
    finally:
        for process in workers:
            process.kill()
            process.join(5)


async def test_request_that_crashes_the_engine_fails_at_once_alone(redis, start_worker):
    """A poisonous request crashes its batch; the batch is retried one request at a time, the
    others are served, and the poison, crashing alone too, is dead-lettered and answered with
    WorkerError at once. Before #14 it was left pending for a redelivery after
    `claim_idle_ms` (60 s by default): the requester waited its whole timeout for a Timeout.
    Default recovery settings here, on purpose."""
    engine = FakeEngine(delay_s=0.1)
    start_worker(engine, max_batch=8, max_wait_ms=100)
    client = PoetClient(redis, timeout_s=10)
    started = time.monotonic()
    poison = asyncio.create_task(client.generate(ask(POISON), fresh=True))
    others = [client.generate(ask(f"好{i}"), fresh=True) for i in range(5)]
    assert [r.poems[0].title for r in await asyncio.gather(*others)] == [f"好{i}" for i in range(5)]
    with pytest.raises(WorkerError, match="crashed on this request"):
        await poison
    assert time.monotonic() - started < 3
    assert 1 in engine.calls  # retried alone before giving up
    dead = await redis.xrange(keys.DEAD)
    assert len(dead) == 1
    _, fields = dead[0]
    assert Job.model_validate_json(fields["job"]).request.topic == POISON
    assert (fields["reason"], fields["deliveries"]) == ("engine_crash", "1")
    # later requests are still served
    assert (await client.generate(ask("后来"), fresh=True)).poems[0].title == "后来"
    assert await redis.xlen(keys.REQUESTS) == 0


async def test_impossible_request_is_invalid_not_retried(redis, start_worker):
    engine = FakeEngine()
    start_worker(engine)
    client = PoetClient(redis, timeout_s=5)
    with pytest.raises(InvalidRequest, match="藏头字数不符"):
        await client.generate(ask(IMPOSSIBLE), fresh=True)
    assert engine.calls == [1]
    assert await redis.xlen(keys.DEAD) == 0


async def test_unreadable_job_is_dead_lettered_and_answered(redis, start_worker):
    start_worker(FakeEngine())
    await redis.xadd(keys.REQUESTS, {"job": json.dumps({"id": "garbled", "request": 5})})
    reply = await redis.blpop([keys.reply("garbled")], timeout=5)
    assert reply is not None
    answer = Reply.model_validate_json(reply[1])
    assert not answer.ok and answer.error.kind == "worker_error"
    dead = await redis.xrange(keys.DEAD)
    assert [fields["reason"] for _, fields in dead] == ["unreadable"]


async def test_busy_at_once_when_queue_is_full(redis):
    client = PoetClient(redis, timeout_s=10, max_queue=3)
    waiting = [asyncio.create_task(client.generate(ask(f"等{i}"))) for i in range(3)]
    while await redis.xlen(keys.REQUESTS) < 3:
        await asyncio.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(Busy):
        await client.generate(ask("满"))
    assert time.monotonic() - started < 0.5
    assert await redis.xlen(keys.REQUESTS) == 3  # nothing enqueued
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)


async def test_expired_requests_are_dropped_without_generating(redis, redis_server, start_worker):
    client = PoetClient(redis)
    for i in range(3):
        with pytest.raises(Timeout):
            await client.generate(ask(f"迟{i}"), timeout=0.1)
    engine = FakeEngine()
    thread = start_worker(engine)
    deadline = time.monotonic() + 5
    while await redis.xlen(keys.REQUESTS) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert await redis.xlen(keys.REQUESTS) == 0
    assert engine.calls == []
    registry = thread.worker.metrics.registry
    assert registry.get_sample_value("yinshi_expired_requests_total") == 3
    assert await redis.keys("yinshi:reply:*") == []


async def test_queued_requests_survive_a_redis_restart(redis, redis_server, start_worker):
    client = PoetClient(redis, timeout_s=20)
    topics = [f"存{i}" for i in range(4)]
    tasks = [asyncio.create_task(client.generate(ask(t), fresh=True)) for t in topics]
    while await redis.xlen(keys.REQUESTS) < 4:
        await asyncio.sleep(0.01)
    redis_server.restart()  # kill -9, then start on the same AOF
    start_worker(FakeEngine())
    results = await asyncio.gather(*tasks)
    assert [r.poems[0].title for r in results] == topics


async def test_worker_reconnects_after_redis_restart(redis, redis_server, start_worker):
    start_worker(FakeEngine())
    client = PoetClient(redis, timeout_s=10)
    assert (await client.generate(ask("前"), fresh=True)).poems[0].title == "前"
    redis_server.restart()
    assert (await client.generate(ask("后"), fresh=True)).poems[0].title == "后"


async def test_job_answered_before_a_crash_is_acked_not_rerun(redis, start_worker):
    # A worker wrote the answer, then died before acking: the entry is pending at "ghost".
    job = Job(id="once", request=PoemRequest(topic="一"), deadline=time.time() + 30, created=0)
    await redis.xgroup_create(keys.REQUESTS, keys.WORKERS_GROUP, id="0", mkstream=True)
    await redis.xadd(keys.REQUESTS, {"job": job.model_dump_json()})
    await redis.xreadgroup(keys.WORKERS_GROUP, "ghost", {keys.REQUESTS: ">"})
    await redis.set(keys.answered("once"), "ghost")
    await redis.rpush(keys.reply("once"), "the first answer")
    engine = FakeEngine()
    start_worker(engine, claim_idle_ms=100, claim_every_ms=50)
    deadline = time.monotonic() + 5
    while await redis.xlen(keys.REQUESTS) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert await redis.xlen(keys.REQUESTS) == 0
    assert engine.calls == []
    assert await redis.lrange(keys.reply("once"), 0, -1) == ["the first answer"]


def test_sigterm_finishes_the_batch_then_exits_0(redis_server):
    settings = {"max_batch": 4, "block_ms": 50, "worker_name": "graceful"}
    spawn = multiprocessing.get_context("spawn")
    process = spawn.Process(target=worker_process, args=(redis_server.url, 0.5, settings))

    async def scenario() -> list:
        redis = connect(redis_server.url)
        try:
            client = PoetClient(redis, timeout_s=15)
            topics = [f"终{i}" for i in range(3)]
            tasks = [asyncio.create_task(client.generate(ask(t), fresh=True)) for t in topics]
            while await redis.xlen(keys.REQUESTS) < 3:
                await asyncio.sleep(0.01)
            process.start()  # its first read takes all three
            while not await pending_at(redis, "graceful"):
                await asyncio.sleep(0.01)
            os.kill(process.pid, signal.SIGTERM)  # mid-batch: the engine takes 0.5 s
            return await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await redis.aclose()

    try:
        results = asyncio.run(scenario())
        process.join(10)
        assert process.exitcode == 0
        assert [r.poems[0].title for r in results] == [f"终{i}" for i in range(3)]
        inspect = sync_redis.Redis(port=redis_server.port, decode_responses=True)
        assert inspect.xinfo_consumers(keys.REQUESTS, keys.WORKERS_GROUP) == []  # left cleanly
        assert inspect.xlen(keys.REQUESTS) == 0
        inspect.close()
    finally:
        process.kill()
        process.join(5)


async def test_worker_recreates_the_group_when_redis_lost_its_data(redis, start_worker):
    start_worker(FakeEngine())
    client = PoetClient(redis, timeout_s=10)
    assert (await client.generate(ask("前"), fresh=True)).poems[0].title == "前"
    await redis.flushall()  # what a restart without persistence looks like
    assert (await client.generate(ask("后"), fresh=True)).poems[0].title == "后"
