"""Stand-ins for the serving tests: a fake engine and workers run in a thread or a process.

The queue's behaviour does not depend on what the engine writes, so these tests use an engine
that answers instantly (or after a set delay) with distinct poems; the real engine is tested
through the worker once in tests/test_serving_worker.py.
"""

import asyncio
import itertools
import os
import threading
import time

from model.worker import Worker, serve_worker
from yinshi.connection import connect
from yinshi.errors import UserError
from yinshi.protocol import Poem, PoemRequest, PoemResult
from yinshi.settings import WorkerSettings

POISON = "毒"
"""A topic the fake engine crashes on, every time."""

IMPOSSIBLE = "难"
"""A topic the fake engine refuses as an impossible request."""


class FakeEngine:
    """Distinct poems on demand; records the size of every call."""

    def __init__(self, delay_s: float = 0.0, version: str = "fake-1", repeat: bool = False):
        self.delay_s = delay_s
        self.version = version
        self.repeat = repeat
        self.calls: list[int] = []
        self._serial = itertools.count()

    def __call__(self, requests: list[PoemRequest]) -> list[PoemResult | BaseException]:
        self.calls.append(len(requests))
        time.sleep(self.delay_s)
        if any(request.topic == POISON for request in requests):
            raise RuntimeError("the model crashed")
        return [self._answer(request) for request in requests]

    def _answer(self, request: PoemRequest) -> PoemResult | BaseException:
        if request.topic == IMPOSSIBLE:
            return UserError("藏头字数不符 (impossible request)")
        poems = [self._poem(request) for _ in range(request.n)]
        stats = {"pid": os.getpid()}
        return PoemResult(poems=poems, model_version=self.version, timing_ms=1.0, stats=stats)

    def _poem(self, request: PoemRequest) -> Poem:
        serial = 0 if self.repeat else next(self._serial)
        lines = [f"{request.topic}第{serial}首，", f"{self.version}。"]
        return Poem(
            title=request.topic, lines=lines, form=request.form, conforms=True, analysis={}, score=0
        )


class WorkerThread:
    """A Worker with its own event loop and connection in a background thread."""

    def __init__(self, url: str, engine, model_version: str = "fake-1", **settings) -> None:
        self.url = url
        self.engine = engine
        self.model_version = model_version
        self.settings = WorkerSettings(**{"block_ms": 50, "max_wait_ms": 10, **settings})
        self.worker: Worker | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    def start(self) -> "WorkerThread":
        """Returns once the worker has joined the group and published its model version."""
        self._thread.start()
        self._ready.wait(5)
        deadline = time.monotonic() + 5
        while not self.worker.healthy() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.worker.stop)
            self._thread.join(10)

    async def _main(self) -> None:
        redis = connect(self.url)
        self._loop = asyncio.get_running_loop()
        self.worker = Worker(redis, self.engine, self.model_version, self.settings)
        self._ready.set()
        try:
            await self.worker.run()
        finally:
            await redis.aclose()


def worker_process(url: str, delay_s: float, settings: dict) -> None:
    """Target of a worker run as its own process (multiprocessing, spawn)."""
    asyncio.run(serve_worker(url, FakeEngine(delay_s), "fake-1", WorkerSettings(**settings)))
