"""`analyze`: what a poem's tones and rhymes are, and where it breaks its form's rules.

Forms and what is checked:
- 近体 (五绝 七绝 五律 七律, and 排律 by the same rules): line count and length, tones per
  line (`rules`), 粘 and 对, 平声 rhyme in one group, no rhyme character twice. The 粘/对
  path and the 首句入韵 choice are the ones that explain the poem with the fewest faults,
  so one wrong character is reported once, where it stands.
- 词 (a 词牌 name as form, or form "词" with a tune): line count, line lengths, the tune's
  rhyme lines and its tones where the corpus agrees (`cipai`).
- 古体 and the rest (五古 七古 杂言 曲 其他): no 格律 to break. The poem gets its tone marks
  and conforms=True with rules "none": telling a user that 古风 "fails" a test it never
  sat reads wrong. Corpus conformance shares are computed over 近体 only.
A polyphone fits a position if any of its readings fits.
"""

import re
from functools import cache

from .errors import ProsodyInputError
from .forms import FORMS, REGULAR_FORMS, form_from_shape, nearest_regular
from .result import Analysis, Violation
from .rules import (
    FORM_SHAPES,
    PING,
    WARNING_KINDS,
    ZE,
    faults,
    line_pattern,
    loose,
    opposite,
    template_name,
)
from .schemes import Scheme, get_scheme
from .text import CJK_RANGES, LINE_END, normalize, split_lines, strip_mark

MAX_CHARS = 1000
_NO_RULES = ("五古", "七古", "杂言", "曲", "其他")
_DROP = re.compile(r"《[^》]*》|（[^）]*）|\([^)]*\)|[“”‘’「」『』\"'·•—－~～]")
_ELLIPSIS = re.compile(r"…+|\.{3,}")
_HAN = re.compile(f"[{CJK_RANGES}]")
_FOREIGN = re.compile(f"[^{CJK_RANGES}{LINE_END}]")


def analyze(
    text: str, form: str | None = None, scheme: str = "pingshui", tune: str | None = None
) -> Analysis:
    """Analyse raw user text; `form` None detects it from the shape, a 词牌 name checks a 词."""
    rhymes = get_scheme(scheme)
    body = clean(text)
    if form == "词" and tune is None:
        raise ProsodyInputError("检查词须指定词牌 / a ci needs its tune (词牌) name")
    named_as_form = form not in (None, *FORMS)
    if named_as_form:
        tune, form = form, "词"
    if tune is not None:
        return _analyze_ci(body, tune, rhymes, named_as_form)
    lines = [strip_mark(line) for line in split_lines(body)]
    if form is None or form in REGULAR_FORMS:
        lines = _resplit(lines, form)
    form = (
        form or nearest_regular([len(x) for x in lines]) or form_from_shape("，".join(lines) + "。")
    )
    signatures = [rhymes.signature(line) for line in lines]
    marks = [signature.translate(_MARK_OF) for signature in signatures]
    result = Analysis(form, True, "none", scheme, lines, marks)
    if form in _NO_RULES:
        return result
    result.rules = "jinti"
    shape = _shape_faults(lines, form)
    if shape:
        result.violations = shape
    else:
        _check_regular(result, signatures, rhymes)
    result.violations.sort(key=lambda v: (v.line, v.pos))
    result.conforms = not any(v.severity == "error" for v in result.violations)
    return result


def clean(text: str) -> str:
    """Normalised poem text, or a one-line reason why there is no poem in it."""
    if not text.strip():
        raise ProsodyInputError("请输入一首诗 / empty text: give a poem")
    if len(text) > MAX_CHARS:
        raise ProsodyInputError(
            f"太长了：最多 {MAX_CHARS} 字 / text longer than {MAX_CHARS} characters"
        )
    text = _ELLIPSIS.sub("。", _DROP.sub("", text))
    body = normalize(text)
    if not _HAN.search(body):
        raise ProsodyInputError("没有找到汉字，请输入一首诗 / no Chinese characters found")
    foreign = sorted(set(_FOREIGN.findall(body)))
    if foreign:
        raise ProsodyInputError(
            f"只能包含汉字和标点，发现：{' '.join(foreign)} / only Chinese characters and "
            "punctuation are allowed"
        )
    return body


def _resplit(lines: list[str], form: str | None) -> list[str]:
    """Cut an unpunctuated 近体 (one row per couplet, or one run) into its lines."""
    total = sum(map(len, lines))
    shapes = [FORM_SHAPES[form]] if form in FORM_SHAPES else FORM_SHAPES.values()
    for count, size in shapes:
        if total == count * size and len(lines) < count and not any(len(x) % size for x in lines):
            joined = "".join(lines)
            return [joined[i : i + size] for i in range(0, total, size)]
    return lines


def _marks(line: str, rhymes: Scheme) -> str:
    return rhymes.signature(line).translate(_MARK_OF)


_MARK_OF = str.maketrans({"p": "○", "z": "●", "b": "⊙", "u": "?"})


def _shape_faults(lines: list[str], form: str) -> list[Violation]:
    """Line count and lengths; 排律 is any even count from ten up, of 5 or 7 characters."""
    count, length = FORM_SHAPES.get(form, (len(lines), len(lines[0])))
    found = []
    if form == "排律" and (count < 10 or count % 2 or length not in (5, 7)):
        found.append(Violation(0, 0, "lines", "排律须为十句以上的偶数句，每句五字或七字"))
    elif len(lines) != count:
        found.append(Violation(0, 0, "lines", f"{form}应为{count}句，今为{len(lines)}句"))
    for i, line in enumerate(lines, 1):
        if len(line) != length:
            found.append(Violation(i, 0, "length", f"应为{length}字，今为{len(line)}字"))
    return found


# --- 近体 -------------------------------------------------------------------------------------


_CHOICES = {"p": PING, "z": ZE, "b": PING + ZE, "u": PING + ZE}


@cache
def _best_line(pattern: str, signature: str, rescued: bool) -> tuple[int, int, tuple, str]:
    """(errors, warnings, faults, tones) for the readings that fit the pattern best.

    The last character is judged elsewhere (rhyme or 出句 ending), so it is taken as fitting.
    """
    best = None
    for choice in _product(signature[:-1]):
        tones = choice + pattern[-1]
        found = faults(pattern, tones, rescued)
        warnings = sum(kind in WARNING_KINDS for _, kind in found)
        key = (len(found) - warnings, warnings, found, tones)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    return best


def _product(signature: str) -> list[str]:
    choices = [""]
    for letter in signature:
        choices = [c + t for c in choices for t in _CHOICES[letter]]
    return choices


def _check_regular(result: Analysis, signatures: list[str], rhymes: Scheme) -> None:
    lines = result.lines
    best = None
    for first_rhymes in (True, False):
        attempt = _regular_attempt(lines, signatures, first_rhymes, rhymes)
        first_is_ping = signatures[0][-1] in "pb"
        key = (attempt[0], attempt[1], first_rhymes != first_is_ping)
        if best is None or key < best[0]:
            best = (key, first_rhymes, attempt)
    assert best is not None
    _, first_rhymes, (_, _, starts, patterns, found, group) = best
    result.template = template_name(starts[0], first_rhymes)
    result.patterns = [loose(p) for p in patterns]
    result.violations = found
    if group is not None:
        result.rhyme_group = group
        result.rhyme_group_name = rhymes.groups[group].name


def _regular_attempt(lines: list[str], signatures: list[str], first_rhymes: bool, rhymes: Scheme):
    """Best 粘/对 path for one 首句入韵 choice: (errors, warnings, starts, patterns, violations)."""
    n = len(lines[0])
    count = len(lines)
    ends = [PING if (i % 2 == 1 or (i == 0 and first_rhymes)) else ZE for i in range(count)]
    rhyme_lines = [i for i, end in enumerate(ends) if end == PING]
    rescues = [i + 1 < count and signatures[i + 1][n - 3] in "pbu" for i in range(count)]
    starts = _viterbi(n, signatures, ends, rescues)

    found: list[Violation] = []
    patterns = []
    for i, (line, signature, start) in enumerate(zip(lines, signatures, starts, strict=True)):
        pattern = line_pattern(n, start, ends[i])
        patterns.append(pattern)
        _, _, line_faults, _ = _best_line(pattern, signature, rescues[i])
        for pos, kind in line_faults:
            if signature[pos] != "u":
                found.append(_line_violation(i, pos, kind, line, pattern))
        if i > 0 and (starts[i - 1] == start) == (i % 2 == 1):
            kind = "dui" if i % 2 == 1 else "nian"
            found.append(Violation(i + 1, 2, kind, _RELATION[kind]))
        for pos, letter in enumerate(signature if "u" in signature else ""):
            if letter == "u":
                fixed = pos % 2 == 1 or pos == n - 1
                if not (fixed and i in rhyme_lines and pos == n - 1):
                    found.append(_unknown(i, pos, line[pos], fixed))
        if ends[i] == ZE and signature[-1] == "p":
            found.append(Violation(i + 1, n, "tone", f"“{line[-1]}”宜仄，今为平（不押韵句以仄收）"))
    rhyme_found, group = _check_rhyme(lines, rhyme_lines, rhymes)
    found += rhyme_found
    errors = sum(v.severity == "error" for v in found)
    warnings = len(found) - errors
    return errors, warnings, starts, patterns, found, group


_ERROR = 4096
"""Costs are errors * _ERROR + warnings in one int: the Viterbi loop runs for every poem."""


@cache
def _line_costs(n: int, end: str, signature: str, rescued: bool) -> tuple[int, int]:
    """The cost of a line taken as 平起 and as 仄起 (by its 2nd character)."""
    costs = []
    for start in (PING, ZE):
        errors, warnings, _, _ = _best_line(line_pattern(n, start, end), signature, rescued)
        costs.append(errors * _ERROR + warnings)
    return costs[0], costs[1]


def _viterbi(n: int, signatures: list[str], ends: list[str], rescues: list[bool]) -> list[str]:
    """The tone of each line's 2nd character that explains the poem with the fewest faults.

    Each line costs its own faults under the pattern that tone implies; each broken 对
    (within a couplet) or 粘 (across couplets) costs one error more. On a tie the path
    that keeps 粘/对 wins, so a fault is reported inside the line where it stands.
    """
    costs = dict(zip((PING, ZE), _line_costs(n, ends[0], signatures[0], rescues[0]), strict=True))
    back: list[dict[str, str]] = []
    for i in range(1, len(signatures)):
        line = dict(
            zip((PING, ZE), _line_costs(n, ends[i], signatures[i], rescues[i]), strict=True)
        )
        step, pointers = {}, {}
        for start in (PING, ZE):
            keep = opposite(start) if i % 2 else start  # 对 within a couplet, 粘 across
            broken = opposite(keep)
            if costs[keep] <= costs[broken] + _ERROR:
                step[start], pointers[start] = costs[keep] + line[start], keep
            else:
                step[start], pointers[start] = costs[broken] + _ERROR + line[start], broken
        costs = step
        back.append(pointers)
    start = PING if costs[PING] <= costs[ZE] else ZE
    starts = [start]
    for pointers in reversed(back):
        start = pointers[start]
        starts.append(start)
    return starts[::-1]


_RELATION = {"nian": "失粘：第2字应与上句第2字平仄相同", "dui": "失对：第2字应与上句第2字平仄相反"}
_KIND_TEXT = {"gu_ping": "犯孤平", "san_ping": "三平尾", "san_ze": "三仄尾（可容）"}


def _line_violation(i: int, pos: int, kind: str, line: str, pattern: str) -> Violation:
    if kind == "tone":
        want = pattern[pos]
        message = f"“{line[pos]}”宜{want}，今为{PING if want == ZE else ZE}"
    else:
        message = _KIND_TEXT[kind]
    severity = "warning" if kind in WARNING_KINDS else "error"
    return Violation(i + 1, pos + 1, kind, message, severity)


def _unknown(i: int, pos: int, char: str, fixed: bool) -> Violation:
    where = "，此处平仄有定" if fixed else ""
    message = f"“{char}”不在韵书中，声调未知{where}"
    return Violation(i + 1, pos + 1, "unknown_char", message, "error" if fixed else "warning")


def _check_rhyme(
    lines: list[str], rhyme_lines: list[int], rhymes: Scheme
) -> tuple[list[Violation], str | None]:
    """平声 rhyme in the group most rhyme lines share; line 1 may borrow a neighbour group."""
    feet = {i: lines[i][-1] for i in rhyme_lines}
    groups = {i: rhymes.groups_of(c, PING) for i, c in feet.items()}
    candidates = sorted(set().union(*groups.values()), key=rhymes.order.__getitem__)

    def support(group: str) -> tuple[int, int, int]:
        """Most even lines, then most lines, then the earliest even line sets the rhyme."""
        hits = [i for i in rhyme_lines if group in groups[i]]
        even = [i for i in hits if i > 0]
        return len(even), len(hits), -min(even, default=len(lines))

    group = max(candidates, key=support) if candidates else None
    found = []
    seen: set[str] = set()
    for i, char in feet.items():
        n = len(lines[i])
        if not rhymes.tones(char):
            found.append(_unknown(i, n - 1, char, True))
        elif not groups[i]:
            found.append(Violation(i + 1, n, "rhyme", f"韵脚“{char}”是仄声，近体押平声韵"))
        elif group is not None and group not in groups[i]:
            if i == 0 and groups[i] & rhymes.neighbours(group):
                name = rhymes.groups[min(groups[i] & rhymes.neighbours(group))].name
                found.append(Violation(1, n, "borrowed_rhyme", f"首句借邻韵（{name}）", "warning"))
            else:
                names = "、".join(rhymes.groups[g].name for g in sorted(groups[i]))
                message = f"“{char}”属{names}，不在{rhymes.groups[group].name}（出韵）"
                found.append(Violation(i + 1, n, "rhyme", message))
        if char in seen:
            found.append(Violation(i + 1, n, "repeat_rhyme", f"韵脚“{char}”重复"))
        seen.add(char)
    return found, group


# --- 词 ---------------------------------------------------------------------------------------


def _analyze_ci(body: str, tune_name: str, rhymes: Scheme, named_as_form: bool) -> Analysis:
    from . import cipai  # here, so `python -m yinshi.prosody.cipai` finds it not yet imported

    try:
        name, tune = cipai.find_tune(tune_name)
    except ProsodyInputError:
        if not named_as_form:
            raise
        raise ProsodyInputError(
            f"未知体裁或词牌：{tune_name}（体裁：{' '.join(FORMS)}，或词牌名） / "
            "unknown form or ci tune"
        ) from None
    lines = cipai.align([strip_mark(line) for line in split_lines(body)], tune)
    half = cipai.single_stanza(tune)
    if len(lines) != len(tune["lines"]) and half is not None:
        halved = cipai.align(lines, half)
        if len(halved) == len(half["lines"]):
            lines, tune = halved, half
    result = Analysis("词", True, "ci", rhymes.name, lines, [_marks(x, rhymes) for x in lines])
    result.tune = name
    result.violations = cipai.check(lines, tune, rhymes)
    result.patterns = [spec["tones"] for spec in tune["lines"]]
    group = cipai.main_rhyme(lines, tune, rhymes)
    if group is not None:
        result.rhyme_group, result.rhyme_group_name = group, rhymes.ci_group_name(group)
    result.conforms = not any(v.severity == "error" for v in result.violations)
    return result
