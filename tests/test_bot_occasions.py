"""The calendar of the daily poem: 节气 and lunar festivals from tyme4py, and their topics."""

from datetime import date, timedelta

import pytest

from bot.daily import header, headline
from bot.occasions import (
    LUNAR_FESTIVALS,
    SEASON_TOPICS,
    TERM_TOPICS,
    TERMS,
    current_term,
    lunar_festival,
    occasion_for,
    term_starting_on,
)
from bot.parsing import TOPIC_MAX

# Published dates (Beijing time) of a few terms: the calendar must hit them to the day.
KNOWN_TERMS = [
    (date(2023, 3, 21), "春分"),
    (date(2023, 4, 5), "清明"),
    (date(2024, 2, 4), "立春"),
    (date(2024, 3, 20), "春分"),
    (date(2024, 6, 21), "夏至"),
    (date(2024, 9, 22), "秋分"),
    (date(2024, 12, 21), "冬至"),
    (date(2025, 2, 3), "立春"),
    (date(2025, 8, 7), "立秋"),
    (date(2026, 12, 22), "冬至"),
]

# Published dates of the lunar festivals (the State Council's holiday notices, and the lunar
# calendar as printed): the old formula knew none of them.
KNOWN_FESTIVALS = [
    (date(2026, 9, 25), "中秋"),
    (date(2025, 10, 6), "中秋"),
    (date(2027, 2, 6), "春节"),
    (date(2026, 2, 17), "春节"),
    (date(2024, 2, 10), "春节"),
    (date(2026, 2, 16), "除夕"),  # 腊月廿九: 2025's 腊月 has no 三十
    (date(2024, 2, 9), "除夕"),
    (date(2026, 3, 3), "元宵"),
    (date(2026, 6, 19), "端午"),
    (date(2026, 8, 19), "七夕"),
    (date(2026, 10, 18), "重阳"),
    (date(2026, 4, 5), "清明"),
    (date(2026, 1, 1), "元旦"),
]


@pytest.mark.parametrize(("day", "term"), KNOWN_TERMS)
def test_known_term_dates_exact(day, term):
    assert term_starting_on(day) == term
    assert term_starting_on(day - timedelta(days=1)) != term
    assert occasion_for(day).label == term
    assert occasion_for(day).topic in TERM_TOPICS[term]


@pytest.mark.parametrize(("day", "label"), KNOWN_FESTIVALS)
def test_known_festival_dates(day, label):
    occasion = occasion_for(day)
    assert occasion.label == label and occasion.special
    assert occasion_for(day - timedelta(days=1)).label != label


def test_festival_topics_fit_the_day():
    assert occasion_for(date(2026, 9, 25)).topic in ("明月", "望月", "中秋")
    assert occasion_for(date(2026, 10, 18)).topic in ("登高", "茱萸", "菊")
    assert occasion_for(date(2027, 2, 6)).topic in ("元日", "守岁", "迎春", "新春")
    # Every lunar festival tyme4py names has our label and topics.
    names = {lunar_festival(date(2026, 1, 1) + timedelta(days=d)) for d in range(366)}
    assert names - {None} <= set(LUNAR_FESTIVALS)


def test_a_festival_header_names_it():
    day = date(2026, 9, 25)
    assert headline(occasion_for(day)) == "今日中秋"
    assert "今日中秋 · 五律" in header(day, occasion_for(day), "五律")
    ordinary = date(2025, 5, 12)
    assert headline(occasion_for(ordinary)) == "立夏时节"


@pytest.mark.parametrize("year", [2000, 2024, 2050])
def test_each_term_once_a_year_in_order(year):
    day, seen = date(year, 1, 1), []
    while day.year == year:
        if term := term_starting_on(day):
            seen.append(term)
        day += timedelta(days=1)
    assert sorted(seen) == sorted(TERMS)
    start = seen.index("春分")
    assert seen[start:] + seen[:start] == list(TERMS)


def test_occasion_is_stable_and_fits_a_request():
    day = date(2025, 5, 12)
    assert occasion_for(day) == occasion_for(day)
    assert current_term(day) == "立夏"
    assert occasion_for(day).topic in SEASON_TOPICS["夏"]
    assert not occasion_for(day).special
    for offset in range(366 * 2):
        occasion = occasion_for(date(2030, 1, 1) + timedelta(days=offset))
        assert 1 <= len(occasion.topic) <= TOPIC_MAX
