"""The Application: built, wired and run in one place.

Handlers are registered here and nowhere else; what they need (Redis, the queue client, the
limits) is one `Services` object in `bot_data`. Calls that only decorate (the command menu,
typing actions) are best effort: a Bot API that refuses them must not stop a poem.
"""

import contextlib
import logging
import secrets

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError
from telegram import BotCommand, Update
from telegram.constants import FloodLimit, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import buttons, chat, commands, daily, inline, keys, texts
from bot.card.send import card_command
from bot.flood import ChatRateLimiter, SharedBudget
from bot.services import Services
from yinshi.errors import UserError
from yinshi.settings import BotSettings

log = logging.getLogger("yinshi.bot")

HEALTH_RUNNER = "health_runner"
OWNS_REDIS = "owns_redis"
STOPPED = "stopped"


def build_application(
    settings: BotSettings, redis: Redis, *, base_url: str | None = None, owns_redis: bool = False
) -> Application:
    """A ready-to-run Application; raises UserError without a token.

    `owns_redis`: close the connection at shutdown (the CLI's; a test keeps its own).
    """
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        raise UserError(texts.NO_TOKEN)
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(base_url or settings.bot_base_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .rate_limiter(
            ChatRateLimiter(
                max_retries=2,
                shared=SharedBudget(redis, keys.send_budget(), FloodLimit.MESSAGES_PER_SECOND),
            )
        )
        .concurrent_updates(True)  # one slow poem must not hold up everyone else's
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data["services"] = Services.create(settings, redis)
    application.bot_data[OWNS_REDIS] = owns_redis
    register_handlers(application)
    assert application.job_queue is not None
    application.job_queue.run_repeating(heartbeat, keys.ALIVE_EVERY_S, first=0, name="alive")
    return application


async def heartbeat(context: ContextTypes.DEFAULT_TYPE) -> None:
    """This process is alive: its users' in-flight claims still hold (`bot.ratelimit`)."""
    try:
        await context.bot_data["services"].limiter.heartbeat()
    except RedisError as error:  # Redis away: the claims there cannot be read either
        log.debug("event=heartbeat_failed error=%s", type(error).__name__)


def register_handlers(application: Application) -> None:
    new = filters.UpdateType.MESSAGE  # an edited message is not a new request
    application.add_handler(TypeHandler(Update, commands.limit_requests), group=-1)
    for names, callback in (
        (["start", "help"], commands.start),
        ("forms", commands.forms),
        ("poem", commands.poem),
        ("acrostic", commands.acrostic),
        ("continue", commands.continue_),
        ("analyze", commands.analyze_command),
        ("card", card_command),
        ("daily", daily.daily_command),
    ):
        application.add_handler(CommandHandler(names, callback, filters=new))
    application.add_handler(
        MessageHandler(new & filters.TEXT & ~filters.COMMAND, chat.chat_message)
    )
    application.add_handler(
        MessageHandler(filters.UpdateType.EDITED_MESSAGE & filters.TEXT, chat.edited)
    )
    application.add_handler(
        MessageHandler(new & ~filters.TEXT & ~filters.StatusUpdate.ALL, chat.media)
    )
    application.add_handler(CallbackQueryHandler(buttons.button))
    application.add_handler(InlineQueryHandler(inline.inline_query))
    application.add_handler(
        ChatMemberHandler(daily.my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
    )
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, daily.chat_migrated))
    application.add_error_handler(on_error)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log with the update id (the token is redacted by the log filter); tell the user only
    that something went wrong."""
    update_id = update.update_id if isinstance(update, Update) else None
    error = context.error
    log.error("update_id=%s error=%s", update_id, type(error).__name__, exc_info=error)
    if isinstance(update, Update) and update.effective_message:
        with contextlib.suppress(TelegramError):
            await update.effective_message.reply_text(texts.UNEXPECTED)


async def _post_init(application: Application) -> None:
    menu = [BotCommand(name, description) for name, description in texts.COMMANDS.items()]
    try:
        await application.bot.set_my_commands(menu)
    except TelegramError as error:
        log.warning("setMyCommands failed (ignored): %s", error)
    await daily.start(application)  # the shared schedule's tick; tolerates Redis away
    service: Services = application.bot_data["services"]
    if service.settings.bot_mode == "webhook":
        application.bot_data[HEALTH_RUNNER] = await start_health(service)


async def _post_shutdown(application: Application) -> None:
    await daily.stop(application)
    runner = application.bot_data.pop(HEALTH_RUNNER, None)
    if runner:
        await runner.cleanup()
    with contextlib.suppress(RedisError):
        await application.bot_data["services"].limiter.gone()
    if application.bot_data[OWNS_REDIS]:
        await application.bot_data["services"].redis.aclose()


async def start_health(service: Services) -> web.AppRunner:
    """`/healthz` on its own port: 200 while Redis answers, 503 otherwise."""

    async def healthz(request: web.Request) -> web.Response:
        try:
            await service.redis.ping()
        except Exception as error:  # any failure means unhealthy; the body says which
            return web.json_response({"ok": False, "error": type(error).__name__}, status=503)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, service.settings.webhook_listen, service.settings.health_port).start()
    return runner


async def start_polling(application: Application, poll_timeout: float = 10.0) -> None:
    """Start inside a running event loop, in the order `run_polling` uses (post_init included),
    for tests, benchmarks and the sandbox, which own their loop."""
    assert application.updater is not None
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.updater.start_polling(timeout=poll_timeout, allowed_updates=Update.ALL_TYPES)
    await application.start()


async def stop_polling(application: Application) -> None:
    """Undo `start_polling` (or a start without polling); a second call does nothing."""
    assert application.updater is not None
    if application.bot_data.get(STOPPED):
        return
    application.bot_data[STOPPED] = True
    if application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)


def run(application: Application) -> None:
    """Poll (default) or serve a webhook, until interrupted."""
    settings = application.bot_data["services"].settings
    if settings.bot_mode == "polling":
        application.run_polling(allowed_updates=Update.ALL_TYPES)
        return
    if not settings.webhook_url:
        raise UserError("webhook mode needs YINSHI_WEBHOOK_URL (the public https URL)")
    secret = settings.webhook_secret
    application.run_webhook(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path="telegram",
        webhook_url=settings.webhook_url,
        secret_token=secret.get_secret_value() if secret else secrets.token_urlsafe(32),
        allowed_updates=Update.ALL_TYPES,
    )


class RedactSecret(logging.Filter):
    """Replace a secret (the bot token: it is part of every Bot API URL) in log records."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "<token>"), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = record.exc_text.replace(self.secret, "<token>")
        return True


def configure_logging(token: str | None, level: int = logging.INFO) -> None:
    """key=value lines on stderr; httpx's per-request lines (they hold the token) are off."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if token:
        for handler in logging.getLogger().handlers:
            handler.addFilter(RedactSecret(token))
