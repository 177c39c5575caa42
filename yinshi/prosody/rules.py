"""近体诗 rules as data: line patterns, the four templates, and which tone strings a line may take.

Everything here works on tone strings over 平/仄, one character per position, so the
analyser (which knows characters) and the generator (which chooses tokens position by
position) share one definition of 合律.

What counts as 合律 (after 王力《汉语诗律学》):
- 一三五不论: positions 1 and 3 of a 五言 line (1, 3, 5 of a 七言) are free, except
  - 孤平: a 平平仄仄平 line whose free positions are both 仄 (仄平仄仄平) — an error;
  - 三平尾: a line ending 平平平 — an error;
  - 三仄尾: a line ending 仄仄仄 — reported as a warning only: Tang masters wrote it often
    (王力 calls it 不算失律) and famous 合律 poems must still conform.
- 拗救 accepted as 合律:
  - 孤平拗救 仄平平仄平 (本句自救) — already allowed by the 孤平 rule above;
  - 特拗 平平仄平仄 for 平平平仄仄 (七言 中仄平平仄平仄), position 1 (七言 3) must be 平;
  - 小拗 仄仄仄平仄 for 仄仄平平仄 — free by 一三五不论;
  - 大拗 对句救: a 仄仄平平仄 line whose position 4 (七言 6) is 仄 is accepted when the next
    line has 平 at position 3 (七言 5). Only the analyser sees both lines, so the
    generator's per-line sets (`line_variants`) leave this one out.
All positions count from 1 in names and messages and from 0 in code.
"""

from dataclasses import dataclass
from functools import cache
from itertools import product

from .forms import REGULAR_FORMS

PING, ZE = "平", "仄"
EITHER = "中"

_FIVE = {(ZE, ZE): "仄仄平平仄", (PING, PING): "平平仄仄平",
         (PING, ZE): "平平平仄仄", (ZE, PING): "仄仄仄平平"}  # fmt: skip
"""五言 base lines by (tone of the 2nd character, tone of the last)."""
_TAIL_A, _TAIL_B, _TAIL_C = "仄仄平平仄", "平平仄仄平", "平平平仄仄"
_TE_AO = "平平仄平仄"  # 特拗 for 平平平仄仄
FORM_SHAPES = {"五绝": (4, 5), "七绝": (4, 7), "五律": (8, 5), "七律": (8, 7)}
"""(line count, line length) of each 近体 form."""

WARNING_KINDS = frozenset({"san_ze"})
"""Line faults that are reported but do not break conformance."""


def opposite(tone: str) -> str:
    return ZE if tone == PING else PING


@cache
def line_pattern(length: int, start: str, end: str) -> str:
    """The base pattern of a line by its length, the tone of its 2nd character and its last.

    A 七言 line is the 五言 line of the opposite start with two opposite tones in front.
    """
    if length == 5:
        return _FIVE[(start, end)]
    if length == 7:
        tail = _FIVE[(opposite(start), end)]
        return opposite(tail[0]) * 2 + tail
    raise ValueError(f"近体 lines have 5 or 7 characters, not {length}")


@cache
def loose(pattern: str) -> str:
    """The handbook form of a base pattern: 中 at the 一三五不论 positions.

    Only a display: which strings are really allowed is `line_variants`.
    """
    return "".join(
        EITHER if i % 2 == 0 and i < len(pattern) - 1 else t for i, t in enumerate(pattern)
    )


@dataclass(frozen=True)
class Template:
    name: str
    """平起首句入韵, 仄起首句不入韵 …: by the 2nd character of line 1 and whether it rhymes."""
    form: str
    lines: tuple[str, ...]
    """Per line, the handbook pattern with 中 (中仄中平仄 …)."""
    base: tuple[str, ...]
    """Per line, the base pattern (仄仄平平仄 …): the key for `line_variants`."""
    rhyme_lines: tuple[int, ...]
    """0-based indices of the lines whose last character rhymes (平声)."""


def chain(count: int, length: int, start: str, first_rhymes: bool) -> tuple[str, ...]:
    """Base patterns of a poem built by 对 within a couplet and 粘 across couplets."""
    patterns = []
    for i in range(count):
        if i > 0:
            start = opposite(start) if i % 2 == 1 else start
        end = PING if (i % 2 == 1 or (i == 0 and first_rhymes)) else ZE
        patterns.append(line_pattern(length, start, end))
    return tuple(patterns)


def template_name(start: str, first_rhymes: bool) -> str:
    return f"{start}起首句{'入韵' if first_rhymes else '不入韵'}"


@cache
def templates(form: str) -> tuple[Template, ...]:
    """The four templates of a 近体 form: 平起/仄起 × 首句入韵/不入韵."""
    if form not in FORM_SHAPES:
        raise ValueError(f"templates exist for {', '.join(REGULAR_FORMS)}, not {form!r}")
    count, length = FORM_SHAPES[form]
    result = []
    for start in (PING, ZE):
        for first_rhymes in (True, False):
            base = chain(count, length, start, first_rhymes)
            rhymes = tuple(i for i in range(count) if i % 2 == 1 or (i == 0 and first_rhymes))
            name = template_name(start, first_rhymes)
            result.append(Template(name, form, tuple(map(loose, base)), base, rhymes))
    return tuple(result)


@cache
def faults(pattern: str, tones: str, rescued: bool = False) -> tuple[tuple[int, str], ...]:
    """(0-based position, kind) for each rule a concrete tone string breaks against a base pattern.

    The last position is not judged here: whether it rhymes or ends a 出句 is the caller's
    business. `rescued`: the next line carries the 对句救 for a 大拗 (module docstring).
    """
    n = len(pattern)
    head = n - 5
    tail, tail_tones = pattern[head:], tones[head:]
    found: list[tuple[int, str]] = []
    if tail == _TAIL_C and tail_tones == _TE_AO:
        fixed = range(1, head, 2)  # 特拗: the tail is fine as it is
    elif tail == _TAIL_A and rescued and tail_tones[3] == ZE:
        fixed = (j for j in range(1, n - 1, 2) if j != n - 2)
    else:
        fixed = range(1, n - 1, 2)
    found += [(j, "tone") for j in fixed if tones[j] != pattern[j]]
    if tail == _TAIL_B and tail_tones[0] == ZE and tail_tones[2] == ZE:
        found.append((head, "gu_ping"))
    if tones[-2] == pattern[-2]:
        if tones[-3:] == PING * 3:
            found.append((n - 3, "san_ping"))
        elif tones[-3:] == ZE * 3:
            found.append((n - 3, "san_ze"))
    return tuple(found)


@cache
def line_variants(pattern: str) -> frozenset[str]:
    """Every tone string a line of this base pattern may take with no fault at all.

    A small set (at most 2^3 for 七言), so a generator can mask position by position with
    `allowed_tones`. 三仄尾 (a warning) and the cross-line 大拗 are left out.
    """
    variants = set()
    for free in product(PING + ZE, repeat=len(pattern) - 1):
        tones = "".join(free) + pattern[-1]
        if not faults(pattern, tones):
            variants.add(tones)
    return frozenset(variants)


def allowed_tones(pattern: str, chosen_prefix: str) -> set[str]:
    """Tones the next position may take so the line can still end as a variant."""
    i = len(chosen_prefix)
    return {v[i] for v in line_variants(pattern) if v.startswith(chosen_prefix) and i < len(v)}
