"""Inline keyboard buttons: 🔄 换一首, 📜 格律, ✍️ 藏头, 🖼 诗笺, ✍️ 照此体写一首, and /start's
examples."""

from redis.exceptions import RedisError
from telegram import ReplyParameters, Update
from telegram.ext import ContextTypes

from bot import chat, render, texts
from bot.card.send import send_card
from bot.commands import EXAMPLES, parse_command, write_and_reply
from bot.parsing import InputError
from bot.services import services


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    action, _, argument = (query.data or "").partition(":")
    message = query.message
    if message is None or not query.data:  # an inline-mode message's, or a game's: not ours
        await query.answer()
        return
    if action == chat.SAME_FORM:
        await chat.same_form(update, context, argument)
        return
    if action == render.ACROSTIC:
        await query.answer(texts.ACROSTIC_HINT, show_alert=True)
        return
    if action == render.EXAMPLE:
        await query.answer()
        if not argument.isdigit() or int(argument) >= len(EXAMPLES):
            return  # a button from an older version of the bot
        example = EXAMPLES[int(argument)]
        try:
            request = parse_command(example, services(context).catalog)
        except InputError as error:
            await context.bot.send_message(message.chat.id, str(error))
            return
        await write_and_reply(
            context, chat_id=message.chat.id, user_id=query.from_user.id, request=request
        )
        return
    try:
        record = await services(context).records.load(argument)
    except RedisError:
        await query.answer(texts.POET_AWAY, show_alert=True)
        return
    if record is None:
        await query.answer(texts.POEM_EXPIRED, show_alert=True)
        return
    await query.answer()
    if action == render.AGAIN:
        await write_and_reply(
            context,
            chat_id=message.chat.id,
            user_id=query.from_user.id,
            request=record.request,
            fresh=True,
            reply_to=message.message_id,
        )
    elif action == render.CARD:
        await send_card(
            context,
            chat_id=message.chat.id,
            poem=record.poem,
            poem_id=argument,
            reply_to=message.message_id,
        )
    elif action == render.ANALYZE:
        await context.bot.send_message(
            message.chat.id,
            render.record_analysis_html(record.request, record.poem),
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
        )
