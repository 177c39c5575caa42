"""The card on Telegram: the 🖼 button under a poem and `/card`, sent with sendPhoto.

A card is drawn once per poem and variant: rendering is CPU work (tens of ms) done in a
thread, off the event loop, so other chats are not held up; the PNG is kept in Redis until
Telegram has it, and from then on only Telegram's `file_id` is kept — a second press sends
that id, no bytes at all. Redis being away costs only the cache: the card is drawn and sent
anyway. Where no CJK font is installed, the chat is told how the operator gets one.
"""

import asyncio
import base64
import contextlib
import hashlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError
from telegram import Message, ReplyParameters, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import keys, render, texts
from bot.card.fonts import NoFontError
from bot.card.render import render_card
from bot.services import services
from yinshi.protocol import Poem

log = logging.getLogger("yinshi.bot")

PNG, FILE_ID = "png", "file_id"
FILENAME = "yinshi-card.png"
RECORD_BUTTONS = (render.AGAIN, render.ANALYZE, render.CARD)
"""Buttons whose callback data carries the poem's record id."""


class CardCache:
    """Per poem and variant: the PNG until Telegram has it, then Telegram's file_id."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def get(self, poem_id: str, variant: str) -> tuple[str | None, bytes | None]:
        found = await self.redis.hmget(keys.card(poem_id, variant), [FILE_ID, PNG])
        file_id, png = found
        return file_id, base64.b64decode(png) if png else None

    async def keep_png(self, poem_id: str, variant: str, png: bytes) -> None:
        """Base64: the bot's connection decodes every reply as text."""
        key = keys.card(poem_id, variant)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, PNG, base64.b64encode(png).decode("ascii"))
            pipe.expire(key, keys.CARD_TTL)
            await pipe.execute()

    async def keep_file_id(self, poem_id: str, variant: str, file_id: str) -> None:
        key = keys.card(poem_id, variant)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, FILE_ID, file_id)
            pipe.hdel(key, PNG)
            pipe.expire(key, keys.CARD_TTL)
            await pipe.execute()

    async def forget_file_id(self, poem_id: str, variant: str) -> None:
        await self.redis.hdel(keys.card(poem_id, variant), FILE_ID)


def content_id(poem: Poem) -> str:
    """A cache id for a poem without a record (the chat's last poem): a hash of the poem."""
    return "h" + hashlib.sha256(poem.model_dump_json().encode()).hexdigest()[:16]


async def send_card(
    context: ContextTypes.DEFAULT_TYPE,
    *,
    chat_id: int,
    poem: Poem,
    poem_id: str,
    marks: bool = False,
    reply_to: int | None = None,
) -> Message | None:
    """Send the poem's card (with its text as the caption); None where it could not be drawn
    (no CJK font: the chat got the hint instead)."""
    bot, cache = context.bot, CardCache(services(context).redis)
    variant = "marks" if marks else "plain"
    reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
    caption = render.poem_caption(poem)
    file_id, png = None, None
    with contextlib.suppress(RedisError):  # Redis away: draw it again
        file_id, png = await cache.get(poem_id, variant)
    if file_id:
        try:
            return await bot.send_photo(chat_id, file_id, caption=caption, reply_parameters=reply)
        except BadRequest as error:  # another bot's id, or one Telegram has let go: redraw
            log.warning("event=card_file_id_refused poem=%s error=%s", poem_id, error)
            with contextlib.suppress(RedisError):
                await cache.forget_file_id(poem_id, variant)
    with contextlib.suppress(TelegramError):  # best effort, as for poems
        await bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)
    if png is None:
        try:
            png = await asyncio.to_thread(render_card, poem, marks=marks)
        except NoFontError as error:
            log.error("event=card_no_font error=%s", error)
            await bot.send_message(chat_id, texts.CARD_NO_FONT, reply_parameters=reply)
            return None
        with contextlib.suppress(RedisError):
            await cache.keep_png(poem_id, variant, png)
    sent = await bot.send_photo(
        chat_id, png, filename=FILENAME, caption=caption, reply_parameters=reply
    )
    if sent.photo:
        try:
            await cache.keep_file_id(poem_id, variant, sent.photo[-1].file_id)
        except RedisError as error:
            log.warning("event=card_not_cached poem=%s error=%s", poem_id, type(error).__name__)
    return sent


def record_id_of(message: Message) -> str | None:
    """The record id behind one of our poem messages, read off its buttons."""
    markup = message.reply_markup
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            action, _, argument = str(button.callback_data or "").partition(":")
            if action in RECORD_BUTTONS and argument:
                return argument
    return None


async def card_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/card` as a reply to one of our poems (or alone: the chat's last poem);
    `/card 格律` adds the tone marks."""
    message = update.effective_message
    assert message is not None
    service = services(context)
    marks = texts.CARD_MARKS_WORD in (message.text or "")
    replied = message.reply_to_message
    try:
        if replied is not None:
            record_id = record_id_of(replied)
            record = await service.records.load(record_id) if record_id else None
            if record_id and record is None:
                await message.reply_text(texts.POEM_EXPIRED)
                return
            poem_id = record_id
        else:
            record = await service.conversations.last(message.chat_id)
            poem_id = content_id(record.poem) if record else None
    except RedisError:
        await message.reply_text(texts.POET_AWAY)
        return
    if record is None or poem_id is None:
        await message.reply_text(texts.CARD_USAGE)
        return
    await send_card(
        context,
        chat_id=message.chat_id,
        poem=record.poem,
        poem_id=poem_id,
        marks=marks,
        reply_to=(replied or message).message_id,
    )
