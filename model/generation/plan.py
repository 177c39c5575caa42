"""From a request to the layouts its poem may take, or a `FormError` saying why none can.

A layout fixes everything decoding must obey that is known before the first token: the
prompt, each line's length and closing mark, the tone strings each line may take (for 近体:
the template's line patterns with 一三五不论 and no 孤平/三平尾/三仄尾, from
`yinshi.prosody.line_variants`; for a 词: the tune's agreed tones), which lines rhyme together,
which rhyme groups are still open, and the characters the request forces (藏头 heads, the
given first line). Heads and a first line are checked here, against every template, so a
request that cannot be met is refused before the model runs, with the reason in Chinese.
"""

import random
from dataclasses import dataclass, replace
from functools import cache
from itertools import product

from model.prompt import clean_title, prompt_text
from yinshi.prosody import ProsodyInputError, get_scheme, line_variants, templates
from yinshi.prosody.cipai import find_tune
from yinshi.prosody.rules import EITHER, FORM_SHAPES, PING, WARNING_KINDS, ZE, faults
from yinshi.prosody.schemes import to_simplified
from yinshi.prosody.text import is_cjk, normalize, split_lines, strip_mark
from yinshi.protocol import PoemRequest

from .errors import FormError
from .vocab import VocabTables

MIN_RHYME_CHARS = 20
"""A rhyme group the model may pick must offer at least this many characters, so the last
rhyme of a poem still has a real choice (a group of a handful of rare characters reads forced)."""
LUSHI_COUPLETS = ((2, 3), (4, 5))
"""The 颔联 and 颈联 of a 律诗 (0-based lines): the couplets a reader expects to be 对仗."""
FREE_LENGTHS = (5, 7)
FREE_MAX_LINES = 12
FREE_MIN_LINES = 4
"""`free` is 古体 (五古/七古): no 格律; the model ends it after an even line between these."""


@dataclass(frozen=True)
class LineSpec:
    length: int
    mark: str
    variants: frozenset[str] | None
    """Tone strings (one 平/仄 per character) the line may take; None: any Han characters."""
    rhyme: int | None = None
    """The rhyme set (index into `Layout.groups`) the line's last character belongs to."""
    fixed: str = ""
    """Characters forced at the start of the line: a 藏头 head, or the whole given first line."""


@dataclass(frozen=True)
class Layout:
    form: str
    """What `analyze` checks the poem as: 七绝 …, the 词牌 name, or 五古/七古 for `free`."""
    tune: str | None
    prompt: str
    lines: tuple[LineSpec, ...]
    groups: tuple[frozenset[int], ...]
    """Per rhyme set, the rhyme groups (indices into `VocabTables.groups`) still open."""
    used: frozenset[str] = frozenset()
    """Rhyme characters the fixed text has taken already."""
    stops: frozenset[int] = frozenset()
    """Lines after which the poem may end (`free`); otherwise it ends after the last line."""
    title: str = ""
    """What the poem is about (the cleaned title): the decoder leans towards its partners."""
    couplets: tuple[tuple[int, int], ...] = ()
    """(first, second) line pairs to be 对仗: the 颔联 and 颈联 of a 律诗."""


def plan(request: PoemRequest, tables: VocabTables, tune_tokens: frozenset[str]) -> list[Layout]:
    """Every layout the request allows (at least one), or `FormError`.

    `tune_tokens`: the 词牌 the tokenizer has a token for (the others are prompted as <词>).
    """
    form = to_simplified(request.form.strip())
    heads = _heads(request.acrostic)
    first = _first_line(request.first_line)
    if heads and first and first[0] != heads[0]:
        raise FormError(f"续写首句应以藏头字“{heads[0]}”开头 / the first line must start with it")
    title = clean_title(request.topic)
    if form in FORM_SHAPES:
        return _regular(request, form, title, heads, first, tables)
    if form == "free":
        return _free(title, heads, first)
    try:
        name, tune = find_tune(form)
    except ProsodyInputError:
        raise FormError(
            f"未知体裁或词牌：{form}（五绝 七绝 五律 七律 free 或词牌名） / unknown form or tune"
        ) from None
    return [_ci(request, name, tune, title, heads, first, tables, tune_tokens)]


def choose(layouts: list[Layout], rng: random.Random) -> Layout:
    return layouts[rng.randrange(len(layouts))]


# --- checks on what the person typed ----------------------------------------------------------


def _heads(acrostic: str | None) -> str:
    if not acrostic:
        return ""
    heads = to_simplified("".join(acrostic.split()))
    if not heads or not all(is_cjk(c) for c in heads):
        raise FormError(f"藏头须为汉字：{acrostic} / acrostic heads must be Chinese characters")
    return heads


def _first_line(text: str | None) -> str:
    if not text or not text.strip():
        return ""
    lines = split_lines(normalize(to_simplified(text)))
    line = strip_mark(lines[0]) if lines else ""
    if len(lines) != 1 or not line or not all(is_cjk(c) for c in line):
        raise FormError(f"续写的首句须为一句汉字：{text} / the first line: one line of Chinese")
    return line


def _check_heads(heads: str, count: int, what: str) -> None:
    if heads and len(heads) != count:
        raise FormError(
            f"藏头字数须等于句数：{what}共{count}句，藏头给了{len(heads)}字 / "
            f"need {count} heads, got {len(heads)}"
        )


def _check_first(first: str, length: int, what: str) -> None:
    if first and len(first) != length:
        raise FormError(
            f"首句字数不合：{what}首句应为{length}字，今为{len(first)}字 / "
            f"the first line needs {length} characters"
        )


def _fits(text: str, variant: str, scheme) -> bool:
    """Every character of a line's start has a reading of the tone the variant wants there."""
    return all(tone in scheme.tones(c) for c, tone in zip(text, variant[: len(text)], strict=True))


def _unknown_chars(text: str, scheme) -> str:
    return "".join(c for c in dict.fromkeys(text) if not scheme.tones(c))


# --- 近体 -------------------------------------------------------------------------------------


def _regular(request, form, title, heads, first, tables) -> list[Layout]:
    count, length = FORM_SHAPES[form]
    _check_heads(heads, count, form)
    _check_first(first, length, form)
    prompt = prompt_text(form, title)
    couplets = LUSHI_COUPLETS if count == 8 else ()
    marks = ["，" if i % 2 == 0 else "。" for i in range(count)]
    fixed = [first if (first and i == 0) else heads[i : i + 1] for i in range(count)]
    if not request.strict:
        lines = tuple(LineSpec(length, marks[i], None, fixed=fixed[i]) for i in range(count))
        return [Layout(form, None, prompt, lines, (), title=title, couplets=couplets)]

    scheme = get_scheme(request.scheme)
    unknown = _unknown_chars("".join(fixed), scheme)
    if unknown:
        raise FormError(
            f"“{unknown}”不在{scheme.title}中，定不了平仄 / not in the rhyme book: {unknown}"
        )
    shi = [i for i, (kind, _) in enumerate(tables.groups) if kind == "shi"]
    layouts = []
    for template in templates(form):
        rhyme_lines = template.rhyme_lines
        lines = []
        for i, base in enumerate(template.base):
            if first and i == 0:
                variants = _first_line_tones(first, base, scheme)
            else:
                variants = line_variants(base)
                if fixed[i]:
                    variants = frozenset(v for v in variants if _fits(fixed[i], v, scheme))
            rhyme = 0 if i in rhyme_lines else None
            lines.append(LineSpec(length, marks[i], variants, rhyme, fixed[i]))
        if any(not line.variants for line in lines):
            continue
        open_rhymes = len(rhyme_lines)
        groups = set(shi)
        used: frozenset[str] = frozenset()
        if first and 0 in rhyme_lines:
            foot = first[-1]
            groups &= {tables.group_index["shi", g] for g in scheme.groups_of(foot, PING)
                       if ("shi", g) in tables.group_index}  # fmt: skip
            used = frozenset(foot)
            open_rhymes -= 1
            least = open_rhymes + 1
        else:
            least = max(MIN_RHYME_CHARS, open_rhymes + 1)
        groups = {g for g in groups if tables.usable(g) >= least}
        if groups:
            layout = Layout(form, None, prompt, tuple(lines), (frozenset(groups),), used)
            layouts.append(replace(layout, title=title, couplets=couplets))
    if first and any(layout.lines[0].rhyme is not None for layout in layouts):
        # A first line that can end in a 平 rhyme (a polyphone such as 间 can also be 仄) is
        # read as rhyming: that is what its writer means.
        layouts = [layout for layout in layouts if layout.lines[0].rhyme is not None]
    if not layouts:
        if first:
            raise FormError(
                f"首句“{first}”不合{form}任何一式的平仄或韵（{scheme.title}） / "
                f"the first line fits no {form} tone template"
            )
        raise FormError(f"藏头字无法排成合律的{form} / these heads fit no {form} template")
    return layouts


def _first_line_tones(line: str, base: str, scheme) -> frozenset[str]:
    """The readings of a given first line that fit a line pattern as the analyser judges it.

    Wider than `line_variants`: a person's line may take what the analyser only warns about
    (三仄尾); the generator's own lines stay inside `line_variants`.
    """
    choices = [sorted(scheme.tones(char)) for char in line]
    return frozenset(
        tones
        for tones in map("".join, product(*choices))
        if tones[-1] == base[-1]
        and not any(kind not in WARNING_KINDS for _, kind in faults(base, tones))
    )


# --- 词 ---------------------------------------------------------------------------------------


def _ci(request, name, tune, title, heads, first, tables, tune_tokens) -> Layout:
    specs = tune["lines"]
    what = f"《{name}》"
    _check_heads(heads, len(specs), what)
    _check_first(first, specs[0]["length"], what)
    prompt = prompt_text("词", title, name if name in tune_tokens else None)
    fixed = [first if (first and i == 0) else heads[i : i + 1] for i in range(len(specs))]
    if not request.strict:
        lines = tuple(
            LineSpec(spec["length"], spec["mark"], None, fixed=f)
            for spec, f in zip(specs, fixed, strict=True)
        )
        return Layout(name, name, prompt, lines, (), title=title)

    scheme = get_scheme(request.scheme)
    unknown = _unknown_chars("".join(fixed), scheme)
    if unknown:
        raise FormError(
            f"“{unknown}”不在{scheme.title}中，定不了平仄 / not in the rhyme book: {unknown}"
        )
    lines = []
    for i, (spec, text) in enumerate(zip(specs, fixed, strict=True)):
        variants = frozenset(_tone_strings(spec["tones"]))
        if text:
            variants = frozenset(v for v in variants if _fits(text, v, scheme))
        if not variants:
            wanted = spec["tones"][: len(text)]
            raise FormError(
                f"“{text}”不合{what}第{i + 1}句的平仄（宜{wanted}） / "
                f"does not fit the tones of line {i + 1}"
            )
        lines.append(LineSpec(spec["length"], spec["mark"], variants, spec["rhyme"], text))

    groups, used = [], set()
    ci = [i for i, (kind, _) in enumerate(tables.groups) if kind == "ci"]
    for k, members in enumerate(tune["rhymes"]):
        open_groups = set(ci)
        feet = [specs[i]["tones"][-1] for i in members]
        least = max(MIN_RHYME_CHARS, len(members) + 1)
        if first and 0 in members:
            foot = first[-1]
            open_groups &= {tables.group_index["ci", g] for g in scheme.ci_groups(foot)
                            if ("ci", g) in tables.group_index}  # fmt: skip
            used.add(foot)
            least = len(members)
        open_groups = {
            g for g in open_groups
            if all(tables.usable(g, None if t == EITHER else t) >= least for t in feet)
        }  # fmt: skip
        if not open_groups:
            raise FormError(
                f"{what}第{k + 1}组韵找不到可押的韵部（{scheme.title}） / no rhyme group fits"
            )
        groups.append(frozenset(open_groups))
    return Layout(name, name, prompt, tuple(lines), tuple(groups), frozenset(used), title=title)


@cache
def _tone_strings(spec: str) -> tuple[str, ...]:
    """Every tone string a 词 line of this spec (平/仄/中 per position) may take."""
    choices = [(PING, ZE) if tone == EITHER else (tone,) for tone in spec]
    return tuple("".join(tones) for tones in product(*choices))


# --- free (古体) -------------------------------------------------------------------------------


def _free(title, heads, first) -> list[Layout]:
    lengths = FREE_LENGTHS
    if first:
        if len(first) not in FREE_LENGTHS:
            raise FormError(f"古体首句须为五字或七字，今为{len(first)}字 / 5 or 7 characters")
        lengths = (len(first),)
    count = len(heads) if heads else FREE_MAX_LINES
    stops = frozenset() if heads else frozenset(range(FREE_MIN_LINES - 1, count - 1, 2))
    layouts = []
    for length in lengths:
        form = "五古" if length == 5 else "七古"
        lines = tuple(
            LineSpec(
                length,
                "，" if i % 2 == 0 and i < count - 1 else "。",
                None,
                fixed=first if (first and i == 0) else heads[i : i + 1],
            )
            for i in range(count)
        )
        prompt = prompt_text(form, title)
        layouts.append(Layout(form, None, prompt, lines, (), stops=stops, title=title))
    return layouts
