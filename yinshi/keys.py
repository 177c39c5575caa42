"""The queue's and the cache's Redis keys: name, type, who writes each and how long it lives.

Nothing else builds these key strings. Everything lives under ``yinshi:`` so one Redis can be shared
with other applications and inspected with ``redis-cli --scan --pattern 'yinshi:*'``.

``yinshi:requests``
    Stream, field ``job`` = Job JSON. Client XADDs (``MAXLEN ~ REQUESTS_MAXLEN``); the worker
    XACKs and XDELs an entry once answered. Consumer group ``workers``, created by workers.
``yinshi:requests:background``
    Stream, the background lane: the same as ``yinshi:requests`` (its own group ``workers``),
    for work no one is waiting on (the daily poems written ahead). Workers read it only when
    no user's request waits, a few jobs at a time.
``yinshi:dead``
    Stream, fields ``job`` ``reason`` ``deliveries`` ``worker``. Worker; ``MAXLEN ~ DEAD_MAXLEN``.
``yinshi:reply:{id}``
    List holding one Reply JSON. Worker RPUSHes, the requester BLPOPs; ``REPLY_TTL_S``.
``yinshi:answered:{id}``
    String, the answering worker's name. Worker ``SET NX``; ``ANSWERED_TTL_S``.
``yinshi:worker:{name}``
    String, the worker's heartbeat: JSON ``instance`` ``host`` ``pid``. The worker SETs it with
    a ``heartbeat_ttl_ms`` expiry from its serving loop; a consumer of the group whose key is
    gone is dead (or hung), and its jobs are taken over. DEL when the worker leaves.
``yinshi:model_version``
    String. Each worker sets it on start; no TTL.
``yinshi:cache:{version}:{hash}``
    List of at most 8 Poem JSON. Workers add, clients rotate (LMOVE); ``CACHE_TTL_S`` from the
    last add.
``yinshi:stats``
    Hash of counters (``cache_hit``, ``cache_miss``). Clients HINCRBY, workers export; no TTL.

The bot's own keys (``yinshi:bot:…``) are in ``bot/keys.py``.
"""

REQUESTS = "yinshi:requests"
"""The job queue. Acked entries are deleted, so XLEN is the backlog (waiting + in progress)."""

BACKGROUND = "yinshi:requests:background"
"""The background lane: read only while REQUESTS is empty."""

LANES = (REQUESTS, BACKGROUND)
"""Every job stream, users' first."""

WORKERS_GROUP = "workers"
"""The consumer group every worker reads REQUESTS through; each entry goes to one worker."""

REQUESTS_MAXLEN = 100_000
"""A safety net far above any sane queue limit: the client refuses work (Busy) long before."""

DEAD = "yinshi:dead"
"""Jobs that failed too often or could not be read, kept for a person to look at."""

DEAD_MAXLEN = 10_000

REPLY_TTL_S = 60
"""The requester is already waiting when the reply lands; a reply nobody takes is garbage."""

ANSWERED_TTL_S = 3600
"""Must outlive any re-delivery of the job (takeover bound × max deliveries, a minute or two
under valid settings), so a re-run never answers twice."""

MODEL_VERSION = "yinshi:model_version"
"""The version of the model the workers serve; clients key the cache with it."""

CACHE_TTL_S = 24 * 3600
"""A day: popular topics stay warm, a pool for a topic nobody asks again goes away."""

STATS = "yinshi:stats"
"""Counters shared by every client; the worker exports them as metrics."""


def reply(job_id: str) -> str:
    return f"yinshi:reply:{job_id}"


def worker_alive(name: str) -> str:
    """A worker's heartbeat, by its consumer name."""
    return f"yinshi:worker:{name}"


def answered(job_id: str) -> str:
    return f"yinshi:answered:{job_id}"


def cache_pool(model_version: str, request_hash: str) -> str:
    """The version is part of the key, so poems of an old model are never served by a new one."""
    return f"yinshi:cache:{model_version}:{request_hash}"
