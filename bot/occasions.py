"""What a day is for a poet: a 节气, a festival, or simply a season — and a topic that fits.

节气 dates come from the sun's apparent longitude (a term starts every 15°, 春分 at 0°),
computed with the low-precision solar formula of Meeus, *Astronomical Algorithms* ch. 25
(about 0.01°, i.e. a quarter of an hour), on Beijing time, as the Chinese calendar does. That
is good to well within the ±1 day a daily poem needs, for any year, with no table to expire.
Lunar festivals (春节, 中秋 …) need a lunar calendar and are not covered; 清明 and 冬至 are
festivals that are also 节气.
"""

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))

TERMS = (
    "春分", "清明", "谷雨", "立夏", "小满", "芒种", "夏至", "小暑", "大暑", "立秋", "处暑", "白露",
    "秋分", "寒露", "霜降", "立冬", "小雪", "大雪", "冬至", "小寒", "大寒", "立春", "雨水", "惊蛰",
)  # fmt: skip
"""Term k starts when the sun's apparent longitude reaches 15·k degrees."""

SEASON_OF_TERM = {
    **dict.fromkeys(("立春", "雨水", "惊蛰", "春分", "清明", "谷雨"), "春"),
    **dict.fromkeys(("立夏", "小满", "芒种", "夏至", "小暑", "大暑"), "夏"),
    **dict.fromkeys(("立秋", "处暑", "白露", "秋分", "寒露", "霜降"), "秋"),
    **dict.fromkeys(("立冬", "小雪", "大雪", "冬至", "小寒", "大寒"), "冬"),
}

SEASON_TOPICS = {
    "春": ("春江", "春雨", "杏花", "柳", "燕归", "春山", "踏青", "落花", "春晓", "桃花"),
    "夏": ("荷塘", "夏夜", "蝉", "骤雨", "竹", "江村", "萤火", "夏日山居", "新荷", "晚凉"),
    "秋": ("秋夜", "明月", "菊", "秋山", "雁", "枫林", "秋思", "登高", "桂", "秋江"),
    "冬": ("雪", "梅", "寒江", "冬夜", "围炉", "岁暮", "松", "寒梅", "夜雪", "冬晴"),
}

SOLAR_FESTIVALS = {(1, 1): "元旦"}


@dataclass(frozen=True)
class Occasion:
    label: str
    """For the header of the daily post: 清明, 元旦, 春分时节."""
    topic: str


def sun_longitude(moment: datetime) -> float:
    """The sun's apparent ecliptic longitude in degrees [0, 360) at a UTC moment."""
    jd = moment.astimezone(UTC).timestamp() / 86400 + 2440587.5
    t = (jd - 2451545.0) / 36525  # Julian centuries since J2000
    mean_longitude = 280.46646 + 36000.76983 * t + 0.0003032 * t * t
    anomaly = math.radians(357.52911 + 35999.05029 * t - 0.0001537 * t * t)
    centre = (
        (1.914602 - 0.004817 * t - 0.000014 * t * t) * math.sin(anomaly)
        + (0.019993 - 0.000101 * t) * math.sin(2 * anomaly)
        + 0.000289 * math.sin(3 * anomaly)
    )
    node = math.radians(125.04 - 1934.136 * t)
    return (mean_longitude + centre - 0.00569 - 0.00478 * math.sin(node)) % 360


def _term_index(moment: datetime) -> int:
    return int(sun_longitude(moment) // 15)


def term_starting_on(day: date) -> str | None:
    """The 节气 whose moment falls on this Beijing calendar day, if any."""
    start = datetime.combine(day, time(), BEIJING)
    before, after = _term_index(start), _term_index(start + timedelta(days=1))
    return TERMS[after] if before != after else None


def current_term(day: date) -> str:
    """The 节气 period a day belongs to (the latest term that began on or before it)."""
    return TERMS[_term_index(datetime.combine(day, time(), BEIJING) + timedelta(days=1))]


def occasion_for(day: date) -> Occasion:
    """Festival, else the 节气 on its day, else a topic of the season (fixed per date, so that
    replicas and restarts agree)."""
    festival = SOLAR_FESTIVALS.get((day.month, day.day))
    if festival:
        return Occasion(festival, festival)
    term = term_starting_on(day)
    if term:
        return Occasion(term, term)
    term = current_term(day)
    topics = SEASON_TOPICS[SEASON_OF_TERM[term]]
    return Occasion(f"{term}时节", topics[day.toordinal() % len(topics)])
