"""The poem cache: per (model version, request) a small pool of distinct poems in Redis.

A hit takes poems from the head of the pool and moves them to its tail (LMOVE), so repeated
asks rotate through the pool instead of repeating one poem. Workers add what they generate
(distinct by text, at most `POOL_SIZE`: the most recently added or served are kept); a
`fresh` request skips the lookup, and its poem joins the pool like any other. The model
version is part of the key, so a new model never serves an old model's poems.
"""

import hashlib
import json

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from yinshi import keys
from yinshi.protocol import Poem, PoemRequest

POOL_SIZE = 8

_UNCACHED_FIELDS = {"seed", "n"}
"""Seed and count do not change which poems fit a request; the pool serves any n ≤ its size."""

# Taking n poems and counting the hit or miss is one round trip, and a pool smaller than n
# is a miss that moves nothing — unless ARGV[2] is 1 (take what there is, up to n). Scripts go
# by EVAL: a restarted Redis knows no script SHAs.
_TAKE = """
local n = tonumber(ARGV[1])
if ARGV[2] == '1' then
  n = math.min(n, redis.call('LLEN', KEYS[1]))
end
if n == 0 or redis.call('LLEN', KEYS[1]) < n then
  redis.call('HINCRBY', KEYS[2], 'cache_miss', 1)
  return {}
end
local poems = {}
for i = 1, n do
  poems[i] = redis.call('LMOVE', KEYS[1], KEYS[1], 'LEFT', 'RIGHT')
end
redis.call('HINCRBY', KEYS[2], 'cache_hit', 1)
return poems
"""

# Add poems not already pooled (same text = same poem), keep the newest POOL_SIZE, refresh
# the TTL. ARGV: pool size, ttl, then pairs of (text, poem JSON).
_ADD = """
local seen = {}
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  seen[table.concat(cjson.decode(item)['lines'])] = true
end
for i = 3, #ARGV, 2 do
  if not seen[ARGV[i]] then
    seen[ARGV[i]] = true
    redis.call('RPUSH', KEYS[1], ARGV[i + 1])
  end
end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return redis.call('LLEN', KEYS[1])
"""


def request_hash(request: PoemRequest) -> str:
    """Equal for requests that ask for the same kind of poem."""
    fields = request.model_dump(exclude=_UNCACHED_FIELDS)
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def pool_key(model_version: str, request: PoemRequest) -> str:
    return keys.cache_pool(model_version, request_hash(request))


async def take(
    redis: Redis, model_version: str, request: PoemRequest, some: bool = False
) -> list[Poem] | None:
    """``request.n`` distinct poems from the pool (with ``some``: as many as it has, up to
    n), or None on a miss (counted either way)."""
    key = pool_key(model_version, request)
    items = await redis.eval(_TAKE, 2, key, keys.STATS, request.n, int(some))
    if not items:
        return None
    return [Poem.model_validate_json(item) for item in items]


def add(pipe: Pipeline, model_version: str, request: PoemRequest, poems: list[Poem]) -> None:
    """Queue adding ``poems`` to the pool on ``pipe`` (the worker sends it with its replies)."""
    args: list[str | int] = [POOL_SIZE, keys.CACHE_TTL_S]
    for poem in poems:
        args += ["".join(poem.lines), poem.model_dump_json()]
    pipe.eval(_ADD, 1, pool_key(model_version, request), *args)


async def pool(redis: Redis, model_version: str, request: PoemRequest) -> list[Poem]:
    """The whole pool in rotation order, for tests and inspection."""
    items = await redis.lrange(pool_key(model_version, request), 0, -1)
    return [Poem.model_validate_json(item) for item in items]
