"""Soak under faults: users keep asking while workers are killed, Redis restarts, a group floods.

N simulated users (private chats) send `/poem <topic>` one after another for the whole run,
through the real bot (in this process) → Redis → `yinshi worker` processes on the shipped
model. Meanwhile:
- every `--kill-every` seconds one worker is `kill -9`ed and started again (so a job it held
  must be claimed by the other);
- once, halfway, Redis itself is killed and started again on its append-only file;
- for the middle third of the run a group chat is flooded: Telegram answers 429 to every
  message into it (`FakeBotAPI.flood`), while its admin keeps asking for poems there.

Prints one JSON object: per private request the outcome — a poem (`answered`), an error reply
(`error_replies`, by text), no final reply at all (`lost`), more than one final reply
(`duplicated`) — and the p50/p95 latency of private requests sent during the group flood.
Goal: 0 lost, 0 duplicated, every failure a clear reply, private p95 ≤ 5 s during the flood.

    python bench/faults.py --users 20 --seconds 300
"""

import argparse
import asyncio
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot_load import final_reply, replies_to  # noqa: E402
from harness import TOPICS, free_port, percentile, shipped_model, start_bot  # noqa: E402

from bot.app import stop_polling  # noqa: E402
from fake_telegram.bot_api import FakeBotAPI  # noqa: E402
from yinshi import keys  # noqa: E402
from yinshi.connection import connect  # noqa: E402
from yinshi.embedded_redis import server_binary  # noqa: E402

GROUP, ADMIN = -424242, 4242


class Redis:
    """A redis-server on a fixed port with an append-only file, to kill and start again."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or server_binary()
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        options += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)]
        self.process = subprocess.Popen([binary, *options], stdout=subprocess.DEVNULL)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


class Workers:
    """`yinshi worker` processes, each with a stable name, killed and restarted by index."""

    def __init__(self, redis_url: str, checkpoint: Path, logs: Path, count: int) -> None:
        self.redis_url, self.checkpoint, self.logs = redis_url, checkpoint, logs
        self.processes: list[subprocess.Popen | None] = [None] * count
        self.kills = 0

    def start(self, index: int) -> None:
        env = {**os.environ, "REDIS_URL": self.redis_url, "YINSHI_MODEL_DIR": str(self.checkpoint)}
        env |= {"YINSHI_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
        env["YINSHI_WORKER_NAME"] = f"bench-worker-{index}"
        with (self.logs / f"worker-{index}.log").open("ab") as out:
            self.processes[index] = subprocess.Popen(
                [sys.executable, "-m", "yinshi.cli", "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def kill(self, index: int) -> None:
        process = self.processes[index]
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.kills += 1

    def stop(self) -> None:
        for process in self.processes:
            if process and process.poll() is None:
                process.terminate()
                process.wait(30)


async def ask(fake: FakeBotAPI, chat: int, topic: str | dict, timeout: float) -> dict:
    """One request and its outcome: kind, seconds, when it was sent, what it answered.

    `topic` a string: `/poem topic`; a poem message: its 🔄 换一首 button (a fresh poem, so
    the worker writes it instead of the cache answering)."""
    sent = time.monotonic()
    if isinstance(topic, str):
        asked = fake.send(f"/poem {topic}", user_id=chat)["message_id"]
    else:
        again = topic["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        fake.press(chat, topic["message_id"], again, user_id=chat)
        asked = topic["message_id"]
    try:
        reply = await fake.wait_for(lambda: final_reply(fake, chat, asked), timeout)
    except TimeoutError:
        return {"kind": "lost", "sent": sent, "chat": chat, "asked": asked}
    kind = "poem" if "again:" in str(reply.get("reply_markup", "")) else "error"
    return {
        "kind": kind,
        "text": reply["text"],
        "seconds": time.monotonic() - sent,
        "sent": sent,
        "chat": chat,
        "asked": asked,
        "reply": reply,
    }


async def user_loop(fake, user: int, until: float, rng: random.Random, timeout: float) -> list:
    """Ask for a poem; after a poem, half the time press 换一首 on it."""
    outcomes: list[dict] = []
    while time.monotonic() < until:
        last = outcomes[-1] if outcomes else None
        fresh = last and last["kind"] == "poem" and "press" not in last and rng.random() < 0.5
        outcome = await ask(fake, user, last["reply"] if fresh else rng.choice(TOPICS), timeout)
        outcomes.append({**outcome, "press": True} if fresh else outcome)
        await asyncio.sleep(rng.uniform(0.5, 2.0))
    return outcomes


async def group_loop(fake: FakeBotAPI, until: float, rng: random.Random) -> int:
    """The group's admin keeps asking (it is flooded part of the time); returns how many."""
    count = 0
    while time.monotonic() < until:
        fake.send(f"/poem {rng.choice(TOPICS)}", user_id=ADMIN, chat_id=GROUP, chat_type="group")
        count += 1
        await asyncio.sleep(3)
    return count


async def chaos(args, workers: Workers, redis: Redis, fake: FakeBotAPI, started: float) -> dict:
    """Kill a worker every `kill_every` s; restart Redis once halfway; flood the middle third."""
    events = {"redis_restarted_at_s": None, "flood": None}
    flood_from, flood_to = started + args.seconds / 3, started + 2 * args.seconds / 3
    redis_at = started + args.seconds / 2
    next_kill, victim = started + args.kill_every, 0
    while (now := time.monotonic()) < started + args.seconds:
        if now >= next_kill:
            workers.kill(victim)
            workers.start(victim)
            victim, next_kill = (victim + 1) % len(workers.processes), next_kill + args.kill_every
        if events["flood"] is None and now >= flood_from:
            fake.flood(GROUP, round(flood_to - now))
            events["flood"] = [round(flood_from - started, 1), round(flood_to - started, 1)]
        if events["redis_restarted_at_s"] is None and now >= redis_at:
            redis.kill()
            redis.start()
            events["redis_restarted_at_s"] = round(now - started, 1)
        await asyncio.sleep(0.2)
    events["flood_window"] = (flood_from, flood_to)
    return events


async def run(args: argparse.Namespace, redis: Redis, workers: Workers) -> dict:
    client = connect(redis.url)
    async with asyncio.timeout(args.worker_start_s):
        while await client.get(keys.MODEL_VERSION) is None:
            await asyncio.sleep(0.5)
    await client.aclose()
    fake = FakeBotAPI()
    await fake.start()
    fake.admins[GROUP] = {ADMIN}
    application = await start_bot(fake, redis.url, args.timeout)
    rng = random.Random(args.seed)
    started = time.monotonic()
    until = started + args.seconds
    try:
        users = [
            user_loop(fake, 20_000 + i, until, random.Random(rng.random()), args.timeout + 15)
            for i in range(args.users)
        ]
        *per_user, group_asks, events = await asyncio.gather(
            *users, group_loop(fake, until, rng), chaos(args, workers, redis, fake, started)
        )
    finally:
        await stop_polling(application)
        await fake.stop()
    outcomes = [outcome for user in per_user for outcome in user]
    for outcome in outcomes:  # more than one final word on one message is a duplicate
        finals = [
            m
            for m in replies_to(fake, outcome["chat"], outcome["asked"])
            if m.get("edit_date") or not m["text"].startswith("✍️")
        ]
        outcome["duplicated"] = len(finals) > 1
    flood_from, flood_to = events.pop("flood_window")
    during = sorted(
        o["seconds"] for o in outcomes if o["kind"] == "poem" and flood_from <= o["sent"] < flood_to
    )
    answered = sorted(o["seconds"] for o in outcomes if o["kind"] == "poem")
    errors = collections.Counter(o["text"] for o in outcomes if o["kind"] == "error")
    return {
        "bench": "faults",
        "users": args.users,
        "seconds": args.seconds,
        "workers": len(workers.processes),
        "worker_kills": workers.kills,
        **events,
        "requests": len(outcomes),
        "answered": len(answered),
        "error_replies": dict(errors),
        "lost": sum(o["kind"] == "lost" for o in outcomes),
        "duplicated": sum(o["duplicated"] for o in outcomes),
        "p50_s": round(percentile(answered, 50), 3) if answered else None,
        "p95_s": round(percentile(answered, 95), 3) if answered else None,
        "flood_private_p50_s": round(percentile(during, 50), 3) if during else None,
        "flood_private_p95_s": round(percentile(during, 95), 3) if during else None,
        "group_asks": group_asks,
        "group_poems": sum(
            "again:" in str(m.get("reply_markup", "")) for m in fake.bot_messages(GROUP)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="checkpoint dir (default: the shipped one)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=30)
    parser.add_argument("--timeout", type=float, default=60.0, help="the bot's wait per poem")
    parser.add_argument("--worker-start-s", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    checkpoint = shipped_model(args.model)
    with tempfile.TemporaryDirectory(prefix="yinshi-faults-") as work:
        redis = Redis(Path(work))
        redis.start()
        workers = Workers(redis.url, checkpoint, Path(work), args.workers)
        for index in range(args.workers):
            workers.start(index)
        try:
            result = asyncio.run(run(args, redis, workers))
        except BaseException:
            for log in sorted(Path(work).glob("worker-*.log")):
                sys.stderr.write(log.read_text(errors="replace")[-2000:])
            raise
        finally:
            workers.stop()
            redis.kill()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
