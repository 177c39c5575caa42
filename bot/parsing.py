"""From what a user typed to a PoemRequest (or a daily setting), with the input limits.

Every function here is pure: the handlers pass the words after the command and get a
validated request back, or an `InputError` whose message is ready to send (HTML, user text
escaped). The form may come first or last: `/poem 春江 五律` and `/poem 五律 春江` mean the same.
"""

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import time
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from bot import texts
from yinshi.errors import UserError
from yinshi.prosody.cipai import find_tune, load_tunes
from yinshi.prosody.errors import ProsodyInputError
from yinshi.prosody.forms import FORMS, REGULAR_FORMS
from yinshi.prosody.text import LINE_END, is_cjk
from yinshi.protocol import PoemRequest

TOPIC_MAX = 20
HEADS_MIN, HEADS_MAX = 2, 8
FIRST_LINE_MAX = 12
ANALYZE_MAX = 400

DEFAULT_FORM = "七绝"
DEFAULT_DAILY_TIME = time(8, 0)
DEFAULT_TIMEZONE = "Asia/Shanghai"

REGULAR_LINES = {"五绝": 4, "七绝": 4, "五律": 8, "七律": 8}
ALIASES = {
    "五言绝句": "五绝",
    "七言绝句": "七绝",
    "五言律诗": "五律",
    "七言律诗": "七律",
    "绝句": "七绝",
    "律诗": "七律",
}
FORM_LIKE_ENDINGS = ("绝", "律", "绝句", "律诗", "令", "慢")
"""A word ending like this, first or last, was meant as a form: an unknown one gets the list
instead of silently becoming part of the topic. (Not 古 or 词: 怀古 and 歌词 are topics.)"""


class InputError(UserError):
    """Input the bot will not send on; the message is HTML, ready to reply with."""


@dataclass(frozen=True)
class FormCatalog:
    """The forms the poet writes: the four regular forms and the 词牌 of `load_tunes`."""

    tunes: dict[str, dict]
    """Tune name (望江南・忆江南: a name with its aliases) → its structure."""

    @classmethod
    @cache
    def load(cls) -> "FormCatalog":
        return cls(load_tunes())

    def resolve(self, word: str) -> str | None:
        """The form or the tune's full name this word means, or None."""
        word = ALIASES.get(word, word)
        if word in REGULAR_LINES:
            return word
        try:
            return find_tune(word, self.tunes)[0]
        except ProsodyInputError:
            return None

    def lines(self, form: str) -> int:
        return REGULAR_LINES.get(form) or len(self.tunes[form]["lines"])

    def listing(self) -> str:
        return texts.FORMS_LIST.format(
            regular=" ".join(REGULAR_FORMS),
            count=len(self.tunes),
            tunes=" ".join(html.escape(t) for t in self.tunes),
        )


def words(text: str) -> list[str]:
    """Whitespace-separated words after NFKC, so full-width spaces and digits count too."""
    return unicodedata.normalize("NFKC", text).split()


def _looks_like_form(word: str) -> bool:
    return word in FORMS or word.endswith(FORM_LIKE_ENDINGS)


def _split_form(args: list[str], catalog: FormCatalog) -> tuple[list[str], str | None]:
    """Take a form off the front or the back of the words; reject unknown form-like words."""
    if not args:
        return args, None
    for index in (-1, 0):
        form = catalog.resolve(args[index])
        if form:
            rest = args[:index] if index == -1 else args[1:]
            return rest, form
    if len(args) > 1:
        for word in (args[-1], args[0]):
            if _looks_like_form(word):
                raise InputError(unknown_form(word, catalog))
    return args, None


def unknown_form(word: str, catalog: FormCatalog) -> str:
    return texts.UNKNOWN_FORM.format(form=html.escape(word), forms=catalog.listing())


def _topic(rest: list[str]) -> str:
    topic = " ".join(rest).strip()
    if not topic:
        raise InputError(texts.EMPTY_TOPIC)
    if len(topic) > TOPIC_MAX:
        raise InputError(texts.TOPIC_TOO_LONG.format(limit=TOPIC_MAX))
    return topic


def _request(**fields: object) -> PoemRequest:
    try:
        return PoemRequest(**fields)
    except ValidationError as error:
        reason = error.errors()[0]["msg"]
        raise InputError(texts.INVALID_REQUEST.format(reason=html.escape(reason))) from None


def parse_poem(text: str, catalog: FormCatalog) -> PoemRequest:
    """`春江`, `春江 五律`, `如梦令 春江` → a request; 七绝 unless a form is named."""
    args = words(text)
    if not args:
        raise InputError(texts.POEM_USAGE)
    rest, form = _split_form(args, catalog)
    return _request(topic=_topic(rest), form=form or DEFAULT_FORM)


def parse_acrostic(text: str, catalog: FormCatalog) -> PoemRequest:
    """`春江花月 [form]`: one head character per line; 4 → 七绝, 8 → 七律, else a tune that fits."""
    args = words(text)
    if not args:
        raise InputError(texts.ACROSTIC_USAGE)
    rest, form = _split_form(args, catalog)
    heads = "".join(rest)
    if not HEADS_MIN <= len(heads) <= HEADS_MAX or not all(is_cjk(c) for c in heads):
        raise InputError(texts.HEADS_BAD.format(low=HEADS_MIN, high=HEADS_MAX))
    form = form or _form_with_lines(len(heads), catalog)
    if form is None or catalog.lines(form) != len(heads):
        raise InputError(
            texts.HEADS_FORM_MISMATCH.format(
                form=form or DEFAULT_FORM,
                lines=catalog.lines(form or DEFAULT_FORM),
                heads=len(heads),
                low=4,
                high=8,
            )
        )
    return _request(topic=heads, form=form, acrostic=heads)


def _form_with_lines(count: int, catalog: FormCatalog) -> str | None:
    if count == 4:
        return "七绝"
    if count == 8:
        return "七律"
    return next((tune for tune in catalog.tunes if catalog.lines(tune) == count), None)


def parse_continue(text: str, catalog: FormCatalog) -> PoemRequest:
    """`白日依山尽 [form]`: a 5-character line → 五绝, 7 → 七绝 unless a form is named."""
    args = words(text)
    if not args:
        raise InputError(texts.CONTINUE_USAGE)
    rest, form = _split_form(args, catalog)
    first_line = "".join(rest).rstrip(LINE_END + ",.!?;")
    if not first_line or len(first_line) > FIRST_LINE_MAX or not all(map(is_cjk, first_line)):
        raise InputError(texts.FIRST_LINE_BAD.format(limit=FIRST_LINE_MAX))
    if form is None:
        if len(first_line) not in (5, 7):
            raise InputError(texts.FIRST_LINE_BAD.format(limit=FIRST_LINE_MAX))
        form = "五绝" if len(first_line) == 5 else "七绝"
    elif form in REGULAR_LINES and len(first_line) != (5 if form[0] == "五" else 7):
        raise InputError(texts.FIRST_LINE_FORM_MISMATCH.format(length=len(first_line), form=form))
    return _request(topic=first_line, form=form, first_line=first_line)


def check_analyze_text(text: str) -> str:
    """The text to analyse, within the length limit."""
    text = text.strip()
    if not text:
        raise InputError(texts.ANALYZE_USAGE)
    if len(text) > ANALYZE_MAX:
        raise InputError(texts.TEXT_TOO_LONG.format(limit=ANALYZE_MAX))
    return text


@dataclass(frozen=True)
class DailyCommand:
    action: Literal["on", "off", "show"]
    at: time = DEFAULT_DAILY_TIME
    timezone: str = DEFAULT_TIMEZONE
    form: str = DEFAULT_FORM
    card: bool = False
    """Post the poem as a picture card (诗笺) rather than as text."""


CARD_WORDS = ("诗笺", "card", "图片")
_CLOCK = re.compile(r"([01]?\d|2[0-3])[:：]([0-5]\d)")


def parse_daily(text: str, catalog: FormCatalog, default_timezone: str) -> DailyCommand:
    """`on [HH:MM] [timezone] [form] [诗笺]` in any order, `off`, or nothing (show the
    setting)."""
    args = words(text)
    if not args:
        return DailyCommand("show")
    action, *options = args
    if action.lower() == "off" and not options:
        return DailyCommand("off")
    if action.lower() != "on":
        raise InputError(texts.DAILY_USAGE)
    at, timezone, form, card = DEFAULT_DAILY_TIME, default_timezone, DEFAULT_FORM, False
    for option in options:
        clock = _CLOCK.fullmatch(option)
        if option.lower() in CARD_WORDS:
            card = True
        elif clock:
            at = time(int(clock[1]), int(clock[2]))
        elif catalog.resolve(option):
            form = catalog.resolve(option) or form
        elif "/" in option or option.upper() == "UTC":
            timezone = check_timezone(option)
        elif ":" in option or option[:1].isdigit():
            raise InputError(texts.DAILY_BAD_TIME)
        elif _looks_like_form(option):
            raise InputError(unknown_form(option, catalog))
        else:
            raise InputError(texts.DAILY_USAGE)
    return DailyCommand("on", at, timezone, form, card)


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(texts.DAILY_BAD_TZ.format(tz=html.escape(name))) from None
    return name
