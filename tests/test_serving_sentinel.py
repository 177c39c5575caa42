"""Redis HA with Sentinel (#14): a master, a replica and a sentinel on free ports; the master
is killed mid-load, the sentinel promotes the replica, and the worker and the requesters,
both connected through ``redis+sentinel://``, carry on against the new master."""

import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis as sync_redis
from serving_fakes import FakeEngine, WorkerThread

from yinshi.client import PoetClient
from yinshi.connection import connect
from yinshi.embedded_redis import server_binary
from yinshi.errors import ServiceError, Timeout
from yinshi.protocol import PoemRequest

SERVICE = "mymaster"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def binary() -> str:
    return shutil.which("redis-server") or server_binary()


def wait_for(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except sync_redis.RedisError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


class SentinelSetup:
    """Master, replica, sentinel: three redis-server processes in one temp dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.master_port, self.replica_port, self.sentinel_port = (free_port() for _ in range(3))
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}/0"

    def _server(self, name: str, port: int, *extra: str) -> None:
        home = self.directory / name
        home.mkdir()
        command = [binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(home)]
        command += ["--save", "", "--appendonly", "no", *extra]
        self.processes[name] = subprocess.Popen(command, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        self._server("master", self.master_port)
        self._server(
            "replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port)
        )
        replica = sync_redis.Redis(port=self.replica_port, decode_responses=True)
        wait_for(lambda: replica.info("replication")["master_link_status"] == "up", 20, "sync")
        replica.close()
        config = self.directory / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
        )
        self.processes["sentinel"] = subprocess.Popen(
            [binary(), str(config), "--sentinel"], stdout=subprocess.DEVNULL
        )
        sentinel = sync_redis.Redis(port=self.sentinel_port, decode_responses=True)
        wait_for(lambda: sentinel.sentinel_slaves(SERVICE), 20, "the sentinel sees the replica")
        sentinel.close()

    def master_port_now(self) -> int:
        sentinel = sync_redis.Redis(port=self.sentinel_port, decode_responses=True)
        try:
            return int(sentinel.sentinel_get_master_addr_by_name(SERVICE)[1])
        finally:
            sentinel.close()

    async def fail_over(self) -> None:
        """kill -9 the master, then wait until the sentinel has promoted the replica."""
        self.processes["master"].kill()
        self.processes["master"].wait()
        await asyncio.to_thread(
            wait_for,
            lambda: self.master_port_now() == self.replica_port,
            30,
            "the sentinel promotes the replica",
        )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def sentinel_setup(tmp_path):
    setup = SentinelSetup(tmp_path)
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()


async def test_worker_and_requesters_carry_on_after_a_failover(sentinel_setup):
    """Requests flow through the master; it is killed (kill -9) mid-load. While the sentinel
    fails over, a request either completes or is refused at once with a ServiceError (Redis
    unreachable) — none hangs into a Timeout — and once the replica is promoted every request
    is served again, by the same worker process, without a restart."""
    worker = WorkerThread(sentinel_setup.url, FakeEngine(delay_s=0.05), claim_every_ms=200)
    worker.start()
    redis = connect(sentinel_setup.url)
    client = PoetClient(redis, timeout_s=30)
    outcomes: list[tuple[float, str]] = []
    stop = asyncio.Event()

    async def user(number: int) -> None:
        serial = 0
        while not stop.is_set():
            topic = f"客{number}问{serial}"
            serial += 1
            try:
                result = await client.generate(PoemRequest(topic=topic), fresh=True)
                assert result.poems[0].title == topic
                outcomes.append((time.monotonic(), "ok"))
            except Timeout:
                outcomes.append((time.monotonic(), "timeout"))
            except ServiceError:
                outcomes.append((time.monotonic(), "error"))
                await asyncio.sleep(0.2)

    users = [asyncio.create_task(user(number)) for number in range(3)]
    try:
        while len(outcomes) < 10:
            await asyncio.sleep(0.05)
        await sentinel_setup.fail_over()
        # requests under way at the promotion may still meet the old master: one second
        settled = time.monotonic() + 1.0
        deadline = settled + 30
        while sum(1 for at, kind in outcomes if at > settled and kind == "ok") < 10:
            assert time.monotonic() < deadline, "no service after the failover"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*users, return_exceptions=True)
        worker.stop()
        await redis.aclose()
    kinds = [kind for _, kind in outcomes]
    assert "timeout" not in kinds
    assert {kind for at, kind in outcomes if at > settled} == {"ok"}


async def test_the_bot_carries_on_after_a_failover_with_its_subscriptions(
    sentinel_setup, fake_telegram, start_bot
):
    """The bot, the worker and the daily subscriptions through ``redis+sentinel://``: the
    master is killed, the replica promoted, and the same bot process writes poems again and
    still knows the chat's daily poem."""
    from test_bot_e2e import new_id, poems_in, wait_reply

    fake, user = fake_telegram, new_id()
    worker = WorkerThread(sentinel_setup.url, FakeEngine(), claim_every_ms=200).start()
    try:
        await start_bot(sentinel_setup.url)
        fake.send("/daily on 07:30", user_id=user)
        await wait_reply(fake, user, "07:30")
        fake.send("/poem 春江", user_id=user)
        await fake.wait_for(lambda: poems_in(fake, user), timeout=10)
        master = sync_redis.Redis(port=sentinel_setup.master_port)
        assert master.execute_command("WAIT", 1, 5000) == 1  # the replica has it all
        master.close()

        await sentinel_setup.fail_over()
        deadline = time.monotonic() + 30
        while len(poems_in(fake, user)) < 2:  # a request in the switch may be told to retry
            assert time.monotonic() < deadline, "no poem after the failover"
            fake.send("/poem 秋夜", user_id=user)
            await asyncio.sleep(2)
        sent = len(fake.bot_messages(user))
        fake.send("/daily", user_id=user)
        await fake.wait_for(lambda: len(fake.bot_messages(user)) > sent, timeout=10)
        assert "每天 07:30" in fake.bot_messages(user)[-1]["text"]  # no subscription lost
    finally:
        worker.stop()
