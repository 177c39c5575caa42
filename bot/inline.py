"""Inline mode: `@bot 春江` in any chat offers up to three poems to send.

Telegram sends a query at every pause in typing (春, 春江, 春江花 …) and waits only seconds
for an answer. So: poems already in the cache for the topic are offered at once, however few;
otherwise a query is generated only if it is still the user's latest after a short debounce
(the ones typed past are answered empty, at no cost), and only within the user's inline
budget, which is not /poem's. When the poet is slower than the deadline, the answer is an
empty list with a button to the private chat — never an error.
"""

import asyncio

from redis.exceptions import RedisError
from telegram import (
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot import keys, render, texts
from bot.parsing import InputError, parse_poem
from bot.services import Services, services
from yinshi import cache
from yinshi.errors import ServiceError
from yinshi.protocol import Poem, PoemRequest

RESULTS = 3
CACHE_TIME_S = 30
"""Short: a topic's poems rotate in the cache, and Telegram would show the same ones."""


def _to_private_chat(text: str) -> InlineQueryResultsButton:
    return InlineQueryResultsButton(text=text, start_parameter=texts.INLINE_START_PARAMETER)


async def inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.inline_query
    assert query is not None
    service = services(context)
    try:
        request = parse_poem(query.query, service.catalog).model_copy(update={"n": RESULTS})
    except InputError:
        await query.answer([], cache_time=0, button=_to_private_chat(texts.INLINE_EMPTY))
        return
    try:
        poems = await _cached(service, request)
        if poems:
            await query.answer(_articles(poems), cache_time=CACHE_TIME_S)
            return
        if not await _still_latest(service, query):
            await query.answer([], cache_time=0)  # typed past: the newer query is answered
            return
        if not await service.limiter.allow(query.from_user.id, inline=True):
            await query.answer([], cache_time=0, button=_to_private_chat(texts.INLINE_LIMITED))
            return
        result = await service.poet.write(
            request, user_id=None, timeout=service.settings.inline_timeout_s
        )
    except (ServiceError, RedisError):
        await query.answer([], cache_time=0, button=_to_private_chat(texts.INLINE_SLOW))
        return
    await query.answer(_articles(result.poems), cache_time=CACHE_TIME_S)


async def _cached(service: Services, request: PoemRequest) -> list[Poem] | None:
    """What the cache holds for the topic, up to RESULTS poems, without asking a worker."""
    version = await service.poet.client.model_version()
    if version is None:
        return None
    return await cache.take(service.redis, version, request, some=True)


async def _still_latest(service: Services, query: InlineQuery) -> bool:
    """Is this still the user's latest query once the debounce has passed?"""
    key = keys.latest_inline(query.from_user.id)
    await service.redis.set(key, query.id, ex=keys.INLINE_TTL)
    await asyncio.sleep(service.settings.inline_debounce_s)
    return await service.redis.get(key) == query.id


def _articles(poems: list[Poem]) -> list[InlineQueryResultArticle]:
    return [
        InlineQueryResultArticle(
            id=str(index),
            title=f"{poem.title} · {poem.form}",
            description=render.poem_body(poem)[0],
            input_message_content=InputTextMessageContent(
                render.poem_html(poem), parse_mode=ParseMode.HTML
            ),
        )
        for index, poem in enumerate(poems[:RESULTS])
    ]
