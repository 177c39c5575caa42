"""节气 from the sun's longitude, and the topic of the day."""

from datetime import date, timedelta

import pytest

from bot.occasions import SEASON_TOPICS, TERMS, current_term, occasion_for, term_starting_on
from bot.parsing import TOPIC_MAX

# Published dates (Beijing time) of a few terms; the approximation must hit them within a day.
KNOWN = [
    (date(2023, 3, 21), "春分"),
    (date(2023, 4, 5), "清明"),
    (date(2024, 2, 4), "立春"),
    (date(2024, 3, 20), "春分"),
    (date(2024, 6, 21), "夏至"),
    (date(2024, 9, 22), "秋分"),
    (date(2024, 12, 21), "冬至"),
    (date(2025, 2, 3), "立春"),
    (date(2025, 8, 7), "立秋"),
]


@pytest.mark.parametrize(("day", "term"), KNOWN)
def test_known_term_dates_within_a_day(day, term):
    found = {term_starting_on(day + timedelta(days=d)) for d in (-1, 0, 1)}
    assert term in found


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
    assert occasion_for(date(2024, 12, 21)).topic == "冬至"
    assert occasion_for(date(2026, 1, 1)).label == "元旦"
    for offset in range(366):
        assert 1 <= len(occasion_for(date(2030, 1, 1) + timedelta(days=offset)).topic) <= TOPIC_MAX
