"""Daily poems: `/daily`, the schedule every replica shares, and the post itself.

The schedule lives in Redis (bot.store.Subscriptions): a sorted set of when each chat's post is
next due. Every replica runs one repeating job (`DAILY_TICK_S`) that claims what is due —
whichever replica gets there first — so a subscription made, changed or removed on one replica
is seen by all at their next tick, and 10,000 chats are 10,000 members of one set, not 10,000
jobs per replica. A post goes:

    claim (lease) → generate → [send slot] hold (still ours? not yet posted today? → being
    sent) → send → mark done

each step one Redis call. A claim is a lease: the chat's score moves to the lease's end, so if
the replica dies the post is due again when the lease passes and another replica posts it,
late rather than never. A failed generation or send gives the post back, due again in
`DAILY_RETRY_S`. A bot that was down at post time posts on return, if it is still the same
local day there (the next day's post is not a place for yesterday's poem).

**What is guaranteed**: exactly once per chat and local day while some replica runs that
day, whichever step a replica dies at — with one window, the send itself. The Bot API has no
idempotency key, so a replica that dies while its request is with Telegram leaves no one able
to tell "sent" from "not sent". `hold` therefore marks the post as being sent right before
the request, and a replica that takes over a post marked so counts it as sent: a kill -9 in
that window (one HTTP round trip) may lose that day's post, but never posts it twice, and a
kill just after the send (before the done mark) loses nothing. A send that fails with an
answer from Telegram clears the mark and is retried. A replica that stalls past its lease
(not dead) is also caught: `hold` checks the lease token right before sending.

**Written ahead**: every `DAILY_AHEAD_EVERY_S` each replica looks at the posts due in the
next hour; for each (day, form) among them — every chat of a day gets that day's topic — the
first replica to get there asks the workers for a pool of fresh poems in the background lane
of the queue, which users' requests always pass. At the minute, the posts take their poems
from the cache, so the burst is bound by Telegram's send rate, not by generation; a post
whose pool is missing still writes its poem then, in the background lane too.

The clock is injectable (`DailyPoster.clock`), so tests run many simulated days in seconds,
and so is a fault hook (`DailyPoster.fault`) called after each step.
"""

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from telegram import Bot, ChatMember, Update
from telegram.constants import ChatMemberStatus
from telegram.error import ChatMigrated, Forbidden, TelegramError
from telegram.ext import Application, ContextTypes

from bot import keys, render, texts
from bot.card import NoFontError, render_card
from bot.card.send import FILENAME as CARD_FILE
from bot.commands import argument
from bot.flood import Bulk, Withdrawn
from bot.occasions import Occasion, occasion_for
from bot.parsing import InputError, parse_daily
from bot.services import Services, services
from bot.store import Claim, Subscription
from yinshi.cache import POOL_SIZE
from yinshi.errors import ServiceError
from yinshi.protocol import PoemRequest

log = logging.getLogger("yinshi.bot")

POSTER = "daily_poster"
"""bot_data key of the application's DailyPoster."""
TICK_JOB = "daily:tick"
AHEAD_JOB = "daily:ahead"
STEPS = ("claimed", "generated", "sent", "marked")
"""Where `DailyPoster.fault` is called: after each step of a post."""
ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
GONE_STATUSES = {ChatMemberStatus.LEFT, ChatMemberStatus.BANNED}

Clock = Callable[[], datetime]
Fault = Callable[[str, int], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def post_time(subscription: Subscription, day: date) -> datetime:
    """The post's moment on a local date of the subscriber's zone."""
    return datetime.combine(day, subscription.at, ZoneInfo(subscription.timezone))


def slot_for(subscription: Subscription, now: datetime, lead_s: float = 0) -> datetime:
    """The post a claim at `now` is for: the latest post time at or before `now + lead_s`."""
    ahead = (now + timedelta(seconds=lead_s)).astimezone(ZoneInfo(subscription.timezone))
    slot = post_time(subscription, ahead.date())
    return slot if slot <= ahead else post_time(subscription, ahead.date() - timedelta(days=1))


def next_post_time(subscription: Subscription, now: datetime, done: str | None = None) -> datetime:
    """The first post time at or after `now`, skipping a local date already posted."""
    local = now.astimezone(ZoneInfo(subscription.timezone))
    slot = post_time(subscription, local.date())
    if slot < now or slot.date().isoformat() == done:
        slot = post_time(subscription, local.date() + timedelta(days=1))
    return slot


def headline(occasion: Occasion) -> str:
    """「今日中秋」 on a festival or a 节气's day; 「立夏时节」 otherwise."""
    return texts.DAILY_TODAY.format(label=occasion.label) if occasion.special else occasion.label


def header(day: date, occasion: Occasion, form: str) -> str:
    return texts.DAILY_HEADER.format(
        date=day.isoformat(), occasion=escape(headline(occasion)), form=escape(form)
    )


def replica_name(application: Application) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(application):x}"


async def _no_fault(step: str, chat_id: int) -> None:
    return None


class DailyPoster:
    """One per application: claims due posts from the shared schedule and posts them."""

    def __init__(
        self,
        application: Application,
        *,
        clock: Clock = utc_now,
        concurrency: int = 32,
        lease_s: float = keys.DAILY_LEASE_S,
        retry_s: float = keys.DAILY_RETRY_S,
    ) -> None:
        self.application = application
        self.clock = clock
        self.fault: Fault = _no_fault
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.retry_s = retry_s
        self.owner = replica_name(application)
        self._running: asyncio.Task[int] | None = None

    @property
    def service(self) -> Services:
        return self.application.bot_data["services"]

    @property
    def lead_s(self) -> float:
        """Claim (and write) this early; the send still waits for the minute."""
        return float(self.service.settings.daily_lead_s)

    def _lease_until(self) -> datetime:
        return self.clock() + timedelta(seconds=self.lead_s + self.lease_s)

    async def schedule_missing(self) -> int:
        """Give a due time to subscriptions that have none (made before the schedule)."""
        store = self.service.subscriptions
        missing = await store.unscheduled()
        now = self.clock()
        await store.schedule_missing({s.chat_id: next_post_time(s, now) for s in missing})
        return len(missing)

    async def ask_ahead(self) -> int:
        """Ask for the poems of the posts due within `keys.DAILY_AHEAD_S`, one pool per
        (day, form, topic) and one replica per pool; returns how many pools this one asked
        for. A pool asked for is not asked again within the hour, even if it failed: the
        post then writes its own poem."""
        service = self.service
        now = self.clock()
        upcoming = await service.subscriptions.due_within(
            now, now + timedelta(seconds=keys.DAILY_AHEAD_S)
        )
        wanted: dict[tuple[str, str, str], PoemRequest] = {}
        for subscription, due in upcoming:
            day = slot_for(subscription, datetime.fromtimestamp(due, UTC)).date()
            topic = occasion_for(day).topic
            request = PoemRequest(topic=topic, form=subscription.form, n=POOL_SIZE)
            wanted[(day.isoformat(), subscription.form, topic)] = request
        asked = 0
        for (day, form, topic), request in wanted.items():
            marker = keys.daily_ahead(day, form, topic)
            if not await service.redis.set(marker, self.owner, nx=True, ex=keys.DAILY_AHEAD_S):
                continue  # another replica asked
            try:
                await service.poet.client.ask_ahead(request, within_s=keys.DAILY_AHEAD_S)
            except ServiceError as error:
                log.warning("event=daily_ahead_failed day=%s form=%s error=%s", day, form, error)
                continue
            asked += 1
            log.info("event=daily_ahead day=%s form=%s topic=%s", day, form, topic)
        return asked

    def tick(self) -> None:
        """Start a pass over what is due unless one is still running (a burst of posts can
        outlast the tick)."""
        if self._running is None or self._running.done():
            # Not application.create_task: Application.stop would wait for a whole burst.
            self._running = asyncio.create_task(self.run_due(), name=TICK_JOB)

    async def run_due(self) -> int:
        """Post everything due now, `concurrency` at a time; returns how many were handled.

        A post that fails with an ordinary error is logged and left to its lease; anything
        else (a test's simulated crash) cancels the rest, as a dying process would."""
        store = self.service.subscriptions
        running: set[asyncio.Task[None]] = set()
        handled = 0
        try:
            while True:
                free = self.concurrency - len(running)
                claims: list[Claim] = []
                if free > 0:
                    due_by = self.clock() + timedelta(seconds=self.lead_s)
                    try:
                        claims = await store.claim_due(
                            due_by, self._lease_until(), free, self.owner
                        )
                    except RedisError as error:  # away: the next tick tries again
                        log.debug("event=daily_claim_failed error=%s", type(error).__name__)
                handled += len(claims)
                running |= {asyncio.create_task(self.post(claim)) for claim in claims}
                if not running:
                    return handled
                finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    error = task.exception()
                    if isinstance(error, Exception):
                        log.error("daily post failed: %s", type(error).__name__, exc_info=error)
                    elif error is not None:
                        raise error
        finally:
            for task in running:
                task.cancel()

    async def post(self, claim: Claim) -> None:
        """One claimed post, from the calendar to the done mark."""
        service, store = self.service, self.service.subscriptions
        subscription = claim.subscription
        now = self.clock()
        slot = slot_for(subscription, now, self.lead_s)
        local_today = now.astimezone(ZoneInfo(subscription.timezone)).date()
        day, next_day = slot.date(), post_time(subscription, slot.date() + timedelta(days=1))
        if claim.done == day.isoformat() or (slot <= now and day != local_today):
            # Posted already (a lease taken over after the done mark), or the day is over
            # (the bot was down past midnight): on to the next post.
            await store.release(claim, next_day)
            return
        if claim.sending == day.isoformat():
            # The holder before us was sending this very post when it stopped: Telegram may
            # have it. Counted as sent — a second copy is the worse fault (see the docstring).
            log.warning("daily chat=%s day=%s outcome=assumed_sent", subscription.chat_id, day)
            await store.mark_done(claim, day.isoformat(), next_day)
            return
        await self.fault("claimed", subscription.chat_id)
        occasion = occasion_for(day)
        request = PoemRequest(topic=occasion.topic, form=subscription.form)
        try:
            result = await service.poet.write(request, user_id=None, background=True)
        except ServiceError as error:
            log.warning(
                "daily chat=%s day=%s outcome=%s: retry in %ss",
                subscription.chat_id, day, type(error).__name__, self.retry_s,
            )  # fmt: skip
            await store.release(claim, self.clock() + timedelta(seconds=self.retry_s))
            return
        poem = result.poems[0]
        record_id = await service.records.save(request, poem)
        await self.fault("generated", subscription.chat_id)
        wait = (slot - self.clock()).total_seconds()
        if wait > 0:  # written ahead (lead_s): post on the minute
            await asyncio.sleep(wait)
        headline_html = header(day, occasion, subscription.form)
        card = await _card_of(poem) if subscription.card else None
        limit = render.MAX_CAPTION if card else render.MAX_MESSAGE
        html = render.poem_html(poem, headline_html, limit=limit)
        sent_to = await self._send(claim, day.isoformat(), html, record_id, card)
        if sent_to is None:
            return
        if sent_to != subscription.chat_id:
            claim = claim.model_copy(
                update={"subscription": subscription.model_copy(update={"chat_id": sent_to})}
            )
        await self.fault("sent", sent_to)
        await store.mark_done(claim, day.isoformat(), next_day)
        await self.fault("marked", sent_to)
        log.info("daily chat=%s day=%s outcome=posted", sent_to, day)

    async def _send(
        self, claim: Claim, day: str, html: str, record_id: str, card: bytes | None = None
    ) -> int | None:
        """Send to the chat (as a card with `html` its caption, when `card`), following it if
        it became a supergroup; the chat id it went to, or None (not ours any more, the chat
        is gone, or a retry is scheduled). The post is held (`Subscriptions.hold`: still
        ours, not yet posted, now being sent) when its send slot comes."""
        store, bot = self.service.subscriptions, self.application.bot
        chat_id = claim.subscription.chat_id
        keyboard = render.poem_keyboard(record_id)
        for _ in range(2):
            held = claim.model_copy(
                update={"subscription": claim.subscription.model_copy(update={"chat_id": chat_id})}
            )
            bulk = Bulk(ready=lambda held=held: store.hold(held, day, self._lease_until()))
            try:
                if card is None:
                    await bot.send_message(
                        chat_id, html, reply_markup=keyboard, rate_limit_args=bulk
                    )
                else:
                    await bot.send_photo(
                        chat_id,
                        card,
                        filename=CARD_FILE,
                        caption=html,
                        reply_markup=keyboard,
                        rate_limit_args=bulk,
                    )
                return chat_id
            except Withdrawn:
                log.info("daily chat=%s day=%s outcome=not_ours", chat_id, day)
                return None
            except ChatMigrated as moved:
                log.info("daily chat=%s migrated to %s", chat_id, moved.new_chat_id)
                await store.move(chat_id, moved.new_chat_id)
                chat_id = moved.new_chat_id
            except Forbidden:
                log.info("daily chat=%s outcome=forbidden: unsubscribed", chat_id)
                await store.remove(chat_id)
                return None
            except TelegramError as error:
                log.warning(
                    "daily chat=%s outcome=%s: retry in %ss",
                    chat_id, type(error).__name__, self.retry_s,
                )  # fmt: skip
                break
        retry = claim.model_copy(
            update={"subscription": claim.subscription.model_copy(update={"chat_id": chat_id})}
        )
        await store.release(retry, self.clock() + timedelta(seconds=self.retry_s))
        return None


async def _card_of(poem) -> bytes | None:
    """The poem's picture card, drawn off the event loop; None without a CJK font (the post
    then goes out as text, and the log says why)."""
    try:
        return await asyncio.to_thread(render_card, poem)
    except NoFontError as error:
        log.error("event=daily_card_no_font error=%s", error)
        return None


def poster(application: Application) -> DailyPoster:
    found = application.bot_data.get(POSTER)
    if found is None:
        found = application.bot_data[POSTER] = DailyPoster(application)
    return found


async def daily_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    poster(context.application).tick()


async def daily_ahead(context: ContextTypes.DEFAULT_TYPE) -> None:
    try:
        await poster(context.application).ask_ahead()
    except RedisError as error:  # away: the next round asks
        log.debug("event=daily_ahead_failed error=%s", type(error).__name__)


async def start(application: Application) -> None:
    """At start-up: schedule what has no due time yet, then tick. Redis away: the tick
    retries on its own, and the bot starts anyway (/analyze needs no Redis)."""
    daily = poster(application)
    try:
        await daily.schedule_missing()
    except RedisError as error:
        log.warning("event=daily_schedule_failed error=%s", type(error).__name__)
    assert application.job_queue is not None
    application.job_queue.run_repeating(daily_tick, keys.DAILY_TICK_S, first=0, name=TICK_JOB)
    application.job_queue.run_repeating(
        daily_ahead, keys.DAILY_AHEAD_EVERY_S, first=0, name=AHEAD_JOB
    )


async def stop(application: Application) -> None:
    """Let a pass in progress end with the application (cancelled: leases cover it)."""
    daily = application.bot_data.get(POSTER)
    if daily is not None and daily._running is not None and not daily._running.done():
        daily._running.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await daily._running


async def unsubscribe(application: Application, chat_id: int) -> bool:
    service: Services = application.bot_data["services"]
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
    store = service.subscriptions
    if command.action == "show":
        current = await store.get(chat.id)
        if current is None:
            await message.reply_text(texts.DAILY_NONE)
        else:
            await message.reply_text(
                _describe(texts.DAILY_STATUS, current, await next_shown(context, current))
            )
        return
    # An anonymous admin writes as the group itself, which only an admin can.
    as_the_group = message.sender_chat is not None and message.sender_chat.id == chat.id
    if not as_the_group and not await may_change_settings(
        context.bot, service.settings.admin_ids, chat.id, chat.type, user.id
    ):
        await message.reply_text(texts.ADMINS_ONLY)
        return
    if command.action == "off":
        await unsubscribe(context.application, chat.id)
        await message.reply_text(texts.DAILY_OFF)
        return
    subscription = Subscription(
        chat_id=chat.id,
        at=command.at,
        timezone=command.timezone,
        form=command.form,
        card=command.card,
    )
    now = poster(context.application).clock()
    next_at = next_post_time(subscription, now, await store.done_on(chat.id))
    await store.put(subscription, next_at)
    await message.reply_text(_describe(texts.DAILY_ON, subscription, _when(next_at)))


async def next_shown(context: ContextTypes.DEFAULT_TYPE, subscription: Subscription) -> str:
    """The next post time from the schedule, in the chat's zone; 即将发出 while it is due or
    being posted."""
    store = services(context).subscriptions
    due = await store.due_at(subscription.chat_id)
    now = poster(context.application).clock()
    if due is None:
        done = await store.done_on(subscription.chat_id)
        return _when(next_post_time(subscription, now, done))
    due_at = datetime.fromtimestamp(due, UTC)
    if due_at <= now or slot_for(subscription, due_at) != due_at:
        return texts.DAILY_NEXT_SOON  # overdue, or a lease's end rather than a post time
    return _when(due_at.astimezone(ZoneInfo(subscription.timezone)))


def _when(moment: datetime) -> str:
    return texts.DAILY_NEXT.format(date=moment.date().isoformat(), time=moment.strftime("%H:%M"))


def _describe(template: str, subscription: Subscription, next_at: str) -> str:
    return template.format(
        time=subscription.at.strftime("%H:%M"),
        tz=escape(subscription.timezone),
        form=escape(subscription.form) + (texts.DAILY_AS_CARD if subscription.card else ""),
        next=escape(next_at),
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


async def chat_migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group became a supergroup (a new chat id): the subscription follows. Telegram says so
    in both chats; whichever arrives first moves it, the other finds nothing to move."""
    message = update.effective_message
    assert message is not None
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    moved = await services(context).subscriptions.move(old, new)
    log.info("chat=%s migrated to %s subscription_moved=%s", old, new, moved is not None)
