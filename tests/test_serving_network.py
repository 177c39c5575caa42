"""Connections to Redis (#14): timeouts, keepalive and health checks on every connection, a
blackholed connection noticed and replaced, Redis's password, metrics on loopback only."""

import asyncio
import socket
import subprocess
import time
import urllib.request

import pytest
from redis.exceptions import AuthenticationError
from serving_fakes import FakeEngine, WorkerThread
from tcp_proxy import BlackholeProxy

from model.metrics import WorkerMetrics, serve
from yinshi.client import WAIT_SLICE_S, PoetClient
from yinshi.connection import HEALTH_CHECK_S, SOCKET_TIMEOUT_S, connect, redis_url
from yinshi.embedded_redis import server_binary
from yinshi.protocol import PoemRequest
from yinshi.settings import QueueSettings, WorkerSettings


@pytest.fixture
def proxy(redis_server):
    """The test's Redis behind a proxy that can blackhole the flows it carries."""
    proxy = BlackholeProxy(redis_server.port)
    yield proxy
    proxy.close()


def options(client) -> dict:
    return client.connection_pool.connection_kwargs


async def test_every_connection_has_timeouts_keepalive_and_health_checks(redis_server, tmp_path):
    """Set here, not inherited: redis-py before 8 had no socket timeout and no keepalive, so a
    half-open connection hung a read for ever (pyproject allows redis>=5). Fails before #14:
    no health check was configured."""
    tcp = connect(redis_server.url)
    try:
        assert options(tcp)["socket_timeout"] == SOCKET_TIMEOUT_S
        assert options(tcp)["socket_connect_timeout"] > 0
        assert options(tcp)["health_check_interval"] == HEALTH_CHECK_S
        assert options(tcp)["socket_keepalive"] is True
        assert options(tcp)["socket_keepalive_options"][socket.TCP_KEEPIDLE] <= 30
        await tcp.ping()
        connection = await tcp.connection_pool.get_connection()
        sock = connection._writer.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        await tcp.connection_pool.release(connection)
    finally:
        await tcp.aclose()
    unix = connect(f"unix://{tmp_path}/none.sock")
    assert options(unix)["socket_timeout"] == SOCKET_TIMEOUT_S  # no keepalive on a unix socket
    assert "socket_keepalive" not in options(unix)
    await unix.aclose()


def test_blocking_commands_fit_under_the_socket_timeout():
    """A blocking read longer than the socket timeout would be cut off as a dead connection."""
    assert WAIT_SLICE_S + 1 < SOCKET_TIMEOUT_S
    assert WorkerSettings.model_fields["block_ms"].metadata[-1].le / 1000 + 1 < SOCKET_TIMEOUT_S


async def test_a_blackholed_connection_is_noticed_and_replaced(proxy):
    """The flow dies silently (nothing comes back, nothing is reset): the command times out
    after the socket timeout, and the retry opens a new connection that works."""
    redis = connect(proxy.url)
    try:
        await redis.set("yinshi:probe", "1")
        assert proxy.blackhole() == 1
        started = time.monotonic()
        assert await asyncio.wait_for(redis.get("yinshi:probe"), 30) == "1"
        assert time.monotonic() - started < SOCKET_TIMEOUT_S + 3
    finally:
        await redis.aclose()


async def test_a_worker_behind_a_blackholed_connection_still_answers(redis_server, proxy):
    """The worker's connection dies while it waits in XREADGROUP: the job delivered on it is
    pending at the worker, but the reply never arrives. The read times out, the worker
    reconnects, and at its next claim round finds the job pending at itself and serves it.
    Before #14 the job sat there until the 60 s idle claim: the requester timed out."""
    worker = WorkerThread(proxy.url, FakeEngine(), block_ms=2000, claim_every_ms=200).start()
    redis = connect(redis_server.url)
    try:
        client = PoetClient(redis, timeout_s=25)
        assert (await client.generate(PoemRequest(topic="前"), fresh=True)).poems[0].title == "前"
        await asyncio.sleep(0.5)  # back in its blocking read
        assert proxy.blackhole() >= 1
        started = time.monotonic()
        result = await client.generate(PoemRequest(topic="断"), fresh=True)
        assert result.poems[0].title == "断"
        # one socket timeout per pooled connection that died, then a claim round
        assert time.monotonic() - started < 3 * SOCKET_TIMEOUT_S + 2
    finally:
        worker.stop()
        await redis.aclose()


# --- Redis's password -----------------------------------------------------------------------


@pytest.fixture
def redis_with_password(tmp_path):
    """A redis-server that requires a password (as docker-compose.yml runs it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    binary = server_binary()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--dir", str(tmp_path), "--requirepass", "s3cret/with:odd@chars"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(10)


async def test_redis_password_comes_from_its_own_variable(redis_with_password, monkeypatch):
    """REDIS_PASSWORD is kept out of REDIS_URL (and so out of compose files and logs) and is
    put into the connection by `redis_url`, URL-quoted."""
    url = f"redis://127.0.0.1:{redis_with_password}/0"
    monkeypatch.setenv("REDIS_URL", url)
    without = connect(redis_url(QueueSettings()))
    with pytest.raises(AuthenticationError):
        await without.ping()
    await without.aclose()
    monkeypatch.setenv("REDIS_PASSWORD", "s3cret/with:odd@chars")
    with_password = connect(redis_url(QueueSettings()))
    assert await with_password.ping()
    await with_password.aclose()
    monkeypatch.setenv("REDIS_PASSWORD", "")  # as .env.example has it: no password
    assert QueueSettings().redis_password is None


# --- metrics ---------------------------------------------------------------------------------


def test_metrics_listen_on_loopback_only_by_default():
    """127.0.0.2 is this host too, but not the address the server was bound to: it is
    refused, as any other interface would be. Before #14 the server bound all interfaces."""
    assert WorkerSettings().metrics_host == "127.0.0.1"
    server = serve(WorkerMetrics(), 0, lambda: True)
    port = server.server_port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as page:
            assert page.status == 200
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.2", port)):
            pass
    finally:
        server.shutdown()
        server.server_close()
