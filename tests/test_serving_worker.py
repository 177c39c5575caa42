"""The worker's surroundings: metrics and health endpoint, logs, the embedded Redis."""

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from serving_fakes import FakeEngine

from model.metrics import serve
from yinshi import keys
from yinshi.client import PoetClient
from yinshi.connection import connect, redis_url
from yinshi.errors import InvalidRequest
from yinshi.protocol import PoemRequest
from yinshi.settings import QueueSettings


@pytest.fixture
async def redis(redis_server):
    client = connect(redis_server.url)
    yield client
    await client.aclose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


async def test_metrics_and_health(redis, redis_server, start_worker):
    thread = start_worker(FakeEngine(), block_ms=20)
    worker = thread.worker
    server = serve(worker.metrics, 0, worker.healthy)
    port = server.server_port
    try:
        assert await asyncio.to_thread(get, port, "/healthz") == (200, "ok\n")
        client = PoetClient(redis, timeout_s=5)
        request = PoemRequest(topic="春江", n=2)
        await client.generate(request)  # a miss, generated
        await client.generate(request)  # a hit
        await asyncio.sleep(0.2)  # the worker reads the shared counters between batches
        status, text = await asyncio.to_thread(get, port, "/metrics")
        assert status == 200
        assert sample(text, "yinshi_poems_generated_total") == 2
        assert sample(text, "yinshi_batch_size_count") == 1
        assert sample(text, "yinshi_generation_seconds_count") == 1
        assert sample(text, "yinshi_queue_wait_seconds_count") == 1
        assert sample(text, "yinshi_cache_hit_total") == 1
        assert sample(text, "yinshi_cache_miss_total") == 1
        assert sample(text, "yinshi_queue_depth") == 0
        assert sample(text, "yinshi_poems_per_second") > 0

        redis_server.kill()
        for _ in range(100):
            if (await asyncio.to_thread(get, port, "/healthz"))[0] == 503:
                break
            await asyncio.sleep(0.05)
        assert (await asyncio.to_thread(get, port, "/healthz"))[0] == 503
        redis_server.start()
        for _ in range(100):
            if (await asyncio.to_thread(get, port, "/healthz"))[0] == 200:
                break
            await asyncio.sleep(0.05)
        assert (await asyncio.to_thread(get, port, "/healthz"))[0] == 200
    finally:
        server.shutdown()


async def test_one_log_line_per_request_with_its_id(redis, start_worker, caplog):
    caplog.set_level(logging.INFO, logger="yinshi.worker")
    start_worker(FakeEngine())
    client = PoetClient(redis, timeout_s=5)
    await client.generate(PoemRequest(topic="秘密题目"), fresh=True)
    lines = [r.getMessage() for r in caplog.records if "event=request" in r.getMessage()]
    assert len(lines) == 1
    assert "status=ok" in lines[0] and "id=" in lines[0]
    assert "秘密题目" not in caplog.text  # user text stays out of the logs
    for _ in range(100):  # the batch line follows the write that woke the requester
        if "event=batch" in caplog.text:
            break
        await asyncio.sleep(0.01)
    assert "event=batch" in caplog.text


async def test_embedded_redis_when_no_url_is_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    url = redis_url(QueueSettings(data_dir=tmp_path))
    assert url.startswith("unix://")
    redis = connect(url)
    try:
        await redis.set("yinshi:probe", "1")
        assert await redis.get("yinshi:probe") == "1"
    finally:
        await redis.aclose()
    assert (tmp_path / "redis" / "appendonly.aof").exists()  # persisted under the data dir


@pytest.mark.slow
async def test_yinshi_worker_serves_the_real_engine(redis, redis_server, tiny_poet):
    """The whole process: CLI, model loading, metrics port, a mixed batch, SIGTERM."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_server.url, "YINSHI_MAX_WAIT_MS": "200"}
    command = [sys.executable, "-m", "yinshi.cli", "worker", "--model", str(tiny_poet)]
    command += ["--device", "cpu", "--metrics-port", str(port)]
    worker = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        client = PoetClient(redis, timeout_s=120)
        jueju, lvshi, wrong = await asyncio.gather(  # one batch, mixed forms, one bad request
            client.generate(PoemRequest(topic="春江", seed=1)),
            client.generate(PoemRequest(topic="秋夜", form="五律", seed=2)),
            client.generate(PoemRequest(topic="春", acrostic="春江花")),
            return_exceptions=True,
        )
        assert [len(line) for line in jueju.poems[0].lines] == [8] * 4  # 7 characters, a mark
        assert [len(line) for line in lvshi.poems[0].lines] == [6] * 8
        assert jueju.poems[0].conforms and lvshi.poems[0].conforms
        assert isinstance(wrong, InvalidRequest) and "藏头" in str(wrong)
        assert jueju.model_version == await redis.get(keys.MODEL_VERSION)

        hit = await client.generate(PoemRequest(topic="春江"))  # the same pool, seed aside
        assert hit.stats == {"cache_hit": 1} and hit.poems == jueju.poems

        assert await asyncio.to_thread(get, port, "/healthz") == (200, "ok\n")
        _, text = await asyncio.to_thread(get, port, "/metrics")
        assert sample(text, "yinshi_poems_generated_total") == 2
        assert sample(text, 'yinshi_errors_total{kind="invalid_request"}') == 1

        worker.send_signal(signal.SIGTERM)
        _, log = await asyncio.to_thread(worker.communicate, timeout=30)
        assert worker.returncode == 0
        assert log.count("event=request") == 3 and "event=stopped" in log
    finally:
        worker.kill()
        worker.wait()
