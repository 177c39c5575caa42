"""From settings to a Redis connection: the configured server, or the embedded one.

Every connection made here has a socket timeout, TCP keepalive and a health check, so a
half-open TCP connection (a NAT or firewall that forgot the flow, a host that vanished) is
noticed within seconds and replaced, instead of hanging a blocking read for ever. The values
are set here, not left to the redis-py version installed: before redis-py 8 the library
default was no timeout and no keepalive at all.

``redis+sentinel://[:password@]host:port[,host:port…]/service[/db]`` asks the Sentinels for
the current master of ``service`` and follows it through a failover.
"""

import socket
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError

from yinshi.embedded_redis import start_embedded
from yinshi.settings import QueueSettings

RETRIES = 3
"""A pooled connection is dead after a Redis restart; retrying reconnects it."""

SOCKET_TIMEOUT_S = 5.0
"""The longest a command may wait for its reply. Must exceed the longest blocking command we
send: the client's BLPOP slice (`yinshi.client.WAIT_SLICE_S`, 2 s) and the worker's
XREADGROUP block (`WorkerSettings.block_ms`, at most 2 s)."""

CONNECT_TIMEOUT_S = 3.0

HEALTH_CHECK_S = 10.0
"""A connection idle longer than this is PINGed before it is used again, so a connection that
died while pooled fails on the PING (and is replaced) rather than on a real command."""

KEEPALIVE = {"TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
"""An idle connection to a vanished peer is reset by the kernel after about 25 s."""

SENTINEL_SCHEME = "redis+sentinel"


def redis_url(settings: QueueSettings) -> str:
    """``REDIS_URL`` (with ``REDIS_PASSWORD`` put in) if set; else the embedded server."""
    if not settings.redis_url:
        return start_embedded(settings.data_dir)
    if settings.redis_password is None:
        return settings.redis_url
    return with_password(settings.redis_url, settings.redis_password.get_secret_value())


def with_password(url: str, password: str) -> str:
    """The URL with the password in its user-info, unless it names one already."""
    parts = urlsplit(url)
    if parts.scheme == "unix" or parts.password is not None:
        return url
    user = quote(unquote(parts.username or ""), safe="")
    netloc = f"{user}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def connection_options() -> dict:
    """Timeouts, retries and health checks shared by every connection (TCP or unix)."""
    return {
        "decode_responses": True,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), RETRIES),
        "retry_on_error": [ConnectionError, TimeoutError],
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "health_check_interval": HEALTH_CHECK_S,
    }


def tcp_options() -> dict:
    """Keepalive, for TCP connections only (a unix socket has no such option)."""
    options = {
        getattr(socket, name): value for name, value in KEEPALIVE.items() if hasattr(socket, name)
    }
    return {"socket_keepalive": True, "socket_keepalive_options": options}


def connect(url: str) -> Redis:
    """A client that speaks str (every value we store is JSON text), reconnects, and never
    waits on a dead connection for longer than the socket timeout."""
    scheme = urlsplit(url).scheme
    if scheme == SENTINEL_SCHEME:
        return _connect_sentinel(url)
    options = connection_options()
    if scheme != "unix":
        options |= tcp_options()
    return Redis.from_url(url, **options)


def _connect_sentinel(url: str) -> Redis:
    parts = urlsplit(url)
    hosts = []
    for address in parts.netloc.rpartition("@")[2].split(","):
        host, _, port = address.rpartition(":")
        hosts.append((host.strip("[]") or "localhost", int(port or 26379)))
    path = [part for part in parts.path.split("/") if part]
    if not path:
        raise ValueError(f"{SENTINEL_SCHEME} URL names no service: …/mymaster[/db]")
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    auth = {}
    if parts.password is not None:
        auth["password"] = unquote(parts.password)
        if parts.username:
            auth["username"] = unquote(parts.username)
    sentinel_options = connection_options() | tcp_options()
    sentinel_options.pop("decode_responses")
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_options, **auth)
    return sentinel.master_for(
        service, redis_class=Redis, db=db, **connection_options(), **tcp_options(), **auth
    )
