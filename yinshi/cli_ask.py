"""`yinshi ask`: one poem request through the queue, printed like `yinshi poem` prints.

The same request a bot sends, so it checks a deployment end to end from a shell: Redis at
``REDIS_URL`` (or the embedded one), a running `yinshi worker`, the cache.
"""

import argparse

from yinshi.request_args import add_request_arguments, request_from_args, validated


def register(commands: argparse._SubParsersAction) -> None:
    ask = commands.add_parser(
        "ask",
        help="经队列请工作进程作诗 / ask the workers for a poem through the Redis queue",
        description="把请求放入 Redis 队列，等工作进程（yinshi worker）作答。 Send one request "
        "through the queue (REDIS_URL, or the embedded Redis) and print the answer.",
    )
    add_request_arguments(ask)
    ask.add_argument("--timeout", type=float, help="seconds to wait (YINSHI_TIMEOUT_S, 60)")
    ask.add_argument("--fresh", action="store_true", help="a new poem, not one from the cache")
    ask.set_defaults(func=_ask)


def _ask(args: argparse.Namespace) -> int:
    import asyncio

    from yinshi.errors import ServiceError, UserError
    from yinshi.printing import print_poems
    from yinshi.settings import ClientSettings

    if args.timeout is not None and args.timeout <= 0:
        raise UserError("--timeout 须为正数 / must be positive")
    request = request_from_args(args)
    settings = validated(ClientSettings, "设置有误 bad setting")
    try:
        result = asyncio.run(_send(settings, request, args.timeout, args.fresh))
    except ServiceError as error:
        raise UserError(str(error)) from None
    return print_poems(result, args.as_json)


async def _send(settings, request, timeout: float | None, fresh: bool):
    from yinshi.client import PoetClient
    from yinshi.connection import connect, redis_url

    redis = connect(redis_url(settings))
    try:
        client = PoetClient(redis, timeout_s=settings.timeout_s, max_queue=settings.max_queue)
        return await client.generate(request, timeout=timeout, fresh=fresh)
    finally:
        await redis.aclose()
