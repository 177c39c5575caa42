"""The poem cache in Redis: pooling, rotation, fresh requests, model versions."""

import asyncio

import pytest
from serving_fakes import FakeEngine

from yinshi import cache, keys
from yinshi.client import PoetClient
from yinshi.connection import connect
from yinshi.protocol import PoemRequest


@pytest.fixture
async def redis(redis_server):
    client = connect(redis_server.url)
    yield client
    await client.aclose()


def texts(result) -> list[str]:
    return ["".join(poem.lines) for poem in result.poems]


async def stats(redis) -> dict[str, int]:
    return {name: int(value) for name, value in (await redis.hgetall(keys.STATS)).items()}


def test_key_ignores_seed_and_count_only():
    base = PoemRequest(topic="春江")
    assert cache.request_hash(base) == cache.request_hash(PoemRequest(topic="春江", seed=7, n=3))
    for other in (
        PoemRequest(topic="秋江"),
        PoemRequest(topic="春江", form="五绝"),
        PoemRequest(topic="春江", scheme="xinyun"),
        PoemRequest(topic="春江", acrostic="春江花月"),
        PoemRequest(topic="春江", temperature=1.2),
    ):
        assert cache.request_hash(other) != cache.request_hash(base)


async def test_miss_generates_and_fills_the_pool(redis, start_worker):
    engine = FakeEngine()
    start_worker(engine)
    client = PoetClient(redis, timeout_s=5)
    request = PoemRequest(topic="春江")
    first = await client.generate(request)
    assert "cache_hit" not in first.stats
    assert engine.calls == [1]
    assert await stats(redis) == {"cache_miss": 1}
    pooled = await cache.pool(redis, "fake-1", request)
    assert ["".join(p.lines) for p in pooled] == texts(first)


async def test_hits_rotate_through_the_pool_without_the_queue(redis, start_worker):
    engine = FakeEngine()
    start_worker(engine)
    client = PoetClient(redis, timeout_s=5)
    request = PoemRequest(topic="春江")
    made = [texts(await client.generate(request, fresh=True))[0] for _ in range(3)]
    assert len(set(made)) == 3 and len(engine.calls) == 3

    seen = []
    for _ in range(6):
        result = await client.generate(request)
        assert result.stats == {"cache_hit": 1} and result.model_version == "fake-1"
        seen += texts(result)
    assert len(engine.calls) == 3  # no generation: every ask was a hit
    assert sorted(seen) == sorted(made * 2)  # each pooled poem served in turn
    assert seen[:3] == seen[3:]  # a full rotation, then the same order again
    assert await stats(redis) == {"cache_hit": 6}


async def test_a_hit_for_n_poems_gives_distinct_poems(redis, start_worker):
    engine = FakeEngine()
    start_worker(engine)
    client = PoetClient(redis, timeout_s=5)
    for _ in range(2):
        await client.generate(PoemRequest(topic="月", n=1), fresh=True)
    wanted = PoemRequest(topic="月", n=2, seed=5)  # same pool: seed and n are not in the key
    hit = await client.generate(wanted)
    assert hit.stats == {"cache_hit": 1} and len(set(texts(hit))) == 2
    bigger = await client.generate(PoemRequest(topic="月", n=3))  # pool too small: a miss
    assert "cache_hit" not in bigger.stats and len(texts(bigger)) == 3
    assert len(await cache.pool(redis, "fake-1", wanted)) == 5


async def test_fresh_bypasses_a_full_pool_and_the_pool_stays_small_and_distinct(
    redis, start_worker
):
    engine = FakeEngine()
    start_worker(engine)
    client = PoetClient(redis, timeout_s=5)
    request = PoemRequest(topic="雪")
    for _ in range(cache.POOL_SIZE + 3):
        result = await client.generate(request, fresh=True)
        assert "cache_hit" not in result.stats
    pooled = ["".join(p.lines) for p in await cache.pool(redis, "fake-1", request)]
    assert len(pooled) == cache.POOL_SIZE == len(set(pooled))
    assert texts(result)[0] in pooled  # the newest poem joined the pool
    assert await redis.ttl(cache.pool_key("fake-1", request)) > 0


async def test_the_same_poem_twice_is_pooled_once(redis, start_worker):
    start_worker(FakeEngine(repeat=True))
    client = PoetClient(redis, timeout_s=5)
    request = PoemRequest(topic="雨")
    await asyncio.gather(*(client.generate(request, fresh=True) for _ in range(3)))
    assert len(await cache.pool(redis, "fake-1", request)) == 1


async def test_a_new_model_version_never_serves_old_poems(redis, start_worker):
    old = start_worker(FakeEngine(version="v1"), model_version="v1")
    client = PoetClient(redis, timeout_s=5)
    request = PoemRequest(topic="江")
    old_poem = texts(await client.generate(request))
    assert (await client.generate(request)).stats == {"cache_hit": 1}
    old.stop()

    start_worker(FakeEngine(version="v2"), model_version="v2")
    while await client.model_version() != "v2":
        await asyncio.sleep(0.01)
    fresh_model = await client.generate(request)
    assert "cache_hit" not in fresh_model.stats
    assert fresh_model.model_version == "v2"
    hit = await client.generate(request)
    assert hit.stats == {"cache_hit": 1} and hit.model_version == "v2"
    assert texts(hit) != old_poem
