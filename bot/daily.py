"""Daily poems: `/daily`, one `run_daily` job per subscribed chat, and the post itself.

Subscriptions live in Redis (bot.store); every replica schedules a job for each of them at
start and re-syncs every few minutes, so a subscription made on one replica, or removed, is
seen by all. The job fires `daily_lead_s` before the post time, asks for the poem, waits for
the minute and posts. Exactly one post per chat and day: before asking, a replica claims
(chat, date) with SET NX; the loser does nothing, and a restarted bot finds the claim.
A chat that blocked or removed the bot is unsubscribed (on Forbidden, and on my_chat_member).
"""

import asyncio
import logging
import os
import socket
from datetime import date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from telegram import Bot, ChatMember, Update
from telegram.constants import ChatMemberStatus
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, ContextTypes, JobQueue

from bot import render, texts
from bot.commands import argument
from bot.occasions import occasion_for
from bot.parsing import InputError, parse_daily
from bot.services import Services, services
from bot.store import Subscription
from yinshi.errors import ServiceError
from yinshi.protocol import PoemRequest

log = logging.getLogger("yinshi.bot")

SYNC_EVERY_S = 300
ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
GONE_STATUSES = {ChatMemberStatus.LEFT, ChatMemberStatus.BANNED}


def job_name(chat_id: int) -> str:
    return f"daily:{chat_id}"


def fire_time(subscription: Subscription, lead_s: int) -> datetime:
    """When the job fires, as a time of day in the subscriber's zone (today's date is only a
    carrier for the subtraction, which may cross midnight)."""
    post = datetime.combine(date.today(), subscription.at, ZoneInfo(subscription.timezone))
    return post - timedelta(seconds=lead_s)


def schedule(job_queue: JobQueue, subscription: Subscription, lead_s: int) -> None:
    """Replace the chat's job with one for this subscription."""
    unschedule(job_queue, subscription.chat_id)
    fire = fire_time(subscription, lead_s)
    job_queue.run_daily(
        daily_job,
        time=fire.timetz(),  # tz-aware: PTB then ignores Defaults.tzinfo
        name=job_name(subscription.chat_id),
        chat_id=subscription.chat_id,
        data=subscription,
    )


def unschedule(job_queue: JobQueue, chat_id: int) -> None:
    for job in job_queue.get_jobs_by_name(job_name(chat_id)):
        job.schedule_removal()


async def sync_jobs(application: Application) -> None:
    """Make this replica's jobs match the subscriptions in Redis."""
    service: Services = application.bot_data["services"]
    job_queue = application.job_queue
    assert job_queue is not None
    wanted = {s.chat_id: s for s in await service.subscriptions.all()}
    for job in job_queue.jobs():
        if job.name and job.name.startswith("daily:") and job.chat_id not in wanted:
            job.schedule_removal()
    for subscription in wanted.values():
        scheduled = job_queue.get_jobs_by_name(job_name(subscription.chat_id))
        if not scheduled or scheduled[0].data != subscription:
            schedule(job_queue, subscription, service.settings.daily_lead_s)


async def sync_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await sync_jobs(context.application)


def next_post_time(subscription: Subscription, now: datetime) -> datetime:
    """The first post time at or after `now` (the job fires a little before it)."""
    zone = ZoneInfo(subscription.timezone)
    local = now.astimezone(zone)
    post = datetime.combine(local.date(), subscription.at, zone)
    return post if post >= local - timedelta(minutes=1) else post + timedelta(days=1)


async def daily_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    job = context.job
    assert job is not None and job.chat_id is not None
    # Redis, not job.data: another replica may have changed or ended it since the last sync.
    subscription = await services(context).subscriptions.get(job.chat_id)
    if subscription is None:
        job.schedule_removal()
        return
    await post_daily(
        context.application,
        subscription,
        next_post_time(subscription, datetime.now(ZoneInfo(subscription.timezone))),
    )


def replica_name(application: Application) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(application):x}"


async def post_daily(
    application: Application, subscription: Subscription, post_at: datetime
) -> bool:
    """Claim the chat's day, write the poem, wait for `post_at`, post it. True if posted here."""
    service: Services = application.bot_data["services"]
    chat_id, day = subscription.chat_id, post_at.date()
    if not await service.subscriptions.claim(chat_id, day.isoformat(), replica_name(application)):
        return False
    occasion = occasion_for(day)
    request = PoemRequest(topic=occasion.topic, form=subscription.form)
    try:
        result = await service.poet.write(request, user_id=None)
    except ServiceError as error:
        log.warning("daily chat=%s day=%s outcome=%s", chat_id, day, type(error).__name__)
        await service.subscriptions.unclaim(chat_id, day.isoformat())
        return False
    poem = result.poems[0]
    record_id = await service.records.save(request, poem)
    header = texts.DAILY_HEADER.format(date=day.isoformat(), occasion=escape(occasion.label))
    await asyncio.sleep(max(0.0, (post_at - datetime.now(post_at.tzinfo)).total_seconds()))
    try:
        await application.bot.send_message(
            chat_id, render.poem_html(poem, header), reply_markup=render.poem_keyboard(record_id)
        )
    except Forbidden:
        log.info("daily chat=%s outcome=forbidden: unsubscribed", chat_id)
        await unsubscribe(application, chat_id)
        return False
    except TelegramError as error:
        log.warning("daily chat=%s day=%s outcome=%s", chat_id, day, type(error).__name__)
        await service.subscriptions.unclaim(chat_id, day.isoformat())
        return False
    log.info("daily chat=%s day=%s outcome=posted", chat_id, day)
    return True


async def unsubscribe(application: Application, chat_id: int) -> bool:
    service: Services = application.bot_data["services"]
    assert application.job_queue is not None
    unschedule(application.job_queue, chat_id)
    return await service.subscriptions.remove(chat_id)


async def may_change_settings(
    bot: Bot, admin_ids: frozenset[int], chat_id: int, chat_type: str, user_id: int
) -> bool:
    """In a private chat, the user; in a group, the configured admins and the chat's admins."""
    if chat_type == "private" or user_id in admin_ids:
        return True
    member: ChatMember = await bot.get_chat_member(chat_id, user_id)
    return member.status in ADMIN_STATUSES


async def daily_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    service = services(context)
    try:
        command = parse_daily(argument(message), service.catalog, service.settings.timezone)
    except InputError as error:
        await message.reply_text(str(error))
        return
    chat = message.chat
    if command.action == "show":
        current = await service.subscriptions.get(chat.id)
        if current is None:
            await message.reply_text(texts.DAILY_NONE)
        else:
            await message.reply_text(_describe(texts.DAILY_STATUS, current))
        return
    if not await may_change_settings(
        context.bot, service.settings.admin_ids, chat.id, chat.type, user.id
    ):
        await message.reply_text(texts.ADMINS_ONLY)
        return
    assert context.job_queue is not None
    if command.action == "off":
        await unsubscribe(context.application, chat.id)
        await message.reply_text(texts.DAILY_OFF)
        return
    subscription = Subscription(
        chat_id=chat.id, at=command.at, timezone=command.timezone, form=command.form
    )
    await service.subscriptions.put(subscription)
    schedule(context.job_queue, subscription, service.settings.daily_lead_s)
    await message.reply_text(_describe(texts.DAILY_ON, subscription))


def _describe(template: str, subscription: Subscription) -> str:
    return template.format(
        time=subscription.at.strftime("%H:%M"),
        tz=escape(subscription.timezone),
        form=escape(subscription.form),
    )


async def my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was removed from a chat, or a user blocked it: stop posting there."""
    change = update.my_chat_member
    assert change is not None
    if change.new_chat_member.status in GONE_STATUSES:
        removed = await unsubscribe(context.application, change.chat.id)
        log.info(
            "chat=%s bot status=%s unsubscribed=%s",
            change.chat.id,
            change.new_chat_member.status,
            removed,
        )
