"""What the benchmarks share: the topics they ask for, a throwaway Redis, and the model they time.

The benches measure the shipped checkpoint only: a stand-in model would give numbers nobody
ships. Each bench puts the repo root on `sys.path` before importing this module.
"""

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path

from model.checkpoint import DEFAULT_DIR
from yinshi.embedded_redis import server_binary

TOPICS = [
    "春江", "秋夜", "明月", "登高", "梅", "雪", "柳", "边塞", "思乡", "夜雨",
    "落花", "山居", "江村", "送别", "月夜", "荷塘", "秋山", "寒江", "春雨", "晚晴",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    """A fresh redis-server on a free loopback port, persisting nothing: (process, url)."""
    port = free_port()
    binary = shutil.which("redis-server") or server_binary()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen([*command, "--dir", str(directory)], stdout=subprocess.DEVNULL)
    return process, f"redis://127.0.0.1:{port}/0"


def shipped_model(path: Path | None = None) -> Path:
    """The given checkpoint dir, else the shipped one; exits with one line if it is not there,
    before any worker or Redis is started for nothing."""
    chosen = path or DEFAULT_DIR
    if not (chosen / "config.json").is_file():
        raise SystemExit(f"no model at {chosen}: run `make model` or pass --model")
    return chosen


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1-99) of at least one value, by the inclusive method."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def start_worker(redis_url: str, checkpoint: Path, log: Path, threads: int) -> subprocess.Popen:
    """`yinshi worker` in its own process on the CPU, logging to `log`."""
    env = {**os.environ, "REDIS_URL": redis_url, "YINSHI_MODEL_DIR": str(checkpoint)}
    env["YINSHI_DEVICE"] = "cpu"
    env["OMP_NUM_THREADS"] = str(threads)
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "yinshi.cli", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
        )


def run_with_worker(
    checkpoint: Path,
    threads: int,
    run: Callable[[str, subprocess.Popen], Coroutine[None, None, dict]],
) -> dict:
    """`run(redis_url, worker)` against a throwaway Redis and one worker, both stopped after;
    the worker's log goes to stderr if the run fails."""
    with tempfile.TemporaryDirectory(prefix="yinshi-bench-") as work:
        redis_process, redis_url = start_redis(Path(work))
        log = Path(work) / "worker.log"
        worker = start_worker(redis_url, checkpoint, log, threads)
        try:
            return asyncio.run(run(redis_url, worker))
        except BaseException:
            sys.stderr.write(log.read_text(errors="replace")[-3000:])
            raise
        finally:
            worker.terminate()
            worker.wait(30)
            redis_process.terminate()
            redis_process.wait(10)


async def start_bot(fake, redis_url: str, timeout_s: float, *, poll: bool = True, **settings):
    """The bot under a bench, talking to the fake Bot API `fake`, with no per-user rate limit
    (the bench's users ask as fast as they like); ``poll=False``: a second replica, with its
    jobs and handlers but no poller (one per token)."""
    from bot.app import build_application, start_polling
    from yinshi.connection import connect
    from yinshi.settings import BotSettings

    config = BotSettings(
        TELEGRAM_BOT_TOKEN=fake.token,
        REDIS_URL=redis_url,
        timeout_s=timeout_s,
        rate_per_minute=10_000,
        **settings,
    )
    application = build_application(
        config, connect(redis_url), base_url=fake.base_url, owns_redis=True
    )
    if poll:
        await start_polling(application, poll_timeout=1)
    else:
        await application.initialize()
        await application.post_init(application)
        await application.start()
    return application


async def worker_serving(redis_url: str, worker: subprocess.Popen, timeout_s: float) -> None:
    """Return once the worker has published its model version; exit if it died first."""
    from yinshi import keys
    from yinshi.connection import connect

    redis = connect(redis_url)
    try:
        async with asyncio.timeout(timeout_s):
            while await redis.get(keys.MODEL_VERSION) is None:
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited ({worker.returncode}) before serving")
                await asyncio.sleep(0.2)
    finally:
        await redis.aclose()
