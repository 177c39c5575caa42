"""A poem as a picture card: set vertically (竖排), right to left, in a 楷书, with a red seal.

Layout, from the right edge: the title, then the form and rhyme (「七绝 · 韵：下平一先」) in a
smaller size, then the poem in columns between faint red rules (朱丝栏), then the 吟诗 seal at
the bottom of the left end — the order a reader's eye takes on a 诗笺.

- 近体 (五绝 七绝 五律 七律): one line a column, as poems are printed in 竖排.
- 词 and everything else: broken at its phrases. Phrases are packed into columns without
  ever splitting one; a column also ends after a sentence (。！？) once it is well filled.
  The column height is chosen so that the card comes out near a set aspect ratio, so a
  沁园春 (114 characters, 25 phrases) is a dozen columns, not 25 thin ones.

Punctuation in the poem is dropped, not set in vertical forms. A 近体 line is a column, so
the column break is the pause — the way poems were printed in 竖排 before modern 标点; within
a 词 column a phrase ends with a half-character gap (断句 by space), which reads as clearly
as a mark and keeps a 楷书 column clean (few 楷书 faces have vertical punctuation forms, and
horizontal marks set in a column sit in the wrong corner). The caption sent with the card
carries the punctuated text. The title and the form line, which are not verse, keep their
punctuation in vertical presentation forms (︓ ︒ ﹁ …).

The 格律 version puts the tone of each character (○ 平, ● 仄, ⊙ either, ? unknown; from
`poem.analysis["marks"]`, as `bot.render` shows them) to the right of it, a breach in red.

Every character is drawn with the first face that has it (`bot.card.fonts`): the 楷书, then
Noto CJK; one no face has is left out and listed in `Layout.missing`, never drawn as a box.
The card fits within `MAX_SIDE` px on both sides whatever the form: the unit size shrinks for
a long 词 or a long title.
"""

import functools
import io
import logging
import math
import unicodedata
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

from bot.card.fonts import Face, face_for, find_faces
from yinshi.protocol import Poem

log = logging.getLogger("yinshi.bot")

MAX_SIDE = 2048
"""No side of a card is longer: Telegram scales larger photos down anyway."""
MAX_UNIT = 84
"""The body character size in px, for a poem small enough to allow it (a 五绝 is not blown
up to fill 2048 px)."""
ASPECT = 1.15
"""Width / height a 词's column height aims at."""

REGULAR = ("五绝", "七绝", "五律", "七律")

# Sizes and distances in units of the body character size.
STEP = 1.16  # a character's advance down a column
GAP = 0.55  # between two phrases in one column
PITCH = 1.75  # column to column
PITCH_MARKED = 2.25  # … with tone marks beside the characters
TITLE = 0.74
TITLE_STEP = TITLE * 1.14
TITLE_PITCH = TITLE * 1.7
META = 0.4
META_STEP = META * 1.2
META_PITCH = META * 2.2
META_DROP = TITLE_STEP  # the form line starts a title character lower
BODY_GAP = 0.55  # between the form line and the poem
MARGIN = 1.25  # paper around the text, the frame inside it
FRAME = 0.5  # from the edge to the frame
SEAL_W, SEAL_H, SEAL_CHAR = 0.8, 1.5, 0.56
SEAL_COLUMN = 1.45
MARK_R = 0.13
MARK_DX = 0.66  # the mark's centre right of the character's, with marks on
CHAR_DX = -0.22  # the character's centre right of the column's, with marks on

PAPER = (244, 236, 216)
INK = (34, 28, 24)
INK_SOFT = (112, 94, 76)
RULE = (218, 168, 152)
FRAME_INK = (146, 112, 84)
SEAL_RED = (181, 41, 35)
MARK_INK = (92, 80, 68)

SEAL_TEXT = "吟诗"
SENTENCE_END = "。！？"
VERTICAL = {
    "，": "︐", "、": "︑", "。": "︒", "：": "︓", ":": "︓", "；": "︔", "！": "︕",
    "？": "︖", "「": "﹁", "」": "﹂", "『": "﹃", "』": "﹄", "《": "︽", "》": "︾",
    "（": "︵", "）": "︶", "(": "︵", ")": "︶", "〈": "︿", "〉": "﹀", "…": "︙",
    "—": "︱", "·": "・", "•": "・",
}  # fmt: skip
"""Marks in the title and form line → their vertical presentation forms."""


@dataclass(frozen=True)
class Glyph:
    """One character as drawn: its centre, its size in px, the face that has it."""

    char: str
    x: float
    y: float
    size: int
    face: Face
    color: tuple[int, int, int]
    role: str
    """"title", "meta", "body", "mark" (a ? beside a body character) or "seal"."""


@dataclass(frozen=True)
class Mark:
    """A tone mark beside a body character."""

    kind: str
    x: float
    y: float
    radius: float
    wrong: bool


@dataclass
class Layout:
    width: int
    height: int
    unit: float
    """The body character size in px."""
    columns: list[str]
    """The poem's characters column by column, right to left (punctuation dropped)."""
    glyphs: list[Glyph] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    rules: list[tuple[float, float, float]] = field(default_factory=list)
    """(x, top, bottom) of each 朱丝栏 line."""
    seal: tuple[float, float, float, float] = (0, 0, 0, 0)
    missing: list[str] = field(default_factory=list)
    """Characters no installed face has: left out rather than drawn as boxes."""
    marked: bool = False
    """Tone marks are on (asked for, and the poem's analysis matched its text)."""


@dataclass(frozen=True)
class _Char:
    char: str
    mark: str | None = None
    wrong: bool = False


def is_text(char: str) -> bool:
    """A character of the verse (letters and digits), not a mark or a space."""
    return unicodedata.category(char)[0] in "LN"


def meta_line(poem: Poem) -> str:
    """「七绝 · 韵：下平一先」, 「如梦令 · 韵：词林正韵第四部」: the form and the rhyme (「词」
    for the tune's name where the title is that name already)."""
    form = poem.form if not poem.tune else "词" if poem.title == poem.tune else poem.tune
    rhyme = poem.analysis.get("rhyme_group_name") or poem.rhyme_group
    return f"{form} · 韵：{rhyme}" if rhyme else form


def _phrases(poem: Poem, marked: bool) -> tuple[list[tuple[list[_Char], bool]], bool]:
    """The poem's phrases (its lines, marks dropped), each with whether it ends a sentence;
    with their tone marks when asked and the analysis lines up with the text."""
    raw = [(line, line.rstrip()[-1:] in SENTENCE_END) for line in poem.lines]
    phrases = [([c for c in line if is_text(c)], end) for line, end in raw]
    phrases = [(chars, end) for chars, end in phrases if chars]
    flat = [c for chars, _ in phrases for c in chars]
    marks = "".join(poem.analysis.get("marks") or []) if marked else ""
    lines = poem.analysis.get("lines") or []
    if not marks or len(marks) != len(flat) or "".join(lines) != "".join(flat):
        return [([_Char(c) for c in chars], end) for chars, end in phrases], False
    starts = [sum(len(line) for line in lines[:i]) for i in range(len(lines))]
    wrong = {
        starts[v["line"] - 1] + v["pos"] - 1
        for v in poem.analysis.get("violations") or []
        if v.get("severity", "error") == "error"
        and 1 <= v.get("line", 0) <= len(lines)
        and 1 <= v.get("pos", 0) <= len(lines[v["line"] - 1])
    }
    out, at = [], 0
    for chars, end in phrases:
        out.append(([_Char(c, marks[at + i], at + i in wrong) for i, c in enumerate(chars)], end))
        at += len(chars)
    return out, True


def _pack(phrases: list[tuple[list[_Char], bool]], capacity: float) -> list[list[list[_Char]]]:
    """Phrases into columns of at most `capacity` characters (a gap counts GAP/STEP)."""
    columns: list[list[list[_Char]]] = []
    column: list[list[_Char]] = []
    used = 0.0
    for chars, sentence_end in phrases:
        need = len(chars) + (GAP / STEP if column else 0)
        if column and used + need > capacity:
            columns.append(column)
            column, used, need = [], 0.0, len(chars)
        column.append(chars)
        used += need
        if sentence_end and used >= 0.6 * capacity:
            columns.append(column)
            column, used = [], 0.0
    if column:
        columns.append(column)
    return columns


def _column_length(column: list[list[_Char]]) -> float:
    return sum(len(p) for p in column) * STEP + GAP * (len(column) - 1)


def _wrap(length: int, step: float, room: float) -> int:
    """How many characters of a side text go in one column so it is no taller than `room`."""
    return max(1, min(length, int(room / step))) if length else 1


@dataclass(frozen=True)
class _Plan:
    columns: list[list[list[_Char]]]
    title: list[str]
    meta: list[str]
    width: float
    height: float
    text_height: float
    title_per: int
    meta_per: int
    pitch: float


def _plan(columns: list[list[list[_Char]]], title: str, meta: str, pitch: float) -> _Plan:
    title_chars = [VERTICAL.get(c, c) for c in title if not c.isspace()]
    meta_chars = [VERTICAL.get(c, c) for c in meta if not c.isspace()]
    body = max((_column_length(c) for c in columns), default=STEP)
    room = max(body, 5 * STEP)
    title_per = _wrap(len(title_chars), TITLE_STEP, room)
    meta_per = _wrap(len(meta_chars), META_STEP, room - META_DROP)
    title_columns = math.ceil(len(title_chars) / title_per) if title_chars else 0
    meta_columns = math.ceil(len(meta_chars) / meta_per) if meta_chars else 0
    text_height = max(
        body,
        min(len(title_chars), title_per) * TITLE_STEP,
        META_DROP + min(len(meta_chars), meta_per) * META_STEP,
        SEAL_H,
    )
    width = (
        2 * MARGIN
        + title_columns * TITLE_PITCH
        + meta_columns * META_PITCH
        + BODY_GAP
        + len(columns) * pitch
        + SEAL_COLUMN
    )
    return _Plan(
        columns,
        title_chars,
        meta_chars,
        width,
        2 * MARGIN + text_height,
        text_height,
        title_per,
        meta_per,
        pitch,
    )


def _choose(poem: Poem, phrases: list[tuple[list[_Char], bool]], pitch: float) -> _Plan:
    title, meta = poem.title, meta_line(poem)
    if poem.form in REGULAR and not poem.tune:
        return _plan([[chars] for chars, _ in phrases], title, meta, pitch)
    longest = max((len(chars) for chars, _ in phrases), default=1)
    plans = [
        _plan(_pack(phrases, capacity), title, meta, pitch)
        for capacity in range(longest, max(longest, 18) + 1)
    ]
    return min(plans, key=lambda p: (abs(math.log(p.width / p.height / ASPECT)), p.width))


def layout(poem: Poem, *, marks: bool = False, faces: tuple[Face, ...] | None = None) -> Layout:
    """Where every character, mark, rule and the seal go; raises NoFontError without fonts."""
    faces = faces if faces is not None else find_faces()
    phrases, marked = _phrases(poem, marks)
    plan = _choose(poem, phrases, PITCH_MARKED if marked else PITCH)
    unit = min(MAX_UNIT, MAX_SIDE / max(plan.width, plan.height))
    out = Layout(
        width=min(MAX_SIDE, math.ceil(plan.width * unit)),
        height=min(MAX_SIDE, math.ceil(plan.height * unit)),
        unit=unit,
        columns=["".join(c.char for p in column for c in p) for column in plan.columns],
        marked=marked,
    )

    def put(char: str, x: float, y: float, size: float, color, role: str) -> None:
        face = face_for(char, faces)
        if face is None:
            out.missing.append(char)
            return
        out.glyphs.append(Glyph(char, x * unit, y * unit, round(size * unit), face, color, role))

    top = MARGIN
    x = plan.width - MARGIN
    for i, char in enumerate(plan.title):  # the title, top right
        column, row = divmod(i, plan.title_per)
        cx = x - (column + 0.5) * TITLE_PITCH
        put(char, cx, top + (row + 0.5) * TITLE_STEP, TITLE, INK, "title")
    x -= math.ceil(len(plan.title) / plan.title_per) * TITLE_PITCH if plan.title else 0
    for i, char in enumerate(plan.meta):  # the form line, beside it
        column, row = divmod(i, plan.meta_per)
        cx = x - (column + 0.5) * META_PITCH
        put(char, cx, top + META_DROP + (row + 0.5) * META_STEP, META, INK_SOFT, "meta")
    x -= math.ceil(len(plan.meta) / plan.meta_per) * META_PITCH if plan.meta else 0
    x -= BODY_GAP
    bottom = top + plan.text_height
    for i in range(len(plan.columns) + 1):  # 朱丝栏
        out.rules.append(((x - i * plan.pitch) * unit, (top - 0.3) * unit, (bottom + 0.3) * unit))
    for i, column in enumerate(plan.columns):
        cx = x - (i + 0.5) * plan.pitch
        y = top
        for phrase in column:
            for char in phrase:
                char_x = cx + (CHAR_DX if marked else 0)
                put(char.char, char_x, y + STEP / 2, 1.0, INK, "body")
                if marked and char.mark == "?":  # not in the rhyme books
                    put("?", char_x + MARK_DX, y + STEP / 2, 2.6 * MARK_R, MARK_INK, "mark")
                elif marked and char.mark:
                    out.marks.append(
                        Mark(
                            char.mark,
                            (char_x + MARK_DX) * unit,
                            (y + STEP / 2) * unit,
                            MARK_R * unit,
                            char.wrong,
                        )
                    )
                y += STEP
            y += GAP
    x -= len(plan.columns) * plan.pitch
    seal_x = x - SEAL_COLUMN / 2
    box = (seal_x - SEAL_W / 2, bottom - SEAL_H, seal_x + SEAL_W / 2, bottom)
    out.seal = tuple(v * unit for v in box)  # type: ignore[assignment]
    for i, char in enumerate(SEAL_TEXT):
        put(char, seal_x, bottom - SEAL_H + (i + 0.5) * SEAL_H / 2, SEAL_CHAR, PAPER, "seal")
    if out.missing:
        log.warning("event=card_missing_glyphs chars=%r", "".join(out.missing))
    return out


@functools.lru_cache(maxsize=64)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def paint(plan: Layout) -> Image.Image:
    """The layout drawn on paper."""
    unit = plan.unit
    image = Image.new("RGB", (plan.width, plan.height), PAPER)
    draw = ImageDraw.Draw(image)
    edge = FRAME * unit
    line = max(1, round(0.045 * unit))
    draw.rectangle(
        (edge, edge, plan.width - edge, plan.height - edge), outline=FRAME_INK, width=line * 2
    )
    inner = edge + 0.12 * unit
    draw.rectangle(
        (inner, inner, plan.width - inner, plan.height - inner), outline=FRAME_INK, width=line
    )
    for x, top, bottom in plan.rules:
        draw.line((x, top, x, bottom), fill=RULE, width=max(1, round(0.02 * unit)))
    draw.rounded_rectangle(plan.seal, radius=0.07 * unit, fill=SEAL_RED)
    for glyph in plan.glyphs:
        font = _font(glyph.face.path, glyph.face.index, glyph.size)
        draw.text((glyph.x, glyph.y), glyph.char, font=font, fill=glyph.color, anchor="mm")
    stroke = max(1, round(0.028 * unit))
    for mark in plan.marks:
        color = SEAL_RED if mark.wrong else MARK_INK
        r = mark.radius
        box = (mark.x - r, mark.y - r, mark.x + r, mark.y + r)
        if mark.kind == "●":
            draw.ellipse(box, fill=color)
        else:  # ○ 平, ⊙ either
            draw.ellipse(box, outline=color, width=stroke)
            if mark.kind == "⊙":
                d = r * 0.38
                draw.ellipse((mark.x - d, mark.y - d, mark.x + d, mark.y + d), fill=color)
    return image


def render_card(poem: Poem, *, marks: bool = False) -> bytes:
    """The card as PNG bytes; raises NoFontError where no CJK font is installed.

    CPU-bound (tens of ms): the bot calls it in a thread (`asyncio.to_thread`).
    """
    image = paint(layout(poem, marks=marks))
    buffer = io.BytesIO()
    image.quantize(palette=_palette(), dither=Image.Dither.NONE).save(
        buffer, "PNG", compress_level=COMPRESS_LEVEL
    )
    return buffer.getvalue()


COMPRESS_LEVEL = 6
"""zlib level of the PNG (9 costs three times the time for 2% less)."""


def _ramp(start: tuple[int, ...], end: tuple[int, ...], steps: int) -> list[tuple[int, ...]]:
    return [
        tuple(round(a + (b - a) * k / (steps - 1)) for a, b in zip(start, end, strict=True))
        for k in range(steps)
    ]


@functools.cache
def _palette() -> Image.Image:
    """The card's own palette: paper to each ink in even steps (anti-aliased edges are blends
    of paper and one ink). Mapping to it instead of keeping RGB makes the PNG 2.7 times
    smaller (a 沁园春: 375 KB → 139 KB) and, being fixed, is faster than an adaptive one."""
    colors = (
        _ramp(PAPER, INK, 16)
        + _ramp(PAPER, INK_SOFT, 8)[1:]
        + _ramp(PAPER, MARK_INK, 8)[1:]
        + _ramp(PAPER, RULE, 4)[1:]
        + _ramp(PAPER, FRAME_INK, 6)[1:]
        + _ramp(PAPER, SEAL_RED, 10)[1:]
    )
    palette = Image.new("P", (1, 1))
    palette.putpalette([v for color in colors for v in color])
    return palette
