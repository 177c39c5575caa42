"""Plain messages: a request in ordinary Chinese, a pasted poem, a follow-up, or small talk.

`bot.understanding` says what a message asks for; this handler does it, with the chat's
memory (`bot.memory`) for what 「再来一首」 and 「这首的格律」 refer to. Every message gets
exactly one answer — a poem, an analysis, or a short line of text — never silence and never
a traceback.
"""

from html import escape

from redis.exceptions import RedisError
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot import render, texts
from bot.commands import EXAMPLES, reply_with_poem
from bot.parsing import REGULAR_LINES, InputError, parse_acrostic, parse_continue
from bot.ratelimit import is_topic_message
from bot.services import Services, services
from bot.understanding import Chat, FollowUp, Read, Write, understand, understood
from yinshi.prosody import ProsodyInputError, analyze
from yinshi.protocol import PoemRequest

SAME_FORM = "same"
"""Callback data prefix of 「照此体写一首」 under an analysed poem: "same:<form>"."""

SMALL_TALK = {
    "greeting": texts.CHAT_GREETING,
    "thanks": texts.CHAT_THANKS,
    "who": texts.CHAT_WHO,
    "hint": texts.CHAT_HINT,
}


async def chat_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plain text in a private chat, or a reply to the bot in a group."""
    message = update.effective_message
    assert message is not None and update.effective_user is not None
    if not is_topic_message(update, context.bot.id):  # the same test the rate limit counts by
        return
    service = services(context)
    try:
        intent = understand(message.text or "", service.catalog)
        if isinstance(intent, Chat):
            await _small_talk(message, intent)
        elif isinstance(intent, Read):
            await _read(message, intent)
        elif isinstance(intent, FollowUp):
            await _follow_up(update, context, intent)
        else:
            await _write(update, context, intent)
    except InputError as error:
        await message.reply_text(str(error))
    except RedisError:  # the chat's memory is there; a poem would need it too
        await message.reply_text(texts.POET_AWAY)


async def _small_talk(message: Message, intent: Chat) -> None:
    if intent.kind == "help":
        await message.reply_text(
            texts.START + "\n\n" + texts.EXAMPLES_TITLE,
            reply_markup=render.examples_keyboard(EXAMPLES),
        )
        return
    await message.reply_text(SMALL_TALK[intent.kind])


async def _read(message: Message, intent: Read) -> None:
    """The 格律 of a pasted poem, with a button to write one in its form."""
    try:
        analysis = analyze(intent.text, form=intent.form)
    except ProsodyInputError as error:
        await message.reply_text(escape(str(error)))
        return
    form = analysis.tune or analysis.form
    writable = form in REGULAR_LINES or analysis.tune is not None
    keyboard = (
        InlineKeyboardMarkup(
            [[InlineKeyboardButton(texts.BUTTON_SAME_FORM, callback_data=f"{SAME_FORM}:{form}")]]
        )
        if writable
        else None
    )
    await message.reply_text(render.analysis_html(analysis), reply_markup=keyboard)


async def _write(update: Update, context: ContextTypes.DEFAULT_TYPE, intent: Write) -> None:
    message = update.effective_message
    assert message is not None
    request, header = intent.request, intent.understood
    wanted = await services(context).conversations.wanted_form(message.chat_id)
    if wanted and not intent.form_named:  # asked for by 「照此体写一首」
        request = _in_form(request, wanted, services(context))
        header = understood(request)
    await reply_with_poem(update, context, request, header=header)


async def _follow_up(update: Update, context: ContextTypes.DEFAULT_TYPE, intent: FollowUp) -> None:
    message = update.effective_message
    assert message is not None
    service = services(context)
    last = await service.conversations.last(message.chat_id)
    if last is None:
        if intent.action == "redo" and intent.form:
            await service.conversations.want_form(message.chat_id, intent.form)
            await message.reply_text(texts.SAME_FORM_PROMPT.format(form=escape(intent.form)))
        else:
            await message.reply_text(texts.NO_LAST_POEM)
        return
    if intent.action == "analyze":
        await message.reply_text(render.record_analysis_html(last.request, last.poem))
        return
    request = last.request
    if intent.form:
        request = _in_form(request, intent.form, service)
    if intent.scheme:
        request = request.model_copy(update={"scheme": intent.scheme})
    # 「再来一首」 wants another poem, not the cached one again
    await reply_with_poem(update, context, request, fresh=True, header=understood(request))


def _in_form(request: PoemRequest, form: str, service: Services) -> PoemRequest:
    """The same request in another form, checked as the commands check theirs (藏头 must have
    as many characters as the form has lines; a first line must fit the form)."""
    if request.acrostic:
        changed = parse_acrostic(f"{request.acrostic} {form}", service.catalog)
    elif request.first_line:
        changed = parse_continue(f"{request.first_line} {form}", service.catalog)
    else:
        changed = PoemRequest(topic=request.topic, form=form)
    return changed.model_copy(update={"scheme": request.scheme})


async def same_form(update: Update, context: ContextTypes.DEFAULT_TYPE, form: str) -> None:
    """「照此体写一首」: the chat's next topic is written in this form."""
    query = update.callback_query
    assert query is not None and query.message is not None
    service = services(context)
    if service.catalog.resolve(form) is None:
        await query.answer()
        return  # a button from an older catalogue
    await query.answer()
    await service.conversations.want_form(query.message.chat.id, form)
    await context.bot.send_message(
        query.message.chat.id, texts.SAME_FORM_PROMPT.format(form=escape(form))
    )


async def edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message is not a new request (the first version was answered): say so."""
    message = update.edited_message
    if message and message.chat.type == "private":
        await message.reply_text(texts.CHAT_EDITED)


async def media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice: a short hint in a private chat (a group's are not for us)."""
    message = update.effective_message
    if message and message.chat.type == "private":
        await message.reply_text(texts.CHAT_MEDIA)
