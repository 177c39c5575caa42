"""Sub-commands of the bot side."""

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    bot = commands.add_parser(
        "bot",
        help="run the Telegram bot (needs TELEGRAM_BOT_TOKEN and a Redis with a worker)",
        description="Settings come from the environment: see yinshi/settings.py and .env.example.",
    )
    bot.add_argument(
        "--base-url",
        help="Bot API server to talk to, e.g. http://127.0.0.1:8081/bot "
        "(a local Bot API server or the fake one); default: YINSHI_BOT_BASE_URL or Telegram",
    )
    bot.set_defaults(func=_bot)


def _bot(args: argparse.Namespace) -> int:
    from bot import texts
    from bot.app import build_application, configure_logging, run
    from yinshi.connection import connect, redis_url
    from yinshi.errors import UserError
    from yinshi.request_args import validated
    from yinshi.settings import BotSettings

    settings = validated(BotSettings, "设置有误 bad setting")
    token = settings.telegram_bot_token
    if token is None or not token.get_secret_value():
        raise UserError(texts.NO_TOKEN)  # before an embedded Redis is started for nothing
    configure_logging(token.get_secret_value())
    application = build_application(
        settings, connect(redis_url(settings)), base_url=args.base_url, owns_redis=True
    )
    run(application)
    return 0
