"""From settings to a Redis connection: the configured server, or the embedded one."""

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError

from yinshi.embedded_redis import start_embedded
from yinshi.settings import QueueSettings

RETRIES = 3
"""A pooled connection is dead after a Redis restart; retrying reconnects it."""


def redis_url(settings: QueueSettings) -> str:
    """``REDIS_URL`` if set; otherwise the embedded server under the data dir."""
    return settings.redis_url or start_embedded(settings.data_dir)


def connect(url: str) -> Redis:
    """A client that speaks str (every value we store is JSON text) and reconnects."""
    return Redis.from_url(
        url,
        decode_responses=True,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), RETRIES),
        retry_on_error=[ConnectionError, TimeoutError],
    )
