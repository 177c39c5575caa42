"""Failure paths of the queue (#14): dead, restarted and hung workers, dead consumers, and
recovery settings that fit inside the requester's wait. Real redis-server, real worker
processes where a process has to die; each test failed on the code before #14."""

import asyncio
import multiprocessing
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable

import pytest
from pydantic import ValidationError
from redis.exceptions import ResponseError
from serving_fakes import FakeEngine, worker_process

from model.metrics import serve
from yinshi import keys
from yinshi.client import PoetClient
from yinshi.connection import connect
from yinshi.protocol import PoemRequest, PoemResult
from yinshi.settings import WorkerSettings

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
async def redis(redis_server):
    client = connect(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def processes():
    """Worker processes started by a test, killed at teardown whatever happened."""
    started: list[multiprocessing.Process] = []
    yield started
    for process in started:
        process.kill()
        process.join(5)


def start_process(url: str, delay_s: float, processes: list, **settings) -> multiprocessing.Process:
    """A worker process with the default recovery settings unless told otherwise."""
    process = SPAWN.Process(target=worker_process, args=(url, delay_s, settings), daemon=True)
    process.start()
    processes.append(process)
    return process


def ask(topic: str) -> PoemRequest:
    return PoemRequest(topic=topic)


async def consumers(redis) -> list[str]:
    try:
        return [c["name"] for c in await redis.xinfo_consumers(keys.REQUESTS, keys.WORKERS_GROUP)]
    except ResponseError:  # no stream or group yet
        return []


async def pending_at(redis, consumer: str) -> list:
    try:
        return await redis.xpending_range(
            keys.REQUESTS, keys.WORKERS_GROUP, "-", "+", 10, consumername=consumer
        )
    except ResponseError:
        return []


async def until(condition: Callable[[], Awaitable[object]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.05)


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# --- settings -------------------------------------------------------------------------------


def test_default_recovery_fits_well_inside_the_requesters_wait():
    """Redelivery only helps if it happens while the requester still waits. Before #14 the
    defaults had `claim_idle_ms` 60 000 against a 60 s wait: a crashed worker's jobs were
    claimed just as their requesters gave up, and dropped as expired."""
    settings = WorkerSettings()
    for cause, bound in settings.takeover_bounds_s().items():
        assert bound <= settings.timeout_s / 2, cause
    assert settings.takeover_bounds_s()["a dead worker"] <= 10  # "within seconds"


@pytest.mark.parametrize(
    "values",
    [
        {"claim_idle_ms": 60_000},  # the old default
        {"timeout_s": 20},  # a shorter wait needs faster recovery than the defaults
        {"heartbeat_ttl_ms": 40_000},
        {"stuck_after_s": 45},
        {"heartbeat_ttl_ms": 900, "block_ms": 500},  # an idle worker would look dead
    ],
)
def test_settings_that_recover_too_late_are_refused(values):
    with pytest.raises(ValidationError):
        WorkerSettings(**values)


def test_workers_read_the_requesters_timeout_from_the_environment(monkeypatch):
    """Workers and bot share one .env: the worker checks itself against the bot's wait."""
    monkeypatch.setenv("YINSHI_TIMEOUT_S", "20")
    with pytest.raises(ValidationError, match="half the requester's wait"):
        WorkerSettings()
    assert WorkerSettings(stuck_after_s=2, claim_idle_ms=8_000).timeout_s == 20


# --- dead, restarted and hung workers -------------------------------------------------------


async def test_a_killed_workers_jobs_are_taken_over_within_seconds(redis, redis_server, processes):
    """kill -9 a worker holding a batch: the survivor sees its heartbeat gone and claims the
    jobs within heartbeat TTL + one claim round, with the default settings — then forgets the
    dead consumer. Before #14: claimed after 60 s idle, so every one of them timed out."""
    victim = start_process(redis_server.url, 1.0, processes, max_batch=4)
    await until(lambda: consumers(redis), 30, "the victim reads")
    victim_name = (await consumers(redis))[0]
    start_process(redis_server.url, 1.0, processes, max_batch=4)
    await until(lambda: _count_at_least(redis, 2), 30, "the survivor reads")
    survivor_name = next(name for name in await consumers(redis) if name != victim_name)

    client = PoetClient(redis, timeout_s=20)
    topics = [f"救{i}" for i in range(8)]
    tasks = [asyncio.create_task(client.generate(ask(t), fresh=True)) for t in topics]
    await until(lambda: pending_at(redis, victim_name), 10, "the victim holds a batch")
    os.kill(victim.pid, signal.SIGKILL)
    killed = time.monotonic()

    results = await asyncio.gather(*tasks)
    took = time.monotonic() - killed
    assert [r.poems[0].title for r in results] == topics
    assert took < 12, took  # 6 s heartbeat + 1 s claim round + a 1 s batch, and some slack
    await until(lambda: _names_are(redis, [survivor_name]), 5, "the dead consumer is forgotten")


async def test_a_restarted_worker_takes_its_name_back_and_resumes_its_jobs(
    redis, redis_server, processes
):
    """No YINSHI_WORKER_NAME: the consumer name is the host name, not host-pid, so the worker
    restarted after a kill -9 is the same consumer, finds its own pending jobs and answers
    them; no name piles up in the group. Before #14 the new host-pid name never saw them."""
    first = start_process(redis_server.url, 1.5, processes, max_batch=4)
    await until(lambda: consumers(redis), 30, "the first worker reads")
    name = (await consumers(redis))[0]
    assert name == socket.gethostname()

    client = PoetClient(redis, timeout_s=20)
    topics = [f"续{i}" for i in range(3)]
    tasks = [asyncio.create_task(client.generate(ask(t), fresh=True)) for t in topics]
    await until(lambda: pending_at(redis, name), 10, "the first worker holds the batch")
    first.kill()
    first.join(5)

    start_process(redis_server.url, 0.0, processes, max_batch=4)
    results = await asyncio.gather(*tasks)
    assert [r.poems[0].title for r in results] == topics
    answered_by = {await redis.get(key) for key in await redis.keys("yinshi:answered:*")}
    assert answered_by == {name}
    assert await consumers(redis) == [name]


class HangingEngine:
    """An engine that hangs on its first call until released (a stuck CUDA kernel, a
    deadlock), then answers like the fake one."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, requests: list[PoemRequest]) -> list[PoemResult | BaseException]:
        self.calls += 1
        self.release.wait(60)
        return FakeEngine()(requests)


async def test_a_hung_engine_turns_healthz_red_and_its_jobs_move(redis, start_worker):
    """The worker process lives but its engine hangs: after `stuck_after_s` it stops
    beating, /healthz answers 503, and another worker takes the job over. Before #14 the
    health check stayed 200 and the job waited for the 60 s idle claim: a Timeout."""
    settings = {"stuck_after_s": 1.0, "heartbeat_ttl_ms": 1000, "claim_every_ms": 200}
    hanging = HangingEngine()
    # Named: two unnamed workers in one process would share the old host-pid name.
    stuck = start_worker(hanging, worker_name="stuck", **settings)
    server = serve(stuck.worker.metrics, 0, stuck.worker.healthy)
    port = server.server_port
    try:
        assert await asyncio.to_thread(healthz, port) == 200
        client = PoetClient(redis, timeout_s=15)
        task = asyncio.create_task(client.generate(ask("卡"), fresh=True))
        await until(lambda: _true(hanging.calls), 10, "the engine hangs on the job")
        start_worker(FakeEngine(), worker_name="helper", **settings)
        started = time.monotonic()
        assert (await task).poems[0].title == "卡"
        assert time.monotonic() - started < 6
        assert await asyncio.to_thread(healthz, port) == 503
    finally:
        hanging.release.set()
        server.shutdown()


async def test_dead_consumers_are_forgotten_and_their_jobs_served(redis, start_worker):
    """Consumers without a heartbeat (workers gone before #14 named themselves host-pid and
    piled up): the one holding a job loses it to a live worker, and both are removed."""
    await redis.xgroup_create(keys.REQUESTS, keys.WORKERS_GROUP, id="0", mkstream=True)
    await redis.xgroup_createconsumer(keys.REQUESTS, keys.WORKERS_GROUP, "ghost-idle")
    client = PoetClient(redis, timeout_s=10)
    task = asyncio.create_task(client.generate(ask("遗"), fresh=True))
    await until(lambda: redis.xlen(keys.REQUESTS), 5, "the job is queued")
    await redis.xreadgroup(keys.WORKERS_GROUP, "ghost-busy", {keys.REQUESTS: ">"})
    thread = start_worker(FakeEngine(), claim_every_ms=200)
    assert (await task).poems[0].title == "遗"
    await until(lambda: _names_are(redis, [thread.worker.name]), 3, "the ghosts are forgotten")


async def _count_at_least(redis, count: int) -> bool:
    return len(await consumers(redis)) >= count


async def _names_are(redis, names: list[str]) -> bool:
    return await consumers(redis) == names


async def _true(value: object) -> bool:
    return bool(value)
