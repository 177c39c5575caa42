"""`yinshi run` (what `make run` calls): the whole poet on one machine, under one supervisor.

Redis (``REDIS_URL``, or the embedded one, which lives as long as this process), one
generation worker and the bot run as child processes of this one, in its process group. A
child that dies is restarted with exponential back-off; SIGTERM or Ctrl-C stops them all.
Without ``TELEGRAM_BOT_TOKEN`` the bot talks to the fake Bot API instead of Telegram, and a
chat page (fake_telegram.sandbox) lets a person talk to it in a browser.
"""

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass

from yinshi.errors import UserError

log = logging.getLogger("yinshi.run")

BACKOFF_S = 1.0
BACKOFF_MAX_S = 30.0
HEALTHY_S = 60.0
"""A child that ran this long before dying gets the short back-off again: it was not a loop."""
STOP_GRACE_S = 10.0


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        help="一键运行 / Redis + worker + bot; without TELEGRAM_BOT_TOKEN a local chat page",
        description="启动 Redis、一个作诗进程和机器人。未设 TELEGRAM_BOT_TOKEN 时，在 "
        "http://127.0.0.1:8080 提供本地聊天页面。 Start Redis, one worker and the bot; with no "
        "TELEGRAM_BOT_TOKEN, a sandbox chat page instead of Telegram. Ctrl-C stops everything.",
    )
    run.add_argument(
        "--host", default="127.0.0.1", help="sandbox page address (loopback: it has no login)"
    )
    run.add_argument("--port", type=int, default=8080, help="sandbox page port (8080)")
    run.add_argument("--device", choices=("auto", "cuda", "cpu"), help="the worker's device")
    run.set_defaults(func=_run)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]


def yinshi_command(*args: str) -> list[str]:
    """A sub-command in a fresh interpreter: the same venv, whether or not the script is on PATH."""
    return [sys.executable, "-m", "yinshi.cli", *args]


def _run(args: argparse.Namespace) -> int:
    from model.checkpoint import resolve
    from yinshi.connection import redis_url
    from yinshi.request_args import validated
    from yinshi.settings import BotSettings

    try:
        resolve(None)
    except UserError as error:
        raise UserError(f"{error}；请先运行 make model / run `make model` first") from None
    settings = validated(BotSettings, "设置有误 bad setting")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    env = {**os.environ, "REDIS_URL": redis_url(settings)}  # starts the embedded one if unset
    worker = ["worker", "--threads", "1", *(["--device", args.device] if args.device else [])]
    children = [Child("worker", yinshi_command(*worker), env)]
    if token:
        print("机器人已连 Telegram / the bot talks to Telegram; Ctrl-C stops", flush=True)
        children.append(Child("bot", yinshi_command("bot"), env))
        return asyncio.run(_main(children))
    return asyncio.run(_sandboxed(children, env, args.host, args.port))


async def _sandboxed(children: list[Child], env: dict[str, str], host: str, port: int) -> int:
    from fake_telegram.bot_api import FakeBotAPI
    from fake_telegram.sandbox import Sandbox

    fake = FakeBotAPI()
    await fake.start("127.0.0.1", 0)
    sandbox = Sandbox(fake)
    try:
        await sandbox.start(host, port)
    except OSError as error:
        await fake.stop()
        raise UserError(f"端口 {port} 不可用 / cannot listen on {host}:{port}: {error}") from None
    bot_env = {**env, "TELEGRAM_BOT_TOKEN": fake.token}
    bot = Child("bot", yinshi_command("bot", "--base-url", fake.base_url), bot_env)
    print(
        f"\n  吟诗 sandbox: {sandbox.url}  (未设 TELEGRAM_BOT_TOKEN，本地试用；Ctrl-C 退出)\n",
        flush=True,
    )
    try:
        return await _main([*children, bot])
    finally:
        await sandbox.stop()
        await fake.stop()


async def _main(children: list[Child]) -> int:
    stop = asyncio.Event()
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # Ctrl-C reaches the whole process group: the children stop on their own.
    loop.add_signal_handler(signal.SIGINT, lambda: (interrupted.set(), stop.set()))
    await supervise(children, stop, interrupted)
    log.info("stopped")
    return 0


async def supervise(
    children: list[Child],
    stop: asyncio.Event,
    interrupted: asyncio.Event | None = None,
    backoff_s: float = BACKOFF_S,
) -> None:
    """Keep every child running until `stop`; then stop them all and return.

    `interrupted`: the children got the signal themselves (Ctrl-C goes to the process group),
    so they are given the grace period before SIGTERM rather than a second signal at once.
    """
    interrupted = interrupted or asyncio.Event()
    await asyncio.gather(*(_keep(child, stop, interrupted, backoff_s) for child in children))


async def _keep(child: Child, stop: asyncio.Event, interrupted: asyncio.Event, backoff: float):
    delay = backoff
    while not stop.is_set():
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *child.argv, env=child.env, preexec_fn=_die_with_parent
        )
        log.info("started %s pid=%d", child.name, process.pid)
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if process.returncode is None:  # stopping
            await _terminate(child, process, signal_first=not interrupted.is_set())
            await exited
            return
        if time.monotonic() - started >= HEALTHY_S:
            delay = backoff
        log.warning(
            "%s exited with status %s; restarting in %.1f s", child.name, process.returncode, delay
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, BACKOFF_MAX_S)


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the supervisor dies, even by SIGKILL, so no
    worker or bot outlives a killed `yinshi run` (Linux; elsewhere a no-op)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def _terminate(child: Child, process: asyncio.subprocess.Process, signal_first: bool):
    """SIGTERM (after the grace period if the child got Ctrl-C already), then SIGKILL."""
    signals = [signal.SIGTERM, signal.SIGKILL]
    if not signal_first:
        signals.insert(0, None)
    for signum in signals:
        if signum is not None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_S)
            break
        except TimeoutError:
            log.warning("%s still running %.0f s later", child.name, STOP_GRACE_S)
    log.info("%s stopped (status %s)", child.name, process.returncode)
