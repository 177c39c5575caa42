"""Command and message handlers: parse, call a service, format a reply.

Every poem goes out the same way (`write_and_reply`): a typing action and a placeholder, then
exactly one edit that turns the placeholder into the poem, or into the reason there is none.
"""

import asyncio
import contextlib
import logging
from html import escape

from redis.exceptions import RedisError
from telegram import Message, ReplyParameters, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import render, texts
from bot.parsing import (
    FormCatalog,
    InputError,
    check_analyze_text,
    parse_acrostic,
    parse_continue,
    parse_poem,
)
from bot.ratelimit import AlreadyWriting, is_costly
from bot.services import failure_text, services
from yinshi.errors import ServiceError
from yinshi.prosody import ProsodyInputError, analyze
from yinshi.protocol import PoemRequest

log = logging.getLogger("yinshi.bot")

PARSERS = {"poem": parse_poem, "acrostic": parse_acrostic, "continue": parse_continue}
EXAMPLES = [
    "/poem 春江",
    "/poem 秋夜 五律",
    "/poem 春江 如梦令",
    "/acrostic 春江花月",
    "/continue 白日依山尽",
]
"""Offered as buttons by /start and /help; each is a command of `PARSERS`."""


def argument(message: Message) -> str:
    """Everything after the command word, line breaks kept (a pasted poem has them)."""
    parts = (message.text or "").split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


def parse_command(text: str, catalog: FormCatalog) -> PoemRequest:
    """A poem command as typed (`/poem 春江 五律`) → its request."""
    command, _, rest = text.partition(" ")
    return PARSERS[command.lstrip("/").split("@")[0]](rest, catalog)


def placeholder_text(request: PoemRequest) -> str:
    if request.acrostic:
        return texts.WRITING_ACROSTIC.format(form=request.form, heads=escape(request.acrostic))
    if request.first_line:
        return texts.WRITING_CONTINUE.format(first_line=escape(request.first_line))
    return texts.WRITING.format(topic=escape(request.topic), form=escape(request.form))


async def write_and_reply(
    context: ContextTypes.DEFAULT_TYPE,
    *,
    chat_id: int,
    user_id: int,
    request: PoemRequest,
    fresh: bool = False,
    reply_to: int | None = None,
    header: str | None = None,
) -> None:
    """`header`: one line above the poem (how a free-text request was read)."""
    bot, service = context.bot, services(context)
    # The poem is asked for first: the typing action and the placeholder are two Bot API round
    # trips (0.4 s at the median under the 20-user bench) the worker need not wait for.
    writing = asyncio.create_task(service.poet.write(request, user_id=user_id, fresh=fresh))
    try:
        with contextlib.suppress(TelegramError):  # best effort: the poem matters, not the dots
            await bot.send_chat_action(chat_id, ChatAction.TYPING)
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        placeholder = await bot.send_message(
            chat_id, placeholder_text(request), reply_parameters=reply
        )
    except BaseException:
        writing.cancel()  # nowhere to put the poem; the worker's answer still fills the cache
        raise
    try:
        result = await writing
    except (ServiceError, AlreadyWriting) as error:
        await placeholder.edit_text(failure_text(error))
        return
    except Exception:  # a bug: the placeholder must still not promise a poem for ever
        log.exception("event=poem_failed chat=%s", chat_id)
        await placeholder.edit_text(texts.UNEXPECTED)
        return
    poem = result.poems[0]
    keyboard = None
    try:  # the buttons and 「再来一首」 need Redis; the poem in hand does not
        record_id = await service.records.save(request, poem)
        await service.conversations.remember(chat_id, request, poem)
        keyboard = render.poem_keyboard(record_id)
    except RedisError as error:
        log.warning("event=poem_not_remembered chat=%s error=%s", chat_id, type(error).__name__)
    await placeholder.edit_text(
        render.poem_html(poem, f"<i>{header}</i>" if header else None), reply_markup=keyboard
    )


async def reply_with_poem(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    request: PoemRequest,
    *,
    fresh: bool = False,
    header: str | None = None,
) -> None:
    """The poem a user's message asked for, as a reply to that message."""
    message = update.effective_message
    assert message is not None and update.effective_user is not None
    await write_and_reply(
        context,
        chat_id=message.chat_id,
        user_id=update.effective_user.id,
        request=request,
        fresh=fresh,
        reply_to=message.message_id,
        header=header,
    )


async def _request_poem(
    update: Update, context: ContextTypes.DEFAULT_TYPE, parse: str, text: str
) -> None:
    message = update.effective_message
    assert message is not None
    try:
        request = PARSERS[parse](text, services(context).catalog)
    except InputError as error:
        await message.reply_text(str(error))
        return
    await reply_with_poem(update, context, request)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        texts.START + "\n\n" + texts.EXAMPLES_TITLE,
        reply_markup=render.examples_keyboard(EXAMPLES),
    )


async def forms(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(services(context).catalog.listing())


async def poem(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await _request_poem(update, context, "poem", argument(update.effective_message))


async def acrostic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await _request_poem(update, context, "acrostic", argument(update.effective_message))


async def continue_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await _request_poem(update, context, "continue", argument(update.effective_message))


def _replies_to_bot(message: Message, bot_id: int) -> bool:
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)


async def analyze_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/analyze 诗句`, or `/analyze` sent as a reply to a poem (the bot's or anyone's)."""
    message = update.effective_message
    assert message is not None
    text = argument(message)
    replied = message.reply_to_message
    if not text.strip() and replied and replied.text:
        text = replied.text
        if _replies_to_bot(message, context.bot.id):
            text = poem_from_bot_message(text)
    try:
        analysis = analyze(check_analyze_text(text))
    except InputError as error:
        await message.reply_text(str(error))
        return
    except ProsodyInputError as error:
        await message.reply_text(escape(str(error)))
        return
    await message.reply_text(render.analysis_html(analysis))


def poem_from_bot_message(text: str) -> str:
    """The body of one of our poem messages: the block between the title and the footer."""
    blocks = text.split("\n\n")
    return blocks[1] if len(blocks) >= 3 else text


async def limit_requests(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """TypeHandler callback (group -1): stop a costly update over the limit, with a reply."""
    limiter = services(context).limiter
    user = update.effective_user
    if user is None or not is_costly(update, context.bot.id):
        return
    try:
        if await limiter.allow(user.id):
            return
    except RedisError as error:  # fail open: the poem request itself will say Redis is away
        log.warning("event=rate_limit_skipped error=%s", type(error).__name__)
        return
    reply = texts.RATE_LIMITED.format(limit=limiter.per_minute)
    if update.callback_query:
        await update.callback_query.answer(reply, show_alert=True)
    elif update.effective_message:
        await update.effective_message.reply_text(reply)
    raise ApplicationHandlerStop
