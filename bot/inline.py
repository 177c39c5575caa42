"""Inline mode: `@bot 春江` in any chat offers up to three poems to send.

Telegram waits only seconds for an answer, so the request has a short deadline (the cache
answers at once when it holds poems for the topic); when the poet is slower, the answer is an
empty result list with a button to the private chat — never an error.
"""

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot import render, texts
from bot.parsing import InputError, parse_poem
from bot.services import services
from yinshi.errors import ServiceError

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
        result = await service.poet.write(
            request, user_id=None, timeout=service.settings.inline_timeout_s
        )
    except ServiceError:
        await query.answer([], cache_time=0, button=_to_private_chat(texts.INLINE_SLOW))
        return
    articles = [
        InlineQueryResultArticle(
            id=str(index),
            title=f"{poem.title} · {poem.form}",
            description=render.poem_body(poem)[0],
            input_message_content=InputTextMessageContent(
                render.poem_html(poem), parse_mode=ParseMode.HTML
            ),
        )
        for index, poem in enumerate(result.poems[:RESULTS])
    ]
    await query.answer(articles, cache_time=CACHE_TIME_S)
