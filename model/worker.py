"""The generation worker: reads jobs from the Redis stream in batches and answers each one.

States, in order: start (take a consumer name, create the consumer group, publish the model
version) → recover (re-read this consumer's own pending jobs) → serve (refresh the heartbeat,
take over the jobs of dead workers, read new jobs, generate one batch, answer, ack) until
stopped → leave (drop the heartbeat, and the consumer name if it holds no pending job).

Two lanes, each a stream with its own group: users' requests (`keys.REQUESTS`) and the
background (`keys.BACKGROUND`: the daily poems written ahead of their minute). The background
is read only when no user's request waits, `background_batch` jobs at a time, so a user who
asks meanwhile waits for one small batch at most. Everything below — takeover, recovery,
acks — is the same in both lanes.

Liveness is a heartbeat: `yinshi:worker:{name}` with a short TTL (`heartbeat_ttl_ms`), refreshed
by the serving loop and, while the engine runs, beside it — but only for `stuck_after_s`: an
engine that hangs longer lets the key expire and turns `/healthz` red. Every `claim_every_ms`
each worker looks at the group's consumers: the jobs of one without a heartbeat are taken over
(XCLAIM) and its name is removed once it holds nothing. So a job of a killed or hung worker is
answered within seconds, well inside its requester's wait (`WorkerSettings` checks the bounds
against `timeout_s`). Jobs pending too long anywhere (`claim_idle_ms`) are taken over as well,
and a worker re-reads jobs pending at itself but not in hand (a reply lost on a dead
connection).

Consumer names are stable: by default the host name (a container's, in Docker), so a worker
restarted after a crash takes its old name back and resumes its own jobs at once; a second
live worker on the same host gets ``-2``.

Delivery is at-least-once: a job is acked only after its answer is written. Answers are
idempotent: `yinshi:answered:{id}` is set NX in the same atomic step as the push, so the first
answer wins and a re-run never answers twice. A job that crashes its batch is retried alone;
if it crashes alone it is dead-lettered and its requester gets a WorkerError at once. A job
delivered more than `max_deliveries` times (it kills the workers that take it) is dead-lettered
too, so one poisonous request cannot block the queue.

The engine is injected as a plain callable, so this module imports no torch; `run` wires the
real one.
"""

import asyncio
import json
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from model.metrics import WorkerMetrics, serve
from yinshi import cache, keys
from yinshi.connection import connect, redis_url
from yinshi.errors import UserError
from yinshi.protocol import (
    PROTOCOL_VERSION,
    ErrorKind,
    Job,
    PoemRequest,
    PoemResult,
    Reply,
    ReplyError,
)
from yinshi.settings import WorkerSettings

log = logging.getLogger("yinshi.worker")

T = TypeVar("T")

GenerateBatch = Callable[[list[PoemRequest]], Sequence[PoemResult | BaseException]]
"""One batched engine call; a per-request exception in the list is that request's answer.
A raised exception means the call crashed: nothing is answered and the jobs are retried."""

RETRY_PAUSE_S = 0.5
"""After a Redis error: long enough not to spin while Redis restarts."""

# Answering a job is one atomic step: SET NX (the first answer wins), the push, the ack. So a
# job is never acked without its answer, nor answered twice. EVAL, not EVALSHA: a restarted
# Redis has forgotten every loaded script, and a NOSCRIPT error must not split the step.
_ANSWER = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('XACK', KEYS[3], ARGV[5], ARGV[6])
redis.call('XDEL', KEYS[3], ARGV[6])
return 1
"""

# Forget a consumer only while it is dead (no heartbeat) and holds nothing: atomically, so a
# worker that comes back and reads a job in between cannot lose that job with its name.
_FORGET = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

MAX_NAME_SUFFIX = 100

_RUNNING_HERE: set[str] = set()
"""Heartbeat instances of the workers running in this process (tests run several)."""


class EngineCrashed(Exception):
    """The engine raised on this request even when it ran alone: the request's own fault."""


@dataclass(frozen=True)
class Delivery:
    """One stream entry as this worker received it."""

    stream: str
    """Its lane (`keys.LANES`)."""
    entry_id: str
    raw: str | None
    """The job JSON; None when the entry was deleted after it was delivered."""
    deliveries: int


class Worker:
    def __init__(
        self,
        redis: Redis,
        generate_batch: GenerateBatch,
        model_version: str,
        settings: WorkerSettings | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.redis = redis
        self.generate_batch = generate_batch
        self.model_version = model_version
        self.settings = settings or WorkerSettings()
        self.metrics = metrics or WorkerMetrics()
        self._host = socket.gethostname()
        self.name = self.settings.worker_name or self._host
        self._named = False
        self._held: list[Delivery] = []
        """Background jobs read (so pending at this consumer) and not yet served."""
        self._instance = uuid.uuid4().hex
        self._heartbeat = json.dumps(
            {"instance": self._instance, "host": self._host, "pid": os.getpid()}
        )
        self._last_beat = float("-inf")  # monotonic time of the last heartbeat written
        self._generating_since: float | None = None
        self._stopping = False
        self._running = False
        self._redis_ok = False

    def stop(self) -> None:
        """Stop reading; the batch in hand is still finished and acked."""
        self._stopping = True

    def healthy(self) -> bool:
        """Serving: the loop runs, Redis answers, the heartbeat is fresh, the engine not hung."""
        fresh = time.monotonic() - self._last_beat < self.settings.heartbeat_ttl_ms / 1000
        return self._running and self._redis_ok and fresh and not self._stuck()

    def _stuck(self) -> bool:
        since = self._generating_since
        return since is not None and time.monotonic() - since > self.settings.stuck_after_s

    async def run(self) -> None:
        self._running = True
        _RUNNING_HERE.add(self._instance)
        started = False
        next_claim = 0.0
        try:
            while not self._stopping:
                try:
                    if not started:
                        self._held.clear()  # read from a stream that may be gone now
                        await self._start()
                        await self._recover_own()
                        started = True
                    await self._beat_if_due()
                    if time.monotonic() >= next_claim:
                        await self._claim_round()
                        next_claim = time.monotonic() + self.settings.claim_every_ms / 1000
                    batch = await self._read_batch()
                    if batch:
                        await self._serve(batch)
                    await self._refresh_gauges()
                    self._redis_ok = True
                except RedisError as error:
                    # Redis restarting, unreachable or refusing: jobs not yet acked stay
                    # pending and are claimed again, so waiting and retrying loses nothing.
                    self._redis_ok = False
                    log.warning("event=redis_error worker=%s error=%r", self.name, str(error))
                    if "NOGROUP" in str(error):  # Redis came back without its data
                        started = False
                    await asyncio.sleep(RETRY_PAUSE_S)
            if started:
                await self._leave()
        finally:
            self._running = False
            _RUNNING_HERE.discard(self._instance)
        log.info("event=stopped worker=%s", self.name)

    # --- states ---------------------------------------------------------------------------

    async def _start(self) -> None:
        if not self._named:
            self.name = await self._take_name()
            self._named = True
        await self._beat()  # before the first read: a consumer without a heartbeat is dead
        for stream in keys.LANES:
            try:
                await self.redis.xgroup_create(stream, keys.WORKERS_GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise
        await self.redis.set(keys.MODEL_VERSION, self.model_version)
        log.info(
            "event=started worker=%s model_version=%s max_batch=%d max_wait_ms=%d",
            self.name,
            self.model_version,
            self.settings.max_batch,
            self.settings.max_wait_ms,
        )

    async def _recover_own(self) -> None:
        """Jobs delivered to this consumer name before a restart, oldest first, users' first;
        background jobs read but not yet served are in hand, not lost."""
        held = {delivery.entry_id for delivery in self._held}
        for stream in keys.LANES:
            last_id = "0"
            while not self._stopping:
                entries = _entries(
                    await self.redis.xreadgroup(
                        keys.WORKERS_GROUP,
                        self.name,
                        {stream: last_id},
                        count=self.settings.max_batch,
                    )
                )
                if not entries:
                    break
                last_id = entries[-1][0]
                entries = [entry for entry in entries if entry[0] not in held]
                if entries:
                    log.info("event=recovered worker=%s count=%d", self.name, len(entries))
                    await self._serve(await self._with_deliveries(stream, entries))

    async def _take_name(self) -> str:
        """The configured name; else the host name, or ``host-2``… if a live worker holds it.

        A name is held by its heartbeat key. One held by this host's previous process (dead,
        or with this very pid in a new container) is taken back: that is the restart case.
        """
        if self.settings.worker_name:
            return self.settings.worker_name
        ttl = self.settings.heartbeat_ttl_ms
        for suffix in range(1, MAX_NAME_SUFFIX + 1):
            name = self._host if suffix == 1 else f"{self._host}-{suffix}"
            key = keys.worker_alive(name)
            if await self.redis.set(key, self._heartbeat, nx=True, px=ttl):
                return name
            holder = _read_heartbeat(await self.redis.get(key))
            if holder is None or (holder.get("host") == self._host and not _alive(holder)):
                await self.redis.set(key, self._heartbeat, px=ttl)
                log.info("event=name_taken_back worker=%s", name)
                return name
        raise RuntimeError(f"{MAX_NAME_SUFFIX} live workers named {self._host}: set worker_name")

    async def _beat(self) -> None:
        await self.redis.set(
            keys.worker_alive(self.name), self._heartbeat, px=self.settings.heartbeat_ttl_ms
        )
        self._last_beat = time.monotonic()

    async def _beat_if_due(self) -> None:
        """A third of the TTL: two beats may be late before the key expires."""
        if time.monotonic() - self._last_beat >= self.settings.heartbeat_ttl_ms / 3000:
            await self._beat()

    async def _claim_round(self) -> None:
        await self._recover_own()
        await self._take_over_dead()
        await self._claim_stale()

    async def _take_over_dead(self) -> None:
        for stream in keys.LANES:
            await self._take_over_dead_in(stream)

    async def _take_over_dead_in(self, stream: str) -> None:
        """Claim the jobs of consumers without a heartbeat; forget those that hold nothing."""
        consumers = [
            consumer
            for consumer in await self.redis.xinfo_consumers(stream, keys.WORKERS_GROUP)
            if consumer["name"] != self.name
        ]
        if not consumers:
            return
        pipe = self.redis.pipeline(transaction=False)
        for consumer in consumers:
            pipe.exists(keys.worker_alive(consumer["name"]))
        alive = await pipe.execute()
        for consumer, beating in zip(consumers, alive, strict=True):
            if beating or self._stopping:
                continue
            name = consumer["name"]
            if consumer["pending"]:
                await self._take_jobs_of(stream, name)
            forgotten = await self.redis.eval(
                _FORGET,
                2,
                stream,
                keys.worker_alive(name),
                keys.WORKERS_GROUP,
                name,
            )
            if forgotten:
                log.info("event=forgot_consumer worker=%s dead=%s", self.name, name)

    async def _take_jobs_of(self, stream: str, dead: str) -> None:
        # The idle bound makes two workers that both saw `dead` die claim each job once: the
        # first XCLAIM resets the job's idle time, and the second then skips it. The dead
        # worker's own jobs have been idle since before its heartbeat expired.
        guard_ms = self.settings.heartbeat_ttl_ms // 2
        while not self._stopping:
            pending = await self.redis.xpending_range(
                stream,
                keys.WORKERS_GROUP,
                "-",
                "+",
                self.settings.max_batch,
                consumername=dead,
            )
            if not pending:
                return
            claimed = await self.redis.xclaim(
                stream,
                keys.WORKERS_GROUP,
                self.name,
                min_idle_time=guard_ms,
                message_ids=[entry["message_id"] for entry in pending],
            )
            if not claimed:
                return
            log.info("event=took_over worker=%s dead=%s count=%d", self.name, dead, len(claimed))
            await self._serve(await self._with_deliveries(stream, claimed))

    async def _claim_stale(self) -> None:
        for stream in keys.LANES:
            await self._claim_stale_in(stream)

    async def _claim_stale_in(self, stream: str) -> None:
        """Take over jobs idle too long at any consumer (crashed workers, failed batches)."""
        cursor = "0-0"
        while not self._stopping:
            response = await self.redis.xautoclaim(
                stream,
                keys.WORKERS_GROUP,
                self.name,
                min_idle_time=self.settings.claim_idle_ms,
                start_id=cursor,
                count=self.settings.max_batch,
            )
            cursor, entries = response[0], response[1]
            if entries:
                log.info("event=claimed worker=%s count=%d", self.name, len(entries))
                await self._serve(await self._with_deliveries(stream, entries))
            if cursor == "0-0":
                return

    async def _read_batch(self) -> list[Delivery]:
        """Users' requests waiting now, else block for the first job of either lane; a user's
        job waits at most max_wait_ms for more to fill its batch. With no user's request,
        `background_batch` background jobs (read ones are held until then)."""
        users = _entries(await self._read_new({keys.REQUESTS: ">"}, self.settings.max_batch))
        if not users and not self._held:
            lanes = {stream: ">" for stream in keys.LANES}
            found = await self._read_new(
                lanes, self.settings.background_batch, self.settings.block_ms
            )
            for stream, entries in found or []:
                if stream == keys.REQUESTS:
                    users = list(entries)
                else:
                    self._held += [_delivery(stream, entry) for entry in entries]
        if users:
            return [_delivery(keys.REQUESTS, entry) for entry in await self._fill(users)]
        batch = self._held[: self.settings.background_batch]
        del self._held[: self.settings.background_batch]
        return batch

    async def _fill(self, batch: list) -> list:
        """Wait at most max_wait_ms for more users' jobs to fill the batch."""
        fill_until = time.monotonic() + self.settings.max_wait_ms / 1000
        while len(batch) < self.settings.max_batch:
            wait_ms = int((fill_until - time.monotonic()) * 1000)
            if wait_ms < 1:
                break
            count = self.settings.max_batch - len(batch)
            more = _entries(await self._read_new({keys.REQUESTS: ">"}, count, wait_ms))
            if not more:
                break
            batch += more
        return batch

    async def _read_new(
        self, streams: dict[str, str], count: int, block_ms: int | None = None
    ) -> list:
        """XREADGROUP; without block_ms it returns at once (BLOCK 0 would wait forever)."""
        return await self.redis.xreadgroup(
            keys.WORKERS_GROUP, self.name, streams, count=count, block=block_ms
        )

    async def _leave(self) -> None:
        """Forget this consumer name unless it still holds jobs (deleting it would lose them),
        then the heartbeat, so that jobs left behind are taken over at once."""
        for stream in keys.LANES:
            pending = await self.redis.xpending_range(
                stream, keys.WORKERS_GROUP, "-", "+", 1, consumername=self.name
            )
            if not pending:
                await self.redis.xgroup_delconsumer(stream, keys.WORKERS_GROUP, self.name)
        await self.redis.delete(keys.worker_alive(self.name))

    # --- one batch ------------------------------------------------------------------------

    async def _serve(self, batch: list[Delivery]) -> None:
        """Answer what can be answered without the model, generate the rest, write, ack."""
        started = time.monotonic()
        pipe = self.redis.pipeline(transaction=False)
        unanswered: list[Delivery] = []  # done with, nobody to answer: acked as they are
        candidates: list[tuple[Delivery, Job]] = []
        now = time.time()
        for delivery in batch:
            job = None if delivery.raw is None else _parse(delivery.raw)
            if delivery.raw is None:
                unanswered.append(delivery)
            elif job is None:
                self._dead_letter(pipe, delivery, job, unanswered, "unreadable")
            elif delivery.deliveries > self.settings.max_deliveries:
                self._dead_letter(pipe, delivery, job, unanswered, "too_many_deliveries")
            elif job.version != PROTOCOL_VERSION:
                message = f"协议版本不符 (protocol {job.version}, worker speaks {PROTOCOL_VERSION})"
                self._reply_error(pipe, delivery, job, "invalid_request", message)
            elif job.deadline < now:
                self.metrics.expired.inc()
                _log_request(job, "expired", now)
                unanswered.append(delivery)
            else:
                candidates.append((delivery, job))

        todo = await self._skip_answered(candidates, unanswered)
        generated = errors = 0
        if todo:
            outcomes = await self._generate([job for _, job in todo])
            for (delivery, job), outcome in zip(todo, outcomes, strict=True):
                if isinstance(outcome, EngineCrashed):
                    errors += 1  # crashed alone: a retry would crash again
                    self._dead_letter(pipe, delivery, job, unanswered, "engine_crash")
                elif isinstance(outcome, PoemResult):
                    generated += 1
                    self._reply_result(pipe, delivery, job, outcome)
                else:
                    errors += 1
                    kind: ErrorKind = (
                        "invalid_request" if isinstance(outcome, UserError) else "worker_error"
                    )
                    self._reply_error(pipe, delivery, job, kind, str(outcome))
        for stream in keys.LANES:
            entry_ids = [d.entry_id for d in unanswered if d.stream == stream]
            if entry_ids:
                pipe.xack(stream, keys.WORKERS_GROUP, *entry_ids)
                pipe.xdel(stream, *entry_ids)
        await pipe.execute()
        log.info(
            "event=batch worker=%s size=%d generated=%d errors=%d ms=%.0f",
            self.name,
            len(batch),
            generated,
            errors,
            (time.monotonic() - started) * 1000,
        )

    async def _skip_answered(
        self, candidates: list[tuple[Delivery, Job]], unanswered: list[Delivery]
    ) -> list[tuple[Delivery, Job]]:
        """Drop jobs already answered (by a worker that died before acking): only ack them."""
        if not candidates:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for _, job in candidates:
            pipe.exists(keys.answered(job.id))
        done = await pipe.execute()
        todo = []
        for (delivery, job), answered in zip(candidates, done, strict=True):
            if answered:
                unanswered.append(delivery)
                _log_request(job, "already_answered", time.time())
            else:
                todo.append((delivery, job))
        return todo

    async def _generate(self, jobs: list[Job]) -> list[PoemResult | BaseException]:
        """Run the engine off the event loop, the heartbeat beating beside it."""
        now = time.time()
        for job in jobs:
            self.metrics.queue_wait.observe(max(0.0, now - job.created))
        self.metrics.batch_size.observe(len(jobs))
        started = self._generating_since = time.monotonic()
        try:
            outcomes = await self._beating(
                asyncio.to_thread(self._call_engine, [job.request for job in jobs])
            )
        finally:
            self._generating_since = None
        seconds = time.monotonic() - started
        self.metrics.generation_latency.observe(seconds)
        poems = sum(len(o.poems) for o in outcomes if isinstance(o, PoemResult))
        self.metrics.poems.inc(poems)
        self.metrics.poems_per_second.set(poems / seconds if seconds > 0 else 0.0)
        return outcomes

    async def _beating(self, work: Awaitable[T]) -> T:
        """Await ``work``, refreshing the heartbeat meanwhile until the engine counts as hung."""
        task = asyncio.ensure_future(work)
        every = self.settings.heartbeat_ttl_ms / 3000
        warned = False
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            if self._stuck():
                if not warned:  # the heartbeat expires now: others take these jobs over
                    log.warning("event=engine_stuck worker=%s", self.name)
                    warned = True
                continue
            try:
                await self._beat()
            except RedisError as error:
                log.warning("event=redis_error worker=%s error=%r", self.name, str(error))

    def _call_engine(self, requests: list[PoemRequest]) -> list[PoemResult | BaseException]:
        """One batched call; if it crashes, one call per request so one bad job fails alone,
        and at once: a request that crashes the engine alone gets EngineCrashed."""
        try:
            outcomes = list(self.generate_batch(requests))
            if len(outcomes) != len(requests):
                raise RuntimeError(f"engine answered {len(outcomes)} of {len(requests)} requests")
            return outcomes
        except Exception as error:
            log.exception("event=engine_crash worker=%s size=%d", self.name, len(requests))
            if len(requests) == 1:
                return [EngineCrashed(repr(error))]
            return [self._call_engine([request])[0] for request in requests]

    # --- writing answers (queued on the batch's pipeline) ---------------------------------

    def _reply_result(self, pipe: Pipeline, delivery: Delivery, job: Job, result: PoemResult):
        self._answer(pipe, delivery, job.id, Reply(id=job.id, ok=True, result=result))
        cache.add(pipe, result.model_version, job.request, result.poems)
        _log_request(job, "ok", time.time())

    def _reply_error(
        self, pipe: Pipeline, delivery: Delivery, job: Job, kind: ErrorKind, message: str
    ) -> None:
        error = ReplyError(kind=kind, message=message)
        self._answer(pipe, delivery, job.id, Reply(id=job.id, ok=False, error=error))
        self.metrics.errors.labels(kind=kind).inc()
        _log_request(job, kind, time.time())

    def _answer(self, pipe: Pipeline, delivery: Delivery, job_id: str, reply: Reply) -> None:
        pipe.eval(
            _ANSWER,
            3,
            keys.answered(job_id),
            keys.reply(job_id),
            delivery.stream,
            self.name,
            keys.ANSWERED_TTL_S,
            reply.model_dump_json(),
            keys.REPLY_TTL_S,
            keys.WORKERS_GROUP,
            delivery.entry_id,
        )

    def _dead_letter(
        self,
        pipe: Pipeline,
        delivery: Delivery,
        job: Job | None,
        unanswered: list[Delivery],
        reason: str,
    ) -> None:
        """Out of the queue into the dead-letter stream; the requester, if known, hears why."""
        pipe.xadd(
            keys.DEAD,
            {
                "job": delivery.raw or "",
                "reason": reason,
                "deliveries": delivery.deliveries,
                "worker": self.name,
            },
            maxlen=keys.DEAD_MAXLEN,
            approximate=True,
        )
        self.metrics.dead_lettered.inc()
        log.warning(
            "event=dead_letter worker=%s entry=%s reason=%s deliveries=%d",
            self.name,
            delivery.entry_id,
            reason,
            delivery.deliveries,
        )
        job_id = job.id if job else _job_id(delivery.raw)
        if job_id is None:
            unanswered.append(delivery)
            return
        if reason == "unreadable":
            message = "无法读取请求 (unreadable job)"
        elif reason == "engine_crash":
            message = "生成失败 (the poet crashed on this request)"
        else:
            message = f"生成失败 (generation failed {delivery.deliveries - 1} times)"
        error = ReplyError(kind="worker_error", message=message)
        self._answer(pipe, delivery, job_id, Reply(id=job_id, ok=False, error=error))
        self.metrics.errors.labels(kind="worker_error").inc()

    # --- bookkeeping ----------------------------------------------------------------------

    async def _with_deliveries(self, stream: str, entries: list) -> list[Delivery]:
        """Re-delivered entries with their delivery counts (XPENDING), for dead-lettering."""
        pipe = self.redis.pipeline(transaction=False)
        for entry_id, _ in entries:
            pipe.xpending_range(stream, keys.WORKERS_GROUP, entry_id, entry_id, 1)
        pending = await pipe.execute()
        return [
            Delivery(
                stream, entry_id, _job_field(fields), info[0]["times_delivered"] if info else 1
            )
            for (entry_id, fields), info in zip(entries, pending, strict=True)
        ]

    async def _refresh_gauges(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xlen(keys.REQUESTS)
        pipe.xlen(keys.BACKGROUND)
        pipe.hgetall(keys.STATS)
        depth, background, shared = await pipe.execute()
        self.metrics.queue_depth.set(depth)
        self.metrics.background_depth.set(background)
        self.metrics.shared.values = {name: float(value) for name, value in shared.items()}


def _entries(response: list | None) -> list:
    """[(entry id, fields)] from an XREADGROUP answer for one stream."""
    return list(response[0][1]) if response else []


def _delivery(stream: str, entry: tuple) -> Delivery:
    """A first delivery, as XREADGROUP ``>`` gives it."""
    entry_id, fields = entry
    return Delivery(stream, entry_id, _job_field(fields), 1)


def _job_field(fields: dict | None) -> str | None:
    return fields.get("job") if fields else None


def _parse(raw: str) -> Job | None:
    try:
        return Job.model_validate_json(raw)
    except ValidationError:
        return None


def _job_id(raw: str | None) -> str | None:
    """The id of a job that does not validate, so its requester still hears back."""
    try:
        job_id = json.loads(raw or "").get("id")
    except (ValueError, AttributeError):
        return None
    return job_id if isinstance(job_id, str) and 0 < len(job_id) <= 64 else None


def _read_heartbeat(raw: str | None) -> dict | None:
    try:
        value = json.loads(raw or "")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _alive(holder: dict) -> bool:
    """Whether the process named in a heartbeat of this host still runs.

    Our own pid, unless a worker of this process wrote it, is a predecessor's, in a container
    restarted with a fresh PID namespace. A zombie (killed, not yet reaped) is dead.
    """
    if holder.get("instance") in _RUNNING_HERE:
        return True
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _log_request(job: Job, status: str, now: float) -> None:
    log.info(
        "event=request id=%s form=%s n=%d fresh=%s status=%s age_ms=%.0f",
        job.id,
        job.request.form,
        job.request.n,
        job.fresh,
        status,
        (now - job.created) * 1000,
    )


# --- the process --------------------------------------------------------------------------


async def serve_worker(
    url: str, generate_batch: GenerateBatch, model_version: str, settings: WorkerSettings
) -> None:
    """Run one worker until SIGTERM/SIGINT, with metrics when a port is configured."""
    redis = connect(url)
    worker = Worker(redis, generate_batch, model_version, settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    server = None
    if settings.metrics_port is not None:
        server = serve(
            worker.metrics, settings.metrics_port, worker.healthy, host=settings.metrics_host
        )
    try:
        await worker.run()
    finally:
        if server is not None:
            server.shutdown()
        await redis.aclose()


def run(settings: WorkerSettings) -> int:
    """`yinshi worker`: load the model once, then serve until stopped."""
    import torch

    from model.generation import load_generator

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = settings.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = load_generator(
        settings.model_dir,
        device=device,
        discriminator_alpha=settings.discriminator_alpha,
        critic_alpha=settings.critic_alpha,
    )
    url = redis_url(settings)
    asyncio.run(serve_worker(url, generator.generate, generator.model_version, settings))
    return 0
