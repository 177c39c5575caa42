"""Asking the workers for a poem through Redis: what the bot and `yinshi ask` use.

One request travels forward only: cache lookup → XADD to the request stream (refused at once
when the backlog is over the limit) → BLPOP on the request's own reply list. A list, not
pub/sub, so an answer that lands before the wait starts is still there to be taken.

Work nobody is waiting on at a keyboard — the daily posts — goes to the background lane
(`background=True`, `ask_ahead`): workers take it only when no user's request waits, and it
has its own backlog limit, so ten thousand posts never make a person's /poem Busy.
"""

import asyncio
import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from yinshi import cache, keys
from yinshi.errors import Busy, InvalidRequest, QueueUnreachable, Timeout, WorkerError
from yinshi.protocol import Job, PoemRequest, PoemResult, Reply

WAIT_SLICE_S = 2.0
"""Wait in slices shorter than the socket timeout, so a Redis restart costs one slice."""

RECONNECT_PAUSE_S = 0.2

# The backlog check and the XADD are one atomic step: concurrent requesters cannot push the
# queue past the limit between checking and adding. EVAL: a restarted Redis knows no SHAs.
_ENQUEUE = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return false
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'job', ARGV[3])
"""


class PoetClient:
    """Sends PoemRequests to the workers and waits for their answers."""

    def __init__(self, redis: Redis, *, timeout_s: float = 60.0, max_queue: int = 1000) -> None:
        self.redis = redis
        self.timeout_s = timeout_s
        self.max_queue = max_queue

    async def generate(
        self,
        request: PoemRequest,
        *,
        timeout: float | None = None,
        fresh: bool = False,
        background: bool = False,
    ) -> PoemResult:
        """The poems for ``request``, from the cache unless ``fresh``, else from a worker
        (in the background lane with ``background``).

        Raises Busy (nothing enqueued), QueueUnreachable (Redis cannot be reached to send the
        request), Timeout, InvalidRequest, or WorkerError.
        """
        started = time.time()
        try:
            if not fresh:
                cached = await self._from_cache(request, started)
                if cached:
                    return cached
            job = Job(
                id=uuid.uuid4().hex,
                request=request,
                deadline=started + (self.timeout_s if timeout is None else timeout),
                fresh=fresh,
                created=started,
            )
            await self._send(job, keys.BACKGROUND if background else keys.REQUESTS)
        except (RedisConnectionError, RedisTimeoutError) as error:
            raise QueueUnreachable(f"无法连接队列 (Redis unreachable: {error})") from error
        return _unwrap(await self._wait(job))

    async def ask_ahead(self, request: PoemRequest, *, within_s: float) -> None:
        """Have fresh poems for ``request`` written into the cache in the background lane,
        without waiting: the answer is only the pool it fills. A worker that gets to it later
        than ``within_s`` from now drops it (the moment it was for has passed).

        Raises Busy (the background backlog is full) or QueueUnreachable."""
        now = time.time()
        job = Job(
            id=uuid.uuid4().hex, request=request, deadline=now + within_s, fresh=True, created=now
        )
        try:
            await self._send(job, keys.BACKGROUND)
        except (RedisConnectionError, RedisTimeoutError) as error:
            raise QueueUnreachable(f"无法连接队列 (Redis unreachable: {error})") from error

    async def model_version(self) -> str | None:
        """What the workers serve now; None before any worker has started."""
        return await self.redis.get(keys.MODEL_VERSION)

    async def _from_cache(self, request: PoemRequest, started: float) -> PoemResult | None:
        version = await self.model_version()
        if version is None:  # no worker has started yet: nothing can be cached
            await self.redis.hincrby(keys.STATS, "cache_miss", 1)
            return None
        poems = await cache.take(self.redis, version, request)
        if poems is None:
            return None
        elapsed_ms = (time.time() - started) * 1000
        return PoemResult(
            poems=poems, model_version=version, timing_ms=elapsed_ms, stats={"cache_hit": 1}
        )

    async def _send(self, job: Job, stream: str) -> None:
        entry_id = await self.redis.eval(
            _ENQUEUE, 1, stream, self.max_queue, keys.REQUESTS_MAXLEN, job.model_dump_json()
        )
        if entry_id is None:
            raise Busy(f"诗人正忙，请稍后再试 (queue full: {self.max_queue} requests waiting)")

    async def _wait(self, job: Job) -> Reply:
        reply_key = keys.reply(job.id)
        while (remaining := job.deadline - time.time()) > 0:
            try:
                item = await self.redis.blpop([reply_key], timeout=min(remaining, WAIT_SLICE_S))
            except (RedisConnectionError, RedisTimeoutError):
                await asyncio.sleep(RECONNECT_PAUSE_S)
                continue
            if item is not None:
                return Reply.model_validate_json(item[1])
        waited = job.deadline - job.created
        raise Timeout(f"等待超时 (no answer in {waited:.0f} s — is a `yinshi worker` running?)")


def _unwrap(reply: Reply) -> PoemResult:
    if reply.result is not None:
        return reply.result
    assert reply.error is not None  # guaranteed by Reply's validator
    if reply.error.kind == "invalid_request":
        raise InvalidRequest(reply.error.message)
    raise WorkerError(reply.error.message)
