"""What a day is for a poet: a festival, a 节气, or simply a season — and a topic that fits.

The calendar comes from **tyme4py** (6tail, MIT), not from a formula of our own. Why it and
not the other candidates:

- it is the successor of lunar-python by the same author, who now develops tyme (lunar-python
  gets fixes only); releases through 2026, pure Python (no compiler, nothing to build);
- its lunar festivals follow GB/T 33661-2017 《农历的编算和颁行》, the national standard for
  the lunar calendar, and its 节气 come from a full solar/lunar theory (寿星天文历 lineage),
  on Beijing time as the Chinese calendar is defined — e.g. 2026 中秋 = 25 September, 2027
  春节 = 6 February, 2026 除夕 = 16 February (a year whose 腊月 has no 三十);
- sxtwl has the same astronomy but is a C++ extension (a wheel per platform, last release
  2024); cnlunar carries a data table that ends in 2100 and an almanac we do not need.

The previous hand-written Meeus formula knew no lunar festival: on 中秋 a group got 菊 or 秋江.
An occasion is fixed per date (replicas and restarts agree on it); what day it is, is the
chat's local date (bot.daily), the calendar itself is on Beijing time.
"""

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from tyme4py.lunar import LunarDay
from tyme4py.solar import SolarDay

TERMS = (
    "春分", "清明", "谷雨", "立夏", "小满", "芒种", "夏至", "小暑", "大暑", "立秋", "处暑", "白露",
    "秋分", "寒露", "霜降", "立冬", "小雪", "大雪", "冬至", "小寒", "大寒", "立春", "雨水", "惊蛰",
)  # fmt: skip
"""The 24 节气 in the order of the sun's longitude, 春分 at 0°."""

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

TERM_TOPICS = {
    "立春": ("立春", "迎春", "东风"),
    "雨水": ("雨水", "春雨", "润物"),
    "惊蛰": ("惊蛰", "春雷", "桃花"),
    "春分": ("春分", "燕归", "春社"),
    "清明": ("清明", "寒食", "杏花雨"),
    "谷雨": ("谷雨", "牡丹", "春茶"),
    "立夏": ("立夏", "新荷", "绿阴"),
    "小满": ("小满", "麦秋", "蚕桑"),
    "芒种": ("芒种", "农忙", "梅雨"),
    "夏至": ("夏至", "长日", "蝉"),
    "小暑": ("小暑", "荷风", "晚凉"),
    "大暑": ("大暑", "苦热", "纳凉"),
    "立秋": ("立秋", "新秋", "梧桐"),
    "处暑": ("处暑", "秋凉", "暑退"),
    "白露": ("白露", "蒹葭", "秋露"),
    "秋分": ("秋分", "桂", "秋月"),
    "寒露": ("寒露", "菊", "秋山"),
    "霜降": ("霜降", "枫林", "晚秋"),
    "立冬": ("立冬", "初冬", "寒江"),
    "小雪": ("小雪", "初雪", "围炉"),
    "大雪": ("大雪", "雪夜", "寒梅"),
    "冬至": ("冬至", "一阳生", "冬夜"),
    "小寒": ("小寒", "寒梅", "冬晴"),
    "大寒": ("大寒", "岁暮", "梅"),
}

# tyme4py's LunarFestival names (GB/T 33661-2017) → our label and topics. 清明 and 冬至 are
# festivals that fall on their 节气; the label drops 节 where people drop it (中秋, not 中秋节).
LUNAR_FESTIVALS = {
    "春节": ("春节", ("元日", "守岁", "迎春", "新春")),
    "元宵节": ("元宵", ("元夕", "上元", "花灯", "灯市")),
    "龙头节": ("龙抬头", ("春雷", "二月二", "春耕")),
    "上巳节": ("上巳", ("上巳", "曲水", "修禊", "踏青")),
    "清明节": ("清明", ("清明", "寒食", "踏青", "杏花雨")),
    "端午节": ("端午", ("端午", "竞渡", "菖蒲", "龙舟")),
    "七夕节": ("七夕", ("七夕", "乞巧", "鹊桥", "银河")),
    "中元节": ("中元", ("中元", "河灯", "秋思")),
    "中秋节": ("中秋", ("明月", "望月", "中秋")),
    "重阳节": ("重阳", ("登高", "茱萸", "菊")),
    "冬至节": ("冬至", ("冬至", "一阳生", "冬夜")),
    "腊八节": ("腊八", ("腊八", "腊梅", "岁寒")),
    "除夕": ("除夕", ("除夕", "守岁", "岁暮", "围炉")),
}

SOLAR_FESTIVALS = {(1, 1): ("元旦", ("元旦", "新年", "元日"))}


@dataclass(frozen=True)
class Occasion:
    label: str
    """For the header of the daily post: 中秋, 清明, 元旦, 立夏; 立夏时节 on an ordinary day."""
    topic: str
    special: bool = False
    """A festival or the first day of a 节气: the header says 「今日中秋」."""


def _solar(day: date) -> SolarDay:
    return SolarDay.from_ymd(day.year, day.month, day.day)


def term_starting_on(day: date) -> str | None:
    """The 节气 whose moment falls on this Beijing calendar day, if any."""
    term_day = _solar(day).get_term_day()
    return term_day.get_solar_term().get_name() if term_day.get_day_index() == 0 else None


def current_term(day: date) -> str:
    """The 节气 period a day belongs to (the latest term that began on or before it)."""
    return _solar(day).get_term().get_name()


def lunar_festival(day: date) -> str | None:
    """tyme4py's name of the lunar festival on this day (春节, 中秋节, 除夕 …), if any."""
    lunar: LunarDay = _solar(day).get_lunar_day()
    festival = lunar.get_festival()
    return festival.get_name() if festival else None


def _pick(topics: tuple[str, ...], day: date) -> str:
    """The same topic for a date on every replica, varying from year to year."""
    return topics[day.toordinal() % len(topics)]


@lru_cache(maxsize=4096)
def occasion_for(day: date) -> Occasion:
    """A lunar festival, else a solar one (元旦), else the 节气 on its day, else a topic of the
    season. Cached: the lunar conversion is pure Python and every post of a day asks."""
    name = lunar_festival(day)
    if name in LUNAR_FESTIVALS:
        label, topics = LUNAR_FESTIVALS[name]
        return Occasion(label, _pick(topics, day), special=True)
    solar = SOLAR_FESTIVALS.get((day.month, day.day))
    if solar:
        label, topics = solar
        return Occasion(label, _pick(topics, day), special=True)
    term = term_starting_on(day)
    if term:
        return Occasion(term, _pick(TERM_TOPICS[term], day), special=True)
    term = current_term(day)
    return Occasion(f"{term}时节", _pick(SEASON_TOPICS[SEASON_OF_TERM[term]], day))
